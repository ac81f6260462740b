"""Cone projections (``solvers._cones``): Lawson-Hanson against CVXPY."""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from convexnn.patterns import sample_patterns
from convexnn.solvers._cones import project_cones


def _cvxpy_projection(X, s, z):
    u = cp.Variable(z.size)
    cp.Problem(cp.Minimize(cp.sum_squares(u - z)), [cp.multiply(s, X @ u) >= 0]).solve(
        solver="CLARABEL"
    )
    return u.value


def test_projection_matches_cvxpy_and_warm_start():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    D = sample_patterns(X, 8, random_state=0)
    S = np.where(D.T, 1.0, -1.0)
    Z = rng.normal(size=(5, 8))
    P, active = project_cones(X, S, Z)
    for k in range(8):
        np.testing.assert_allclose(P[:, k], _cvxpy_projection(X, S[k], Z[:, k]), atol=1e-6)
    assert np.min(S.T * (X @ P)) >= -1e-10 * np.abs(X @ P).max()
    # Warm start with the active sets of a nearby point gives the same projection.
    Z2 = Z + 1e-3 * rng.normal(size=Z.shape)
    P2, _ = project_cones(X, S, Z2, active)
    P2_cold, _ = project_cones(X, S, Z2)
    np.testing.assert_allclose(P2, P2_cold, atol=1e-10)
