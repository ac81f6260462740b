"""Slow, obvious reference for :func:`enumerate_patterns`: brute force with LP feasibility.

Only for tiny problems (n <= ~10): it tests sign vectors one row at a time, keeping a
prefix only while some ``u`` realises it strictly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog

from .._validation import add_ones_column, check_X

__all__ = ["brute_force_patterns", "is_realizable"]


def is_realizable(X: NDArray[np.float64], pattern: NDArray[np.bool_]) -> bool:
    """True when some ``u`` has ``x_j^T u > 0`` where ``pattern`` is True, ``< 0`` elsewhere.

    Zero rows must be True (``x_j^T u = 0 >= 0``). Strictness is imposed by scale:
    ``s_j x_j^T u >= 1`` with ``s_j = +-1`` (an LP feasibility problem).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Data (rows exactly zero are the zero rows).
    pattern : ndarray of shape (n,), bool
        Candidate activation pattern.

    Returns
    -------
    bool
    """
    zero = ~np.any(X != 0, axis=1)
    if np.any(zero & ~pattern):
        return False
    rows = ~zero
    if not rows.any():
        return True
    signs = np.where(pattern[rows], 1.0, -1.0)
    A = -(signs[:, None] * X[rows])
    res = linprog(
        np.zeros(X.shape[1]),
        A_ub=A,
        b_ub=-np.ones(A.shape[0]),
        bounds=[(None, None)] * X.shape[1],
        method="highs",
    )
    return bool(res.status == 0)


def brute_force_patterns(X: Any, *, hidden_bias: bool = False) -> NDArray[np.bool_]:
    """All realizable patterns of ``X`` by exhaustive search (exponential: n <= ~10).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    hidden_bias : bool, default=False
        Use ``[X, 1]``.

    Returns
    -------
    ndarray of shape (n, P), bool
        The distinct realizable patterns, columns in lexicographic order (row 0 most
        significant, False before True), the same order as :func:`enumerate_patterns`.
    """
    X = check_X(X, caller="brute_force_patterns")
    if hidden_bias:
        X = add_ones_column(X)
    n = X.shape[0]
    zero = ~np.any(X != 0, axis=1)
    prefixes: list[list[bool]] = [[]]
    for j in range(n):
        options = [True] if zero[j] else [False, True]
        grown = [[*p, s] for p in prefixes for s in options]
        prefixes = [p for p in grown if is_realizable(X[: j + 1], np.array(p, dtype=bool))]
    return np.array(prefixes, dtype=bool).reshape(-1, n).T
