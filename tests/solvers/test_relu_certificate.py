"""The relu certificate (``solvers._relu_certificate``) against the plain cone-norm kernel."""

from __future__ import annotations

import numpy as np
import pytest
from relu_cases import _data, count_calls

from convexnn import solve
from convexnn.patterns import sample_patterns
from convexnn.solvers._cones import project_cones


@pytest.mark.parametrize("output_bias", [False, True])
def test_solver_certificate_equals_the_reference_kernel(output_bias):
    """_certify (pruned, warm-started cone norms) vs the plain cone_dual_norms kernel."""
    from convexnn._measures import gap_scale
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate, dual_lower_bound
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache

    X, y = _data(n=80, d=4, seed=3)
    D = sample_patterns(X, 40, random_state=1)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=output_bias)
    rng = np.random.default_rng(0)
    cache = _ConeNormCache(prob.P)
    for scale in (0.0, 0.1, 1.0):  # from the zero point to a rough one, warm cache
        S2 = np.vstack([np.where(D.T, 1.0, -1.0)] * 2)
        B = project_cones(prob.X, S2, scale * rng.normal(size=(prob.d, 2 * prob.P)))[0]
        chk = _certify(prob, B, 0.0, cache)
        z = prob.A(B[:, : prob.P] - B[:, prob.P :]) + (chk.c if output_bias else 0.0)
        lam = dual_candidate(prob.loss, z, y, output_bias)
        exact = cone_dual_norms(prob.X, D, lam)
        assert np.all(chk.cone >= exact - 1e-9 * exact.max())  # upper bounds everywhere
        big = exact > prob.beta  # exact wherever a block could join the working set
        np.testing.assert_allclose(chk.cone[big], exact[big], rtol=1e-8)
        lower, _ = dual_lower_bound(prob.loss, lam, y, prob.beta, exact.max())
        rel = (chk.primal - lower) / gap_scale(chk.primal, y)
        np.testing.assert_allclose(chk.rel_gap, rel, rtol=1e-8, atol=1e-12)


def test_early_stopped_pricing_is_exact_where_priced_and_its_gap_valid():
    """_certify(n_new=, tol=) far from the optimum: priced norms exact, gap an upper bound."""
    from convexnn._measures import gap_scale
    from convexnn._nnls import _NNLS_WINDOW
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate, dual_lower_bound
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache

    X, y = _data(n=120, d=3, seed=5)
    D = sample_patterns(X, 3 * _NNLS_WINDOW, random_state=2)
    prob = build_problem(X, y, 1e-3, D, formulation="relu")
    B = np.zeros((prob.d, 2 * prob.P))  # the zero point: almost every pair violates
    full = _certify(prob, B, 0.0, _ConeNormCache(prob.P))
    early = _certify(prob, B, 0.0, _ConeNormCache(prob.P), n_new=5, tol=1e-6)
    lam = dual_candidate(prob.loss, prob.A(B[:, : prob.P]), y, False)
    exact = cone_dual_norms(prob.X, D, lam)
    assert 0 < early.priced.sum() < full.priced.sum()  # it did stop early
    assert early.partial and not full.partial
    np.testing.assert_allclose(
        early.cone[early.priced], exact[early.priced], rtol=1e-8, atol=1e-10 * exact.max()
    )
    assert (early.cone[early.priced] > prob.beta).sum() >= 5
    assert np.all(early.cone >= exact - 1e-9 * exact.max())
    lower, _ = dual_lower_bound(prob.loss, lam, y, prob.beta, exact.max())
    true_gap = (early.primal - lower) / gap_scale(early.primal, y)
    assert early.rel_gap >= true_gap - 1e-12 and true_gap > 1e-6
    assert full.rel_gap == pytest.approx(true_gap, rel=1e-8)


def test_support_norms_from_the_blocks_faces():
    """``_ConeNormCache.support_norms``: exact where it says so, an upper bound elsewhere.

    At the certified optimum every support pair's norm is settled from its block's face
    alone (exact, equal to the plain kernel); at a point off the optimum the values that
    fail the optimality test still bound the norms from above, and ``_certify`` with
    early-stopped pricing still certifies the optimum.
    """
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache, _primal

    X, y = _data(n=120, d=5, seed=11)
    D = sample_patterns(X, 60, random_state=3)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    P = prob.P
    B_opt = np.concatenate([sol.V, sol.W], axis=1)
    rng = np.random.default_rng(0)
    S2 = np.vstack([np.where(D.T, 1.0, -1.0)] * 2)
    B_off = project_cones(prob.X, S2, B_opt + 0.3 * rng.normal(size=B_opt.shape))[0]
    B_off[:, ~B_opt.any(axis=0)] = 0.0
    for B, at_optimum in ((B_opt, True), (B_off, False)):
        _, _, z = _primal(prob, B, float(sol.c), with_z=True)
        lam = dual_candidate(prob.loss, z, y, True)
        G = prob.X.T @ (prob.mask * lam[:, None])
        j = np.flatnonzero(B.any(axis=0))
        vals, exact = _ConeNormCache(P).support_norms(prob.X, D, G, B, j)
        ref = cone_dual_norms(prob.X, D, lam)[j % P, j // P]
        assert j.size > 0 and np.all(vals >= ref - 1e-9 * ref.max())
        np.testing.assert_allclose(vals[exact], ref[exact], rtol=1e-8)
        if at_optimum:
            assert exact.all()
            np.testing.assert_allclose(vals, prob.beta, rtol=1e-6)  # KKT: norm = beta
        else:
            assert not exact.all()  # a face that is not the projection's: a bound
    chk = _certify(prob, B_opt, float(sol.c), _ConeNormCache(P), n_new=10, tol=1e-6)
    assert chk.rel_gap <= 1e-6


def test_certificate_bounds_carried_to_the_next_point():
    """Last round's bounds plus the drift of G bound the next point's cone norms (most
    of them below beta: no NNLS needed there), and a certificate using them still
    certifies the optimum."""
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache, _primal

    X, y = _data(n=120, d=5, seed=12)
    D = sample_patterns(X, 60, random_state=4)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    B_opt = np.concatenate([sol.V, sol.W], axis=1)
    cache = _ConeNormCache(prob.P)
    assert cache.carried_bounds(np.zeros((prob.X.shape[1], prob.P))) is None  # no round yet
    _certify(prob, (1 - 1e-5) * B_opt, float(sol.c), cache)  # a round near the optimum
    _, _, z = _primal(prob, B_opt, float(sol.c), with_z=True)
    lam = dual_candidate(prob.loss, z, y, True)
    carried = cache.carried_bounds(prob.X.T @ (prob.mask * lam[:, None]))
    exact = cone_dual_norms(prob.X, D, lam)
    assert np.all(carried >= exact - 1e-9 * exact.max())
    assert np.mean(carried <= prob.beta) > 0.5  # most pairs need no NNLS at all
    chk = _certify(prob, B_opt, float(sol.c), cache)
    assert chk.rel_gap <= 1e-9 and chk.s_max >= exact.max() - 1e-9


def test_cheap_bounds_are_skipped_once_the_carried_ones_are_tighter(monkeypatch):
    """Near the optimum the carried bounds beat the half-space ones everywhere: the next
    certificate skips that (n, P) pass, and still prices and certifies the optimum."""
    import convexnn.solvers._relu_certificate as rc
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate

    X, y = _data(n=120, d=5, seed=12)
    D = sample_patterns(X, 60, random_state=4)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    B_opt = np.concatenate([sol.V, sol.W], axis=1)
    calls = count_calls(monkeypatch, rc, "_cheap_bounds")
    cache = rc._ConeNormCache(prob.P)
    rc._certify(prob, (1 - 1e-6) * B_opt, float(sol.c), cache)
    rc._certify(prob, (1 - 1e-7) * B_opt, float(sol.c), cache)
    assert len(calls) == 2 and not cache.cheap_helps  # the carried ones were tighter
    chk = rc._certify(prob, B_opt, float(sol.c), cache)
    assert len(calls) == 2  # skipped
    _, _, z = rc._primal(prob, B_opt, float(sol.c), with_z=True)
    exact = cone_dual_norms(prob.X, D, dual_candidate(prob.loss, z, y, True))
    assert np.all(chk.cone >= exact - 1e-9 * exact.max())
    assert chk.rel_gap <= 1e-9 and chk.s_max >= exact.max() - 1e-9


def test_a_certifiable_point_is_priced_in_full():
    """At the optimum no shortcut applies, whatever ``n_new`` asks: the gap certifies."""
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache

    X, y = _data(n=150, d=4, seed=9)
    D = sample_patterns(X, 80, random_state=3)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    B = np.concatenate([sol.V, sol.W], axis=1)
    chk = _certify(prob, B, float(sol.c), _ConeNormCache(prob.P), n_new=5, tol=1e-8)
    assert not chk.partial and chk.rel_gap <= 1e-8
