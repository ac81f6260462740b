"""Array kernels of the relu polish (:mod:`._relu_polish`): bases, Gram, step ratios.

Null-space bases of the active constraints (an SVD, or a Householder update when one
constraint joins), the faces' least-squares multipliers in one batched solve, the
basis ``Phi`` and its Gram matrix kept between Newton steps (:class:`_Gram`), and each
block's first blocking row (compiled by :mod:`convexnn._jit` when numba is there).
Each fast kernel has a slow, obvious reference beside it, tested against it.
"""

from __future__ import annotations

import numpy as np

from .. import _jit
from .._nnls import _padded_gram


def _null_basis(A: np.ndarray, d: int) -> np.ndarray:
    """Orthonormal basis (d, r) of the null space of the rows of A."""
    if A.shape[0] == 0:
        return np.eye(d)
    # full V^T (d, d) always; full U only when it is small (fewer rows than d)
    _, sv, Vt = np.linalg.svd(A, full_matrices=A.shape[0] < d)
    rank = int((sv > 1e-10 * sv[0]).sum()) if sv.size and sv[0] > 0 else 0
    return Vt[rank:].T


def _face_multipliers(
    X: np.ndarray, DT: np.ndarray, active: list[np.ndarray], R: np.ndarray
) -> list[np.ndarray]:
    """Least-squares multipliers ``mu_k = argmin ||A_k^T mu - r_k||`` of each block's face.

    ``A_k`` holds the active rows ``s_i x_i`` (``i`` in ``active[k]``, ``s_i = +1``
    where ``DT[k, i]``) and ``r_k = R[:, k]``: the KKT test of the polish. The blocks
    with at most d rows (every face on data in general position) in one batched solve of
    the normal equations ``A A^T mu = A r``, padded and regularised as the NNLS ones
    (``_nnls._padded_gram``); those with more (repeated rows) in one batched SVD, for
    the minimum-norm multipliers (:func:`_multipliers_by_svd`). A loop of ``lstsq`` per
    block cost about 0.1 s per release at n = 1e4. Reference: ``np.linalg.lstsq``.
    """
    d = X.shape[1]
    mus: list[np.ndarray] = [np.zeros(0)] * len(active)
    few = [b for b, rows in enumerate(active) if rows.size <= d]
    many = [b for b, rows in enumerate(active) if rows.size > d]
    for group, solve in ((few, _multipliers_by_gram), (many, _multipliers_by_svd)):
        if not group:
            continue
        m = max(active[b].size for b in group)
        A = np.zeros((len(group), m, d))
        valid = np.zeros((len(group), m), dtype=bool)
        for t, b in enumerate(group):
            rows = active[b]
            A[t, : rows.size] = X[rows] * np.where(DT[b, rows], 1.0, -1.0)[:, None]
            valid[t, : rows.size] = True
        mu = solve(A, valid, R[:, group])
        for t, b in enumerate(group):
            mus[b] = mu[t, : active[b].size]
    return mus


def _multipliers_by_gram(A: np.ndarray, valid: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(k, m) least-squares multipliers of at most d rows each: normal equations."""
    gram = _padded_gram(A, valid)[0]
    return np.linalg.solve(gram, np.einsum("bkd,db->bk", A, R)[:, :, None])[:, :, 0]


def _multipliers_by_svd(A: np.ndarray, valid: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(k, m) minimum-norm least-squares multipliers of more than d rows each.

    Such a face repeats constraints (repeated rows of X: every copy at zero slack), so
    ``A A^T`` (m, m) is singular; ``mu = U S^+ V^T r`` from the SVD of ``A`` (m, d),
    ``O(m d^2)``, with ``lstsq``'s cut-off for small singular values. The padded
    normal equations had cost ``O(m^3)`` per block: 49 s of a 56 s solve over 2000
    integer points with 122 distinct rows, whose faces held hundreds of copies.
    Padded rows (``~valid``) are zero rows of A: their multipliers come out 0.
    """
    U, s, Vt = np.linalg.svd(A, full_matrices=False)  # (k, m, d), (k, d), (k, d, d)
    cut = max(A.shape[1:]) * np.finfo(np.float64).eps * s[:, :1]
    inv = np.where(s > cut, 1.0 / np.where(s > cut, s, 1.0), 0.0)
    return np.einsum("bmd,bd->bm", U, inv * np.einsum("bde,eb->bd", Vt, R))


_SPAN_TOL = 1e-9  # a row within this angle (sine) of its face's row space never blocks


def _in_span(x: np.ndarray, N: np.ndarray) -> bool:
    """Whether the row x (d,) lies in the row space of a face with null basis N (d, r):
    ``||N^T x|| <= _SPAN_TOL ||x||`` (always, when the face spans everything: r = 0).

    Such a row is zero on the whole face (a repeated sample, or one dependent on the
    face's rows, as on integer data), and a step inside the face keeps it there: its
    step ratio is rounding only, and it must not join the face (see ``_relu_polish``;
    the relu CNN bcd's ``_blocking`` uses it the same way).
    """
    c = N.T @ x
    return bool(c @ c <= _SPAN_TOL**2 * (x @ x))


def _null_basis_less(N: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, r - 1) of the vectors of span N (d, r) orthogonal to x.

    ``N`` itself when x is (numerically) orthogonal to span N already, as in
    :func:`_null_basis`'s rank test. A Householder reflection H maps ``c = N^T x`` to
    a multiple of ``e_1``; the other columns of ``N H`` are orthogonal to x.
    """
    c = N.T @ x
    nc = float(np.linalg.norm(c))
    if nc <= 1e-10 * float(np.linalg.norm(x)):
        return N
    v = c.copy()
    v[0] += np.copysign(nc, c[0])
    NH = N - np.outer(N @ v, 2.0 * v / (v @ v))
    return NH[:, 1:]


def _null_basis_more(N: np.ndarray, A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the null space of the rows of A (k, d), given N (d, r), a
    basis of the null space of those rows and one more row x (x left the face).

    That space is span N plus the part of x orthogonal to the rows of A (one QR of
    ``A^T``: a third of the time of :func:`_null_basis`'s SVD at d = 42); N itself when
    x lies in their span (``1e-10`` relative, as :func:`_null_basis_less`).
    """
    Q = np.linalg.qr(A.T)[0]  # (d, 0) for no rows
    v = x - Q @ (Q.T @ x)
    v -= N @ (N.T @ v)  # rounding only: x is in the row space of [A; x]
    nv = float(np.linalg.norm(v))
    if nv <= 1e-10 * float(np.linalg.norm(x)):
        return N
    return np.hstack([N, (v / nv)[:, None]])


def _block_diag_index(
    sizes: np.ndarray, offs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and block of every entry of a block-diagonal (sizes) matrix."""
    sq = sizes * sizes
    blk = np.repeat(np.arange(sizes.size), sq)
    loc = np.arange(int(sq.sum())) - np.repeat(np.cumsum(sq) - sq, sq)
    r = sizes[blk]
    return offs[blk] + loc // r, offs[blk] + loc % r, blk


def _step_ratios(
    X: np.ndarray, DT: np.ndarray, Bs: np.ndarray, dBs: np.ndarray, active: list[np.ndarray]
) -> np.ndarray:
    """(k, n) step ratios ``a`` at which blocks ``Bs + a dBs`` (d, k) reach their cones'
    constraints ``s_i x_i^T b >= 0`` (``s_i = +1`` where ``DT[k, i]``), inf where never.

    The ratio ``max(s a_i, 0) / (-s b_i)`` (``a_i = x_i^T b``, ``b_i = x_i^T db``, the
    rate ``s b_i < 0``) equals ``max(-a_i / b_i, 0)``: the signs cancel and enter only
    the (boolean) test of the rate's sign. Rows ``active[k]`` never block. Row-major by
    block, in place: this runs at every Newton step of the polish. Reference:
    :func:`_step_ratios_reference`.
    """
    ratio = Bs.T @ X.T
    rate = dBs.T @ X.T
    crossed = (rate < 0) == DT  # s b_i < 0 ...
    crossed &= rate != 0  # ... strictly
    blk = np.repeat(np.arange(len(active)), [r.size for r in active])
    crossed[blk, _cat_index(active)] = False  # active rows never block
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(ratio, rate, out=ratio)
    np.negative(ratio, out=ratio)
    np.maximum(ratio, 0.0, out=ratio)
    np.copyto(ratio, np.inf, where=~crossed)
    return ratio


def _first_blocking(
    X: np.ndarray,
    DT: np.ndarray,
    pat: np.ndarray,
    Bs: np.ndarray,
    dBs: np.ndarray,
    active: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Each block's first blocking row and its step ratio, ``(first (k,), ratio (k,))``.

    The row-wise ``argmin`` of :func:`_step_ratios` (blocks ``Bs + a dBs``, cone signs
    ``DT[pat[k]]``; row 0 and inf where nothing blocks): compiled in one pass over the
    two GEMM results (:func:`convexnn._jit.first_blocking`) when numba is there.
    """
    jit = _jit.kernels()
    if jit is None:
        ratio = _step_ratios(X, DT[pat], Bs, dBs, active)
        first = np.argmin(ratio, axis=1)
        return first, ratio[np.arange(first.size), first]
    slack = Bs.T @ X.T
    rate = dBs.T @ X.T
    blk = np.repeat(np.arange(len(active)), [r.size for r in active])
    rate[blk, _cat_index(active)] = 0.0  # active rows never block
    return jit.first_blocking(slack, rate, DT, np.asarray(pat, dtype=np.int64))


def _step_ratios_reference(
    X: np.ndarray, DT: np.ndarray, Bs: np.ndarray, dBs: np.ndarray, active: list[np.ndarray]
) -> np.ndarray:
    """Slow, obvious :func:`_step_ratios`: slack over minus the rate, with the signs."""
    S = np.where(DT, 1.0, -1.0)
    slack, rate = S * (Bs.T @ X.T), S * (dBs.T @ X.T)
    for k, rows in enumerate(active):
        rate[k, rows] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rate < 0, np.maximum(slack, 0.0) / -rate, np.inf)


class _Gram:
    """``Phi = [s_j D_j X N_j]_j`` (n, R) and ``Phi^T Phi``, kept between Newton steps.

    Between two steps the support and most null-space bases ``N_j`` are unchanged (a
    step changes the active constraints of a few blocks), so only the columns of the
    changed blocks are recomputed: ``O(n R r)`` flops for r new columns instead of the
    ``O(n R^2)`` of a new Gram matrix. A block whose constraint left (its basis ``N_j``
    with one column appended, :func:`_null_basis_more`) keeps its old columns and gets
    the new one only: at n = 1e4, d = 41, P = 2000, 2597 fresh columns in the polishes'
    steps instead of 5583 (blocks on rays release one constraint each, every few steps).
    """

    def __init__(self, X: np.ndarray, mask: np.ndarray) -> None:
        self.X, self.mask = X, mask
        # block j -> (basis version, first column, N_j) in the current layout
        self.blocks: dict[int, tuple[int, int, np.ndarray]] = {}
        self.Phi = np.zeros((X.shape[0], 0), order="F")
        self.G: np.ndarray | None = None  # Phi^T Phi of the last layout, when asked
        self._fresh = np.zeros(0, dtype=np.intp)
        # Columns derived from the old layout: (new start, old start, width, T or None):
        # new = old @ T (identity when None, whole runs of kept blocks at once).
        self._segs: list[tuple[int, int, int, np.ndarray | None]] = []

    def basis(
        self, keys: list[tuple[int, int]], sizes: np.ndarray, owner: np.ndarray, N: np.ndarray
    ) -> np.ndarray:
        """Phi of blocks ``keys`` ((j, basis version), in order, ``sizes`` columns each).

        ``owner`` (R,) is the block of each column and ``N`` (d, R) the bases, side by side.
        A block whose new basis lies in the span of its old one (a constraint joined its
        active set: ``N_new = N_old T``, ``T = N_old^T N_new``) keeps its Gram entries
        through T, without a pass over the n rows.
        """
        new_blocks: dict[int, tuple[int, int, np.ndarray]] = {}
        segs: list[tuple[int, int, int, np.ndarray | None]] = []
        fresh = []
        pos = 0
        for (j, version), size in zip(keys, sizes, strict=True):
            size = int(size)
            Nj = N[:, pos : pos + size]
            new_blocks[j] = (version, pos, Nj)
            prev = self.blocks.get(j)
            if prev is not None and prev[0] == version:  # kept: extend the last run
                old, last = prev[1], segs[-1] if segs else None
                if (
                    last
                    and last[3] is None
                    and last[0] + last[2] == pos
                    and last[1] + last[2] == old
                ):
                    segs[-1] = (last[0], last[1], last[2] + size, None)
                else:
                    segs.append((pos, old, size, None))
            elif prev is not None and _extends(prev[2], Nj):  # a constraint left
                width = prev[2].shape[1]
                segs.append((pos, prev[1], width, None))
                fresh.append(np.arange(pos + width, pos + size))
            elif prev is not None and _same_span(prev[2], Nj, T := prev[2].T @ Nj):
                segs.append((pos, prev[1], size, T))
            else:
                fresh.append(np.arange(pos, pos + size))
            pos += size
        fr = _cat_index(fresh)
        # Column-major: the derived columns are copied as contiguous runs (a row-major
        # column gather was measured 8x slower at n = 1e4).
        Phi = np.empty((self.X.shape[0], pos), order="F")
        for new, old, width, T in segs:
            src = self.Phi[:, old : old + (width if T is None else T.shape[0])]
            Phi[:, new : new + width] = src if T is None else src @ T
        Phi[:, fr] = _masked_products(self.X, self.mask, owner[fr], N[:, fr])
        self.blocks, self.Phi = new_blocks, Phi
        self._segs, self._fresh = segs, fr
        if self.G is not None:
            self.G = self._update_gram(self.G)
        return Phi

    def _update_gram(self, G_old: np.ndarray) -> np.ndarray:
        """``Q^T G_old Q`` on the derived columns (Q: identity runs and the T blocks, so
        ``O(R^2)`` work), ``Phi^T Phi_fresh`` (``O(n R r)``) on the fresh ones."""
        segs, fr, Phi = self._segs, self._fresh, self.Phi
        R = Phi.shape[1]
        M = np.empty((G_old.shape[0], R))  # G_old Q; its fresh columns are not used
        for new, old, width, T in segs:
            src = G_old[:, old : old + (width if T is None else T.shape[0])]
            M[:, new : new + width] = src if T is None else src @ T
        G = np.empty((R, R))
        for new, old, width, T in segs:
            src = M[old : old + (width if T is None else T.shape[0])]
            G[new : new + width] = src if T is None else T.T @ src
        if fr.size:
            C = Phi.T @ Phi[:, fr]
            G[:, fr] = C
            G[fr, :] = C.T
        return G

    def squared(self) -> np.ndarray:
        """``Phi^T Phi`` of the current basis (a copy, free to modify)."""
        if self.G is None:
            self.G = self.Phi.T @ self.Phi
        return self.G.copy()


def _block_gradients(X: np.ndarray, DT: np.ndarray, j: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(d, k) ``+-X^T D_i g`` of blocks ``j`` (``adjoint(X, _signed_masks(mask, j), g)``).

    From the transposed patterns ``DT`` (P, n): a block's signs are one contiguous row,
    so the (k, n) mask is a row gather, not a column gather of the (n, P) one (11 ms
    against 18 ms per release at n = 1e4, P = 2000, k = 300).
    """
    P = DT.shape[0]
    out = (DT[j % P].astype(np.float64) @ (X * g[:, None])).T
    out *= np.where(j < P, 1.0, -1.0)
    return out


def _masked_products(X: np.ndarray, mask: np.ndarray, j: np.ndarray, N: np.ndarray) -> np.ndarray:
    """(n, k) columns ``+-D_i X N[:, t]`` of blocks ``j`` (``_signed_masks(mask, j) * (X @ N)``).

    The signs go on N (d, k) and the mask multiplies in place: no (n, k) float mask
    (20% less time at n = 1e4; the same numbers, as a sign flip and a product by 0 or 1
    are exact).
    """
    P = mask.shape[1]
    out = X @ (N * np.where(j < P, 1.0, -1.0))
    out *= mask[:, j % P]
    return out


def _extends(N_old: np.ndarray, N_new: np.ndarray) -> bool:
    """Whether ``N_new`` is ``N_old`` with columns appended (:func:`_null_basis_more`)."""
    r = N_old.shape[1]
    return N_new.shape[1] > r and (r == 0 or np.array_equal(N_new[:, :r], N_old))


def _same_span(N_old: np.ndarray, N_new: np.ndarray, T: np.ndarray) -> bool:
    """``np.allclose(N_old @ T, N_new, atol=1e-10)`` without its per-call overhead."""
    return bool(np.all(np.abs(N_old @ T - N_new) <= 1e-10 + 1e-5 * np.abs(N_new)))


def _cat_index(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
