"""The operator form of eq. (8) against the explicit, slow design matrix."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn import enumerate_patterns
from convexnn.problem import build_problem


def _design_matrix(X: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Slow reference: [D_1 X, ..., D_P X], shape (n, P d)."""
    return np.hstack([D[:, [i]] * X for i in range(D.shape[1])])


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 3))
    D = rng.random((12, 7)) < 0.5
    y = rng.normal(size=12)
    return build_problem(X, y, 0.3, D, hidden_bias=True, output_bias=True)


def test_operator_matches_design_matrix(problem):
    rng = np.random.default_rng(2)
    V = rng.normal(size=(problem.d, problem.P))
    r = rng.normal(size=problem.n)
    G = _design_matrix(problem.X, problem.D)
    np.testing.assert_allclose(problem.A(V), G @ V.T.reshape(-1), rtol=1e-12)
    np.testing.assert_allclose(problem.AT(r).T.reshape(-1), G.T @ r, rtol=1e-12)


def test_adjoint_identity(problem):
    rng = np.random.default_rng(3)
    V = rng.normal(size=(problem.d, problem.P))
    r = rng.normal(size=problem.n)
    assert np.isclose(problem.A(V) @ r, np.sum(V * problem.AT(r)), rtol=1e-12)


def test_hidden_bias_appends_ones(problem):
    assert problem.d == 4
    np.testing.assert_array_equal(problem.X[:, -1], 1.0)


def test_objective_value(problem):
    rng = np.random.default_rng(4)
    V = rng.normal(size=(problem.d, problem.P))
    W = rng.normal(size=(problem.d, problem.P))
    z = _design_matrix(problem.X, problem.D) @ (V - W).T.reshape(-1) + 0.7
    expected = 0.5 * np.sum((z - problem.y) ** 2) + 0.3 * (
        np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum()
    )
    assert np.isclose(problem.objective(V, W, 0.7), expected, rtol=1e-12)


def test_constraint_violation_detects_infeasible_blocks(problem):
    # A block inside its cone: v = 0 is feasible; a random block generally is not.
    zeros = np.zeros((problem.d, problem.P))
    assert problem.constraint_violation(zeros, zeros) == 0.0
    rng = np.random.default_rng(5)
    V = rng.normal(size=(problem.d, problem.P))
    assert problem.constraint_violation(V, zeros) > 0.0


def test_gated_has_no_constraints():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(6, 2))
    D = rng.random((6, 3)) < 0.5
    prob = build_problem(X, rng.normal(size=6), 1.0, D, formulation="gated")
    V = rng.normal(size=(2, 3))
    assert prob.constraint_violation(V, V) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"beta": -1.0}, ValueError, r"beta must be > 0, got -1\.0"),
        ({"beta": 0.0}, ValueError, r"beta must be > 0"),
        ({"D": np.ones((5, 2), bool)}, ValueError, r"patterns must be a boolean array of shape"),
        ({"D": np.full((6, 2), 0.5)}, TypeError, r"patterns must be boolean"),
        ({"formulation": "cone"}, ValueError, r"unknown formulation 'cone'"),
        ({"loss": "cubic"}, ValueError, r"unknown loss 'cubic'"),
        ({"y": np.ones(5)}, ValueError, r"y must have one entry per row of X \(6\), got 5"),
        ({"y": np.r_[np.ones(5), np.nan]}, ValueError, r"y must be finite, got 1 NaN"),
        ({"X": np.ones(6)}, ValueError, r"X must be 2-D .* X\.reshape\(-1, 1\)"),
        ({"X": np.ones((0, 2))}, ValueError, r"X must have at least one sample"),
        ({"X": np.full((6, 2), np.inf)}, ValueError, r"X must be finite, got 0 NaN and 12"),
        ({"X": np.ones((6, 2)) + 1j}, TypeError, r"X must be real, got complex values"),
        ({"y": np.ones(6) * 1j}, TypeError, r"y must be real, got complex values"),
        ({"beta": "0.1"}, TypeError, r"beta must be a positive real number, got '0\.1'"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"X": np.ones((6, 2)), "y": np.ones(6), "beta": 1.0, "D": np.ones((6, 2), bool)}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        build_problem(args.pop("X"), args.pop("y"), args.pop("beta"), args.pop("D"), **args)


def test_constraint_violation_of_a_numerically_zero_solution_is_zero():
    """Blocks far below the targets' scale (an interior point's leftovers at a zero
    optimum: about 1e-10, each violating its cone by a third of its size) read 0, not
    O(1); a solution at the targets' scale reads as before, at any scale of the data."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(12, 2))
    D = enumerate_patterns(X)
    y = rng.normal(size=12)
    V = rng.normal(size=(2, D.shape[1]))
    zeros = np.zeros_like(V)
    prob = build_problem(X, y, 0.1, D)
    full = prob.constraint_violation(V, zeros)
    assert 0.1 < full <= 1.0
    assert prob.constraint_violation(1e-10 * V, zeros) == 0.0
    assert build_problem(X, 0 * y, 0.1, D).constraint_violation(1e-10 * V, zeros) == 0.0
    # the same solution and targets scaled by 1e-12: the same reading (no loosening)
    small = build_problem(X, 1e-12 * y, 0.1, D)
    assert small.constraint_violation(1e-12 * V, zeros) == pytest.approx(full, rel=1e-12)
    assert prob.constraint_violation(1e-7 * V, zeros) == pytest.approx(full, rel=1e-12)
