"""Gated ReLU networks: gates of given patterns (against CVXPY), the gated network of a
gated solve (its predictions and objective are the program's), and the estimators."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import convexnn as cnn
from convexnn import ConvexReLUClassifier, ConvexReLURegressor, GatedReLU, pattern_gates
from convexnn.exceptions import ConvergenceWarning
from convexnn.problem import build_problem


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)


def _data(n: int = 60, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=d), 0.0) - X[:, 0] + 0.1 * rng.normal(size=n)
    return X, y


def _with_ones(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


# -- pattern_gates -----------------------------------------------------------------------


def test_gates_reproduce_sampled_patterns_and_are_the_maximum_margin_ones() -> None:
    """Each gate gives its pattern back, and is CVXPY's min ||g|| s.t. s_j x_j^T g >= ||x_j||."""
    X, _ = _data(50, 3, seed=1)
    Xe = _with_ones(X)
    D = Xe @ np.random.default_rng(2).normal(size=(4, 12)) >= 0
    G = pattern_gates(Xe, D)
    assert G.shape == (4, 12)
    np.testing.assert_array_equal(Xe @ G >= 0, D)
    norms = np.linalg.norm(Xe, axis=1)
    for i in range(0, 12, 3):
        g = cp.Variable(4)
        s = np.where(D[:, i], 1.0, -1.0)
        cp.Problem(cp.Minimize(cp.sum_squares(g)), [cp.multiply(s, Xe @ g) >= norms]).solve(
            solver=cp.CLARABEL
        )
        np.testing.assert_allclose(G[:, i], g.value, rtol=1e-6, atol=1e-7)


def test_gates_of_all_patterns_of_degenerate_data() -> None:
    """Every enumerated cell, with repeated rows and a zero row (no hidden bias)."""
    X = np.random.default_rng(3).normal(size=(12, 2))
    X = np.vstack([X, X[:4], np.zeros((1, 2))])  # repeated rows, and x = 0 (always on)
    D = np.asarray(cnn.enumerate_patterns(X, hidden_bias=False))
    np.testing.assert_array_equal(X @ pattern_gates(X, D) >= 0, D)


def test_a_pattern_no_gate_realises_gets_a_finite_best_effort() -> None:
    """x and -x both on: only a gate on the hyperplane does it (no margin); the others in
    the same call keep their exact gates."""
    X = np.array([[1.0, 0.5], [-1.0, -0.5], [0.3, 1.0], [-0.2, 0.7]])
    D = np.array([[True, True, False, True], [True, False, True, False]]).T
    G = pattern_gates(X, D)
    assert np.all(np.isfinite(G))
    np.testing.assert_array_equal(X @ G[:, 1] >= 0, D[:, 1])


def test_pattern_gates_rejects_bad_input() -> None:
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="patterns must be a boolean array of shape"):
        pattern_gates(X, np.ones((3, 2), dtype=bool))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pattern_gates(X, np.ones((4, 2), dtype=bool))


# -- GatedReLU ---------------------------------------------------------------------------


def test_gated_network_predicts_by_its_gates_and_scores_eq2() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 3))
    G, U = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    alpha, h, b = rng.normal(size=5), rng.normal(size=5), rng.normal(size=5)
    net = GatedReLU(G, U, alpha, gate_bias=h, b=b, c=0.7)
    on = X @ G + h >= 0
    want = (on * (X @ U + b)) @ alpha + 0.7
    np.testing.assert_allclose(net.predict(X), want)
    y = rng.normal(size=20)
    pen = 0.5 * (np.sum(U**2) + np.sum(b**2) + np.sum(alpha**2))
    assert net.objective(X, y, 0.3) == pytest.approx(0.5 * np.sum((want - y) ** 2) + 0.3 * pen)


def test_gated_network_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="U must have shape"):
        GatedReLU(np.ones((3, 2)), np.ones((3, 4)), np.ones(2))
    with pytest.raises(ValueError, match="G contains NaN"):
        GatedReLU(np.full((3, 2), np.nan), np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"gate_bias must have shape \(2,\)"):
        GatedReLU(np.ones((3, 2)), np.ones((3, 2)), np.ones(2), gate_bias=np.ones(3))
    with pytest.raises(ValueError, match="b contains NaN"):
        GatedReLU(np.ones((3, 2)), np.ones((3, 2)), np.ones(2), b=np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="X has 2 features"):
        GatedReLU(np.ones((3, 2)), np.ones((3, 2)), np.ones(2)).predict(np.ones((4, 2)))


# -- Solution.gated_network --------------------------------------------------------------


@pytest.mark.parametrize(
    ("hidden_bias", "output_bias", "loss", "exact"),
    [
        (True, True, "squared", False),
        (False, False, "squared", False),
        (True, False, "logistic", False),
        (True, True, "squared", True),
    ],
)
def test_gated_solution_is_its_gated_network(
    hidden_bias: bool, output_bias: bool, loss: str, exact: bool
) -> None:
    """The gated network's predictions on X are the program's, its objective the program's
    optimum; the ReLU network of the same blocks is worse here (the zero network)."""
    X, y = _data(40 if exact else 60, 2 if exact else 4, seed=5)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    beta = 0.05 * float(np.abs(X.T @ y).max())
    patterns = None if exact else "sampled"
    sol = cnn.solve(
        X, y, beta, patterns=patterns, formulation="gated", loss=loss, n_patterns=60,
        hidden_bias=hidden_bias, output_bias=output_bias, random_state=0,
    )  # fmt: skip
    net = sol.gated_network(X)
    assert isinstance(net, GatedReLU) and net.n_neurons == int(
        (np.linalg.norm(sol.V - sol.W, axis=0) > 0).sum()
    )
    problem = build_problem(
        X, y, beta, sol.patterns, loss=loss, formulation="gated",
        hidden_bias=hidden_bias, output_bias=output_bias,
    )  # fmt: skip
    np.testing.assert_allclose(
        net.predict(X), problem.predict(sol.V, sol.W, sol.c), rtol=1e-9, atol=1e-9
    )
    obj = net.objective(X, y, beta, loss=loss)
    assert obj == pytest.approx(sol.convex_objective, rel=1e-9)
    assert obj - sol.lower_bound <= 1e-6 * abs(obj)  # certified for the gated network
    assert obj < sol.objective  # better than the Theorem-1 network of the gated blocks
    assert f"gated network (sol.gated_network(X)): {net.n_neurons} neurons" in sol.summary()


def test_patterns_without_gates_warn_and_the_estimator_reports_its_network() -> None:
    """The flips of alg3 are not half-spaces: the gated network warns, differs from the
    program, and the estimator's objective_ is its network's own (not the program's)."""
    X, y = _data(80, 2, seed=11)
    D = cnn.sample_patterns(X, 40, method="alg3", hidden_bias=True, random_state=0)
    sol = cnn.solve(X, y, 0.2, patterns=D, formulation="gated", hidden_bias=True)
    with pytest.warns(UserWarning, match="patterns have no gate"):
        net = sol.gated_network(X)
    assert net.objective(X, y, 0.2) > sol.convex_objective * (1 + 1e-3)
    reg = ConvexReLURegressor(
        formulation="gated", beta=0.2, pattern_method="alg3", n_patterns=40, random_state=0
    )
    with pytest.warns(UserWarning, match="patterns have no gate"):
        reg.fit(X, y)
    Xs = (X - reg.mean_) / reg.scale_
    with pytest.warns(UserWarning, match="patterns have no gate"):
        own = reg.solution_.gated_network(Xs).objective(Xs, y, 0.2)
    assert reg.objective_ == pytest.approx(own) and reg.objective_ > reg.solution_.convex_objective
    assert reg.duality_gap_ == pytest.approx(own - reg.lower_bound_)


def test_gated_network_checks_its_data() -> None:
    X, y = _data(30, 2)
    sol = cnn.solve(X, y, 1.0, patterns="sampled", n_patterns=20, formulation="gated",
                    hidden_bias=True, random_state=0)  # fmt: skip
    with pytest.raises(ValueError, match=r"X must be the \(30, 3 or 2\) features"):
        sol.gated_network(X[:10])


def test_a_relu_solution_has_no_gated_network() -> None:
    X, y = _data(30, 2)
    sol = cnn.solve(X, y, 1.0, patterns="sampled", n_patterns=20, random_state=0)
    with pytest.raises(ValueError, match="formulation='gated'"):
        sol.gated_network(X)


# -- estimators --------------------------------------------------------------------------


def test_gated_regressor_predicts_with_its_gated_network() -> None:
    """On raw (unstandardized) features: the folded gated network gives the program's
    predictions, and objective_ / duality_gap_ are the gated network's."""
    X, y = _data(60, 3, seed=6)
    X = 3.0 * X + 2.0
    reg = ConvexReLURegressor(formulation="gated", beta=0.5, n_patterns=40, random_state=0)
    reg.fit(X, y)
    sol = reg.solution_
    assert isinstance(reg.network_, GatedReLU)
    Xs = (X - reg.mean_) / reg.scale_
    np.testing.assert_allclose(reg.predict(X), sol.gated_network(Xs).predict(Xs), atol=1e-9)
    assert reg.objective_ == pytest.approx(sol.convex_objective)
    assert reg.duality_gap_ == pytest.approx(sol.convex_objective - sol.lower_bound)
    assert reg.n_neurons_ == sol.gated_network(Xs).n_neurons > 0
    assert reg.score(X, y) > 0.5  # the zero network (its ReLU network here) scores <= 0


def test_gated_classifier_stacks_one_gated_network_per_class() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 2))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1] ** 2, [-0.5, 0.8])
    clf = ConvexReLUClassifier(formulation="gated", beta=0.1, n_patterns=30, random_state=0)
    clf.fit(X, y)
    assert isinstance(clf.network_, GatedReLU) and clf.network_.alpha.shape[1] == 3
    Xs = (X - clf.mean_) / clf.scale_
    scores = np.column_stack([s.gated_network(Xs).predict(Xs) for s in clf.solution_])
    np.testing.assert_allclose(clf.decision_function(X), scores, atol=1e-9)
    assert clf.score(X, y) > 0.8


# -- certify -----------------------------------------------------------------------------


def _gated_optimum(X: np.ndarray, y: np.ndarray, beta: float, D: np.ndarray, **kw) -> float:
    """CVXPY (Clarabel) optimum of the gated program over D."""
    ref = cnn.solve(X, y, beta, patterns=D, formulation="gated", solver="cvxpy", **kw)
    return float(ref.convex_objective)


def test_certify_brackets_the_gated_optimum_for_any_gated_network() -> None:
    """Random gates and weights: lower bound <= CVXPY's optimum over the patterns and the
    network's own <= the network's objective; a gated solve's network is certified."""
    X, y = _data(40, 3, seed=8)
    rng = np.random.default_rng(9)
    net = GatedReLU(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=4),
                    gate_bias=rng.normal(size=4), b=rng.normal(size=4), c=0.2)  # fmt: skip
    D = _with_ones(X) @ rng.normal(size=(4, 15)) >= 0
    cert = cnn.certify(net, X, y, 0.5, patterns=D)
    union = np.unique(np.hstack([D, net.gates(X)]), axis=1)
    opt = _gated_optimum(X, y, 0.5, union, hidden_bias=True, output_bias=True)
    assert cert.lower_bound <= opt + 1e-7 * abs(opt) <= cert.upper_bound + 2e-7 * abs(opt)
    assert cert.upper_bound == pytest.approx(net.objective(X, y, 0.5))
    assert cert.scope == "patterns" and cert.relative_gap > 1e-2

    sol = cnn.solve(X, y, 0.5, patterns=D, formulation="gated", hidden_bias=True)
    best = cnn.certify(sol.gated_network(X), X, y, 0.5, patterns=D)
    assert best.relative_gap <= 1e-6
    assert best.upper_bound == pytest.approx(
        _gated_optimum(X, y, 0.5, D, hidden_bias=True), rel=1e-6
    )


def test_certify_of_a_gated_network_is_global_over_all_patterns() -> None:
    X, y = _data(30, 2, seed=10)
    sol = cnn.solve(X, y, 0.3, patterns="exact", formulation="gated", hidden_bias=True)
    cert = cnn.certify(sol.gated_network(X), X, y, 0.3)  # enumerates: all patterns of [X, 1]
    assert cert.scope == "global" and cert.relative_gap <= 1e-6
    # It bounds gated networks, not the ReLU training problem (2) (whose optimum is higher).
    assert "GLOBAL: holds for the training problem of gated ReLU networks" in str(cert)
    assert "problem (2) at any width" not in str(cert)


def test_certify_of_a_gated_network_warns_at_its_caller_when_it_samples() -> None:
    X, y = _data(30, 2)
    net = GatedReLU(np.ones((2, 1)), np.ones((2, 1)), np.ones(1))
    with pytest.warns(UserWarning, match="NOT global") as record:
        cert = cnn.certify(net, X, y, 1.0, max_patterns=2, random_state=0)
    assert record[0].filename == __file__
    assert cert.scope == "patterns"


def test_certify_refuses_what_it_cannot_do_for_a_gated_network() -> None:
    X, y = _data(30, 2)
    net = GatedReLU(np.ones((2, 1)), np.ones((2, 1)), np.ones(1))
    with pytest.raises(ValueError, match="formulation='gated'"):
        cnn.certify(net, X, y, 1.0, formulation="relu")
    with pytest.raises(ValueError, match="cannot be enumerated within max_patterns=2"):
        cnn.certify(net, X, y, 1.0, patterns="exact", max_patterns=2)
    multi = GatedReLU(np.ones((2, 1)), np.ones((2, 1)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="2 outputs"):
        cnn.certify(multi, X, y, 1.0)
