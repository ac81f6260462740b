"""Activation patterns ``D_i = diag(1[X u >= 0])`` of the data: exact or sampled.

- :func:`enumerate_patterns`: every pattern (the cells of a hyperplane arrangement), exact.
- :func:`count_cells`: how many there are, without materialising them.
- :func:`count_patterns_bound`: the general-position count ``2 sum_{k<r} C(n-1, k)``.
- :func:`pattern_count_bound`: that bound for given data (its rank, distinct rows).
- :func:`sample_patterns`: a random or network-derived subset (Remark 3.2, section 6).
"""

from ._matrix import PatternMatrix, fingerprint
from .colgen import ColumnGenerationResult, column_generation, network_patterns, search_patterns
from .count import count_patterns_bound
from .enumerate import count_cells, enumerate_patterns, pattern_count_bound
from .oracle import Pricing, max_dual_violation, pricing
from .sample import sample_patterns

__all__ = [
    "ColumnGenerationResult",
    "PatternMatrix",
    "Pricing",
    "column_generation",
    "count_cells",
    "count_patterns_bound",
    "enumerate_patterns",
    "fingerprint",
    "max_dual_violation",
    "network_patterns",
    "pattern_count_bound",
    "pricing",
    "sample_patterns",
    "search_patterns",
]
