"""Rank 2: the cells of lines through the origin in the plane, by sorting angles.

The cells of ``m`` distinct lines are the ``2 m`` arcs between the sorted boundary angles
``theta_j +- pi/2``. After sorting, each line is positive on ``m`` consecutive arcs of the
``2 m`` (:func:`_rank2_starts`: exact, no floating-point sign test at all), and the
lexicographic order of the cells follows from a Cartesian tree of the boundaries
(:func:`_rank2_lex_order`), so no column sort is needed. O(n log n).
"""

from __future__ import annotations

import numpy as np

from ._arrangement import BoolArray, FloatArray, IntArray, _Arrangement


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
