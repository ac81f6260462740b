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


def test_a_stale_warm_start_keeps_the_constraints_that_still_hold(monkeypatch):
    """``_NNLSState.settle_warm``: a warm active set with one constraint too many.

    The inner loop alone starts from ``mu = 0`` and drops every slot at the first
    non-positive coefficient: a cold start. Settling drops the non-positive ones only
    and keeps the others with positive coefficients, so the projection from the
    optimal active set plus one stale row takes fewer rankings than a cold one (one
    per constraint that joins) and equals it.
    """
    import convexnn._nnls as du

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 6))
    u0 = rng.normal(size=6)
    s = np.where(X @ u0 > 0, 1.0, -1.0)  # u0 is inside the cone
    for _ in range(20):  # a point whose projection has 2 or 3 active constraints
        z = u0 + 0.7 * np.linalg.norm(u0) * rng.normal(size=6)
        cold, (act,) = project_cones(X, s[None], z[:, None])
        if act.size in (2, 3):
            break
    for r in np.setdiff1d(np.arange(200), act):  # a row whose coefficient is negative
        st = du._NNLSState(X, s[None], z[None])
        st.warm_start(0, np.append(act, r))
        if (st.least_squares(np.array([0]))[0, : act.size + 1] <= 0).any():
            break
    else:
        raise AssertionError("no stale row with a negative coefficient")
    st.settle_warm(np.array([0]))
    kept = st.idx[0][st.valid[0]]
    np.testing.assert_array_equal(np.sort(kept), np.sort(act))  # the stale row only left
    assert (st.mu[0][st.valid[0]] > 0).all()
    np.testing.assert_allclose(st.mu[0][~st.valid[0]], 0.0)
    calls = []
    rank = du._NNLSState._argmax_violation
    monkeypatch.setattr(
        du._NNLSState,
        "_argmax_violation",
        lambda self, ia, *a: calls.append(ia.size) or rank(self, ia, *a),
    )
    warm, _ = project_cones(X, s[None], z[:, None], [np.append(act, r)])
    n_warm = sum(calls)
    np.testing.assert_allclose(warm, cold, atol=1e-10)
    calls.clear()
    project_cones(X, s[None], z[:, None])
    assert n_warm <= sum(calls) - kept.size  # each kept constraint: one ranking saved


def test_split_onto_cones_takes_the_less_violated_side():
    from convexnn.solvers._cones import split_onto_cones

    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 4))
    S = np.where(X @ rng.normal(size=(4, 8)) >= 0, 1.0, -1.0).T  # (8, 60)
    U = rng.normal(size=(4, 8))
    plus, proj, active = split_onto_cones(X, S, U)
    for k in range(8):
        sxu = S[k] * (X @ U[:, k])
        assert plus[k] == (np.sum(np.minimum(sxu, 0) ** 2) <= np.sum(np.maximum(sxu, 0) ** 2))
        side = U[:, k] if plus[k] else -U[:, k]
        ref, _ = project_cones(X, S[k : k + 1], side[:, None])
        np.testing.assert_allclose(proj[:, k], ref[:, 0], atol=1e-12)
        assert np.all(S[k] * (X @ proj[:, k]) >= -1e-10)
        assert len(active[k]) <= 4
