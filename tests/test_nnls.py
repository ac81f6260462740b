"""The batched Lawson-Hanson NNLS (:mod:`convexnn._nnls`) against scipy's NNLS and the
exact dual norms: windows, row caches, early stops and the compiled inner loop."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn import _nnls
from convexnn.duality import cone_dual_norms


def with_ones(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def test_stopped_nnls_values_are_bounds_below_the_threshold():
    """_batched_nnls(stop_below=t): exact above t, an upper bound <= t below it."""
    rng = np.random.default_rng(5)
    X_eff = with_ones(rng.normal(size=(50, 3)))
    D = np.unique(X_eff @ rng.normal(size=(4, 400)) >= 0, axis=1)
    lam = rng.normal(size=50)
    exact = cone_dual_norms(X_eff, D, lam)
    G = X_eff.T @ (D * lam[:, None])
    S = np.where(D.T, 1.0, -1.0)
    thr = float(np.median(exact[:, 0]))
    vals, solved = _nnls._batched_nnls(X_eff, S, G.T, stop_below=thr)
    assert solved.all()
    assert np.all(vals >= exact[:, 0] - 1e-10 * exact.max())  # upper bounds everywhere
    above = vals > thr
    np.testing.assert_allclose(vals[above], exact[above, 0], rtol=1e-9)
    assert np.any(vals[~above] > exact[~above, 0] + 1e-6 * exact.max())  # it did stop early


def test_the_nnls_window_does_not_change_the_values(monkeypatch):
    """Problems step in a refilled window; each one's Lawson-Hanson path is its own."""
    rng = np.random.default_rng(7)
    X_eff = with_ones(rng.normal(size=(50, 3)))
    D = np.unique(X_eff @ rng.normal(size=(4, 300)) >= 0, axis=1)
    G = X_eff.T @ (D * rng.normal(size=50)[:, None])
    S = np.where(D.T, 1.0, -1.0)
    monkeypatch.setattr(_nnls, "_NNLS_WINDOW", 10**6)  # all at once
    all_vals, all_solved = _nnls._batched_nnls(X_eff, S, G.T)
    monkeypatch.setattr(_nnls, "_NNLS_WINDOW", 3)
    vals, solved = _nnls._batched_nnls(X_eff, S, G.T)
    assert S.shape[0] > 100 and solved.all() and all_solved.all()
    np.testing.assert_allclose(vals, all_vals, rtol=1e-12, atol=1e-14 * all_vals.max())


def _nnls_bank(seed: int, n: int, d: int, P: int) -> tuple[np.ndarray, ...]:
    """Cone dual-norm problems ``(X_eff, D, G, S)``: P sampled patterns of n points in
    d dimensions (plus the bias column), G = X^T D_i lam, S the cone signs (P, n)."""
    rng = np.random.default_rng(seed)
    X_eff = with_ones(rng.normal(size=(n, d)))
    D = np.unique(X_eff @ rng.normal(size=(d + 1, P)) >= 0, axis=1)
    G = X_eff.T @ (D * rng.normal(size=n)[:, None])
    return X_eff, D, G, np.where(D.T, 1.0, -1.0)


def test_nnls_row_cache_and_float32_ranking_keep_float64_values(monkeypatch):
    """The cached passive rows and the rows rebuilt on demand (no cache: large d) give
    the same values; the float32 ranking of violations leaves scipy's NNLS values."""
    X_eff, D, G, S = _nnls_bank(8, n=80, d=5, P=200)
    cached, ok_cached = _nnls._batched_nnls(X_eff, S, G.T)
    monkeypatch.setattr(_nnls, "_NNLS_ROW_CACHE", 0)
    assert _nnls._NNLSState(X_eff, S, G.T).C is None
    rebuilt, ok_rebuilt = _nnls._batched_nnls(X_eff, S, G.T)
    assert ok_cached.all() and ok_rebuilt.all()
    np.testing.assert_allclose(cached, rebuilt, rtol=1e-12, atol=1e-14 * cached.max())
    ref = [_nnls._cone_norm(X_eff, D[:, k], G[:, k]) for k in range(D.shape[1])]
    np.testing.assert_allclose(cached, ref, rtol=0, atol=1e-10 * cached.max())


def _warm_state(seed: int) -> _nnls._NNLSState:
    """An NNLS state whose passive sets are random rows: many need step-backs."""
    rng = np.random.default_rng(seed)
    X_eff = with_ones(rng.normal(size=(60, 4)))
    D = np.unique(X_eff @ rng.normal(size=(5, 120)) >= 0, axis=1)
    S = np.where(D.T, 1.0, -1.0)
    G = rng.normal(size=(D.shape[1], X_eff.shape[1]))
    st = _nnls._NNLSState(X_eff, S, G)
    for b in range(D.shape[1]):
        st.warm_start(b, rng.choice(60, size=rng.integers(0, 6), replace=False))
    return st


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_nnls_inner_loop_matches_the_numpy_reference(seed):
    """The compiled Lawson-Hanson inner loop (numba) leaves the same passive sets and
    coefficients as the batched NumPy method, step-backs and refinements included."""
    pytest.importorskip("numba")
    from convexnn import _jit

    assert _jit.AVAILABLE
    fast, ref = _warm_state(seed), _warm_state(seed)
    ia = np.arange(fast.g.shape[0])
    fast.restore_feasibility(ia)
    ref.restore_feasibility_numpy(ia)
    assert (ref.valid.sum(axis=1) < _warm_state(seed).valid.sum(axis=1)).any()  # stepped back
    np.testing.assert_array_equal(fast.valid, ref.valid)
    np.testing.assert_array_equal(fast.running, ref.running)
    np.testing.assert_allclose(fast.mu, ref.mu, rtol=1e-9, atol=1e-12 * np.abs(ref.mu).max())
    assert (fast.mu[fast.valid] > 0).all() and (fast.mu[~fast.valid] == 0).all()
    np.testing.assert_array_equal(fast.C[~fast.valid], 0.0)


def test_nnls_values_are_the_same_with_and_without_the_compiled_loop(monkeypatch):
    """Whole batched NNLS runs (to the end, and stopped at a bound) agree, and agree
    with scipy's NNLS, whichever inner loop runs."""
    pytest.importorskip("numba")
    X_eff, D, G, S = _nnls_bank(3, n=90, d=6, P=300)
    fast, ok_fast = _nnls._batched_nnls(X_eff, S, G.T)
    fast_stop, _ = _nnls._batched_nnls(X_eff, S, G.T, stop_below=float(np.median(fast)))
    monkeypatch.setattr(_nnls, "_NNLS_JIT", False)
    assert _nnls._NNLSState(X_eff, S, G.T).gram is None  # the NumPy loop runs
    ref, ok_ref = _nnls._batched_nnls(X_eff, S, G.T)
    ref_stop, _ = _nnls._batched_nnls(X_eff, S, G.T, stop_below=float(np.median(fast)))
    assert ok_fast.all() and ok_ref.all()
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-13 * ref.max())
    np.testing.assert_allclose(fast_stop, ref_stop, rtol=1e-10, atol=1e-13 * ref.max())
    assert (fast_stop > fast + 1e-9 * fast.max()).any()  # some stopped at a looser bound
    scipy_ref = [_nnls._cone_norm(X_eff, D[:, k], G[:, k]) for k in range(D.shape[1])]
    np.testing.assert_allclose(fast, scipy_ref, rtol=1e-8, atol=1e-10 * ref.max())


def test_compiled_nnls_factors_stay_those_of_the_passive_sets():
    """The compiled loop keeps each problem's Cholesky factor across steps (bordered as
    rows join): after a whole run every kept factor is that of its passive set's ridged
    Gram matrix, in its recorded order (the values: the test above)."""
    pytest.importorskip("numba")
    X_eff, _D, G, S = _nnls_bank(4, n=70, d=5, P=150)
    st = _nnls._NNLSState(X_eff, S, G.T)
    assert st.gram is not None
    st.run()
    kept = np.flatnonzero(st.nfac > 1)
    assert kept.size > 0
    for b in kept:
        k = int(st.nfac[b])
        slots = st.order[b, :k]
        assert set(slots) == set(np.flatnonzero(st.valid[b]))
        L = st.fac[b, :k, :k]
        ridge = _nnls._NNLS_RIDGE * st.fac_dmax[b]
        gram = st.C[b, slots] @ st.C[b, slots].T + ridge * np.eye(k)
        np.testing.assert_allclose(L @ L.T, gram, rtol=1e-10, atol=1e-10 * gram.max())
        assert st.fac_dmax[b] == pytest.approx(np.diag(gram).max() - ridge, rel=1e-12)
