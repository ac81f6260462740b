"""The relu formulation's certificate: cone dual norms priced by Lawson-Hanson.

At a primal point ``B = [V, W]`` (float64): predictions, dual candidate ``lam0``, the
gated norms ``||X^T D_i lam0||`` for all P (one GEMM; they bound the cone dual norms
``||P_{K_i}(+-X^T D_i lam0)||`` from above), exact cone dual norms only for the pairs
whose bound can matter, and the certified lower bound with ``s_max`` = the largest of
these bounds (:func:`_certify`).

Pricing cost: exact cone norms are Lawson-Hanson NNLS solves. Far from the optimum the
pricing stops once it knows enough violators (``_certify(n_new=)``), and a pair whose
NNLS bound ``||g + A^T mu||`` (any ``mu >= 0``) already falls below the threshold that
matters stops there (:func:`cone_norm_bounds`). The NNLS steps a window of up to 256
columns at once, refilled as columns finish (``_NNLSState.run``), so that a few slow
columns do not cost a batch of nearly empty steps. The certificate streams every pair it
prices, both signs and all patterns, through one such window by decreasing bound
(:func:`._cone_stream.stream_cone_norms`; chunks of 256 patterns, one sign at a time,
had left 740-2470 mostly near-empty rankings per early certificate at n = 1e4, now
150-450). With the support priced first, a cold certificate at the n = 1e4 optimum of
the benchmark went from 18.8 s to 12.9 s, and to 9.0 s with the passive rows cached per
slot and the violations ranked in float32 (checked in float64:
``_NNLSState.most_violated``). The support pairs are priced from their own faces: at a
point the polish left stationary, the projection of ``+-g_i`` lies on the face of
``b_j``, so one least-squares solve and one optimality test settle it
(``_ConeNormCache.support_norms``); a cold Lawson-Hanson start needed about d exchange
steps per pair, 2-4 s per certificate for the ~200 support blocks at n = 1e4. With this
(and new blocks projected from the pricing's active sets), that solve went from 134 s to
67 s.

Each certificate starts from the last one's bounds plus the drift of G
(:meth:`_ConeNormCache.carried_bounds`); with this and the polish's carried predictions
(:mod:`._relu_polish`) the n = 1e4 solve went from 58 s to 44 s. The NNLS inner loop
(least squares and step-backs on each passive set) and each block's first blocking row
are compiled (:mod:`convexnn._jit`, numba; NumPy references without it): 54 s to 44 s
(stand-alone, one thread, on a slower machine than the figures above). The last
certificate is handed to ``solve`` (``info["dual_norm_bound"]``), which then need not
recompute the cone norms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._measures import relative_gap
from .._nnls import _NNLSState
from ..duality import _cheap_bounds
from ..problem import ConvexReLUProblem
from ._cone_stream import stream_cone_norms
from ._cones import _active_rows, _cone_signs, cone_norm_bounds
from ._kernels import adjoint, best_bias, dual_candidate, dual_lower_bound, forward

# The cheap bounds (an (n, P) pass: 0.2 s at n = 1e4) are made while they are below
# the carried ones on at least this share of the pairs (at n = 1e4: 100%, 99%, 88%, 4%,
# then 0%).
_CHEAP_SHARE = 0.05


@dataclass
class _Check:
    primal: float
    rel_gap: float
    cone: np.ndarray  # (P, 2) upper bounds on the cone dual norms, exact where priced
    priced: np.ndarray  # (P, 2) bool: exact entries
    c: float
    lam0: np.ndarray  # (n,) the dual candidate
    s_max: float  # upper bound on its largest cone dual norm
    # Whether the pricing took a shortcut of ``n_new`` (stopped at enough violators, left
    # the support's bounds): its gap is valid, but looser than priced in full.
    partial: bool = False


def _primal(problem: ConvexReLUProblem, B: np.ndarray, c: float, with_z: bool = False) -> Any:
    """Objective of ``B = [V, W]`` with the best output bias: ``(primal, c[, z])``."""
    P, y, loss = problem.P, problem.y, problem.loss
    nz = np.flatnonzero(B.any(axis=0))
    U = np.zeros((B.shape[0], P))
    np.add.at(U.T, nz % P, (np.where(nz < P, 1.0, -1.0) * B[:, nz]).T)
    pats = np.unique(nz % P)  # the patterns with a non-zero block
    z = forward(problem.X, problem.mask[:, pats], U[:, pats])
    if problem.output_bias:
        c = best_bias(loss, z, y, c)
        z = z + c
    primal = float(loss.value(z, y)) + problem.beta * float(np.linalg.norm(B, axis=0).sum())
    return (primal, c, z) if with_z else (primal, c)


class _ConeNormCache:
    """Active constraints of the last cone projection of each (pattern, sign) pair.

    The dual candidate moves little between two outer rounds, so warm starting the
    Lawson-Hanson projections from the previous active sets saves most of their steps.
    """

    def __init__(self, P: int) -> None:
        empty = np.zeros(0, dtype=np.intp)
        self.active: list[list[np.ndarray]] = [[empty] * P, [empty] * P]
        self._signs: np.ndarray | None = None
        # The last certificate's (G (d, P), upper bounds (P, 2)): bounds for the next.
        self.last: tuple[np.ndarray, np.ndarray] | None = None
        # Whether the cheap bounds beat the carried ones on enough pairs last time.
        self.cheap_helps = True

    def carried_bounds(self, G: np.ndarray) -> np.ndarray | None:
        """Upper bounds (P, 2) on the cone norms of ``+-G`` from the last certificate's.

        ``P_K`` is non-expansive, so ``||P_K(g)|| <= ||P_K(g_old)|| + ||g - g_old||``
        for every cone K: the last round's bounds plus the drift of each column of G.
        """
        if self.last is None or self.last[0].shape != G.shape:
            return None
        G_old, bounds = self.last
        return bounds + np.linalg.norm(G - G_old, axis=0)[:, None]

    def signs(self, D: np.ndarray) -> np.ndarray:
        """(P, n) cone signs ``2 D_i - 1``, made once per solve (160 MB at n = 1e4)."""
        if self._signs is None:
            self._signs = np.where(D.T, 1.0, -1.0)
        return self._signs

    def norms(
        self,
        X: np.ndarray,
        S: np.ndarray,
        G: np.ndarray,
        idx: np.ndarray,
        below: float = 0.0,
        need: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(k, 2)`` norms ``||P_{K_i}(+-g_i)||`` for patterns ``idx`` (G: (d, k)).

        Entries whose norm is proven ``<= below`` may stop early at such an upper bound
        (:func:`cone_norm_bounds`); the second array says which entries are exact. With
        ``need`` ((k, 2) bool), only those entries are computed (the others: ``inf``, not
        exact).
        """
        out = np.full((idx.size, 2), np.inf)
        exact = np.zeros((idx.size, 2), dtype=bool)
        for sign in (0, 1):
            k = np.arange(idx.size) if need is None else np.flatnonzero(need[:, sign])
            if k.size == 0:
                continue
            prev = [self.active[sign][i] for i in idx[k]]
            thr = np.full(k.size, below)
            Z = G[:, k] if sign == 0 else -G[:, k]
            out[k, sign], exact[k, sign], act = cone_norm_bounds(X, S[idx[k]], Z, prev, thr)
            for i, a in zip(idx[k], act, strict=True):
                self.active[sign][i] = a
        return out, exact

    def support_norms(
        self, X: np.ndarray, D: np.ndarray, G: np.ndarray, B: np.ndarray, j: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cone norms of the non-zero blocks ``j`` (indices into the 2P), from their faces.

        At a stationary point of the restricted problem (the polish's), the projection
        of ``+-g_i`` on ``K_i`` lies on the face of ``b_j``: its active constraints are
        those of ``b_j``. Lawson-Hanson warm started there needs one least-squares solve
        and one optimality test, instead of the d or so exchange steps of a cold start
        (2-4 s per certificate at n = 1e4 for the ~200 support blocks). Returns
        ``(values, exact)``, (k,) each: a value that fails the test is the upper bound
        ``||g + A^T mu||`` of the clipped least-squares ``mu >= 0``, not the norm.
        """
        P, d = D.shape[1], X.shape[1]
        pat, sign = j % P, j // P
        Z = np.ascontiguousarray((G[:, pat] * np.where(sign == 0, 1.0, -1.0)).T)
        st = _NNLSState(X, _cone_signs(D, j), Z)
        act = _active_rows(X, D, B, j)
        for b in range(j.size):
            st.warm_start(b, np.flatnonzero(act[:, b])[:d])
        st.settle_warm(np.flatnonzero(st.running))
        # Those whose least-squares solve finished (it stops the others) are optimal if
        # no constraint is violated; g = 0 has the norm 0.
        ia = np.flatnonzero(st.running)
        st.running[:] = False
        exact = np.linalg.norm(st.g, axis=1) == 0.0
        if ia.size:
            exact[ia] = ~st.most_violated(ia)[1]
        mu = np.maximum(st.mu, 0.0) * st.valid
        for b in range(j.size):
            self.active[int(sign[b])][int(pat[b])] = st.idx[b][st.valid[b] & (mu[b] > 0)]
        return st.values(), exact


def _certify(
    problem: ConvexReLUProblem,
    B: np.ndarray,
    c: float,
    cache: _ConeNormCache | None = None,
    n_new: int | None = None,
    tol: float = 0.0,
) -> _Check:
    """Certificate of ``B = [V, W]`` (d, 2P): primal, cone norms, relative gap.

    Every cone norm has a cheap upper bound (``duality._cheap_bounds``: the projection
    on the half-space of the most violated constraint; exact when ``+-g_i`` is in the
    cone), and from the second round on the last certificate's bound plus the drift of
    its column of G (:meth:`_ConeNormCache.carried_bounds`); the cheap ones only while
    they beat those on ``_CHEAP_SHARE`` of the pairs. The support pairs (non-zero
    blocks) come first, each from its own face
    (:meth:`_ConeNormCache.support_norms`): exact where the polish left the block
    stationary, else an upper bound. Their values are about beta, which makes the
    threshold below tight at once. The other pairs get exact norms by decreasing bound,
    in chunks, until the next bound is below both beta (no block there can enter the
    working set) and the largest support value or exact norm found (every entry enters
    ``s_max``, so a smaller bound cannot change it); the other entries keep their bound.
    A pair whose NNLS bound falls below that threshold stops there
    (:func:`cone_norm_bounds`).

    With ``n_new`` (the blocks the working set wants), pricing also stops once that many
    exact violators ``norm > beta`` off the support are known and the gap is above
    ``tol`` even with ``s_max`` = the largest value so far: the lower bound only falls as
    ``s_max`` grows, so more exact norms could not certify this point (the reported gap,
    from the bounds, is then valid but looser). Far from the optimum this prices a few
    chunks instead of every pattern whose bound exceeds beta. The support pairs left as
    bounds are priced exactly only when that could certify ``tol`` (always without
    ``n_new``).
    """
    X, y, loss, P, beta = problem.X, problem.y, problem.loss, problem.P, problem.beta
    cache = _ConeNormCache(P) if cache is None else cache
    primal, c, z = _primal(problem, B, c, with_z=True)
    lam0 = dual_candidate(loss, z, y, problem.output_bias)
    G = adjoint(X, problem.mask, lam0)  # (d, P), without an (n, P) temporary
    norms = np.linalg.norm(G, axis=0)
    carried = cache.carried_bounds(G)
    if carried is None or cache.cheap_helps:
        cone, exact = _cheap_bounds(X, problem.D, G, norms)
        if carried is not None:  # far below beta last round: often proven without NNLS
            cache.cheap_helps = bool(np.mean(cone < carried) >= _CHEAP_SHARE)
            cone = np.minimum(cone, carried)
    else:  # the carried bounds were the tighter ones: no (n, P) pass for the cheap ones
        cone, exact = np.minimum(carried, norms[:, None]), np.zeros(carried.shape, dtype=bool)
    S = cache.signs(problem.D)
    # The support pairs first, from their faces (their norms are about beta: a tight
    # ``best`` at once, so that the other pairs stop at a bound).
    sup = np.flatnonzero(B.any(axis=0))
    sup = sup[~exact[sup % P, sup // P]]
    on_sup = np.zeros((P, 2), dtype=bool)
    on_sup[sup % P, sup // P] = True
    if sup.size:
        vals, ok = cache.support_norms(X, problem.D, G, B, sup)
        cone[sup % P, sup // P] = np.minimum(cone[sup % P, sup // P], vals)
        exact[sup % P, sup // P] = ok
    # Every entry of ``cone`` enters s_max, so pricing may stop below its largest
    # support entry even where that is only a bound.
    best = float(np.where(exact | on_sup, cone, 0.0).max(initial=0.0))
    priced = exact.copy()
    pi, si = np.nonzero(~(exact | on_sup))
    order = np.argsort(-cone[pi, si], kind="stable")
    pi, si = pi[order], si[order]
    known = {"best": best, "violators": int((cone[exact & ~on_sup] > beta).sum())}
    partial = False

    def on_exact(values: np.ndarray) -> bool:
        """Every exact norm enters s_max; stop once enough violators are known and even
        ``best`` (<= s_max: the lower bound only falls as s_max grows) cannot certify."""
        nonlocal partial
        known["best"] = max(known["best"], float(values.max(initial=0.0)))
        known["violators"] += int((values > beta).sum())
        partial = (
            n_new is not None
            and known["violators"] >= n_new
            and _gap(problem, lam0, primal, known["best"]) > tol
        )
        return partial

    cone[pi, si], priced[pi, si] = stream_cone_norms(
        X,
        S,
        G,
        si * P + pi,
        cone[pi, si],
        cache.active,
        lambda: min(beta, known["best"]),
        on_exact,
        most=n_new,  # a round that stops at n_new violators: no more in flight
    )
    loose = on_sup & ~priced
    if loose.any() and (
        n_new is None or _gap(problem, lam0, primal, np.where(loose, 0.0, cone).max()) <= tol
    ):  # the support's bounds are what stands between this point and its certificate
        idx = np.flatnonzero(loose.any(axis=1))
        out, ok = cache.norms(X, S, G[:, idx], idx, 0.0, loose[idx])
        cone[idx] = np.where(loose[idx], np.minimum(out, cone[idx]), cone[idx])
        priced[idx] |= loose[idx] & ok
    else:
        partial = partial or bool(loose.any())
    s_max = float(cone.max(initial=0.0))
    cache.last = (G, cone.copy())
    gap = _gap(problem, lam0, primal, s_max)
    return _Check(primal, gap, cone, priced, c, lam0, s_max, partial)


def _gap(problem: ConvexReLUProblem, lam0: np.ndarray, primal: float, s_max: float) -> float:
    """Relative gap of ``primal`` against the dual point ``lam0`` scaled for ``s_max``."""
    lower, _ = dual_lower_bound(problem.loss, lam0, problem.y, problem.beta, s_max)
    return relative_gap(primal, lower, problem.y)
