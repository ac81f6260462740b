"""Multi-output networks: separate (exact), shared gated (exact), shared relu (relaxation)."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import convexnn as cnn
from convexnn.multioutput import concatenate_networks, solve_multioutput

TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
pytestmark = pytest.mark.filterwarnings(
    "ignore:Solution may be inaccurate", "ignore::convexnn.ConvergenceWarning"
)


def data(n: int = 7, c: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    Y = np.maximum(X @ rng.normal(size=(2, c)), 0) + 0.2 * rng.normal(size=(n, c))
    return X, Y


def eff(X: np.ndarray, hidden_bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X


# -- the network ------------------------------------------------------------------------


def test_network_with_matrix_alpha_predicts_and_penalises():
    rng = np.random.default_rng(0)
    U, A, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=4), [0.5, -1]
    net = cnn.TwoLayerReLU(U, A, b=b, c=c)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    Z = np.maximum(X @ U + b, 0) @ A + np.array(c)
    np.testing.assert_allclose(net.predict(X), Z)
    assert net.n_outputs == 2 and net.is_multi_output
    pen = 0.5 * (np.sum(U**2) + np.sum(b**2) + np.sum(A**2))
    assert net.objective(X, Y, 0.3) == pytest.approx(0.5 * np.sum((Z - Y) ** 2) + 0.3 * pen)
    with pytest.raises(ValueError, match=r"y must have shape \(5, 2\)"):
        net.objective(X, Y[:, 0], 0.3)
    with pytest.raises(ValueError, match=r"c \(output bias\) must have shape \(2,\)"):
        cnn.TwoLayerReLU(U, A, c=1.0)
    with pytest.raises(ValueError, match="alpha must have one entry per neuron"):
        cnn.TwoLayerReLU(U, rng.normal(size=(3, 2)))


# -- separate ---------------------------------------------------------------------------


@pytest.mark.parametrize("hidden_bias", [False, True])
@pytest.mark.parametrize("output_bias", [False, True])
def test_separate_mode_equals_c_scalar_solves(hidden_bias, output_bias):
    X, Y = data(c=3)
    sol = solve_multioutput(
        X, Y, 0.1, mode="separate", hidden_bias=hidden_bias, output_bias=output_bias
    )
    singles = [
        cnn.solve(X, Y[:, k], 0.1, hidden_bias=hidden_bias, output_bias=output_bias)
        for k in range(3)
    ]
    # The default solver is solve's own (the fast one here), not CVXPY for every column.
    assert [s.solver for s in sol.solutions] == [s.solver for s in singles] == ["fast"] * 3
    assert sol.objective == pytest.approx(sum(s.objective for s in singles), rel=1e-9)
    assert sol.lower_bound == pytest.approx(sum(s.lower_bound for s in singles), rel=1e-9)
    for k, s in enumerate(singles):
        np.testing.assert_allclose(sol.network.predict(X)[:, k], s.network.predict(X), atol=1e-9)
    assert sol.exact and sol.scope == "global" and sol.relative_gap <= 1e-6
    reference = solve_multioutput(
        X, Y, 0.1, mode="separate", hidden_bias=hidden_bias, output_bias=output_bias,
        solver="cvxpy",
    )  # fmt: skip
    assert {s.solver for s in reference.solutions} == {"cvxpy"}
    assert sol.convex_objective == pytest.approx(reference.convex_objective, rel=1e-6)
    # the separate network is a feasible shared network: the shared bound is below it
    assert sol.shared_lower_bound <= sol.objective


def test_concatenated_network_is_block_structured():
    a = cnn.TwoLayerReLU(np.ones((2, 2)), [1.0, 2.0], c=0.5)
    b = cnn.TwoLayerReLU(-np.ones((2, 1)), [3.0], c=-1.0)
    net = concatenate_networks([a, b])
    np.testing.assert_array_equal(net.alpha, [[1, 0], [2, 0], [0, 3]])
    np.testing.assert_array_equal(net.c, [0.5, -1.0])


# -- shared gated: the group-nuclear-norm program ----------------------------------------


def reference_group_nuclear(X, Y, beta, D, output_bias, loss="squared"):
    """min L(sum_i D_i X V_i + 1 c^T, Y) + beta sum_i ||V_i||_*, written out here."""
    n, k = Y.shape
    Vs = [cp.Variable((X.shape[1], k)) for _ in range(D.shape[1])]
    Z = 0
    for i, V in enumerate(Vs):
        Z = Z + np.diag(D[:, i].astype(float)) @ X @ V
    if output_bias:
        Z = Z + np.ones((n, 1)) @ cp.Variable((1, k))
    M = cp.multiply(Y, Z)
    L = {
        "squared": lambda: 0.5 * cp.sum_squares(Z - Y),
        "cross_entropy": lambda: cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(M),
        "logistic": lambda: cp.sum(cp.logistic(-M)),
        "hinge": lambda: cp.sum(cp.maximum(0, 1 - M)),
        "squared_hinge": lambda: 0.5 * cp.sum(cp.square(cp.maximum(0, 1 - M))),
        "huber": lambda: 0.5 * cp.sum(cp.huber(Z - Y, 1.0)),
    }[loss]()
    prob = cp.Problem(cp.Minimize(L + beta * sum(cp.normNuc(V) for V in Vs)))
    prob.solve(solver="CLARABEL", **TIGHT)
    return float(prob.value)


def gated_eq2(Xe, Y, beta, U, A, gates, c):
    """eq. (2) of the gated network sum_j gates_j (X u_j) alpha_j^T, written out."""
    Z = sum(np.outer(gates[:, j] * (Xe @ U[:, j]), A[j]) for j in range(U.shape[1]))
    Z = Z + (c if c is not None else 0.0)
    return 0.5 * np.sum((Z - Y) ** 2) + beta / 2 * (np.sum(U**2) + np.sum(A**2))


@pytest.mark.parametrize("hidden_bias", [False, True])
@pytest.mark.parametrize("output_bias", [False, True])
def test_shared_gated_equals_the_nuclear_norm_program(hidden_bias, output_bias):
    X, Y = data(n=6, c=3, seed=1)
    beta = 0.1
    D = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    sol = solve_multioutput(
        X, Y, beta, mode="shared", formulation="gated", patterns=D,
        hidden_bias=hidden_bias, output_bias=output_bias, solver_options=TIGHT,
    )  # fmt: skip
    ref = reference_group_nuclear(eff(X, hidden_bias), Y, beta, D, output_bias)
    assert sol.convex_objective == pytest.approx(ref, rel=1e-6)
    net = sol.network
    recovered = gated_eq2(eff(X, hidden_bias), Y, beta, net.U_eff, net.alpha, sol.gates, net.c)
    assert recovered == pytest.approx(ref, rel=1e-6)  # the SVD recovery attains it
    assert sol.gated_objective == pytest.approx(ref, rel=1e-6)
    assert sol.lower_bound <= ref * (1 + 1e-9)
    assert (ref - sol.lower_bound) / ref <= 1e-6
    assert sol.exact and sol.scope == "global"
    assert sol.objective == pytest.approx(net.objective(X, Y, beta), rel=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "hinge", "squared_hinge", "huber"])
def test_shared_gated_every_elementwise_loss(loss):
    X, Y = data(n=6, c=2, seed=7)
    if loss != "huber":
        Y = np.where(Y > np.median(Y, axis=0), 1.0, -1.0)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    sol = solve_multioutput(
        X, Y, 0.2, mode="shared", formulation="gated", loss=loss, patterns=D,
        hidden_bias=True, output_bias=True, solver_options=TIGHT,
    )  # fmt: skip
    ref = reference_group_nuclear(eff(X, True), Y, 0.2, D, True, loss=loss)
    assert sol.convex_objective == pytest.approx(ref, rel=1e-6)
    assert sol.lower_bound <= ref * (1 + 1e-9)
    if loss != "hinge":  # hinge margins are not optimised here: valid, maybe loose
        assert (ref - sol.lower_bound) / ref <= 1e-6


def test_nuclear_norm_program_lower_bounds_every_gated_network():
    """The scaling beta/2 (||u||^2 + ||a||^2) -> beta ||V||_*: no gated network beats it."""
    X, Y = data(n=6, c=2, seed=2)
    beta = 0.2
    D = np.asarray(cnn.enumerate_patterns(X))
    ref = reference_group_nuclear(X, Y, beta, D, False)
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = 4
        idx = rng.integers(D.shape[1], size=m)
        U, A = 0.7 * rng.normal(size=(2, m)), 0.7 * rng.normal(size=(m, 2))
        assert gated_eq2(X, Y, beta, U, A, D[:, idx], None) >= ref * (1 - 1e-9)


# -- shared relu: the relaxation --------------------------------------------------------


def test_shared_relu_with_one_output_bound_is_below_the_exact_scalar_optimum():
    """c = 1: the exact optimum is known (program 8); the relaxation's bound is below it."""
    for seed in range(3):
        X, Y = data(n=7, c=1, seed=seed)
        exact = cnn.solve(X, Y[:, 0], 0.1, hidden_bias=True)
        sol = solve_multioutput(X, Y, 0.1, mode="shared", formulation="relu", hidden_bias=True)
        assert not sol.exact
        assert sol.lower_bound <= exact.objective * (1 + 1e-9)
        assert sol.objective >= exact.lower_bound * (1 - 1e-9)


def gd_best_of_restarts(X, Y, beta, m, restarts, steps, hidden_bias):
    """Adam (NumPy) on eq. (2) from many random starts (a sanity upper bound, not a proof)."""
    Xe = eff(X, hidden_bias)
    best = np.inf
    for seed in range(restarts):
        rng = np.random.default_rng(seed)
        params = [rng.normal(size=(Xe.shape[1], m)), rng.normal(size=(m, Y.shape[1]))]
        moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
        for step in range(1, steps + 1):
            U, A = params
            pre = Xe @ U
            H = np.maximum(pre, 0)
            R = H @ A - Y
            obj = 0.5 * np.sum(R**2) + beta / 2 * (np.sum(U**2) + np.sum(A**2))
            best = min(best, obj)
            grads = [Xe.T @ ((R @ A.T) * (pre > 0)) + beta * U, H.T @ R + beta * A]
            for p, g, mv in zip(params, grads, moments, strict=True):
                mv[0] = 0.9 * mv[0] + 0.1 * g
                mv[1] = 0.999 * mv[1] + 0.001 * g**2
                p -= 0.02 * (mv[0] / (1 - 0.9**step)) / (np.sqrt(mv[1] / (1 - 0.999**step)) + 1e-12)
    return best


def test_lower_bounds_never_exceed_restarted_gd():
    X, Y = data(n=6, c=2, seed=3)
    gd = gd_best_of_restarts(X, Y, 0.1, m=8, restarts=8, steps=2000, hidden_bias=True)
    for mode in ("separate", "shared"):
        sol = solve_multioutput(X, Y, 0.1, mode=mode, formulation="relu", hidden_bias=True)
        if mode == "shared":  # a bound on p* itself
            assert sol.lower_bound <= gd * (1 + 1e-9)
        assert sol.shared_lower_bound <= gd * (1 + 1e-9)
        assert sol.lower_bound <= sol.objective
        assert sol.shared_lower_bound <= sol.objective


def test_shared_relu_network_is_no_worse_than_separate():
    X, Y = data(n=7, c=2, seed=4)
    sep = solve_multioutput(X, Y, 0.1, mode="separate")
    shared = solve_multioutput(X, Y, 0.1, mode="shared", formulation="relu")
    assert shared.objective <= sep.objective * (1 + 1e-7)
    assert shared.lower_bound <= sep.objective
    assert "RELAXATION" in shared.summary()
    assert shared.objective == pytest.approx(shared.network.objective(X, Y, 0.1), rel=1e-12)


# -- cross-entropy ----------------------------------------------------------------------


@pytest.mark.parametrize("output_bias", [False, True])
def test_two_class_cross_entropy_matches_logistic(output_bias):
    """CE over 2 classes: separate networks == logistic on z0 - z1; shared gated ==
    scalar gated logistic with beta / sqrt(2) (min ||V||_* s.t. V (e0 - e1) = v is
    ||v|| / sqrt 2)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, 2))
    labels = np.array([0, 1, 0, 1, 1, 0, 0])
    y = np.where(labels == 0, 1.0, -1.0)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    common = dict(patterns=D, hidden_bias=True, output_bias=output_bias, solver_options=TIGHT)
    sep = solve_multioutput(X, labels, 0.2, mode="separate", loss="cross_entropy", **common)
    logi = cnn.solve(X, y, 0.2, loss="logistic", solver="cvxpy", **common)
    assert sep.convex_objective == pytest.approx(logi.convex_objective, rel=1e-6)
    assert sep.lower_bound <= logi.convex_objective * (1 + 1e-9)
    assert sep.relative_gap <= 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = solve_multioutput(
            X, labels, 0.2, mode="shared", formulation="gated", loss="cross_entropy", **common
        )
        logi_g = cnn.solve(
            X, y, 0.2 / np.sqrt(2), loss="logistic", formulation="gated", solver="cvxpy", **common
        )
    assert gated.convex_objective == pytest.approx(logi_g.convex_objective, rel=1e-6)
    assert gated.lower_bound <= gated.convex_objective * (1 + 1e-9)
    assert (gated.gated_objective - gated.lower_bound) / gated.gated_objective <= 1e-6


def test_three_class_cross_entropy_shared_gated_matches_reference():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(6, 2))
    labels = np.array(["a", "b", "c", "a", "b", "c"])
    D = cnn.enumerate_patterns(X)
    sol = solve_multioutput(
        X, labels, 0.2, mode="shared", formulation="gated", loss="cross_entropy", patterns=D,
        solver_options=TIGHT,
    )  # fmt: skip
    Y = np.repeat(np.eye(3)[None], 2, axis=0).reshape(6, 3)
    np.testing.assert_array_equal(sol.Y, Y)
    ref = reference_group_nuclear(X, Y, 0.2, D, False, loss="cross_entropy")
    assert sol.convex_objective == pytest.approx(ref, rel=1e-6)
    assert sol.lower_bound <= ref * (1 + 1e-9) and (ref - sol.lower_bound) / ref <= 1e-6


# -- errors -----------------------------------------------------------------------------


def test_bad_input_is_refused_clearly():
    X, Y = data()
    with pytest.raises(ValueError, match="unknown mode 'joint'"):
        solve_multioutput(X, Y, 0.1, mode="joint")
    with pytest.raises(ValueError, match=r"Y must have one row per row of X \(7\)"):
        solve_multioutput(X, Y[:5], 0.1)
    with pytest.raises(ValueError, match="at least two classes"):
        solve_multioutput(X, np.zeros(7), 0.1, loss="cross_entropy")
    with pytest.raises(ValueError, match=r"output 1\): loss 'hinge' is a binary"):
        solve_multioutput(X, np.column_stack([np.sign(Y[:, 0] - 0.5), Y[:, 1]]), 0.1, loss="hinge")
    with pytest.raises(ValueError, match="beta must be > 0"):
        solve_multioutput(X, Y, -1.0)
    with pytest.raises(ValueError, match="solver 'fast' cannot solve this program"):
        solve_multioutput(X, Y, 0.1, mode="shared", solver="fast")


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_certified_gated_separate_solve_does_not_warn(loss):
    """The gap that decides the warning is the gated program's own: the ReLU network
    built from gated blocks is a different model, whose gap (0.9 here) is no failure."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 5))
    if loss == "squared":
        Y = np.column_stack([np.maximum(X @ rng.normal(size=5), 0), np.maximum(X[:, 0], 0)])
    else:
        Y = np.argmax(X @ rng.normal(size=(5, 3)), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnn.ConvergenceWarning)
        sol = solve_multioutput(
            X, Y, 0.05, mode="separate", formulation="gated", loss=loss, n_patterns=30,
            random_state=0,
        )  # fmt: skip
    assert sol.status == "optimal"
    assert sol.convex_objective - sol.lower_bound <= 1e-6 * sol.convex_objective
    assert sol.relative_gap > 0.5  # the gated blocks' ReLU network: a different model


def test_bad_outputs_and_pattern_errors_name_solve_multioutput():
    X, Y = data(n=8)
    with pytest.raises(ValueError, match=r"^solve_multioutput: Y must have at least one output"):
        solve_multioutput(X, np.zeros((8, 0)), 0.1)
    with pytest.raises(ValueError, match=r"^solve_multioutput: n_patterns must be an integer"):
        solve_multioutput(X, Y, 0.1, patterns="sampled", n_patterns=0)


def test_separate_bound_says_it_excludes_shared_neurons():
    """The separate bound covers one network per output only: a shared network beats it."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((12, 2))
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] ** 2, X[:, 0] * X[:, 1]] + 0.1 * rng.standard_normal((12, 3))
    sep = solve_multioutput(X, Y, 0.1, mode="separate")
    shared = solve_multioutput(X, Y, 0.1, mode="shared", formulation="relu")
    assert sep.scope == "global"
    assert shared.objective < sep.lower_bound  # so sep.lower_bound is no bound on eq. (2)
    assert shared.objective >= sep.shared_lower_bound  # this one is
    text = sep.summary()
    assert "WITHOUT shared hidden neurons" in text
    assert f"shared_lower_bound = {sep.shared_lower_bound:.10g}" in text
    assert "for eq. (2) with vector outputs" in shared.summary()


def test_fast_solver_options_in_a_shared_cvxpy_solve_get_a_clear_error():
    """mode="shared" is a CVXPY program: the fast solvers' options reached Clarabel,
    whose TypeError did not name solve_multioutput or solver_options."""
    X, Y = data(n=6, c=3, seed=1)
    with pytest.raises(ValueError, match=r"solve_multioutput: solver_options \['dtype'\] go"):
        solve_multioutput(X, Y, 0.1, mode="shared", solver_options={"dtype": "float32"})


def test_cross_entropy_output_bias_bound_survives_near_separable_data():
    """The dual point's residual removal made a softmax probability of 1e-36 negative
    (-5.6e-18): the conjugate was -inf there and the certified lower bound 0 (relative
    gap 1) at an optimal solve."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    rng.standard_normal((20, 3))
    labels = rng.integers(0, 3, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnn.ConvergenceWarning)  # Clarabel's 6e-5
        sol = solve_multioutput(
            X, labels, 0.01, loss="cross_entropy", output_bias=True, patterns="exact"
        )
    assert sol.status == "optimal"
    assert sol.lower_bound <= sol.objective
    assert sol.relative_gap < 1e-3
