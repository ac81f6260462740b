"""Exact enumeration of activation patterns: the cells of a central hyperplane arrangement.

The patterns of the data ``X`` (n x d) are the sign vectors ``1[X u >= 0]`` of the
full-dimensional cells of the arrangement ``{u : x_j^T u = 0}``. Everything happens in the
row space of ``X`` (rank ``r``, coordinates ``Z = X V_r``), on the *distinct* hyperplanes:
rows that are zero are always active, and rows whose normals are parallel or antiparallel
share one hyperplane (their entries are equal or complementary in every pattern).

- rank 1: two cells.
- rank 2: the cells are the arcs between the sorted boundary angles ``theta_j +- pi/2``;
  after sorting, each line is positive on ``m`` consecutive arcs of the ``2 m`` (exact,
  no floating-point sign test at all), and the lexicographic order of the cells follows
  from a Cartesian tree of the boundaries, so no column sort is needed. O(n log n).
- rank >= 3 (vertex method): every cell is a pointed cone, so it has an extreme ray, the
  intersection of ``r - 1`` hyperplanes with independent normals. Around a ray ``u`` the
  inactive rows keep the sign of ``z_k^T u``; in general position the ``r - 1`` defining
  rows take all ``2^(r-1)`` signs (vectorised fast path). Vertices with more active rows
  (degenerate data: collinear points, concurrent hyperplanes) go through the slow path:
  the cells of the rank ``r - 1`` arrangement of the active rows projected onto ``u^perp``
  (recursion). Cells around ``-u`` are the complements of those around ``u``, so only
  "canonical" cells (distinct hyperplane 0 positive) are collected, deduplicated by two
  exact integer hashes, then materialised once together with their complements.

Output: columns sorted lexicographically (a canonical form, whatever the path). The
canonical cells (hyperplane 0 positive) sort after all complements, in reverse order, so
only the canonical half is ever sorted.

Numerical tolerances: unit normals within ``1e-12`` (or the row's rounding scale, if
larger) are one hyperplane; at a vertex, a row is active when ``|h_k^T u|`` is below that
plus the rounding scale of ``u`` (``64 r eps / ||cofactor vector||``). Cells thinner than
that are not resolved. Degenerate vertices found with a generous tolerance only lose such
slivers; a missed degeneracy could add unrealizable patterns, hence the margins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .._validation import add_ones_column, check_positive_int, check_X
from ._matrix import PatternMatrix, fingerprint
from .count import count_patterns_bound

__all__ = ["count_cells", "enumerate_patterns"]

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_EPS = float(np.finfo(np.float64).eps)
_PARALLEL_TOL = 1e-12  # unit normals this close (up to sign) are one hyperplane
_INDEP_TOL = 1e-12  # (r-1)-subsets whose cofactor null vector is shorter are dependent
_BLOCK_ENTRIES = 1 << 20  # float64 entries of one (m, K) working block (8 MB: stays in cache)
_COMPACT_AT = 1 << 22  # candidates held before the first deduplication pass (about 100 MB)
_HASH_SEED = 20200712  # fixed: results are reproducible, no global random state
_DEFAULT_MAX_BYTES = 1 << 31


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def enumerate_patterns(
    X: Any,
    *,
    hidden_bias: bool = False,
    max_patterns: int = 2_000_000,
    rank_tol: float | None = None,
    max_bytes: int = _DEFAULT_MAX_BYTES,
) -> PatternMatrix:
    """Enumerate every activation pattern ``1[X u >= 0]`` of the data (exact, exhaustive).

    The patterns are the sign vectors of the full-dimensional cells of the central
    hyperplane arrangement ``{u : x_j^T u = 0}`` (paper, eq. 8 and section 3): exactly the
    matrices ``D_i`` of the convex program. Zero rows are active in every pattern;
    repeated, parallel, antiparallel and collinear rows are handled exactly.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    hidden_bias : bool, default=False
        Work on ``X_eff = [X, 1]`` (n, d + 1), the paper's hidden-layer bias.
    max_patterns : int, default=2_000_000
        Refuse (ValueError, before enumerating: only the SVD and the grouping of parallel
        rows run first) when the upper bound ``count_patterns_bound(n_h, r)`` on the number
        of patterns exceeds this, where ``r`` is the rank of ``X_eff`` and ``n_h`` its
        number of distinct hyperplanes (nonzero rows up to scaling and sign).
    rank_tol : float, optional
        Singular values of ``X_eff`` above this count towards the rank; rows whose norm in
        the row space is at most this are treated as zero. Default
        ``max(n, d) * eps * sigma_max``.
    max_bytes : int, default=2**31
        Refuse (ValueError, before enumerating) when the dense (n, P) bool result could
        take more than this many bytes, ``n * count_patterns_bound(n_h, r)`` (rank 2 at
        n = 1e5 would need 20 GB). Use :func:`count_cells` to only count the patterns.

    Returns
    -------
    PatternMatrix of shape (n, P), dtype bool
        Column ``i`` is ``diag(D_i)``; columns are distinct and sorted lexicographically
        (row 0 most significant, False before True). ``exhaustive=True``,
        ``method="exact"``, ``X_fingerprint=fingerprint(X_eff)``.

    Raises
    ------
    ValueError
        Invalid data or options, or a problem too large to enumerate.

    Notes
    -----
    Rank 1: two cells. Rank 2: sorted angles, O(n log n). Rank >= 3: vertex method over the
    ``C(n_h, r - 1)`` subsets of ``r - 1`` hyperplanes, vectorised in blocks of about 8 MB;
    peak memory is about 2.5 times the result. Normals within ``1e-12`` of each other (up
    to sign, or the rounding scale of the row if larger) are merged, and cells thinner than
    that are not resolved. The column order is reproducible: a fixed-seed hash is used
    internally and no global random state is touched.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    >>> enumerate_patterns(X, hidden_bias=True).shape
    (5, 10)
    """
    caller = "enumerate_patterns"
    X_eff, max_patterns, rank_tol, max_bytes = _check_inputs(
        X, hidden_bias, max_patterns, rank_tol, max_bytes, caller=caller
    )
    arr = _Arrangement.from_data(X_eff, rank_tol)
    _check_size(arr, X_eff, max_patterns, max_bytes, hidden_bias, caller=caller)
    if arr.rank == 0:
        D = np.ones((X_eff.shape[0], 1), dtype=bool)
    elif arr.rank == 2:
        D = _rank2_sorted(arr)
    else:
        D = _finish(arr.expand_T(_canonical_cells(arr.H, arr.row_tol)), arr.group < 0)
    return PatternMatrix(D, exhaustive=True, method="exact", X_fingerprint=fingerprint(X_eff))


def count_cells(X: Any, *, hidden_bias: bool = False, rank_tol: float | None = None) -> int:
    """Return the exact number of activation patterns of ``X`` without materialising them.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    hidden_bias : bool, default=False
        Count the patterns of ``X_eff = [X, 1]``.
    rank_tol : float, optional
        As in :func:`enumerate_patterns`.

    Returns
    -------
    int
        The number of columns :func:`enumerate_patterns` would return. Rank 2 costs
        O(n log n) (twice the number of distinct lines); rank >= 3 runs the enumeration's
        vertex pass and hash deduplication, with memory independent of the count's size
        times ``n``.
    """
    caller = "count_cells"
    X_eff, _, rank_tol, _ = _check_inputs(
        X, hidden_bias, 1, rank_tol, _DEFAULT_MAX_BYTES, caller=caller
    )
    arr = _Arrangement.from_data(X_eff, rank_tol)
    if arr.rank == 0:
        return 1
    if arr.rank <= 2:
        return 2 * arr.H.shape[0]
    return _VertexEnumeration(arr.H, arr.row_tol).count()


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _check_inputs(
    X: Any, hidden_bias: Any, max_patterns: Any, rank_tol: Any, max_bytes: Any, *, caller: str
) -> tuple[FloatArray, int, float | None, int]:
    X = check_X(X, caller=caller)
    if not isinstance(hidden_bias, (bool, np.bool_)):
        raise TypeError(f"{caller}: hidden_bias must be True or False, got {hidden_bias!r}.")
    X_eff = add_ones_column(X) if hidden_bias else X
    max_patterns = check_positive_int(max_patterns, caller=caller, name="max_patterns")
    max_bytes = check_positive_int(max_bytes, caller=caller, name="max_bytes")
    if rank_tol is not None:
        try:
            value = float(rank_tol) if not isinstance(rank_tol, (bool, str)) else float("nan")
        except (TypeError, ValueError):
            value = float("nan")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(
                f"{caller}: rank_tol must be None or a finite number >= 0, got {rank_tol!r}. "
                f"Leave it None for the default max(n, d) * eps * sigma_max."
            )
        rank_tol = value
    return X_eff, max_patterns, rank_tol, max_bytes


def _check_size(
    arr: _Arrangement,
    X_eff: FloatArray,
    max_patterns: int,
    max_bytes: int,
    hidden_bias: bool,
    *,
    caller: str,
) -> None:
    n, r, n_h = X_eff.shape[0], arr.rank, arr.H.shape[0]
    if r == 0:
        return
    bound = count_patterns_bound(n_h, r)
    data = "X_eff = [X, 1]" if hidden_bias else "the data"
    if bound > max_patterns:
        raise ValueError(
            f"{caller}: {data} has rank {r} and n = {n} rows ({n_h} distinct hyperplanes), "
            f"so it may have up to 2*sum_{{k<{r}}} C({n_h - 1}, k) = {bound} patterns, more "
            f"than max_patterns={max_patterns}. Use sample_patterns(X, n_patterns) instead, "
            f"or raise max_patterns."
        )
    if n * bound > max_bytes:
        raise ValueError(
            f"{caller}: the dense (n, P) bool pattern matrix of {data} would have n = {n} "
            f"rows and up to P = {bound} columns ({n * bound / 1e9:.1f} GB), more than "
            f"max_bytes={max_bytes} ({max_bytes / 1e9:.1f} GB). Use count_cells(X) to count "
            f"the patterns, sample_patterns(X, n_patterns) to sample some, or raise max_bytes."
        )


# --------------------------------------------------------------------------------------
# The arrangement: rank, row space, distinct hyperplanes
# --------------------------------------------------------------------------------------


@dataclass
class _Arrangement:
    """Distinct hyperplanes of the rows of a matrix, in coordinates of its row space.

    Attributes
    ----------
    rank : int
        Numerical rank ``r`` of the data.
    H : ndarray of shape (m, r)
        Unit normals of the ``m`` distinct hyperplanes (full column rank ``r``).
    row_tol : ndarray of shape (m,)
        Direction tolerance of each hyperplane (at least ``_PARALLEL_TOL``).
    group : ndarray of shape (n,)
        Hyperplane of each row, ``-1`` for zero rows.
    flip : ndarray of shape (n,)
        True where the row is antiparallel to the normal of its hyperplane.
    """

    rank: int
    H: FloatArray
    row_tol: FloatArray
    group: IntArray
    flip: BoolArray

    @classmethod
    def from_data(cls, X: FloatArray, rank_tol: float | None) -> _Arrangement:
        """Project ``X`` (n, d) on its row space and group its rows into hyperplanes."""
        n, d = X.shape
        _, s, Vt = np.linalg.svd(X, full_matrices=False)
        s_max = float(s[0]) if s.size else 0.0
        tol = max(n, d) * _EPS * s_max if rank_tol is None else rank_tol
        r = int(np.sum(s > tol))
        if r == 0:
            empty = np.zeros((0, 0))
            return cls(0, empty, np.zeros(0), np.full(n, -1, dtype=np.intp), np.zeros(n, bool))
        Z = X @ Vt[:r].T
        norms = np.linalg.norm(Z, axis=1)
        nonzero = norms > tol
        W = Z[nonzero] / norms[nonzero, None]
        # Rounding scale of each unit row: eps * ||x_j|| / ||z_j||, times the error of the
        # basis V_r (s_max / spectral gap) when the rank is truncated.
        basis_err = 1.0 + (s_max / (s[r - 1] - s[r]) if r < s.size else 0.0)
        scale = np.linalg.norm(X[nonzero], axis=1) / norms[nonzero] * basis_err
        row_tol = np.maximum(_PARALLEL_TOL, 16.0 * _EPS * scale)
        labels, flips = _group_parallel(W, row_tol)
        m = int(labels.max()) + 1
        rep = np.zeros(m, dtype=np.intp)
        rep[labels[::-1]] = np.arange(labels.size)[::-1]  # first member of each group
        H = W[rep]
        h_tol = np.zeros(m)
        np.maximum.at(h_tol, labels, row_tol)
        group = np.full(n, -1, dtype=np.intp)
        group[nonzero] = labels
        flip = np.zeros(n, dtype=bool)
        flip[nonzero] = flips
        return cls(r, H, h_tol, group, flip)

    @property
    def is_identity(self) -> bool:
        """True when every row is its own hyperplane, in order and unflipped."""
        return bool(
            self.group.size == self.H.shape[0]
            and np.array_equal(self.group, np.arange(self.group.size))
            and not self.flip.any()
        )

    def expand_T(self, ST: BoolArray) -> BoolArray:
        """Map patterns over the hyperplanes, (P, m), to patterns over the rows, (P, n)."""
        if self.is_identity:
            return ST
        PT = np.take(ST, np.maximum(self.group, 0), axis=1)
        if self.flip.any():
            PT ^= self.flip
        zero = self.group < 0
        if zero.any():
            PT |= zero
        return PT


def _group_parallel(W: FloatArray, tol: FloatArray) -> tuple[IntArray, BoolArray]:
    """Group unit rows that are parallel or antiparallel within tolerance.

    Parameters
    ----------
    W : ndarray of shape (k, r)
        Unit rows.
    tol : ndarray of shape (k,)
        Per-row tolerance; rows i, j are merged when
        ``min(||w_i - w_j||_inf, ||w_i + w_j||_inf) <= max(tol_i, tol_j)``.

    Returns
    -------
    labels : ndarray of shape (k,)
        Group of each row, numbered by first appearance.
    flips : ndarray of shape (k,)
        True where the row is antiparallel to the first row of its group.
    """
    uniq, inverse = np.unique(W, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    u_tol = np.zeros(uniq.shape[0])
    np.maximum.at(u_tol, inverse, tol)
    rho = np.random.default_rng(_HASH_SEED).standard_normal(uniq.shape[1])
    rho /= np.linalg.norm(rho)
    key = np.abs(uniq @ rho)  # parallel and antiparallel rows have close keys
    order = np.argsort(key, kind="stable")
    Ws, ks, ts = uniq[order], key[order], u_tol[order]
    reach = np.sqrt(W.shape[1]) * (float(ts.max()) if ts.size else 0.0)  # |key_i - key_j|
    rows, cols = [], []
    for off in range(1, Ws.shape[0]):  # keys are sorted: stop at the first offset too far
        near = np.nonzero(ks[off:] - ks[:-off] <= reach)[0]
        if near.size == 0:
            break
        a, b = Ws[near], Ws[near + off]
        dist = np.minimum(np.abs(a - b).max(axis=1), np.abs(a + b).max(axis=1))
        hit = near[dist <= np.maximum(ts[near], ts[near + off])]
        rows.append(order[hit])
        cols.append(order[hit + off])
    n_u = uniq.shape[0]
    if rows:
        i, j = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n_u, n_u))
        _, comp = connected_components(graph, directed=False)
    else:
        comp = np.arange(n_u)
    # Number groups by first appearance among the rows and orient by the first member.
    _, first, inv = np.unique(comp[inverse], return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    relabel = np.empty(first.size, dtype=np.intp)
    relabel[np.argsort(first)] = np.arange(first.size)
    flips = np.einsum("ij,ij->i", W, W[first[inv]]) < 0
    return relabel[inv], flips


# --------------------------------------------------------------------------------------
# Cells over distinct hyperplanes
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


def _rank2_starts(H: FloatArray) -> tuple[IntArray, int]:
    """Compact form of the 2m cells of m distinct lines through the origin in the plane.

    Parameters
    ----------
    H : ndarray of shape (m, 2)
        Normals of distinct lines.

    Returns
    -------
    starts : ndarray of shape (m,)
        With the cells numbered 0..2m-1 counter-clockwise, hyperplane ``g`` is positive on
        exactly the cells ``(starts[g] + t) mod 2m`` for ``t = 0..m-1``.
    m : int
        Number of lines.

    Notes
    -----
    Orient each normal to an angle ``psi_g`` in ``[0, pi)`` and sort: the boundaries
    ``psi - pi/2`` (in ``[-pi/2, pi/2)``) come before the boundaries ``psi + pi/2``, both in
    sorted order, so the line of sorted position ``p`` is positive from boundary ``p`` to
    boundary ``p + m``. An antiparallel normal shifts its start by ``m``. No floating-point
    sign test is involved: the result is exact once the angles are sorted.
    """
    m = H.shape[0]
    ang = np.arctan2(H[:, 1], H[:, 0])  # in (-pi, pi]
    back = ang < 0
    ang = np.where(back, ang + np.pi, ang)
    wrap = ang >= np.pi  # pi itself, or -tiny + pi rounded up to pi: one more half turn
    ang = np.where(wrap, ang - np.pi, ang)
    back ^= wrap
    pos = np.empty(m, dtype=np.intp)
    pos[np.argsort(ang, kind="stable")] = np.arange(m)
    return (pos + np.where(back, m, 0)) % (2 * m), m


def _half_windows(starts: IntArray, m: int) -> BoolArray:
    """Rows ``D[j, k] = ((k - starts[j]) mod 2m) < m`` for ``k < m``: shape (len(starts), m)."""
    template = np.tile(np.repeat(np.array([True, False]), m), 2)  # length 4m
    windows = np.lib.stride_tricks.sliding_window_view(template, m)
    return windows[(-starts) % (2 * m)]


def _rank2_sorted(arr: _Arrangement) -> BoolArray:
    """All patterns (n, 2m) of a rank-2 arrangement, sorted, without any sort of columns.

    With the cells rotated so that hyperplane 0 is positive on cells ``0..m-1`` (the
    canonical half), row ``j`` is a step function there: ``[k >= p_j]`` ("up") or
    ``[k < p_j]`` ("down"), with ``p = (sorted position - that of hyperplane 0) mod m``.
    So the canonical patterns are one broadcast comparison with the lexicographic order of
    the cells (:func:`_rank2_lex_order`), and the complements follow as in :func:`_finish`.
    """
    n = arr.group.size
    starts, m = _rank2_starts(arr.H)
    nonzero = arr.group >= 0
    rel = starts[arr.group[nonzero]] + np.where(arr.flip[nonzero], m, 0) - starts[0]
    rel %= 2 * m
    step = np.zeros(n, dtype=np.int32)
    down = np.zeros(n, dtype=bool)
    step[nonzero] = rel % m
    down[nonzero] = rel >= m
    first_row = np.full(m, n, dtype=np.intp)  # the first row stepping at each cut
    np.minimum.at(first_row, step[nonzero], np.nonzero(nonzero)[0])
    order = _rank2_lex_order(first_row, down[np.minimum(first_row, n - 1)])
    D = np.empty((n, 2 * m), dtype=bool)
    canon = D[:, m:]
    np.greater_equal(order.astype(np.int32)[None, :], step[:, None], out=canon)
    np.logical_xor(canon, down[:, None], out=canon)
    canon[~nonzero] = True
    np.logical_not(canon[:, ::-1], out=D[:, :m])
    D[~nonzero, :m] = True
    return D


def _rank2_lex_order(first_row: IntArray, down: BoolArray) -> IntArray:
    """Lexicographic order (m,) of the canonical cells ``0..m-1`` of a rank-2 arrangement.

    Parameters
    ----------
    first_row : ndarray of shape (m,)
        ``first_row[p]`` (``p >= 1``) is the smallest row index whose step is the cut ``p``
        between cells ``p - 1`` and ``p``.
    down : ndarray of shape (m,)
        Whether that row steps down (True on the cells before the cut).

    Returns
    -------
    ndarray of shape (m,)
        The cells in lexicographic order of their patterns.

    Notes
    -----
    Two cells ``k < k'`` first differ at the smallest row stepping at a cut in ``(k, k']``,
    and that row's direction decides which comes first. So the order is read off the
    Cartesian tree (min-heap by row index) of the cuts: a cut splits its range of cells into
    the part before and after it, emitted in the order its direction says. O(m).
    """
    m = first_row.size
    keys = first_row.tolist()
    left, right = [-1] * m, [-1] * m
    stack: list[int] = []
    for p in range(1, m):  # Cartesian tree of the cuts 1..m-1
        last = -1
        while stack and keys[stack[-1]] > keys[p]:
            last = stack.pop()
        left[p] = last
        if stack:
            right[stack[-1]] = p
        stack.append(p)
    is_down = down.tolist()
    out: list[int] = []
    todo = [(stack[0] if stack else -1, 0, m)]  # (root cut of the range or -1, lo, hi)
    while todo:
        p, lo, hi = todo.pop()
        if p < 0:  # a range without cuts is a single cell
            out.append(lo)
            continue
        before, after = (left[p], lo, p), (right[p], p, hi)
        todo.extend((before, after) if is_down[p] else (after, before))  # popped reversed
    return np.array(out, dtype=np.intp)


def _finish(CT: BoolArray, zero: BoolArray) -> BoolArray:
    """All patterns (n, 2Q), lexicographically sorted, from the canonical ones ``CT`` (Q, n).

    The complement of a cell flips every row but the zero rows (mask ``zero``, (n,)). The
    first non-zero row is True in every canonical pattern and False in every complement,
    and complementing reverses the order, so the sorted result is the complements in
    reverse sorted order followed by the sorted canonical patterns.
    """
    Q, n = CT.shape
    order = _lex_order(CT)
    D = np.empty((n, 2 * Q), dtype=bool)
    _transpose_rows(CT, order, out=D[:, Q:])
    np.logical_not(D[:, Q:][:, ::-1], out=D[:, :Q])
    D[zero, :Q] = True
    return D


def _lex_order(PT: BoolArray) -> IntArray:
    """Order (P,) sorting the rows of ``PT`` (P, n) lexicographically (False < True)."""
    packed = np.ascontiguousarray(np.packbits(PT, axis=1))  # (P, ceil(n/8))
    keys = packed.view(f"V{packed.shape[1]}").reshape(-1)  # compared as bytes (memcmp)
    return np.argsort(keys, kind="stable")


def _transpose_rows(A: BoolArray, rows: IntArray, out: BoolArray, tile: int = 512) -> None:
    """``out[:, t] = A[rows[t]]``, copied tile by tile (cache-friendly transpose)."""
    n = A.shape[1]
    for t in range(0, rows.size, tile):
        block = A[rows[t : t + tile]]
        for j in range(0, n, tile):
            out[j : j + tile, t : t + tile] = block[:, j : j + tile].T


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


def _patterns_of_rows(Z: FloatArray) -> BoolArray:
    """All patterns (n, P) of the rows of ``Z`` (n, q): the full pipeline, any rank."""
    arr = _Arrangement.from_data(Z, None)
    if arr.rank == 0:
        return np.ones((Z.shape[0], 1), dtype=bool)
    return arr.expand_T(_all_cells(arr.H, arr.row_tol)).T
