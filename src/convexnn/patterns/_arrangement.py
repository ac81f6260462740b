"""The arrangement of the rows of a matrix: rank, row space, distinct hyperplanes.

The patterns of the data ``X`` (n x d) are the sign vectors ``1[X u >= 0]`` of the
full-dimensional cells of the central arrangement ``{u : x_j^T u = 0}``. Everything happens
in the row space of ``X`` (rank ``r``, coordinates ``Z = X V_r``), on the *distinct*
hyperplanes: rows that are zero are always active, and rows whose normals are parallel or
antiparallel share one hyperplane (their entries are equal or complementary in every
pattern). :class:`_Arrangement` computes them; unit normals within ``1e-12`` (or the row's
rounding scale, if larger) are one hyperplane.

Cells around ``-u`` are the complements of those around ``u``, so the enumeration paths
(:mod:`._rank2`, :mod:`._vertex`) only produce the "canonical" cells, where distinct
hyperplane 0 is positive. :func:`_finish` builds the output from them: columns sorted
lexicographically (a canonical form, whatever the path). The canonical cells sort after all
complements, in reverse order, so only the canonical half is ever sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_EPS = float(np.finfo(np.float64).eps)
_PARALLEL_TOL = 1e-12  # unit normals this close (up to sign) are one hyperplane
_HASH_SEED = 20200712  # fixed: results are reproducible, no global random state


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
# Output: all patterns, sorted, from the canonical half
# --------------------------------------------------------------------------------------


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
