"""Strong duality, numerically: the dual SOCP of section 5 against the primal (8)."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
from convexnn.demo import paper_1d
from convexnn.patterns.oracle import max_dual_violation


def _random_2d(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = np.maximum(X @ np.array([1.0, -0.5]) + 0.2, 0.0) - 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


CASES = [
    ("paper_1d", False, False),
    ("paper_1d", True, False),
    ("paper_1d", True, True),
    ("random_2d", False, False),
    ("random_2d", True, False),
    ("random_2d", False, True),
    ("random_2d", True, True),
]


# For "gated", solve() scores the recovered ReLU network, not the gated model: its gap
# warning is expected there; the comparison uses the convex optimum.
@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")
@pytest.mark.parametrize("formulation", ["relu", "gated"])
@pytest.mark.parametrize(("data", "hidden_bias", "output_bias"), CASES)
def test_primal_equals_dual(data, hidden_bias, output_bias, formulation):
    X, y = paper_1d() if data == "paper_1d" else _random_2d(7, seed=1)
    beta = 0.05
    kwargs = {"hidden_bias": hidden_bias, "output_bias": output_bias, "formulation": formulation}
    D = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    primal = cnn.solve(X, y, beta, patterns=D, solver="cvxpy", **kwargs)
    dual = cnn.solve_dual(X, y, beta, patterns=D, **kwargs)
    assert dual.patterns.shape == D.shape
    # p* (eq. 2 via eq. 8) = d* (eq. 15)
    assert dual.objective == pytest.approx(primal.convex_objective, rel=1e-6, abs=1e-9)
    if formulation == "relu":  # the recovered ReLU network attains it too
        assert dual.objective == pytest.approx(primal.objective, rel=1e-6, abs=1e-9)
    # The dual point is feasible: every cone-restricted dual norm (recomputed by NNLS)
    # is at most beta, and so is the exact maximum over ALL u (the streamed oracle).
    assert dual.max_violation <= 1e-6
    X_eff = np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X
    glob = max_dual_violation(X_eff, dual.lam, formulation=formulation)
    assert glob.upper_bound <= beta * (1 + 1e-6)
    if output_bias:
        assert abs(dual.lam.sum()) <= 1e-7
    if formulation == "relu":
        # Squared loss: the optimal dual point is the optimal residual (KKT).
        np.testing.assert_allclose(
            dual.lam, y - primal.network.predict(X), atol=1e-4 * max(1.0, np.abs(y).max())
        )


def test_dual_is_below_any_network_objective():
    """Weak duality against gradient descent networks (independent of the solvers)."""
    X, y = _random_2d(8, seed=3)
    beta = 0.1
    dual = cnn.solve_dual(X, y, beta, hidden_bias=True)
    from convexnn.baselines import train_gd

    for seed in range(3):
        net = train_gd(X, y, beta, 6, hidden_bias=True, max_iter=300, random_state=seed).network
        assert net.objective(X, y, beta) >= dual.objective - 1e-7


def test_gated_dual_is_below_relu_dual():
    X, y = _random_2d(7, seed=2)
    relu = cnn.solve_dual(X, y, 0.05, hidden_bias=True)
    gated = cnn.solve_dual(X, y, 0.05, hidden_bias=True, formulation="gated")
    assert gated.objective <= relu.objective + 1e-8
    np.testing.assert_array_equal(gated.mu, 0.0)


def test_sampled_patterns_and_repr():
    X, y = _random_2d(7, seed=4)
    dual = cnn.solve_dual(X, y, 0.05, patterns="sampled", n_patterns=5, random_state=0)
    assert dual.pattern_source == "sampled"
    assert "DualSolution(objective=" in repr(dual)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"beta": -1.0}, ValueError, r"solve_dual: beta must be > 0"),
        ({"formulation": "cone"}, ValueError, r"solve_dual: unknown formulation 'cone'"),
        ({"patterns": "all"}, ValueError, r"patterns must be None, 'exact', 'sampled'"),
        ({"loss": "nope"}, ValueError, r"unknown loss 'nope'"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    X, y = paper_1d()
    args = {"beta": 0.1, **kwargs}
    beta = args.pop("beta")
    with pytest.raises(error, match=match):
        cnn.solve_dual(X, y, beta, **args)


def _xor_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    return X, np.sign(X[:, 0] * X[:, 1] + 0.2)


@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")
@pytest.mark.parametrize(
    ("seed", "hidden_bias", "output_bias", "formulation"),
    [(5, True, False, "relu"), (1, False, True, "relu"), (5, True, True, "gated")],
)
def test_hinge_dual_keeps_the_conjugate_domain(seed, hidden_bias, output_bias, formulation):
    """Hinge: -L*(-lam) = lam^T y only for 0 <= y lam <= 1; without that box the dual was
    unbounded in those directions (objective -inf, or lam^T y above the primal optimum)."""
    X, y = _xor_like(10, seed)
    beta = 0.1
    kw = {"hidden_bias": hidden_bias, "output_bias": output_bias, "formulation": formulation}
    D = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    dual = cnn.solve_dual(X, y, beta, patterns=D, loss="hinge", **kw)
    primal = cnn.solve(X, y, beta, patterns=D, loss="hinge", solver="cvxpy", **kw)
    assert np.isfinite(dual.objective)
    p = dual.lam * y
    assert p.min() >= 0.0 and p.max() <= 1.0
    if output_bias:
        assert abs(dual.lam.sum()) <= 1e-7
    assert dual.objective == pytest.approx(primal.convex_objective, rel=1e-6, abs=1e-9)
    assert dual.max_violation <= 1e-6


def test_n_patterns_error_names_solve_dual():
    X, y = paper_1d()
    with pytest.raises(ValueError, match=r"^solve_dual: n_patterns must be an integer >= 1"):
        cnn.solve_dual(X, y, 0.1, patterns="sampled", n_patterns=0)
