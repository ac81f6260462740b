"""The relative measures reported for a point of a convex program: gap and cone violation.

Both are relative, and both have a floor tied to the targets ``y``, so that a solution
at or near zero (``y = 0``, or ``beta`` so large that the zero network is optimal) is
not measured against zero (it had read a relative gap or violation of 1.0):

* **relative gap** ``(upper - lower) / max(|upper|, 1e-12 s)`` with ``s = ||y||^2 / 2``
  (the data term of the zero network under the squared loss; 1 when ``y = 0``). Above
  the floor it is the gap relative to the objective, as before;
* **relative cone violation** ``max_i max_j ((2 D_i - I) X b_i)_-^j / max_i max |X b_i|``
  over the blocks ``b_i`` (columns of V and W), and 0 when every block's predictions are
  at most ``1e-8 max|y|`` (``1e-8`` when ``y = 0``): such a solution is the zero
  solution to an interior-point solver's accuracy (CVXPY + Clarabel leaves blocks of
  about 1e-10 there, each violating its cone by a third of its size). A solution with
  one block above that floor is measured exactly as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GAP_FLOOR = 1e-12  # share of ||y||^2 / 2 below which |upper| no longer scales the gap
VIOLATION_FLOOR = 1e-8  # share of max|y| below which every block counts as zero


def gap_floor(y: Any) -> float:
    """``1e-12 * s`` with ``s = ||y||^2 / 2`` (Frobenius norm; ``s = 1`` when y = 0)."""
    half_sq = 0.5 * float(np.sum(np.square(np.asarray(y, dtype=np.float64))))
    return GAP_FLOOR * (half_sq if half_sq > 0 else 1.0)


def gap_scale(upper: float, y: Any) -> float:
    """Denominator of the relative gap: ``max(|upper|, gap_floor(y))``.

    Parameters
    ----------
    upper : float
        The upper bound (the objective of the point certified).
    y : array
        The targets, any shape (``||y||`` is the Frobenius norm).

    Returns
    -------
    float
        Positive.
    """
    return max(abs(float(upper)), gap_floor(y))


def relative_gap(upper: float, lower: float, y: Any) -> float:
    """``(upper - lower) / gap_scale(upper, y)``: the certified relative gap.

    Parameters
    ----------
    upper, lower : float
        The objective of the point and a lower bound on the optimum.
    y : array
        The targets (the floor's scale; see :func:`gap_scale`).

    Returns
    -------
    float
        0 for ``upper == lower`` (also at ``upper = 0``); negative when the bound
        exceeds the objective (rounding).
    """
    return relative_gap_over(upper, lower, gap_floor(y))


def relative_gap_over(upper: float, lower: float, floor: float) -> float:
    """``(upper - lower) / max(|upper|, floor)``: :func:`relative_gap` with its floor
    (:func:`gap_floor`) already computed, as a :class:`convexnn.Certificate` keeps it."""
    return (float(upper) - float(lower)) / max(abs(float(upper)), floor)


def relative_violation(worst: float, size: float, y: Any) -> float:
    """Relative cone violation ``worst / size``, or 0 when ``size`` is below the floor.

    Parameters
    ----------
    worst : float
        Largest violation ``max_i max_j ((2 D_i - I) X b_i)_-`` over the blocks, >= 0.
    size : float
        Largest prediction ``max_i max |X b_i|`` of the same blocks, >= 0.
    y : array
        The targets: the floor is ``1e-8 * max|y|`` (``1e-8`` when ``y = 0``).

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    y_max = float(np.max(np.abs(np.asarray(y, dtype=np.float64)), initial=0.0))
    floor = VIOLATION_FLOOR * (y_max if y_max > 0 else 1.0)
    return float(worst) / float(size) if size > floor else 0.0
