"""Counting activation patterns (cells of a central hyperplane arrangement)."""

from __future__ import annotations

from math import comb

from .._validation import check_positive_int


def count_patterns_bound(n: int, r: int) -> int:
    """Number of cells of a central arrangement of ``n`` hyperplanes in rank ``r``.

    ``2 * sum_{k=0}^{r-1} C(n-1, k)``: exact for data in general position, an upper
    bound otherwise (Cover, 1965; paper section 3).

    Parameters
    ----------
    n : int
        Number of samples (hyperplanes), n >= 1.
    r : int
        Rank of the data matrix, r >= 0 (rank 0, X = 0, has a single cell).

    Returns
    -------
    int
        The bound (an exact Python integer, however large).
    """
    n = check_positive_int(n, caller="count_patterns_bound", name="n")
    r = check_positive_int(r, caller="count_patterns_bound", name="r", minimum=0)
    if r == 0:
        return 1  # X = 0: one cell, the whole space (every entry of the pattern is 1)
    return 2 * sum(comb(n - 1, k) for k in range(min(r, n)))
