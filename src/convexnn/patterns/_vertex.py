"""Rank >= 3: the vertex method, and the cells of distinct hyperplanes of any rank.

Every cell of a central arrangement of rank ``r >= 3`` is a pointed cone, so it has an
extreme ray, the intersection of ``r - 1`` hyperplanes with independent normals. Around a
ray ``u`` the inactive rows keep the sign of ``z_k^T u``; in general position the ``r - 1``
defining rows take all ``2^(r-1)`` signs (vectorised fast path). Vertices with more active
rows (degenerate data: collinear points, concurrent hyperplanes) go through the slow path:
the cells of the rank ``r - 1`` arrangement of the active rows projected onto ``u^perp``
(recursion, through :func:`_patterns_of_rows`). Cells around ``-u`` are the complements of
those around ``u``, so only "canonical" cells (distinct hyperplane 0 positive) are
collected, deduplicated by two exact integer hashes, then materialised once together with
their complements.

Numerical tolerances: at a vertex, a row is active when ``|h_k^T u|`` is below its
direction tolerance plus the rounding scale of ``u`` (``64 r eps / ||cofactor vector||``).
Cells thinner than that are not resolved. Degenerate vertices found with a generous
tolerance only lose such slivers; a missed degeneracy could add unrealizable patterns,
hence the margins.

The dispatch over the rank (:func:`_canonical_cells`) lives here, next to the recursion
that needs it, so that imports go one way: ``_vertex -> _rank2 -> _arrangement``.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import comb

import numpy as np

from ._arrangement import _EPS, _HASH_SEED, BoolArray, FloatArray, IntArray, _Arrangement
from ._rank2 import _half_windows, _rank2_starts

_INDEP_TOL = 1e-12  # (r-1)-subsets whose cofactor null vector is shorter are dependent
_BLOCK_ENTRIES = 1 << 20  # float64 entries of one (m, K) working block (8 MB: stays in cache)
_COMPACT_AT = 1 << 22  # candidates held before the first deduplication pass (about 100 MB)


# --------------------------------------------------------------------------------------
# Cells over distinct hyperplanes, any rank
# --------------------------------------------------------------------------------------


def _canonical_cells(H: FloatArray, row_tol: FloatArray) -> BoolArray:
    """Canonical cells (Q, m) of distinct hyperplanes ``H`` (m, r), one sign pattern per row.

    ``H`` has full column rank ``r``; row ``q`` is ``H u_q > 0`` for ``u_q`` in a cell where
    hyperplane 0 is positive. The other ``Q`` cells are the complements (cell ``-C``).
    """
    r = H.shape[1]
    if r == 1:
        return np.ones((1, 1), dtype=bool)
    if r == 2:
        starts, m = _rank2_starts(H)
        return np.ascontiguousarray(_half_windows((starts - starts[0]) % (2 * m), m).T)
    return _VertexEnumeration(H, row_tol).canonical()


def _all_cells(H: FloatArray, row_tol: FloatArray) -> BoolArray:
    """All cells (2Q, m) of distinct hyperplanes ``H`` (m, r): canonical, then complements.

    (Over distinct hyperplanes there are no zero rows, so the complement is ``~C``.)
    """
    C = _canonical_cells(H, row_tol)
    return np.concatenate([C, ~C])


def _patterns_of_rows(Z: FloatArray) -> BoolArray:
    """All patterns (n, P) of the rows of ``Z`` (n, q): the full pipeline, any rank."""
    arr = _Arrangement.from_data(Z, None)
    if arr.rank == 0:
        return np.ones((Z.shape[0], 1), dtype=bool)
    return arr.expand_T(_all_cells(arr.H, arr.row_tol)).T


# --------------------------------------------------------------------------------------
# Rank >= 3: the vertex method
# --------------------------------------------------------------------------------------


class _VertexEnumeration:
    """Cells of ``m`` distinct hyperplanes with unit normals ``H`` (m, r), rank r >= 3.

    Each candidate cell is a *canonical* sign vector (hyperplane 0 positive) identified by
    two exact integer hashes ``w_t^T p`` (float64 sums of integers below 2^53). A fast
    candidate is the pair (vertex, flip code); a degenerate one is an explicit column.
    """

    def __init__(self, H: FloatArray, row_tol: FloatArray) -> None:
        self.H = np.ascontiguousarray(H)
        self.row_tol = row_tol
        self.m, self.r = H.shape
        self.k = self.r - 1
        self.n_codes = 1 << self.k
        codes = np.arange(self.n_codes)
        self.bits = ((codes[:, None] >> np.arange(self.k)[None, :]) & 1).astype(bool)
        high = min(1 << 31, (1 << 52) // max(self.m, 1))
        rng = np.random.default_rng(_HASH_SEED)
        self.weights = rng.integers(1, high, size=(2, self.m)).astype(np.float64)
        self.w_total = self.weights.sum(axis=1)
        self.block = max(1, _BLOCK_ENTRIES // self.m)

    # -- public entry points ------------------------------------------------------------

    def count(self) -> int:
        """Number of cells (2 times the number of distinct canonical candidates)."""
        keys, _, _, _ = self._candidates()
        return 2 * int(_unique_first(keys).size)

    def canonical(self) -> BoolArray:
        """The canonical cells (hyperplane 0 positive) as sign patterns, (Q, m)."""
        keys, ids, subsets, explicit = self._candidates()
        chosen = np.sort(ids[_unique_first(keys)])
        fast, slow = chosen[chosen >= 0], -1 - chosen[chosen < 0]
        out = np.empty((chosen.size, self.m), dtype=bool)
        self._materialise(fast, subsets, out[: fast.size])
        out[fast.size :] = explicit[:, slow].T
        return out

    # -- candidate generation -------------------------------------------------------------

    def _candidates(self) -> tuple[FloatArray, IntArray, IntArray, BoolArray]:
        """All canonical candidates: keys (2, N), ids (N,), fast subsets, explicit columns.

        ``ids >= 0`` encode ``vertex * 2^(r-1) + code`` over the fast vertices (whose
        subsets are the rows of the third output); ``ids < 0`` encode ``-1 - column`` of the
        explicit (degenerate) candidates.
        """
        keys: list[FloatArray] = []
        ids: list[IntArray] = []
        subsets: list[IntArray] = []
        degenerate: dict[tuple[float, float], tuple[FloatArray, IntArray]] = {}
        n_fast, n_cand, compact_at = 0, 0, _COMPACT_AT
        for sub in _subset_blocks(self.m, self.k, self.block):
            u, nrm = self._null_vectors(sub)
            independent = nrm > 0
            sub, u, nrm = sub[independent], u[independent], nrm[independent]
            G = self.H @ u.T  # (m, K)
            fast = self._split_degenerate(G, sub, nrm, degenerate)
            sub_f, G_f = sub[fast], G[:, fast]
            key, code_ids = self._fast_keys(G_f, sub_f)
            keys.append(key)
            ids.append(code_ids + n_fast * self.n_codes)
            subsets.append(sub_f)
            n_fast += sub_f.shape[0]
            n_cand += code_ids.size
            if n_cand > compact_at:  # bound the memory: drop repeated candidates so far
                keys, ids = _compact(keys, ids)
                n_cand = ids[0].size
                compact_at = max(compact_at, 2 * n_cand)
        explicit = self._degenerate_columns(list(degenerate.values()))
        keys.append(self._hash(explicit))
        ids.append(-1 - np.arange(explicit.shape[1]))
        empty_sub = np.zeros((0, self.k), dtype=np.intp)
        return (
            np.concatenate(keys, axis=1),
            np.concatenate(ids),
            np.concatenate(subsets) if subsets else empty_sub,
            explicit,
        )

    def _null_vectors(self, sub: IntArray) -> tuple[FloatArray, FloatArray]:
        """Unit null vectors (K, r) of the (r-1)-subsets ``sub`` (K, r-1) and cofactor norms.

        Dependent subsets (cofactor norm below ``_INDEP_TOL``) get ``nrm = 0`` and ``u = 0``.
        """
        u = _cofactor_null_vectors(self.H[sub])
        nrm = np.linalg.norm(u, axis=1)
        ok = nrm > _INDEP_TOL
        u[ok] /= nrm[ok, None]
        u[~ok] = 0.0
        nrm[~ok] = 0.0
        return u, nrm

    def _split_degenerate(
        self,
        G: FloatArray,
        sub: IntArray,
        nrm: FloatArray,
        degenerate: dict[tuple[float, float], tuple[FloatArray, IntArray]],
    ) -> BoolArray:
        """Record the degenerate vertices of this block; return the fast-path mask (K,).

        A row is active at vertex ``u`` when ``|h^T u| <= 64 r eps / nrm + row_tol``; a
        vertex is degenerate when a row outside its defining subset is active.
        """
        K = sub.shape[0]
        col_tol = 64.0 * self.r * _EPS / nrm
        absG = np.abs(G)
        absG[sub.T, np.arange(K)] = np.inf  # the defining rows are active by construction
        near = absG <= (col_tol + float(self.row_tol.max()))[None, :]
        fast = np.ones(K, dtype=bool)
        if not near.any():
            return fast
        rows, cols = np.nonzero(near)
        exact = absG[rows, cols] <= col_tol[cols] + self.row_tol[rows]
        rows, cols = rows[exact], cols[exact]
        extra = np.unique(cols)
        fast[extra] = False
        E = extra.size
        active = np.zeros((self.m, E), dtype=bool)
        active[rows, np.searchsorted(extra, cols)] = True
        active[sub[extra].T, np.arange(E)] = True
        keys = self._hash(active)
        null = _cofactor_null_vectors(self.H[sub[extra]])
        null /= np.linalg.norm(null, axis=1, keepdims=True)
        for c in range(E):
            key = (float(keys[0, c]), float(keys[1, c]))
            if key not in degenerate:
                degenerate[key] = (null[c], np.nonzero(active[:, c])[0])
        return fast

    def _fast_keys(self, G: FloatArray, sub: IntArray) -> tuple[FloatArray, IntArray]:
        """Canonical keys (2, K * 2^(r-1)) and ids of the flips around fast vertices."""
        K = sub.shape[0]
        S = np.sign(G)  # +-1 off the defining rows
        base = (self.weights @ S + self.w_total[:, None]) * 0.5  # (2, K)
        Wd = self.weights[:, sub]  # (2, K, k) weights of the defining rows
        s_def = np.take_along_axis(S, sub.T, axis=0).T  # (K, k) signs there (about 0)
        base -= np.einsum("tkj,kj->tk", Wd, (s_def + 1.0) * 0.5)
        cand = base[:, :, None] + Wd @ self.bits.T.astype(np.float64)  # (2, K, codes)
        p0 = np.repeat((S[0] > 0)[:, None], self.n_codes, axis=1)  # (K, codes)
        has0 = sub == 0
        rows0 = np.nonzero(has0.any(axis=1))[0]
        if rows0.size:
            p0[rows0] = self.bits[:, has0[rows0].argmax(axis=1)].T
        cand = np.where(p0[None], cand, self.w_total[:, None, None] - cand)
        ids = np.arange(K * self.n_codes)
        return cand.reshape(2, -1), ids

    def _hash(self, cols: BoolArray) -> FloatArray:
        """Exact hashes (2, Q) of explicit sign columns (m, Q)."""
        return self.weights @ cols.astype(np.float64)

    # -- degenerate vertices --------------------------------------------------------------

    def _degenerate_columns(self, vertices: list[tuple[FloatArray, IntArray]]) -> BoolArray:
        """Canonical sign columns (m, E) of the cells around the degenerate vertices."""
        blocks = [np.zeros((self.m, 0), dtype=bool)]
        for u, active in vertices:
            basis = np.linalg.svd(u[None, :])[2][1:]  # (r-1, r): orthonormal basis of u^perp
            local = _patterns_of_rows(self.H[active] @ basis.T)  # (|A|, Q_local)
            cols = np.repeat((self.H @ u > 0)[:, None], local.shape[1], axis=1)
            cols[active] = local
            blocks.append(cols)
        cols = np.concatenate(blocks, axis=1)
        neg = ~cols[0]
        cols[:, neg] = ~cols[:, neg]
        return cols

    # -- materialisation ------------------------------------------------------------------

    def _materialise(self, ids: IntArray, subsets: IntArray, out: BoolArray) -> None:
        """Write the canonical patterns of fast candidates ``ids`` (sorted) into ``out``."""
        for lo in range(0, ids.size, self.block):
            chunk = ids[lo : lo + self.block]
            vert, code = np.divmod(chunk, self.n_codes)
            uv, inv = np.unique(vert, return_inverse=True)
            inv = inv.reshape(-1)
            sub = subsets[uv]
            u, _ = self._null_vectors(sub)
            rows = np.take(u @ self.H.T > 0, inv, axis=0)  # (E, m)
            E, sub_e = chunk.size, sub[inv]
            for t in range(self.k):
                rows[np.arange(E), sub_e[:, t]] = self.bits[code, t]
            neg = ~rows[:, 0]
            rows[neg] = ~rows[neg]
            out[lo : lo + E] = rows


def _cofactor_null_vectors(M: FloatArray) -> FloatArray:
    """Null vectors (K, r) of a stack of (r-1) x r matrices ``M`` (K, r-1, r) by cofactors.

    ``u_c = (-1)^c det(M without column c)``: zero when the rows are dependent, with norm
    equal to the product of the singular values of ``M``.
    """
    K, _, r = M.shape
    if r == 3:
        return np.cross(M[:, 0], M[:, 1])
    u = np.empty((K, r))
    for c in range(r):
        minor = np.delete(M, c, axis=2)
        u[:, c] = (-1) ** c * _det(minor)
    return u


def _det(A: FloatArray) -> FloatArray:
    """Determinants of a stack (K, k, k), explicit for k = 3."""
    if A.shape[1] == 3:
        return (
            A[:, 0, 0] * (A[:, 1, 1] * A[:, 2, 2] - A[:, 1, 2] * A[:, 2, 1])
            - A[:, 0, 1] * (A[:, 1, 0] * A[:, 2, 2] - A[:, 1, 2] * A[:, 2, 0])
            + A[:, 0, 2] * (A[:, 1, 0] * A[:, 2, 1] - A[:, 1, 1] * A[:, 2, 0])
        )
    return np.linalg.det(A)


def _subset_blocks(m: int, k: int, block: int) -> Iterator[IntArray]:
    """Yield all k-subsets of range(m) in lexicographic order, in blocks of >= ``block``."""
    pending: list[IntArray] = []
    size = 0
    for first in range(m - k + 1):
        tail = _combinations(m - first - 1, k - 1) + first + 1
        head = np.full((tail.shape[0], 1), first, dtype=np.intp)
        pending.append(np.hstack([head, tail]))
        size += tail.shape[0]
        if size >= block:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def _combinations(m: int, k: int) -> IntArray:
    """All k-subsets of range(m), (C(m, k), k), in lexicographic order."""
    c = np.arange(m, dtype=np.intp)[:, None]
    if k == 0:
        return np.zeros((1, 0), dtype=np.intp)
    for _ in range(k - 1):
        last = c[:, -1]
        counts = m - 1 - last
        total = int(counts.sum())
        offsets = np.cumsum(counts) - counts
        nxt = np.arange(total) - np.repeat(offsets, counts) + np.repeat(last + 1, counts)
        c = np.hstack([np.repeat(c, counts, axis=0), nxt[:, None]])
    assert c.shape[0] == comb(m, k)
    return c


def _compact(
    keys: list[FloatArray], ids: list[IntArray]
) -> tuple[list[FloatArray], list[IntArray]]:
    """Merge candidate blocks, keeping the first occurrence of each key."""
    all_keys, all_ids = np.concatenate(keys, axis=1), np.concatenate(ids)
    first = _unique_first(all_keys)
    return [all_keys[:, first]], [all_ids[first]]


def _unique_first(keys: FloatArray) -> IntArray:
    """Indices of the first occurrence of each distinct key column of ``keys`` (2, N)."""
    if keys.shape[1] == 0:
        return np.zeros(0, dtype=np.intp)
    order = np.lexsort((keys[1], keys[0]))
    k0, k1 = keys[0, order], keys[1, order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (k0[1:] != k0[:-1]) | (k1[1:] != k1[:-1])
    # lexsort is stable, so the first of each run is the first occurrence.
    return np.sort(order[new])
