import warnings

import numpy as np
import pytest

from convexnn.cnn import (
    extract_patches,
    linear_cnn_objective,
    linear_cnn_predict,
    recover_linear_cnn,
    solve_linear_cnn,
)


def _data(c=None, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((25, 4, 3))
    y = rng.standard_normal(25) if c is None else rng.standard_normal((25, c))
    return P, y


@pytest.mark.parametrize("c", [None, 3])
def test_apg_matches_cvxpy_and_recovery_is_exact(c):
    P, y = _data(c)
    beta = 1.5
    a = solve_linear_cnn(P, y, beta, tol=1e-10, max_iter=50000)
    b = solve_linear_cnn(P, y, beta, solver="cvxpy")
    assert a.status == "optimal"
    assert abs(a.convex_objective - b.convex_objective) <= 1e-6 * b.convex_objective
    np.testing.assert_allclose(a.Z, b.Z, atol=1e-5 * np.abs(b.Z).max())
    # (9) of the recovered CNN equals the convex optimum (12) and the certified bound
    assert abs(a.objective - a.convex_objective) <= 1e-9 * a.objective
    assert a.lower_bound <= a.objective <= a.lower_bound * (1 + 1e-8)
    s_ref = np.linalg.svd(b.Z.reshape(3, -1), compute_uv=False)
    assert a.n_filters == int(np.sum(s_ref > 1e-6 * s_ref[0]))
    # recovered CNN reproduces the convex predictions sum_k X_k z_k
    Zc = a.Z if c is not None else a.Z[:, :, None]
    pred = np.einsum("nkd,dkc->nc", P, Zc).reshape(np.shape(y))
    np.testing.assert_allclose(linear_cnn_predict(P, a.U, a.alpha), pred, atol=1e-10)


def test_recover_identity():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((5, 4))
    U, A = recover_linear_cnn(Z)
    np.testing.assert_allclose(U @ A, Z, atol=1e-12)
    nuc = np.linalg.svd(Z, compute_uv=False).sum()
    assert np.isclose(0.5 * (np.sum(U**2) + np.sum(A**2)), nuc)


def test_gradient_descent_never_goes_below_the_optimum():
    torch = pytest.importorskip("torch")
    from convexnn.baselines.torch_cnn import train_linear_cnn

    torch.set_num_threads(1)
    P, y = _data()
    beta = 1.0
    sol = solve_linear_cnn(P, y, beta, tol=1e-10, max_iter=50000)
    finals = []
    for seed in range(3):
        r = train_linear_cnn(
            P, y, beta, n_filters=4, optimizer="adam", lr=2e-2, n_epochs=800, random_state=seed
        )
        assert np.all(r.history >= sol.lower_bound * (1 - 1e-10))
        assert np.isclose(
            r.objective, linear_cnn_objective(P, y, r.params["U"], r.params["alpha"], beta)
        )
        finals.append(r.objective)
    assert min(finals) <= sol.objective * (1 + 1e-3)  # and it gets there


def test_images_in_and_errors():
    X = np.random.default_rng(0).standard_normal((10, 1, 5, 5))
    y = np.arange(10.0)
    a = solve_linear_cnn(X, y, 1.0, kernel_size=3, stride=2)
    b = solve_linear_cnn(extract_patches(X, 3, 2), y, 1.0)
    assert np.isclose(a.objective, b.objective)
    with pytest.raises(ValueError, match="beta must be > 0"):
        solve_linear_cnn(X, y, -1.0, kernel_size=3)
    with pytest.raises(ValueError, match="patches of shape"):
        solve_linear_cnn(X, y, 1.0)
    with pytest.raises(ValueError, match="solver must be"):
        solve_linear_cnn(X, y, 1.0, kernel_size=3, solver="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Warning, match="certified relative gap"):
            solve_linear_cnn(X, y, 1e-3, kernel_size=3, max_iter=2)
