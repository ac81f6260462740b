"""Exact enumeration of activation patterns: the cells of a central hyperplane arrangement.

The patterns of the data ``X`` (n x d) are the sign vectors ``1[X u >= 0]`` of the
full-dimensional cells of the arrangement ``{u : x_j^T u = 0}``, computed in the row space
of ``X`` on its distinct hyperplanes (:mod:`._arrangement`):

- rank 1: two cells.
- rank 2: sorted angles, O(n log n) (:mod:`._rank2`).
- rank >= 3: the vertex method (:mod:`._vertex`).

Output: columns sorted lexicographically (a canonical form, whatever the path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import add_ones_column, check_bool, check_positive_int, check_X
from ._arrangement import FloatArray, _Arrangement, _finish
from ._matrix import PatternMatrix, fingerprint
from ._rank2 import _rank2_sorted
from ._vertex import _canonical_cells, _VertexEnumeration
from .count import count_patterns_bound

__all__ = ["count_cells", "enumerate_patterns", "pattern_count_bound"]

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
        the row space is at most this are treated as zero. Default (None): the rank of
        ``X_eff`` with its columns scaled to unit norm (patterns do not change under
        positive column scaling; tolerances do), with the tolerance
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
    arr = _Arrangement.from_data(_equilibrated(X_eff) if rank_tol is None else X_eff, rank_tol)
    _check_size(arr, X_eff, max_patterns, max_bytes, hidden_bias, caller=caller)
    if arr.rank == 0:
        D = np.ones((X_eff.shape[0], 1), dtype=bool)
    elif arr.rank == 2:
        D = _rank2_sorted(arr)
    else:
        D = _finish(arr.expand_T(_canonical_cells(arr.H, arr.row_tol)), arr.group < 0)
    return PatternMatrix(D, exhaustive=True, method="exact", X_fingerprint=fingerprint(X_eff))


def count_cells(
    X: Any,
    *,
    hidden_bias: bool = False,
    rank_tol: float | None = None,
    max_patterns: int | None = None,
) -> int:
    """Return the exact number of activation patterns of ``X`` without materialising them.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    hidden_bias : bool, default=False
        Count the patterns of ``X_eff = [X, 1]``.
    rank_tol : float, optional
        As in :func:`enumerate_patterns`.
    max_patterns : int, optional
        Refuse (ValueError, before counting) when rank(X_eff) >= 3 and the upper bound
        :func:`pattern_count_bound` exceeds this: the vertex pass then takes time and
        memory that grow with the count. None (default): no limit. Ranks 1 and 2 are
        always counted (O(n log n)).

    Returns
    -------
    int
        The number of columns :func:`enumerate_patterns` would return. Rank 2 costs
        O(n log n) (twice the number of distinct lines); rank >= 3 runs the enumeration's
        vertex pass and hash deduplication, with memory independent of the count's size
        times ``n``.
    """
    caller = "count_cells"
    X_eff, limit, rank_tol, _ = _check_inputs(
        X,
        hidden_bias,
        1 if max_patterns is None else max_patterns,
        rank_tol,
        _DEFAULT_MAX_BYTES,
        caller=caller,
    )
    arr = _Arrangement.from_data(_equilibrated(X_eff) if rank_tol is None else X_eff, rank_tol)
    if arr.rank == 0:
        return 1
    if arr.rank <= 2:
        return 2 * arr.H.shape[0]
    if max_patterns is not None:
        _check_size(arr, X_eff, limit, None, hidden_bias, caller=caller)
    return _VertexEnumeration(arr.H, arr.row_tol).count()


def pattern_count_bound(X: Any, *, hidden_bias: bool = False, rank_tol: float | None = None) -> int:
    """Upper bound on the number of activation patterns of ``X``, cheaply (one SVD).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    hidden_bias : bool, default=False
        Bound the patterns of ``X_eff = [X, 1]``.
    rank_tol : float, optional
        As in :func:`enumerate_patterns`.

    Returns
    -------
    int
        ``count_patterns_bound(n_h, r)`` = ``2 sum_{k<r} C(n_h - 1, k)``, where ``r`` is
        the rank of ``X_eff`` and ``n_h`` its number of distinct hyperplanes; 1 for
        ``X_eff = 0``. The bound :func:`enumerate_patterns` checks its ``max_patterns``
        against.
    """
    X_eff, _, rank_tol, _ = _check_inputs(
        X, hidden_bias, 1, rank_tol, _DEFAULT_MAX_BYTES, caller="pattern_count_bound"
    )
    arr = _Arrangement.from_data(_equilibrated(X_eff) if rank_tol is None else X_eff, rank_tol)
    return 1 if arr.rank == 0 else int(count_patterns_bound(arr.H.shape[0], arr.rank))


def _equilibrated(X: Any) -> Any:
    """X with its nonzero columns scaled to unit norm: the same patterns, better numbers.

    ``1[X u >= 0] = 1[(X C^-1)(C u) >= 0]`` for any positive diagonal C, so patterns do
    not depend on column scales; the arrangement's tolerances (rank, parallel rows) do.
    Features of 1e-6 beside a bias column of ones lost real patterns and gained
    impossible ones before this.
    """
    norms = np.linalg.norm(X, axis=0)
    return X / np.where(norms > 0, norms, 1.0)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _check_inputs(
    X: Any, hidden_bias: Any, max_patterns: Any, rank_tol: Any, max_bytes: Any, *, caller: str
) -> tuple[FloatArray, int, float | None, int]:
    X = check_X(X, caller=caller)
    check_bool(hidden_bias, caller=caller, name="hidden_bias")
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
    max_bytes: int | None,
    hidden_bias: bool,
    *,
    caller: str,
) -> None:
    """Refuse when the pattern bound exceeds ``max_patterns`` or, unless ``max_bytes`` is
    None, the dense result could exceed ``max_bytes``."""
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
    if max_bytes is not None and n * bound > max_bytes:
        raise ValueError(
            f"{caller}: the dense (n, P) bool pattern matrix of {data} would have n = {n} "
            f"rows and up to P = {bound} columns ({n * bound / 1e9:.1f} GB), more than "
            f"max_bytes={max_bytes} ({max_bytes / 1e9:.1f} GB). Use count_cells(X) to count "
            f"the patterns, sample_patterns(X, n_patterns) to sample some, or raise max_bytes."
        )
