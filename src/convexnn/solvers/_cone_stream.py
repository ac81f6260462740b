"""Cone dual norms of many (pattern, sign) pairs, streamed through one window of NNLS slots.

The relu certificate (``_relu_certificate._certify``) needs ``||P_{K_i}(+-g_i)||`` for the pairs
whose cheap upper bound exceeds a threshold ``min(beta, best)``, where ``best`` (the
largest value that enters ``s_max`` anyway) grows as exact norms are found, and, far
from the optimum, only until enough violators ``norm > beta`` are known. Each norm is a
Lawson-Hanson NNLS over the n constraints of the cone (:class:`convexnn._nnls._NNLSState`).

Pricing patterns in fixed chunks, one sign at a time, left each chunk with a tail of a
few slow problems stepping alone: at n = 1e4, d = 41, P = 2000 the early certificates
took 740-2470 rankings of the n violations for 22,000-69,000 problem steps (three
problems per ranking on average in one of them), and a ranking costs about 0.35 ms
before its first problem. Here every pair needing a norm waits in one queue, by
decreasing bound, and a window of slots is refilled from it as problems finish, so
that the rankings stay full until the queue runs dry. The threshold is re-read at every
step: a pair whose bound falls to it stops (its value is that bound), and the queue is
not fed past the first pair whose bound is at or below it.

A pricing that ``on_exact`` halts (enough violators found) leaves the pairs still in
flight with their passive sets as warm starts for the next certificate
(``_KEEP_UNFINISHED``): at n = 1e4, d = 41, P = 2000 those were 24k of the solve's
208k Lawson-Hanson steps; kept, the solve took 217k steps instead of 225k (counting
the support's) and its pricing 10.9 / 11.3 s instead of 12.9 / 13.2 s.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import nnls

from .._nnls import _NNLS_OUTER_ITER, _NNLS_WINDOW, _NNLS_WINDOW_ELEMENTS, _NNLSState

_MIN_WINDOW = 64  # the fewest pairs in flight that ``most`` may ask for
_KEEP_UNFINISHED = True  # pairs stopped unfinished keep their passive sets (warm starts)


def project_one(X: np.ndarray, s: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scipy NNLS projection of z on ``{u : s * (X u) >= 0}`` (the batched method's fallback).

    Returns the projection (d,) and the constraints with positive multipliers.
    """
    AT = (X * s[:, None]).T
    mu, _ = nnls(AT, -z, maxiter=50 * X.shape[0])
    return z + AT @ mu, np.flatnonzero(mu > 0)


def stream_cone_norms(
    X: np.ndarray,
    S: np.ndarray,
    G: np.ndarray,
    pairs: np.ndarray,
    bounds: np.ndarray,
    active: list[list[np.ndarray]],
    threshold: Callable[[], float],
    on_exact: Callable[[np.ndarray], bool],
    most: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Norms ``||P_{K_i}(s g_i)||`` of ``pairs``, or upper bounds at or below a threshold.

    Parameters
    ----------
    X : array (n, d)
    S : array (P, n)
        Cone signs ``2 D_i - 1`` of each pattern.
    G : array (d, P)
        ``g_i = X^T D_i lam``; pair ``j`` (an index into the 2P blocks) is pattern
        ``j % P`` with sign ``+`` for ``j < P`` and ``-`` otherwise.
    pairs : array (m,) of int
        The pairs to price, by decreasing ``bounds``.
    bounds : array (m,)
        Upper bounds on their norms.
    active : list of two lists of P index arrays
        Each pair's active constraints at its last projection: the warm starts, updated
        in place with the new ones.
    threshold : callable () -> float
        Re-read at every step (it may only grow): a pair whose value is proven at or
        below it stops there; pairs whose bound is at or below it are not started.
    on_exact : callable (values (k,)) -> bool
        Told the exact norms as they are found; True stops the pricing (the running
        pairs keep their current upper bounds, the waiting ones their ``bounds``).
    most : int, optional
        At most this many pairs in flight (at least ``_MIN_WINDOW``): a pricing that
        ``on_exact`` will stop after a few violators wastes less on the pairs still
        running then. The relu certificate passes the violators it wants: at n = 1e4
        its first round (54 wanted) took 14k steps instead of 37k with 256 pairs in
        flight, and the solve's pricing 11% less time.

    Returns
    -------
    values : array (m,)
        Exact norms where ``exact``, else upper bounds.
    exact : array (m,) of bool
    """
    n, d = X.shape
    P, m = G.shape[1], pairs.size
    values, exact = bounds.astype(np.float64, copy=True), np.zeros(m, dtype=bool)
    window = min(_NNLS_WINDOW, max(64, _NNLS_WINDOW_ELEMENTS // max(n, 1)), max(m, 1))
    if most is not None:
        window = min(window, max(most, _MIN_WINDOW))
    st = _NNLSState(X, np.ones((window, n)), np.zeros((window, d)))
    owner = np.full(window, -1, dtype=np.intp)  # the pair (index into pairs) of each slot
    steps = np.zeros(window, dtype=np.intp)
    cap, head = _NNLS_OUTER_ITER * (d + 1), 0
    pat, sign = pairs % P, pairs >= P

    def keep_passive(slots: np.ndarray) -> None:
        """Each slot's passive set (positive multipliers): its pair's next warm start."""
        for b in slots:
            k = owner[b]
            active[int(sign[k])][int(pat[k])] = st.idx[b][st.valid[b] & (st.mu[b] > 0)]

    def finish(slots: np.ndarray, is_exact: bool) -> bool:
        """Record the values of finished ``slots``; frees them. True: stop pricing."""
        if slots.size == 0:
            return False
        e, v = owner[slots], st.values(slots)
        values[e] = v if is_exact else np.minimum(v, values[e])
        exact[e] = is_exact | (v == 0.0)  # a bound of zero is the norm
        keep_passive(slots)
        owner[slots], st.running[slots] = -1, False
        return bool(is_exact and on_exact(v))

    def fall_back(slots: np.ndarray) -> bool:
        """Exact norms by scipy's NNLS for problems the batched method gave up on."""
        for b in slots:
            k = owner[b]
            z = G[:, pat[k]] * (-1.0 if sign[k] else 1.0)
            proj, act = project_one(X, S[pat[k]], z)
            values[k], exact[k] = np.linalg.norm(proj), True
            active[int(sign[k])][int(pat[k])] = act
        v = values[owner[slots]].copy()
        owner[slots], st.running[slots] = -1, False
        return bool(slots.size and on_exact(v))

    while True:
        thr = threshold()
        free = np.flatnonzero(owner < 0)
        take = int(np.sum(bounds[head : head + free.size] > thr)) if free.size else 0
        if take:  # bounds decrease: the first `take` waiting pairs are above thr
            slots, new = free[:take], np.arange(head, head + take)
            z = G[:, pat[new]].T * np.where(sign[new], -1.0, 1.0)[:, None]
            st.load(slots, S[pat[new]], z)
            owner[slots], steps[slots], head = new, 0, head + take
            for b, k in zip(slots, new, strict=True):
                st.warm_start(b, active[int(sign[k])][int(pat[k])][:d])
            st.settle_warm(slots[st.running[slots]])
            zero = slots[~st.g[slots].any(axis=1)]
            st.running[slots] = st.g[slots].any(axis=1)
            if finish(zero, True):
                break
        finish(st.stop_bounded(np.full(window, thr)), False)  # bounds never stop it
        ia = np.flatnonzero(st.running)
        if ia.size == 0:
            if head >= m or bounds[head] <= threshold():
                break
            continue
        steps[ia] += 1
        over = ia[steps[ia] > cap]
        if fall_back(over):
            break
        ia = ia[steps[ia] <= cap]
        j, ok = st.most_violated(ia)
        st.solved[ia[~ok]] = True
        if finish(ia[~ok], True):
            break
        ia, j = ia[ok], j[ok]
        st.add(ia, j)  # gives up (not running, not solved) on a problem with no free slot
        st.restore_feasibility(ia[st.running[ia]])  # ... or one that did not settle
        if fall_back(ia[~st.running[ia] & (owner[ia] >= 0)]):
            break
    left = np.flatnonzero(owner >= 0)  # stopped early: their current bounds
    if left.size:
        values[owner[left]] = np.minimum(values[owner[left]], st.values(left))
        if _KEEP_UNFINISHED:  # their passive sets: warm starts for the next pricing
            keep_passive(left)
    return values, exact
