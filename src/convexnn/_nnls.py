"""Batched Lawson-Hanson NNLS: the cone projections behind the relu dual norms.

For a cone ``K = {u : A u >= 0}`` with ``A = diag(s) X`` (``s = 2 D_i - 1``), Moreau's
decomposition gives ``Proj_K(g) = g + A^T mu*`` with ``mu* = argmin_{mu >= 0}
||g + A^T mu||``, and ``||g + A^T mu||`` bounds ``||Proj_K(g)||`` from above for every
``mu >= 0`` (:mod:`convexnn.duality`). This module solves many such problems at once,
one per row of ``S`` and ``g``, on the same X:

- :func:`_batched_nnls`: all problems to their optimality test (or a bound below a
  threshold);
- :class:`_NNLSState`: the arrays of the method, stepped by its callers (the dual norms
  of :mod:`convexnn.duality`, the relu solver's pricing, cone projections and support
  norms in :mod:`convexnn.solvers`), with warm starts and slots reused as problems end;
- :func:`_cone_norm`: scipy's NNLS for one problem, the fallback and the reference.

The inner loop is compiled (:mod:`convexnn._jit`) when numba is installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

from . import _jit

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_NNLS_OUTER_ITER = 6  # batched Lawson-Hanson: at most 6 (d + 1) outer steps
_NNLS_WINDOW = 256  # at most this many problems step together (_NNLSState.run) ...
_NNLS_WINDOW_ELEMENTS = 1 << 22  # ... and at most this many (problem, row) pairs, or 64
_NNLS_TOL = 1e-12  # optimality test: w_j <= tol * max_j ||x_j|| * ||g||
_NNLS_REFINE = 1e-13  # relative normal-equation residual that calls for refinement
_NNLS_RIDGE = 1e-14  # relative ridge on the passive-set normal equations
_NNLS_ROW_CACHE = 1 << 24  # float64 entries of the cached passive rows, and of their Gram
_NNLS_JIT = True  # the compiled Lawson-Hanson inner loop when numba is installed


def _batched_nnls(X: Array, S: Array, g: Array, stop_below: float = 0.0) -> tuple[Array, BoolArray]:
    """Lawson-Hanson for ``min_{mu >= 0} ||g_b + sum_j mu_j s_bj x_j||``, all b at once.

    Parameters
    ----------
    X : array (n, d)
    S : array (B, n) of +-1
        Cone signs of problem b (constraint j is ``s_bj x_j^T u >= 0``).
    g : array (B, d)

    Returns
    -------
    values : array (B,)
        ``min(||g_b + C_b^T mu_b||, ||g_b||)`` at the final ``mu_b >= 0``: an upper bound
        on the dual norm for every b, exact (up to rounding) where ``solved``.
    solved : bool array (B,)
        Whether the active-set method reached its optimality test.

    Notes
    -----
    The passive set of problem b lives in ``kmax = d + 1`` slots (``idx``, ``valid``,
    ``mu``): in exact arithmetic Lawson-Hanson keeps linearly independent columns, so
    at most d. Each outer step adds the most violated constraint (largest
    ``w_j = -s_j x_j^T p`` with ``p = g + C^T mu``); the inner loop solves the least
    squares problem on the passive set (batched normal equations) and steps back to
    keep ``mu >= 0``. Problems that run out of slots or iterations are left unsolved.
    """
    st = _NNLSState(X, S, g)
    st.run(np.full(st.g.shape[0], stop_below) if stop_below > 0 else None)
    return st.values(), st.solved


def _padded_gram(C: Array, valid: BoolArray) -> tuple[Array, Array]:
    """Batched normal-equation matrices ``C C^T`` (b, k, k) of row sets padded to k.

    Unused slots (``~valid``; their rows of C are zero) get the identity, so that the
    solve leaves them at zero; all slots get a tiny relative ridge
    (``_NNLS_RIDGE * max diag``) for dependent rows. Also returns that max diag (b,).
    """
    gram = C @ C.transpose(0, 2, 1)
    diag_max = np.einsum("bkk->bk", gram).max(axis=1, initial=0.0)
    ridge = _NNLS_RIDGE * diag_max + np.finfo(np.float64).tiny
    gram += np.einsum("bk,kl->bkl", ~valid + ridge[:, None], np.eye(C.shape[1]))
    return gram, diag_max


class _NNLSState:
    """Arrays of the batched Lawson-Hanson method (see :func:`_batched_nnls`)."""

    def __init__(self, X: Array, S: Array, g: Array) -> None:
        B = S.shape[0]
        kmax = X.shape[1] + 1
        self.X, self.S, self.g = X, S, np.ascontiguousarray(g, dtype=np.float64)
        self._low: tuple[NDArray[np.float32], NDArray[np.int8]] | None = None
        self.idx = np.zeros((B, kmax), dtype=np.intp)
        self.valid = np.zeros((B, kmax), dtype=bool)
        self.mu = np.zeros((B, kmax))
        # The row s_j x_j of each slot, kept unless that takes too much memory.
        fits = B * kmax * max(X.shape[1], kmax) <= _NNLS_ROW_CACHE
        self.C = np.zeros((B, kmax, X.shape[1])) if fits else None
        # With the rows and numba, their Gram matrices (B, kmax, kmax) for the compiled
        # least squares: entries of used slots kept current as rows join.
        self._jit = _jit.kernels() if fits and _NNLS_JIT else None
        self.gram = np.zeros((B, kmax, kmax)) if self._jit is not None else None
        # ... and their Cholesky factors, kept across steps (``_jit._sync_factor``):
        # nfac = -1 asks for a new factorisation.
        if self._jit is not None:
            self.fac = np.zeros((B, kmax, kmax))
            self.order = np.zeros((B, kmax), dtype=np.int64)
            self.nfac = np.full(B, -1, dtype=np.int64)
            self.fac_dmax = np.zeros(B)
        g_norm = np.linalg.norm(g, axis=1)
        self._x_max = float(np.linalg.norm(X, axis=1).max(initial=0.0))
        self.tol = _NNLS_TOL * self._x_max * g_norm
        self.running = g_norm > 0
        self.solved = ~self.running

    def load(self, slots: NDArray[np.intp], S: Array, g: Array) -> None:
        """Put new problems (signs ``S`` (k, n), vectors ``g`` (k, d)) in ``slots``.

        The slots start empty (no passive constraint, ``mu = 0``), running unless their
        g is zero; a caller streaming many problems through a fixed window of slots
        reuses them as problems finish (``_relu_certificate``'s pricing).
        """
        self.S[slots] = S
        if self._low is not None:
            self._low[1][slots] = -S
        self.g[slots] = g
        self.idx[slots] = 0
        self.valid[slots] = False
        self.mu[slots] = 0.0
        if self.C is not None:
            self.C[slots] = 0.0
        if self._jit is not None:
            self.nfac[slots] = -1
        g_norm = np.linalg.norm(g, axis=1)
        self.tol[slots] = _NNLS_TOL * self._x_max * g_norm
        self.running[slots] = g_norm > 0
        self.solved[slots] = ~self.running[slots]

    def run(self, stop_below: Array | None = None) -> NDArray[np.intp]:
        """Lawson-Hanson outer steps until every running problem is settled.

        A window of problems steps together, refilled in index order as problems
        finish (callers order them by priority): a few slow problems do not hold a whole
        batch of nearly empty steps. A problem stops unsolved after
        ``_NNLS_OUTER_ITER (d + 1)`` steps. With ``stop_below`` (B,), a problem also stops
        once its value is proven ``<= stop_below[b]`` (:meth:`stop_bounded`); those are
        returned.
        """
        # 256 problems at n = 1e4 (the n = 1e4 relu benchmark solve: 131 s at 64, 119 s
        # at 256); fewer for larger n, so that the (window, n) temporaries stay bounded.
        n = self.X.shape[0]
        window = min(_NNLS_WINDOW, max(64, _NNLS_WINDOW_ELEMENTS // max(n, 1)))
        waiting = np.flatnonzero(self.running)
        self.running[:] = False
        steps = np.zeros(self.g.shape[0], dtype=np.intp)
        cap, head = _NNLS_OUTER_ITER * (self.X.shape[1] + 1), 0
        bounded: list[NDArray[np.intp]] = []
        while True:
            free = window - int(self.running.sum())
            if free > 0 and head < waiting.size:
                self.running[waiting[head : head + free]] = True
                head += free
            ia = np.flatnonzero(self.running)
            if ia.size == 0:
                break
            steps[ia] += 1
            over = steps[ia] > cap
            self.running[ia[over]] = False  # left unsolved
            ia = ia[~over]
            if ia.size == 0:
                continue
            j, ok = self.most_violated(ia)
            self.solved[ia[~ok]] = True
            self.running[ia[~ok]] = False
            ia, j = ia[ok], j[ok]
            self.add(ia, j)
            self.restore_feasibility(ia[self.running[ia]])
            if stop_below is not None:
                bounded.append(self.stop_bounded(stop_below))
        return np.concatenate(bounded) if bounded else np.zeros(0, dtype=np.intp)

    def width(self, ia: NDArray[np.intp]) -> int:
        """Slots in use by problems ``ia``: 1 + the last valid slot (``add`` fills the first
        free one, so the passive sets stay packed at the front)."""
        used = np.asarray(self.valid[ia].any(axis=0))
        return int(used.size - np.argmax(used[::-1])) if used.any() else 1

    def rows(self, ia: NDArray[np.intp]) -> Array:
        """Passive constraint rows ``s_j x_j`` of problems ``ia``, (b, k, d); 0 if unused.

        ``k = width(ia)``: the slots past the last one in use are left out.
        """
        k = self.width(ia)
        if self.C is not None:  # its unused slots are kept zero
            return self.C[ia, :k]
        idx, valid = self.idx[ia, :k], self.valid[ia, :k]
        signs = np.take_along_axis(self.S[ia], idx, axis=1) * valid
        return self.X[idx] * signs[:, :, None]

    def warm_start(self, b: int, active: NDArray[np.intp]) -> None:
        """Put constraints ``active`` (at most d + 1) in problem b's passive set."""
        k = active.size
        self.idx[b, :k], self.valid[b, :k] = active, True
        if self.C is not None:
            self.C[b, :k] = rows = self._signed_rows(b, active)
            if self.gram is not None:
                self.gram[b, :k, :k] = rows @ rows.T
                self.nfac[b] = -1

    def settle_warm(self, ia: NDArray[np.intp]) -> None:
        """Warm-started passive sets of problems ``ia`` made feasible, keeping what fits.

        Drops the slots whose least-squares coefficient is not positive and solves again,
        until every coefficient is positive (or the set is empty); then ``mu`` is that
        solution, a valid Lawson-Hanson state, which :meth:`restore_feasibility` takes
        up (its factors). That inner loop alone starts from ``mu = 0``: its step back
        towards a solution with one non-positive coefficient has the ratio 0 and drops
        every slot, so one constraint of the last active set that no longer holds made
        the start cold.
        """
        start = ia
        for _ in range(self.valid.shape[1] + 1):
            if ia.size == 0:
                break
            z = self.least_squares(ia)
            bad = self.valid[ia] & (z <= 0)
            ok = ~bad.any(axis=1)
            self.mu[ia[ok]] = np.where(self.valid[ia[ok]], z[ok], 0.0)
            ia, bad = ia[~ok], bad[~ok]
            b, slot = np.nonzero(bad)
            self.valid[ia[b], slot] = False
            if self.C is not None:
                self.C[ia[b], slot] = 0.0
            if self._jit is not None:
                self.nfac[ia] = -1
        self.restore_feasibility(start[self.running[start]])

    def _signed_rows(self, b: Any, j: NDArray[np.intp]) -> Array:
        """Constraint rows ``s_bj x_j`` (one per entry of j; b a problem or one per j)."""
        return self.X[j] * self.S[b, j][:, None]

    def passive_point(self, ia: NDArray[np.intp], mu: Array) -> Array:
        """``g + C^T mu`` of problems ``ia`` for coefficients ``mu`` (b, kmax)."""
        C = self.rows(ia)
        return self.g[ia] + np.einsum("bk,bkd->bd", mu[:, : C.shape[1]], C)

    def most_violated(self, ia: NDArray[np.intp]) -> tuple[NDArray[np.intp], BoolArray]:
        """A violated constraint of each problem, and whether it violates beyond ``tol``.

        The violations ``w_j = -s_j x_j^T p`` of all n constraints are ranked in float32
        (half the cost of the (b, d) x (d, n) product and of the (b, n) temporaries); the
        chosen one is checked in float64. Where it fails that check (float32 rounding
        hides violations near ``tol``: the last step of each problem), the problem is
        ranked again in float64, so the optimality test is float64's.
        """
        p = self.passive_point(ia, self.mu[ia])
        if self._low is None:  # made once a problem takes a step: float32 X^T, int8 -S
            # (an int8 gather of the window's signs: 4.3 ms against 7.5 ms for the
            # float32 one per ranking at n = 1e4 and 256 problems; a compiled ranking
            # reading the signs in place took 2.5 ms against NumPy's 0.8 ms at 128)
            XT = np.ascontiguousarray(self.X.T, dtype=np.float32)  # GEMM 15% faster
            self._low = (XT, (-self.S).astype(np.int8))
        XT_low, neg_S_low = self._low
        j = self._argmax_violation(ia, p, XT_low, neg_S_low[ia])
        ok = self._violation(ia, p, j) > self.tol[ia]
        if not ok.all():
            redo = np.flatnonzero(~ok)
            j[redo] = self._argmax_violation(ia[redo], p[redo], self.X.T, -self.S[ia[redo]])
            ok[redo] = self._violation(ia[redo], p[redo], j[redo]) > self.tol[ia[redo]]
        return j, ok

    def _argmax_violation(
        self, ia: NDArray[np.intp], p: Array, XT: NDArray[np.floating], neg_S: NDArray[Any]
    ) -> NDArray[np.intp]:
        """The most violated constraint of problems ``ia`` at ``p``; ``XT``: ``X^T`` (d, n),
        ``neg_S``: ``-S[ia]``."""
        w = p.astype(XT.dtype) @ XT
        w *= neg_S
        b_idx, k_idx = np.nonzero(self.valid[ia])
        w[b_idx, self.idx[ia][b_idx, k_idx]] = -np.inf
        return np.argmax(w, axis=1)

    def _violation(self, ia: NDArray[np.intp], p: Array, j: NDArray[np.intp]) -> Array:
        """Float64 ``-s_j x_j^T p`` of constraint ``j[b]`` of problem ``ia[b]``."""
        return -self.S[ia, j] * np.einsum("bd,bd->b", self.X[j], p)

    def add(self, ia: NDArray[np.intp], j: NDArray[np.intp]) -> None:
        """Move constraint j into the passive set (give up on problems with no free slot)."""
        full = self.valid[ia].all(axis=1)
        self.running[ia[full]] = False
        ia, j = ia[~full], j[~full]
        slot = np.argmin(self.valid[ia], axis=1)
        self.idx[ia, slot] = j
        self.valid[ia, slot] = True
        self.mu[ia, slot] = 0.0
        if self.C is not None:
            self.C[ia, slot] = self._signed_rows(ia, j)
            if self._jit is not None:
                self._jit.border_gram(self.C, self.gram, self.valid, ia, slot)

    def least_squares(self, ia: NDArray[np.intp]) -> Array:
        """``z = argmin ||g + C_P^T z||`` on the passive slots, (b, kmax), 0 on unused slots.

        Normal equations ``(C C^T) z = -C g`` (tiny relative ridge; identity on unused
        slots), then one refinement step ``(C C^T) dz = -C (g + C^T z)``, which removes
        most of the error that squaring the condition number brings, for the problems
        whose normal-equation residual ``C p``, ``p = g + C^T z``, exceeds
        ``_NNLS_REFINE ||C|| ||p||`` (relative to ``||p||``: a projection near zero
        needs it). At n = 1e4 one call in nine refines some problems; the second solve was
        a quarter of the pricing.
        """
        C = self.rows(ia)
        k = C.shape[1]
        valid = self.valid[ia, :k]
        gram, diag_max = _padded_gram(C, valid)
        g = self.g[ia]
        z = np.linalg.solve(gram, -np.einsum("bkd,bd->bk", C, g)[:, :, None])[:, :, 0]
        z *= valid
        p = g + np.einsum("bk,bkd->bd", z, C)
        res = np.einsum("bkd,bd->bk", C, p)
        scale = np.sqrt(diag_max) * np.linalg.norm(p, axis=1)
        redo = np.flatnonzero(np.abs(res * valid).max(axis=1) > _NNLS_REFINE * scale)
        if redo.size:
            dz = np.linalg.solve(gram[redo], -res[redo][:, :, None])[:, :, 0]
            z[redo] += dz * valid[redo]
        out = np.zeros(self.valid[ia].shape)
        out[:, :k] = z
        return out

    def restore_feasibility(self, ia: NDArray[np.intp]) -> None:
        """Lawson-Hanson inner loop: least squares, then step back while some ``z <= 0``.

        Compiled (:func:`convexnn._jit.restore_feasibility`) when numba is there
        and the rows are cached; else :meth:`restore_feasibility_numpy`, the reference.
        """
        if self._jit is not None:
            self._jit.restore_feasibility(
                np.ascontiguousarray(ia, dtype=np.int64),
                self.C,
                self.gram,
                self.valid,
                self.mu,
                self.g,
                self.running,
                _NNLS_RIDGE,
                _NNLS_REFINE,
                self.fac,
                self.order,
                self.nfac,
                self.fac_dmax,
            )
            return
        self.restore_feasibility_numpy(ia)

    def restore_feasibility_numpy(self, ia: NDArray[np.intp]) -> None:
        """:meth:`restore_feasibility` in batched NumPy (the reference)."""
        if self._jit is not None:  # it may drop slots: the compiled loop's factors go
            self.nfac[ia] = -1
        for _ in range(self.valid.shape[1] + 1):
            if ia.size == 0:
                return
            z = self.least_squares(ia)
            bad = self.valid[ia] & (z <= 0)
            ok = ~bad.any(axis=1)
            self.mu[ia[ok]] = z[ok]
            ia, z, bad = ia[~ok], z[~ok], bad[~ok]
            m = self.mu[ia]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(bad, m / (m - z), np.inf)
            ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
            k_out = np.argmin(ratio, axis=1)
            m = m + ratio[np.arange(ia.size), k_out][:, None] * (z - m)
            m[np.arange(ia.size), k_out] = 0.0
            dropped = self.valid[ia] & ~(m > 0)
            self.valid[ia] &= ~dropped
            if self.C is not None:
                b, slot = np.nonzero(dropped)
                self.C[ia[b], slot] = 0.0
            self.mu[ia] = np.where(self.valid[ia], m, 0.0)
        self.running[ia] = False

    def stop_bounded(self, threshold: Array) -> NDArray[np.intp]:
        """Stop (as settled) the running problems whose value is ``<= threshold[b]``.

        Every iterate keeps ``mu >= 0``, so ``||g + C^T mu||`` bounds the dual norm from
        above; a caller that only needs to know the norm is below a threshold can stop
        there. Returns the stopped problems (their values are bounds, not exact).
        """
        ia = np.flatnonzero(self.running)
        if ia.size == 0:
            return ia
        mu = np.maximum(self.mu[ia], 0.0) * self.valid[ia]
        p = self.passive_point(ia, mu)
        done = ia[np.linalg.norm(p, axis=1) <= threshold[ia]]
        self.running[done] = False
        self.solved[done] = True
        return done

    def values(self, ia: NDArray[np.intp] | None = None) -> Array:
        """``min(||g + C^T max(mu, 0)||, ||g||)`` of problems ``ia`` (default: all)."""
        ia = np.arange(self.g.shape[0]) if ia is None else ia
        mu = np.maximum(self.mu[ia], 0.0) * self.valid[ia]
        p = self.passive_point(ia, mu)
        return np.minimum(np.linalg.norm(p, axis=1), np.linalg.norm(self.g[ia], axis=1))


def _cone_norm(X: Array, d_col: BoolArray, g: Array) -> float:
    """Upper bound (exact up to NNLS accuracy) on ``max_{u in K, ||u|| <= 1} g^T u``.

    ``K = {u : A u >= 0}``, ``A = diag(2 d_col - 1) X``. Solves
    ``mu = argmin_{mu >= 0} ||g + A^T mu||`` and returns ``||g + A^T mu||`` for the
    clipped ``mu``: an upper bound for any ``mu >= 0``. Falls back to ``||g||`` (also
    an upper bound) if the NNLS fails.
    """
    g_norm = float(np.linalg.norm(g))
    AT = (X * np.where(d_col, 1.0, -1.0)[:, None]).T
    try:
        mu, _ = nnls(AT, -g)
    except (RuntimeError, ValueError):  # pragma: no cover - NNLS iteration cap
        return g_norm
    value = float(np.linalg.norm(g + AT @ np.maximum(mu, 0.0)))
    return min(value, g_norm)
