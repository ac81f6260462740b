import numpy as np
import pytest
from scipy.linalg import circulant

from convexnn.cnn import (
    circular_cnn_objective,
    circular_cnn_predict,
    circular_patches,
    recover_circular_cnn,
    solve_circular_cnn,
    solve_linear_cnn,
)
from convexnn.cnn.circular import _adjoint, _forward, dft_features


def _data(d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((15, d)), rng.standard_normal(15)


def test_fft_operators_match_explicit_dft():
    X, _ = _data(7)
    rng = np.random.default_rng(1)
    z = rng.standard_normal(7) + 1j * rng.standard_normal(7)
    r = rng.standard_normal(15) + 1j * rng.standard_normal(15)
    F = dft_features(X)
    np.testing.assert_allclose(_forward(X, z), F @ z, atol=1e-12)
    np.testing.assert_allclose(_adjoint(X, r), F.conj().T @ r, atol=1e-12)


def test_predict_is_circulant_product():
    X, _ = _data()
    rng = np.random.default_rng(2)
    U, A = rng.standard_normal((6, 2)), rng.standard_normal((2, 6))
    ref = sum(X @ circulant(U[:, j]) @ A[j] for j in range(2))
    np.testing.assert_allclose(circular_cnn_predict(X, U, A), ref, atol=1e-12)


@pytest.mark.parametrize("d", [6, 7])
def test_fista_matches_cvxpy_and_equals_13_and_12(d):
    X, y = _data(d)
    beta = 2.0
    a = solve_circular_cnn(X, y, beta, tol=1e-11)
    b = solve_circular_cnn(X, y, beta, solver="cvxpy")
    assert abs(a.convex_objective - b.convex_objective) <= 1e-6 * b.convex_objective
    # (13) of the recovered real circular CNN equals the optimum of (14)
    assert abs(a.objective - a.convex_objective) <= 1e-9 * a.objective
    assert a.lower_bound <= a.objective <= a.lower_bound * (1 + 1e-9)
    # and its predictions are the convex ones (real)
    np.testing.assert_allclose(
        circular_cnn_predict(X, a.U, a.alpha), _forward(X, a.z).real, atol=1e-9
    )
    # (13) is the linear CNN (9) on circular patches: the nuclear-norm program agrees
    c = solve_linear_cnn(circular_patches(X), y, beta, tol=1e-10, max_iter=100000)
    assert abs(c.objective - a.objective) <= 1e-6 * a.objective


def test_recover_matches_objective():
    rng = np.random.default_rng(4)
    u = rng.standard_normal(8)
    z = np.fft.fft(u)  # conjugate symmetric
    U, A = recover_circular_cnn(z)
    np.testing.assert_allclose((U[:, :, None] * 0 + 0).shape[0], 8)
    w = sum(circulant(U[:, j]) @ A[j] for j in range(U.shape[1]))
    np.testing.assert_allclose(w, 8 * np.fft.ifft(z).real, atol=1e-10)
    assert np.isclose(0.5 * (np.sum(U**2) + np.sum(A**2)), np.abs(z).sum())
    X, y = rng.standard_normal((5, 8)), rng.standard_normal(5)
    assert np.isclose(
        circular_cnn_objective(X, y, U, A, 0.3),
        0.5 * np.sum((X @ w - y) ** 2) + 0.3 * np.abs(z).sum(),
    )


def test_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="beta must be > 0"):
        solve_circular_cnn(X, y, 0.0)
    with pytest.raises(ValueError, match="solver must be"):
        solve_circular_cnn(X, y, 1.0, solver="adam")


def test_sgd_on_13_never_below_and_reaches_14():
    torch = pytest.importorskip("torch")
    from convexnn.baselines.torch_cnn import train_circular_cnn

    torch.set_num_threads(1)
    X, y = _data(6)
    sol = solve_circular_cnn(X, y, 2.0, tol=1e-11)
    finals = []
    for seed in range(2):
        r = train_circular_cnn(
            X, y, 2.0, n_filters=5, optimizer="adam", lr=5e-2, n_epochs=200, random_state=seed
        )
        assert np.all(r.history >= sol.lower_bound * (1 - 1e-10))
        assert np.isclose(
            r.objective, circular_cnn_objective(X, y, r.params["U"], r.params["alpha"], 2.0)
        )
        finals.append(r.objective)
    assert min(finals) <= sol.objective * (1 + 1e-3)
