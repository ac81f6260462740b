"""Pruning to at most n + 1 neurons keeps predictions, penalty and objective (2)."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
import convexnn.prune as prune_mod
from convexnn.prune import prune_network


def _data(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.maximum(X @ np.array([1.0, -1.0]), 0.0) - 0.3 * X[:, 0] + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("hidden_bias", [False, True])
@pytest.mark.parametrize("output_bias", [None, 0.7])
def test_random_wide_network_is_pruned_to_n_plus_one(hidden_bias, output_bias):
    X, y = _data(n=8, seed=1)
    rng = np.random.default_rng(2)
    m = 40
    b = rng.normal(size=m) if hidden_bias else None
    net = cnn.TwoLayerReLU(rng.normal(size=(2, m)), rng.normal(size=m), b, output_bias)
    res = prune_network(net, X, y, 0.1)
    assert res.n_neurons <= X.shape[0] + 1
    assert res.n_neurons_before == m
    np.testing.assert_allclose(res.network.predict(X), net.predict(X), rtol=0, atol=1e-10)
    assert res.network.penalty() == pytest.approx(net.penalty(), rel=1e-10)
    assert res.objective == pytest.approx(net.objective(X, y, 0.1), rel=1e-8)
    # The kept neurons are rescalings of the original ones (same directions).
    U0 = net.U_eff / np.linalg.norm(net.U_eff, axis=0)
    U1 = res.network.U_eff / np.linalg.norm(res.network.U_eff, axis=0)
    assert np.all(np.max(U1.T @ U0, axis=1) > 1 - 1e-12)


def _split(net: cnn.TwoLayerReLU, parts: np.ndarray) -> cnn.TwoLayerReLU:
    """Each neuron as len(parts) parallel copies scaled by sqrt(parts): same f and penalty."""
    k, root = parts.size, np.tile(np.sqrt(parts), net.n_neurons)
    b = np.repeat(net.b, k) * root if net.b is not None else None
    return cnn.TwoLayerReLU(np.repeat(net.U, k, axis=1) * root, np.repeat(net.alpha, k) * root, b)


def test_optimal_network_with_many_blocks_stays_optimal():
    """Theorem-1 network over all blocks of an exact CVXPY solve, pruned: still optimal."""
    X, y = _data(n=10, seed=3)
    beta = 0.05
    sol = cnn.solve(X, y, beta, hidden_bias=True, patterns="exact", solver="cvxpy")
    wide = cnn.recover_network(sol.V, sol.W, hidden_bias=True, zero_tol=1e-12, merge_tol=None)
    assert wide.n_neurons > X.shape[0] + 1
    res = prune_network(wide, X, y, beta)
    assert res.n_neurons <= X.shape[0] + 1
    assert res.objective == pytest.approx(wide.objective(X, y, beta), rel=1e-8)
    cert = cnn.certify(res.network, X, y, beta, patterns="exact")
    assert cert.is_global and cert.relative_gap <= 1e-6
    # Split copies of an optimal network are pruned back to (at most) its m* neurons.
    split = _split(sol.network, np.array([0.2, 0.3, 0.5]))
    back = prune_network(split, X, y, beta)
    assert back.n_neurons <= sol.n_neurons
    assert back.objective == pytest.approx(sol.objective, rel=1e-8)


def test_small_network_is_unchanged():
    X, y = _data(n=6)
    net = cnn.TwoLayerReLU(np.array([[1.0, -1.0], [0.5, 0.2]]), np.array([1.0, -2.0]))
    res = prune_network(net, X, y, 0.1)
    assert res.n_neurons == 2
    np.testing.assert_array_equal(res.network.U, net.U)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"beta": 0.0}, ValueError, r"prune_network: beta must be > 0"),
        ({"X": np.ones((6, 3))}, ValueError, r"X must have network.n_features = 2"),
        ({"network": "net"}, TypeError, r"network must be a convexnn.TwoLayerReLU"),
        ({"tol": 2.0}, ValueError, r"tol must be in \(0, 1\)"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    X, y = _data(n=6)
    net = cnn.TwoLayerReLU(np.ones((2, 3)), np.ones(3))
    args = {"network": net, "X": X, "y": y, "beta": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        prune_network(args.pop("network"), args.pop("X"), args.pop("y"), args.pop("beta"), **args)


def _wide(n: int, m: int, seed: int, copies: int = 1) -> tuple[np.ndarray, cnn.TwoLayerReLU]:
    """n points in 2-D and m random neurons with a bias, each split into ``copies``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    net = cnn.TwoLayerReLU(rng.normal(size=(2, m)), rng.normal(size=m), rng.normal(size=m))
    return X, _split(net, rng.uniform(0.1, 1.0, size=copies)) if copies > 1 else net


@pytest.mark.parametrize(("n", "m", "copies"), [(8, 40, 1), (12, 30, 3), (6, 100, 1), (20, 15, 4)])
def test_windowed_caratheodory_agrees_with_the_reference(n, m, copies):
    """The windowed kernel and the one-SVD-per-step reference: both keep ``A t`` and
    ``c^T t`` and leave at most n + 1 columns, the windowed one no more than the
    reference (split copies: parallel columns, numerically null vectors)."""
    X, net = _wide(n, m, seed=n + m, copies=copies)
    A, c = prune_mod._contributions(net, X)
    t_fast = prune_mod._caratheodory(A, c, 1e-8)
    t_ref = prune_mod._caratheodory_reference(A, c, 1e-8)
    for t in (t_fast, t_ref):
        assert np.all(t >= 0)
        np.testing.assert_allclose(A @ t, A.sum(axis=1), rtol=0, atol=1e-9 * np.abs(A).max())
        assert c @ t == pytest.approx(c.sum(), rel=1e-10)
        assert np.count_nonzero(t) <= n + 1
    assert np.count_nonzero(t_fast) <= np.count_nonzero(t_ref)


def test_thousands_of_neurons_over_few_points_are_pruned():
    """m >> n: one SVD of all m active columns per removed neuron cost O(m^2 n) each (a
    gated CVXPY solution with 3984 neurons over 80 points ran for over 25 minutes); the
    windows of 2 (n + 1) columns cost O(n^2) per neuron."""
    X, net = _wide(n=30, m=3000, seed=7)
    y = net.predict(X)
    res = prune_network(net, X, y, 0.1)
    assert res.n_neurons <= X.shape[0] + 1
    np.testing.assert_allclose(res.network.predict(X), net.predict(X), rtol=0, atol=1e-8)
    assert res.objective == pytest.approx(res.objective_before, rel=1e-8)


def test_a_pruning_that_lowers_the_objective_is_kept():
    """CVXPY's hinge solution at small beta has 171 neurons on 10 points; the pruned
    network's objective is 1e-8 lower (the solver's point was not exactly optimal).
    It was refused as a "change", and solve kept 171 neurons against the promised n + 1."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 2)), np.sign(rng.standard_normal(10))
    y[0], y[1] = 1.0, -1.0
    sol = cnn.solve(X, y, 1e-3, loss="hinge", hidden_bias=True, output_bias=True)
    assert sol.solver == "cvxpy" and sol.n_neurons <= 11
    assert sol.objective == pytest.approx(sol.network.objective(X, y, 1e-3, loss="hinge"))
    wide = cnn.solve(X, y, 1e-3, loss="hinge", hidden_bias=True, output_bias=True, prune=False)
    assert wide.n_neurons > 11
    res = cnn.prune_network(wide.network, X, y, 1e-3, loss="hinge")
    assert res.n_neurons <= 11 and res.objective <= res.objective_before


# -- two-layer ReLU CNNs: a filter is a neuron ------------------------------------------------
def _images(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 5, 5)), rng.standard_normal(n)


def _wide_cnn(m: int, tied: bool, hidden_bias: bool, seed: int = 1) -> cnn.ConvReLUNet:
    """m random 3 x 3 filters over 2 channels (d = 18, K = 9 positions of a 5 x 5 image)."""
    rng = np.random.default_rng(seed)
    alpha = rng.standard_normal(m) if tied else rng.standard_normal((m, 9))
    b = rng.standard_normal(m) if hidden_bias else None
    return cnn.ConvReLUNet(rng.standard_normal((18, m)), alpha, b, 0.4, kernel_size=3)


def _split_cnn(net: cnn.ConvReLUNet, parts: np.ndarray) -> cnn.ConvReLUNet:
    """Each filter as len(parts) parallel copies scaled by sqrt(parts): same f and penalty."""
    k, root = parts.size, np.tile(np.sqrt(parts), net.n_filters)
    alpha = np.repeat(net.alpha, k, axis=0) * root.reshape((-1,) + (1,) * (net.alpha.ndim - 1))
    b = np.repeat(net.b, k) * root if net.b is not None else None
    geometry = {"kernel_size": net.kernel_size, "stride": net.stride, "padding": net.padding}
    return cnn.ConvReLUNet(np.repeat(net.U, k, axis=1) * root, alpha, b, net.c, **geometry)


def _directions(net: cnn.ConvReLUNet) -> np.ndarray:
    """Unit filters ``[u_j; b_j] / ||[u_j; b_j]||``, (d (+ 1), m)."""
    W = np.vstack([net.U, net.b[None]]) if net.b is not None else net.U
    return W / np.linalg.norm(W, axis=0)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_random_wide_cnn_is_pruned_to_n_plus_one_filters(tied, hidden_bias):
    X, y = _images()
    net = _wide_cnn(40, tied, hidden_bias)
    res = prune_network(net, X, y, 0.1)
    pruned = res.network
    assert isinstance(pruned, cnn.ConvReLUNet)
    assert res.n_neurons == pruned.n_filters <= X.shape[0] + 1
    assert res.n_neurons_before == 40
    assert pruned.alpha.shape[1:] == net.alpha.shape[1:] and pruned.c == net.c
    assert (pruned.b is None) == (not hidden_bias) and pruned.kernel_size == 3
    f, f_pruned = net.predict(X), pruned.predict(X)
    scale = np.abs(f).max()
    np.testing.assert_allclose(f_pruned, f, rtol=0, atol=1e-8 * scale)
    assert res.max_prediction_change == pytest.approx(np.abs(f_pruned - f).max(), abs=1e-12 * scale)
    assert pruned.penalty() == pytest.approx(net.penalty(), rel=1e-10)
    assert res.objective_before == pytest.approx(net.objective(X, y, 0.1), rel=1e-12)
    assert res.objective == pytest.approx(pruned.objective(X, y, 0.1), rel=1e-12)
    assert res.objective == pytest.approx(res.objective_before, rel=1e-8)
    # The kept filters are rescalings of the original ones (same directions).
    assert np.all(np.max(_directions(pruned).T @ _directions(net), axis=1) > 1 - 1e-12)


@pytest.mark.parametrize("solver", ["cvxpy", "bcd"])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_optimal_cnn_split_into_copies_is_pruned_back(solver, hidden_bias):
    """An optimal CNN of solve_relu_cnn (Clarabel / bcd), each filter split into three
    copies (more than n + 1 filters): pruned back to at most its filters, at its optimum."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 1, 8)), rng.standard_normal(6)
    sol = cnn.solve_relu_cnn(
        X, y, 0.05, kernel_size=3, n_gates=4, solver=solver, hidden_bias=hidden_bias,
        random_state=0, prune=False,
    )  # fmt: skip
    assert sol.relative_gap < 1e-6
    split = _split_cnn(sol.network, np.array([0.2, 0.3, 0.5]))
    assert split.n_filters > X.shape[0] + 1
    res = prune_network(split, X, y, 0.05)
    assert res.n_neurons <= sol.network.n_filters
    assert res.objective == pytest.approx(sol.objective, rel=1e-8)
    assert (res.objective - sol.lower_bound) / sol.objective < 1e-6  # still optimal
    f = sol.network.predict(X)
    np.testing.assert_allclose(res.network.predict(X), f, rtol=0, atol=1e-8 * np.abs(f).max())


def test_cnn_of_few_independent_filters_is_unchanged():
    X, y = _images()
    net = _wide_cnn(3, tied=False, hidden_bias=True)
    res = prune_network(net, X, y, 0.1)
    assert res.n_neurons == 3 and res.max_prediction_change == 0.0
    np.testing.assert_array_equal(res.network.U, net.U)
    np.testing.assert_array_equal(res.network.alpha, net.alpha)


def test_cnn_on_ready_patches_without_kernel_size():
    """A network without geometry (solve_relu_cnn on patches) is pruned on its patches."""
    X, y = _images()
    net = _wide_cnn(30, tied=True, hidden_bias=True)
    P = cnn.extract_patches(X, 3)
    bare = cnn.ConvReLUNet(net.U, net.alpha, net.b, net.c, kernel_size=None)
    res = prune_network(bare, P, y, 0.1)
    assert res.n_neurons <= X.shape[0] + 1
    assert res.objective == pytest.approx(net.objective(X, y, 0.1), rel=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"X": np.ones((5, 25))}, ValueError, r"prune_network: X must be images \(N, C, H, W\)"),
        ({"X": np.ones((5, 1, 5, 5))}, ValueError, r"patches of 9 numbers .* filters U have 18"),
        ({"X": np.ones((5, 2, 6, 6))}, ValueError, r"K=16 positions, .* expects K=9"),
        ({"y": np.ones(4)}, ValueError, r"prune_network: y must have shape \(5,\)"),
        ({"beta": -1.0}, ValueError, r"prune_network: beta must be > 0"),
        ({"network": "net"}, TypeError, r"TwoLayerReLU or a convexnn.ConvReLUNet, got str"),
    ],
)
def test_bad_cnn_inputs(kwargs, error, match):
    X, y = _images()
    args = {"network": _wide_cnn(4, tied=False, hidden_bias=False), "X": X, "y": y, "beta": 0.1}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        prune_network(args.pop("network"), args.pop("X"), args.pop("y"), args.pop("beta"))
