"""The streamed pricing oracle against brute force over enumerated patterns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import convexnn as cnn
from convexnn._validation import add_ones_column
from convexnn.baselines import train_gd
from convexnn.duality import cone_dual_norms
from convexnn.patterns import count_cells, enumerate_patterns, max_dual_violation, pricing


def brute_force(X: np.ndarray, lam: np.ndarray, hidden_bias: bool, formulation: str) -> float:
    """max over every enumerated pattern and sign of the (cone-restricted) dual norm."""
    D = enumerate_patterns(X, hidden_bias=hidden_bias)
    X_eff = add_ones_column(X) if hidden_bias else X
    return float(cone_dual_norms(X_eff, D, lam, formulation=formulation).max())


def _data(kind: str, n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if kind == "repeated":  # repeated, antiparallel and zero rows
        X[1] = X[0]
        X[2] = -3.0 * X[0]
        X[3] = 0.0
    elif kind == "collinear" and d >= 2:  # points on a line: degenerate vertices
        X[: n // 2, 1] = 0.5 * X[: n // 2, 0] + 0.1
    elif kind == "low_rank" and d >= 2:
        X[:, -1] = X[:, 0]
    return X


CASES = [
    (d, hb, kind)
    for d, hb in [(1, False), (1, True), (2, False), (2, True), (3, False)]
    for kind in ("general", "repeated", "collinear", "low_rank")
]


@pytest.mark.parametrize("formulation", ["relu", "gated"])
@pytest.mark.parametrize(("d", "hidden_bias", "kind"), CASES)
def test_matches_brute_force(d, hidden_bias, kind, formulation):
    for seed in range(3):
        X = _data(kind, 14, d, seed)
        lam = np.random.default_rng(100 + seed).normal(size=14)
        ref = brute_force(X, lam, hidden_bias, formulation)
        p = max_dual_violation(X, lam, hidden_bias=hidden_bias, formulation=formulation)
        assert p.exact
        assert p.value == pytest.approx(ref, rel=1e-9, abs=1e-12)
        # ref has rounding too (1 ulp above the exact rank-1 value with NumPy 1.26)
        assert ref * (1 - 1e-12) <= p.upper_bound <= ref * (1 + 1e-9) + 1e-12
        # The returned pattern is a real cell attaining the maximum.
        X_eff = add_ones_column(X) if hidden_bias else X
        own = cone_dual_norms(X_eff, p.pattern[:, None], lam, formulation=formulation)
        assert own.max() == pytest.approx(ref, rel=1e-8, abs=1e-12)
        assert p.n_cells == count_cells(X, hidden_bias=hidden_bias)
        if formulation == "relu":  # u attains it: |lam^T (X u)_+| with ||u|| = 1
            assert np.linalg.norm(p.u) == pytest.approx(1.0)
            assert p.sign * lam @ np.maximum(X_eff @ p.u, 0) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_integer_grid_many_degenerate_vertices(formulation):
    """Points of a 5 x 5 grid with a bias: many rows through each vertex, repeated rows."""
    rng = np.random.default_rng(7)
    for _ in range(4):
        X = rng.integers(-2, 3, size=(18, 2)).astype(float)
        lam = rng.normal(size=18)
        ref = brute_force(X, lam, True, formulation)
        p = max_dual_violation(X, lam, hidden_bias=True, formulation=formulation)
        assert p.value == pytest.approx(ref, rel=1e-9)
        assert p.upper_bound >= ref
        assert p.n_cells == count_cells(X, hidden_bias=True)


def test_nearly_dual_optimal_residual():
    """lam = optimal residual: many cells are near-active, the hardest case for pruning."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(12, 2))
    y = np.maximum(X[:, 0], 0) - X[:, 1] + 0.1 * rng.normal(size=12)
    sol = cnn.solve(X, y, 0.05, hidden_bias=True)
    lam = y - sol.network.predict(X)
    ref = brute_force(X, lam, True, "relu")
    p = max_dual_violation(X, lam, hidden_bias=True)
    assert p.value == pytest.approx(ref, rel=1e-9)
    assert p.value == pytest.approx(0.05, rel=1e-3)  # active dual constraints = beta


def test_zero_and_rank_zero():
    X = np.zeros((4, 2))
    p = max_dual_violation(X, np.ones(4))
    assert p.value == 0.0 and p.exact and p.pattern.all()
    p = max_dual_violation(np.ones((3, 2)), np.zeros(3))
    assert p.value == 0.0 and p.upper_bound >= 0.0


def test_pluggable_pricing_is_one_sided():
    X = add_ones_column(_data("general", 10, 2, 1))
    lam = np.random.default_rng(0).normal(size=10)
    norms = cone_dual_norms(X, enumerate_patterns(X), lam)  # (P, 2): +lam, -lam
    for sign, col in ((1.0, 0), (-1.0, 1)):
        value, pattern = pricing(X, sign * lam)
        ref = float(norms[:, col].max())
        assert value == pytest.approx(ref, rel=1e-9) and value >= ref
        assert pattern.shape == (10,) and pattern.dtype == bool
        own = cone_dual_norms(X, pattern[:, None], sign * lam)[0, 0]
        assert own == pytest.approx(ref, rel=1e-8)


def test_pricing_plugs_into_column_generation():
    """Column generation with the exact pricing certifies the GLOBAL optimum."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 2))
    y = np.maximum(X[:, 0] - X[:, 1], 0) + 0.1 * rng.normal(size=12)
    beta = 0.05
    res = cnn.patterns.column_generation(
        X, y, beta, hidden_bias=True, pricing=pricing, solver="cvxpy", random_state=0
    )
    exact = cnn.solve(X, y, beta, hidden_bias=True, patterns="exact")
    assert res.solution.objective == pytest.approx(exact.objective, rel=1e-5)


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_branch_and_bound_rank_4(formulation):
    """Rank 4: a proven upper bound, never below the brute-force maximum."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(9, 4))
    lam = rng.normal(size=9)
    ref = brute_force(X, lam, False, formulation)
    p = max_dual_violation(X, lam, formulation=formulation, max_boxes=200_000, tol=1e-3)
    assert p.value <= ref * (1 + 1e-9)
    assert p.upper_bound >= ref * (1 - 1e-12)
    assert p.value >= 0.9 * ref  # the search finds a good direction
    if p.exact:
        assert p.upper_bound <= p.value * (1 + 1e-3) + 1e-12
    # A small budget is reported honestly.
    small = max_dual_violation(X, lam, formulation=formulation, max_boxes=10, tol=0.0)
    assert not small.exact and small.upper_bound >= ref


def test_bnb_agrees_with_sweep_on_rank_3():
    X = _data("general", 12, 3, 4)
    lam = np.random.default_rng(9).normal(size=12)
    sweep = max_dual_violation(X, lam)
    bnb = max_dual_violation(X, lam, method="bnb", max_boxes=500_000, tol=1e-4)
    assert bnb.upper_bound >= sweep.value * (1 - 1e-12)
    assert bnb.value <= sweep.upper_bound


def test_certify_streams_when_too_many_patterns():
    """patterns='exact' above max_patterns: global, and equal to the enumerated one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(15, 2))
    y = np.maximum(X @ np.array([1.0, 1.0]), 0) + 0.1 * rng.normal(size=15)
    net = train_gd(X, y, 0.1, 5, hidden_bias=True, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        streamed = cnn.certify(net.network, X, y, 0.1, patterns="exact", max_patterns=3)
    stored = cnn.certify(net.network, X, y, 0.1, patterns="exact")
    assert streamed.scope == "global" and stored.scope == "global"
    assert streamed.n_patterns == stored.n_patterns
    assert streamed.lower_bound == pytest.approx(stored.lower_bound, rel=1e-8)
    assert streamed.lower_bound <= stored.lower_bound + 1e-12  # never optimistic


def test_certify_streams_rank_4_with_warning():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 3))
    y = rng.normal(size=8)
    net = cnn.TwoLayerReLU(rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4))
    with pytest.warns(UserWarning, match="branch and bound"):
        cert = cnn.certify(net, X, y, 0.1, patterns="exact", max_patterns=3)
    stored = cnn.certify(net, X, y, 0.1, patterns="exact")
    assert cert.scope == "global"
    assert cert.lower_bound <= stored.lower_bound + 1e-12  # valid, maybe looser


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lam": np.ones(3)}, ValueError, r"lam must be a vector with one entry per row"),
        ({"formulation": "cone"}, ValueError, r"unknown formulation 'cone'"),
        ({"method": "fast"}, ValueError, r"unknown method 'fast'"),
        ({"chunk_size": 0}, ValueError, r"chunk_size must be an integer >= 1"),
        ({"hidden_bias": 1}, TypeError, r"hidden_bias must be True or False"),
        ({"tol": -1.0}, ValueError, r"tol must be a finite number >= 0"),
        ({"X": np.eye(5), "method": "sweep"}, ValueError, r"method='sweep' is exact for rank"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    args = {"X": np.ones((5, 2)), "lam": np.ones(5), **kwargs}
    with pytest.raises(error, match=f"max_dual_violation: {match}"):
        max_dual_violation(args.pop("X"), args.pop("lam"), **args)
