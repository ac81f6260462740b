"""Streamed cone dual norms (``solvers._cone_stream``) against the batched reference."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn.solvers._cone_stream as cs
from convexnn.duality import cone_dual_norms
from convexnn.patterns import sample_patterns


def _pricing_problem(n=80, d=4, P=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    D = np.asarray(sample_patterns(X, P, random_state=seed), dtype=bool)
    lam = rng.normal(size=n)
    G = X.T @ (D * lam[:, None])  # (d, P): g_i = X^T D_i lam
    exact = cone_dual_norms(X, D, lam)  # (P, 2), the reference
    S = np.where(D.T, 1.0, -1.0)
    return X, S, G, exact


def _all_pairs(G):
    P = G.shape[1]
    norms = np.linalg.norm(G, axis=0)
    pairs = np.concatenate([np.arange(P), P + np.arange(P)])
    bounds = np.concatenate([norms, norms])  # ||P_K(+-g)|| <= ||g||
    order = np.argsort(-bounds, kind="stable")
    return pairs[order], bounds[order]


def _empty_active(P):
    empty = np.zeros(0, dtype=np.intp)
    return [[empty] * P, [empty] * P]


def _ref(exact, pairs):
    P = exact.shape[0]
    return exact[pairs % P, pairs // P]


def test_streamed_norms_equal_the_reference_through_reused_slots():
    """More pairs than slots (each slot reused), cold and then warm from the active sets."""
    X, S, G, exact = _pricing_problem()
    pairs, bounds = _all_pairs(G)
    assert pairs.size > 64  # the smallest window: slots are reused
    active = _empty_active(G.shape[1])
    for _ in range(2):  # the second pass starts from the first one's active sets
        vals, ok = cs.stream_cone_norms(
            X, S, G, pairs, bounds, active, lambda: 0.0, lambda v: False
        )
        assert ok.all()
        np.testing.assert_allclose(vals, _ref(exact, pairs), rtol=1e-9, atol=1e-12)
    assert sum(a.size for a in active[0] + active[1]) > 0


def test_threshold_stops_pairs_at_upper_bounds_and_skips_the_rest():
    X, S, G, exact = _pricing_problem(seed=1)
    pairs, bounds = _all_pairs(G)
    ref = _ref(exact, pairs)
    thr = float(np.quantile(ref, 0.7))
    vals, ok = cs.stream_cone_norms(
        X, S, G, pairs, bounds, _empty_active(G.shape[1]), lambda: thr, lambda v: False
    )
    np.testing.assert_allclose(vals[ok], ref[ok], rtol=1e-9, atol=1e-12)
    assert np.all(vals >= ref - 1e-9 * ref.max())  # upper bounds everywhere
    assert np.all(vals[~ok] <= np.maximum(thr, bounds[~ok]) + 1e-12)
    assert np.all(ok[ref > thr + 1e-9])  # every norm above the threshold is exact
    assert not ok.all()  # some stopped at a bound or were never started
    started = bounds > thr
    np.testing.assert_array_equal(vals[~started], bounds[~started])


def test_on_exact_halts_and_leaves_valid_bounds():
    X, S, G, exact = _pricing_problem(seed=2)
    pairs, bounds = _all_pairs(G)
    ref = _ref(exact, pairs)
    seen: list[int] = []

    def on_exact(values):
        seen.append(values.size)
        return sum(seen) >= 10

    vals, ok = cs.stream_cone_norms(
        X, S, G, pairs, bounds, _empty_active(G.shape[1]), lambda: 0.0, on_exact
    )
    assert 10 <= ok.sum() < pairs.size and sum(seen) == ok.sum()
    np.testing.assert_allclose(vals[ok], ref[ok], rtol=1e-9, atol=1e-12)
    assert np.all(vals >= ref - 1e-9 * ref.max())


@pytest.mark.parametrize("keep", [True, False])
def test_pairs_stopped_unfinished_keep_their_passive_sets(monkeypatch, keep):
    """A pricing halted by on_exact leaves its running pairs' passive sets as warm
    starts (``_KEEP_UNFINISHED``); the next pricing from them is exact."""
    monkeypatch.setattr(cs, "_KEEP_UNFINISHED", keep)
    X, S, G, exact = _pricing_problem(seed=4)
    pairs, bounds = _all_pairs(G)
    ref = _ref(exact, pairs)
    P = G.shape[1]
    active = _empty_active(P)
    vals, ok = cs.stream_cone_norms(
        X, S, G, pairs, bounds, active, lambda: 0.0, lambda v: True
    )  # halts at the first exact norm: the other pairs in flight are unfinished
    unfinished = pairs[~ok & (vals > ref + 1e-9 * ref.max())]
    assert unfinished.size > 0
    warm = [active[int(j >= P)][j % P].size for j in unfinished]
    assert (sum(warm) > 0) == keep
    vals, ok = cs.stream_cone_norms(X, S, G, pairs, bounds, active, lambda: 0.0, lambda v: False)
    assert ok.all()
    np.testing.assert_allclose(vals, ref, rtol=1e-9, atol=1e-12)


def test_problems_over_the_step_cap_fall_back_to_scipy(monkeypatch):
    X, S, G, exact = _pricing_problem(P=40, seed=3)
    pairs, bounds = _all_pairs(G)
    monkeypatch.setattr(cs, "_NNLS_OUTER_ITER", 0)  # every problem is over the cap at once
    calls: list[int] = []
    project_one = cs.project_one

    def spy(*args):
        calls.append(1)
        return project_one(*args)

    monkeypatch.setattr(cs, "project_one", spy)
    vals, ok = cs.stream_cone_norms(
        X, S, G, pairs, bounds, _empty_active(G.shape[1]), lambda: 0.0, lambda v: False
    )
    assert ok.all() and len(calls) > 0
    np.testing.assert_allclose(vals, _ref(exact, pairs), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_loading_a_slot_equals_a_fresh_state(seed):
    """_NNLSState.load: a reused slot solves as a state built for that problem alone."""
    from convexnn._nnls import _NNLSState

    X, S, G, exact = _pricing_problem(P=12, seed=seed)
    fresh = _NNLSState(X, S[:4], -G[:, :4].T)
    fresh.run()
    st = _NNLSState(X, S[4:8].copy(), G[:, 4:8].T.copy())
    st.run()  # the slots now hold other problems' passive sets
    st.load(np.arange(4), S[:4], -G[:, :4].T)
    st.run()
    np.testing.assert_allclose(st.values(), fresh.values(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(st.values(), exact[:4, 1], rtol=1e-9, atol=1e-12)


def test_most_bounds_the_pairs_in_flight(monkeypatch):
    """``most``: at most that many pairs step together (at least ``_MIN_WINDOW``), and
    a pricing halted by ``on_exact`` then leaves fewer pairs started; the exact norms
    and the bounds stay valid."""
    X, S, G, exact = _pricing_problem(P=200, seed=4)
    pairs, bounds = _all_pairs(G)
    ref = _ref(exact, pairs)
    windows: list[int] = []
    state = cs._NNLSState

    def spy(X_, S_, Z_):
        windows.append(S_.shape[0])
        return state(X_, S_, Z_)

    monkeypatch.setattr(cs, "_NNLSState", spy)
    started = {}
    for most in (None, 10, 100):
        seen: list[int] = []

        def on_exact(values, seen=seen):
            seen.append(values.size)
            return sum(seen) >= 10

        vals, ok = cs.stream_cone_norms(
            X, S, G, pairs, bounds, _empty_active(G.shape[1]), lambda: 0.0, on_exact, most
        )
        np.testing.assert_allclose(vals[ok], ref[ok], rtol=1e-9, atol=1e-12)
        assert np.all(vals >= ref - 1e-9 * ref.max()) and ok.sum() >= 10
        started[most] = int(np.sum(ok | (vals != bounds)))
    assert windows == [256, cs._MIN_WINDOW, 100]
    assert started[10] < started[100] < started[None]
    vals, ok = cs.stream_cone_norms(  # priced to the end: the same norms
        X, S, G, pairs, bounds, _empty_active(G.shape[1]), lambda: 0.0, lambda v: False, 64
    )
    assert ok.all()
    np.testing.assert_allclose(vals, ref, rtol=1e-9, atol=1e-12)
