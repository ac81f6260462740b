import warnings

import numpy as np
import pytest

import convexnn as cnn
from convexnn.cnn import (
    ConvReLUNet,
    cnn_patterns,
    extract_patches,
    predict_patchwise,
    sample_cnn_gates,
    solve_patchwise_relu_cnn,
    solve_relu_cnn,
    stack_patches,
)


def test_patchwise_section_41_exact_and_certified():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 1, 6))  # 1-D signals, filter size 2 with bias: exact patterns
    P = extract_patches(X, 2)
    Y = rng.standard_normal(P.shape[:2])
    sol = solve_patchwise_relu_cnn(X, Y, 0.1, kernel_size=2, hidden_bias=True)
    assert sol.scope == "global"
    assert sol.relative_gap < 1e-6
    # the objective of section 4.1 evaluated directly on the per-patch outputs
    net = sol.network
    pred = predict_patchwise(net, P)
    pen = 0.5 * (np.sum(net.U**2) + np.sum(net.b**2) + np.sum(net.alpha**2))
    direct = 0.5 * np.sum((pred - Y) ** 2) + 0.1 * pen
    assert np.isclose(direct, sol.objective, rtol=1e-12)
    Xs, ys = stack_patches(P, Y)
    np.testing.assert_array_equal(Xs[: len(X)], P[:, 0])  # X' = [X_1; ...; X_K]
    # no GD run on the same objective ends below the global lower bound
    from convexnn.baselines import train_gd

    for seed in range(3):
        gd = train_gd(Xs, ys, 0.1, n_neurons=6, hidden_bias=True, random_state=seed)
        assert gd.objective >= sol.lower_bound * (1 - 1e-9)


def _images(seed=0, n=20):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 6, 6)), rng.standard_normal(n)


@pytest.mark.parametrize("hidden_bias", [False, True])
def test_relu_program_certified_and_recovered(hidden_bias):
    X, y = _images()
    sol = solve_relu_cnn(
        X, y, 0.5, kernel_size=3, stride=3, n_gates=6, random_state=0, hidden_bias=hidden_bias
    )
    assert sol.constraint_violation < 1e-7
    assert sol.relative_gap < 1e-6  # over these patterns
    net = sol.network
    # the recovered CNN reproduces the convex predictions
    P = extract_patches(X, 3, 3)
    np.testing.assert_allclose(net.predict(X), sol.predict_convex(P), atol=1e-6)
    assert np.isclose(net.objective(X, y, 0.5), sol.convex_objective, rtol=1e-6)


def test_gated_fista_matches_cvxpy():
    X, y = _images(1)
    kw = dict(kernel_size=3, stride=3, n_gates=6, random_state=0, formulation="gated")
    a = solve_relu_cnn(X, y, 0.5, tol=1e-10, max_iter=50000, **kw)
    b = solve_relu_cnn(X, y, 0.5, solver="cvxpy", **kw)
    assert abs(a.objective - b.objective) <= 1e-6 * b.objective
    assert a.lower_bound <= a.objective


def test_relu_program_matches_eq8_when_K_is_1():
    # one patch covering the image: the CNN program is program (8) of convexnn.solve
    X, y = _images(2, n=12)
    P = extract_patches(X[:, :, :2, :2], 2)
    H = sample_cnn_gates(P, 5, random_state=0)
    D = cnn_patterns(P, H)[:, 0, :]
    D = D[:, np.unique(D, axis=1, return_index=True)[1]]
    ours = solve_relu_cnn(X[:, :, :2, :2], y, 0.3, kernel_size=2, gates=H)
    ref = cnn.solve(P[:, 0], y, 0.3, patterns=D)
    assert abs(ours.convex_objective - ref.convex_objective) <= 1e-6 * ref.convex_objective


def test_gates_from_kmeans_and_network():
    X, _ = _images()
    P = extract_patches(X, 3, 3)
    H = sample_cnn_gates(P, 5, method="kmeans", hidden_bias=True, random_state=0)
    assert H.shape == (10, 5)
    net = ConvReLUNet(np.ones((9, 2)), np.ones(2), b=np.zeros(2), kernel_size=3, stride=3)
    H2 = sample_cnn_gates(P, 0, method="network", network=net, hidden_bias=True)
    np.testing.assert_array_equal(H2, np.vstack([np.ones((9, 2)), np.zeros((1, 2))]))
    with pytest.raises(ValueError, match="unknown method"):
        sample_cnn_gates(P, 5, method="bogus")
    with pytest.raises(ValueError, match=r"gates must have shape \(d_eff, P\) = \(10, P\)"):
        solve_relu_cnn(
            X, np.zeros(20), 1.0, kernel_size=3, stride=3, gates=H2[:-1], hidden_bias=True
        )
    with pytest.raises(ValueError, match="'fista' handles formulation='gated' only"):
        solve_relu_cnn(X, np.zeros(20), 1.0, kernel_size=3, solver="fista")


@pytest.mark.parametrize("shape", [(4, 2, 7, 6), (4, 3, 9)])
@pytest.mark.parametrize("fc", [False, True])
def test_to_torch_identical(shape, fc):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape)
    k, s, p = (3, 2, 1)
    K = extract_patches(X, k, s, p).shape[1]
    d = shape[1] * k ** (len(shape) - 2)
    alpha = rng.standard_normal((5, K)) if fc else rng.standard_normal(5)
    net = ConvReLUNet(
        rng.standard_normal((d, 5)),
        alpha,
        rng.standard_normal(5),
        0.3,
        kernel_size=k,
        stride=s,
        padding=p,
    )
    out = net.to_torch(shape[1:])(torch.as_tensor(X)).detach().numpy().ravel()
    np.testing.assert_allclose(out, net.predict(X), rtol=1e-12, atol=1e-12)


def test_a_gated_solve_out_of_iterations_above_tol_warns() -> None:
    """max_iter reached above tol warns with the gap, however close to tol (an optimal
    status a little above tol does not)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 1, 6, 6)), rng.standard_normal(30)
    with pytest.warns(cnn.ConvergenceWarning, match=r"status .max_iter. at a relative gap"):
        sol = solve_relu_cnn(X, y, 0.1, kernel_size=3, formulation="gated", n_gates=10,
                             random_state=0, max_iter=300, tol=0.5, solver="fista")  # fmt: skip
    assert sol.status == "max_iter" and 0.5 < sol.relative_gap < 5.0  # below 10 tol


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_hinge_loss_is_certified_by_the_dual_socp(formulation: str) -> None:
    """The hinge loss's bound (its subgradient is not unique at the margins) comes from
    the dual SOCP over the patterns: it crashed before (no gradient)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 1, 6, 6)), np.sign(rng.standard_normal(20))
    sol = solve_relu_cnn(X, y, 0.1, kernel_size=3, n_gates=4, random_state=0, loss="hinge",
                         formulation=formulation)  # fmt: skip
    assert sol.solver == "cvxpy" and sol.lower_bound <= sol.objective
    assert sol.relative_gap < 1e-5


def test_classifier_keeps_margin_labels_and_reports_its_networks_objective() -> None:
    """A margin loss sees +-1 labels (not labels centred by their mean), and objective_
    is the fitted network's own objective."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 1, 6, 6)), np.where(rng.random(60) < 0.85, 1, -1)
    clf = cnn.cnn.ConvexCNNClassifier(kernel_size=3, n_gates=5, beta=1.0, loss="logistic",
                                      random_state=0).fit(X, y)  # fmt: skip
    assert clf.offset_ == 0.0
    assert np.isclose(clf.network_.objective(X, y, 1.0, loss="logistic"), clf.objective_)


def test_labels_go_through_the_loss() -> None:
    """{0, 1} labels are the loss's -1 / +1, as in convexnn.solve."""
    rng = np.random.default_rng(1)
    X, y01 = rng.standard_normal((30, 1, 6, 6)), (rng.random(30) < 0.5).astype(float)
    kw = dict(kernel_size=3, n_gates=5, random_state=0, loss="logistic", formulation="gated")
    a, b = solve_relu_cnn(X, y01, 0.1, **kw), solve_relu_cnn(X, 2 * y01 - 1, 0.1, **kw)
    assert np.isclose(a.objective, b.objective, rtol=1e-9) and a.relative_gap < 1e-6
    with pytest.raises(ValueError, match="labels in"):
        solve_relu_cnn(X, 3.0 * (2 * y01 - 1), 0.1, **kw)


def test_bad_cnn_options_are_refused_clearly() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((20, 1, 6, 6)), rng.standard_normal(20)
    kw = dict(kernel_size=3, n_gates=4, random_state=0, formulation="gated")
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 0"):
        solve_relu_cnn(X, y, 0.1, max_iter=0, **kw)
    with pytest.raises(ValueError, match="'cross_entropy' needs several outputs"):
        solve_relu_cnn(X, y, 0.1, loss="cross_entropy", **kw)
    with pytest.raises(ValueError, match="gates contain NaN"):
        solve_relu_cnn(X, y, 0.1, kernel_size=3, gates=np.full((9, 3), np.nan))
    with pytest.raises(ValueError, match=r"y must be 1-D.*got shape \(20, 1\)"):
        solve_relu_cnn(X, y[:, None], 0.1, **kw)
    with pytest.raises(ValueError, match=r"y must be 1-D.*got shape \(20, 2\)"):
        cnn.cnn.ConvexCNNRegressor(kernel_size=3).fit(X, np.c_[y, y])
    sol = solve_relu_cnn(X, y, 0.1, tol=np.float32(1e-6), **kw)  # a NumPy scalar is a number
    assert sol.relative_gap <= 1e-6


def test_network_and_gate_shapes_are_checked() -> None:
    X = np.random.default_rng(0).standard_normal((4, 1, 6, 6))
    with pytest.raises(ValueError, match=r"b must hold one bias per filter, shape \(2,\)"):
        ConvReLUNet(np.ones((9, 2)), np.ones(2), b=np.ones(1), kernel_size=3)
    with pytest.raises(ValueError, match=r"patches have 9 numbers .* the filters U 8"):
        ConvReLUNet(np.ones((8, 2)), np.ones(2), kernel_size=3).predict(X)
    with pytest.raises(ValueError, match=r"patches must be \(N, K, d\)"):
        sample_cnn_gates(np.ones((5, 9)), 3)


def test_conv_net_objective_checks_labels_and_beta_like_the_dense_network() -> None:
    """Labels {0, 1} score as {-1, +1} for the classification losses (as
    TwoLayerReLU.objective and solve_relu_cnn do), and bad beta / y get clear errors."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 1, 5, 5))
    net = ConvReLUNet(rng.standard_normal((9, 2)), rng.standard_normal(2), kernel_size=3)
    y01 = np.array([0, 1, 1, 0, 1, 0])
    ypm = 2.0 * y01 - 1.0
    for loss in ("logistic", "squared_hinge", "hinge"):
        assert net.objective(X, y01, 0.5, loss=loss) == net.objective(X, ypm, 0.5, loss=loss)
    assert net.objective(X, y01, 0.5) != net.objective(X, ypm, 0.5)  # squared: as given
    with pytest.raises(ValueError, match=r"ConvReLUNet.objective: beta must be > 0"):
        net.objective(X, ypm, -1.0)
    with pytest.raises(ValueError, match=r"ConvReLUNet.objective: y must have shape \(6,\)"):
        net.objective(X, ypm[:5], 0.5)
    with pytest.raises(ValueError, match=r"ConvReLUNet.objective: y must be 1-D"):
        net.objective(X, np.ones((6, 2)), 0.5)


def test_relu_cnn_cvxpy_failure_is_a_runtime_error_naming_the_fix(monkeypatch):
    """Clarabel's raw SolverError (seen on N = 12 signals of 2 x 8, kernel 2, stride 2,
    padding 1, logistic, beta = 0.1, n_gates = 8) comes back naming solver='bcd'."""
    import cvxpy as cp

    import convexnn.cnn.relu as relu_module

    def failing(*args, **kwargs):
        raise cp.SolverError("Solver 'CLARABEL' failed.")

    monkeypatch.setattr(relu_module, "_cvxpy_solve", failing)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 1, 6)), rng.integers(0, 2, 8)
    with pytest.raises(RuntimeError, match=r"solve_relu_cnn: solver 'cvxpy' .*solver='bcd'"):
        solve_relu_cnn(X, y, 0.1, kernel_size=2, loss="logistic", n_gates=3, random_state=0)


@pytest.mark.parametrize("solver", ["cvxpy", "bcd"])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_an_empty_optimum_reads_gap_and_violation_zero(solver: str, hidden_bias: bool) -> None:
    # y = 0: the empty network is optimal. Clarabel left blocks of about 1e-14 whose
    # network's objective (1e-13) was all of the gap above the bound 0: relative gap 1,
    # violation 1, status "inaccurate" and a ConvergenceWarning.
    X = np.random.default_rng(0).standard_normal((20, 1, 6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve_relu_cnn(
            X, np.zeros(20), 0.5, kernel_size=3, n_gates=10, solver=solver,
            hidden_bias=hidden_bias, random_state=0,
        )  # fmt: skip
    assert sol.status == "optimal"
    assert sol.network is not None and sol.network.alpha.size == 0
    assert sol.objective == 0.0 and sol.relative_gap == 0.0
    assert sol.constraint_violation == 0.0


def _duplicated_gates(hidden_bias: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6 signals, and 4 gates each given twice: Clarabel splits an optimal block over
    the two copies of its pattern, recovering more than N + 1 = 7 filters."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 1, 8)), rng.standard_normal(6)
    H = sample_cnn_gates(extract_patches(X, 3), 4, hidden_bias=hidden_bias, random_state=0)
    return X, y, np.tile(H, (1, 2))


def _split_over_copies(solver):
    """``solve_relu_bcd`` whose blocks are spread evenly over both copies of each gate
    (same predictions, penalty and cones): which optimum of the tie "bcd" returns is
    rounding's choice (7 filters or more), and pruning needs more than N + 1 to act."""

    def split(*args, **kwargs):
        V, W, n_iter, status = solver(*args, **kwargs)
        half = V.shape[1] // 2
        for M in (V, W):
            both = M[:, :half] + M[:, half:]
            M[:, :half], M[:, half:] = 0.5 * both, 0.5 * both
        return V, W, n_iter, status

    return split


@pytest.mark.parametrize("solver", ["cvxpy", "bcd"])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_relu_cnn_is_pruned_to_n_plus_one_filters_at_the_same_objective(
    solver, hidden_bias, monkeypatch
):
    from convexnn.cnn import relu

    if solver == "bcd":
        monkeypatch.setattr(relu, "solve_relu_bcd", _split_over_copies(relu.solve_relu_bcd))
    X, y, G = _duplicated_gates(hidden_bias)
    opts = {"kernel_size": 3, "gates": G, "solver": solver, "hidden_bias": hidden_bias}
    wide = solve_relu_cnn(X, y, 0.05, prune=False, **opts)
    assert wide.network.n_filters > X.shape[0] + 1
    for prune in ("auto", True):
        sol = solve_relu_cnn(X, y, 0.05, prune=prune, **opts)
        net = sol.network
        assert net.n_filters <= X.shape[0] + 1
        # the reported objective and gap are the pruned network's own
        assert sol.objective == net.objective(X, y, 0.05)
        assert sol.gap == sol.objective - sol.lower_bound and sol.relative_gap < 1e-6
        assert sol.objective == pytest.approx(wide.objective, rel=1e-8)
        f = wide.network.predict(X)
        np.testing.assert_allclose(net.predict(X), f, rtol=0, atol=1e-8 * np.abs(f).max())


def test_relu_cnn_keeps_the_recovered_network_when_pruning_fails(monkeypatch):
    import convexnn.prune as prune_module

    def refuse(*args, **kwargs):
        raise RuntimeError("badly conditioned")

    X, y, G = _duplicated_gates(False)
    wide = solve_relu_cnn(X, y, 0.05, kernel_size=3, gates=G, prune=False)
    monkeypatch.setattr(prune_module, "prune_network", refuse)
    sol = solve_relu_cnn(X, y, 0.05, kernel_size=3, gates=G, prune=True)
    assert sol.network.n_filters == wide.network.n_filters > X.shape[0] + 1
    assert sol.objective == wide.objective


def test_relu_cnn_refuses_a_bad_prune_option() -> None:
    X, y = _images(n=4)
    with pytest.raises(ValueError, match=r"solve_relu_cnn: prune must be True, False or 'auto'"):
        solve_relu_cnn(X, y, 0.1, kernel_size=3, prune="yes")
