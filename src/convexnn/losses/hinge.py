"""Hinge loss ``L(z, y) = sum_i max(0, 1 - y_i z_i)`` (the paper's classification loss)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import Array, Loss, binary_dual_box, check_binary_labels, max_scale_in_box, xp_relu

#: |y z - 1| <= MARGIN_TOL marks a point on the margin (subdifferential not a point).
MARGIN_TOL = 1e-4


class HingeLoss(Loss):
    """``L(z, y) = sum_i max(0, 1 - y_i z_i)`` with labels ``y_i`` in {-1, +1}.

    Not differentiable (``smoothness = None``; :meth:`gradient` raises). Its
    subdifferential is ``{-y_i a_i}`` with ``a_i = 1`` if ``y_i z_i < 1``, ``0`` if
    ``> 1`` and any ``a_i`` in ``[0, 1]`` on the margin. With ``p_i = lam_i y_i``,

        -L*(-lam; y) = sum_i p_i     if every p_i in [0, 1], else -inf,

    so the dual of the training problem is a (cone-constrained) SVM dual.
    :meth:`dual_candidate` returns the subgradient with ``a_i = 1/2`` on the margin and
    marks the margin points free: the certificate then optimises them (see
    :func:`convexnn.duality.dual_certificate`).
    """

    name = "hinge"
    smoothness = None
    is_classification = True

    def value(self, z: Array, y: Array) -> float:
        return float(np.sum(np.maximum(0.0, 1.0 - y * z)))

    def value_xp(self, z: Any, y: Any) -> Any:
        return xp_relu(1.0 - y * z).sum()

    def gradient(self, z: Array, y: Array) -> Array:
        raise NotImplementedError(
            "HingeLoss: the hinge loss has no gradient (smoothness is None); use "
            "subgradient(z, y), or a smooth loss such as 'squared_hinge' or 'logistic'."
        )

    def subgradient(self, z: Array, y: Array) -> Array:
        """A subgradient: ``-y_i a_i`` with ``a_i`` = 1, 0, or 1/2 on the margin."""
        margin = y * z
        a = np.where(margin < 1.0, 1.0, 0.0)
        a[np.abs(margin - 1.0) <= MARGIN_TOL] = 0.5
        return -y * a

    def dual_candidate(self, z: Array, y: Array) -> tuple[Array, NDArray[np.bool_] | None]:
        free = np.abs(y * z - 1.0) <= MARGIN_TOL
        return -self.subgradient(z, y), free

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        return binary_dual_box(y, 1.0)

    def dual_value(self, lam: Array, y: Array) -> float:
        p = lam * y
        if np.any(p < 0.0) or np.any(p > 1.0):
            return -np.inf
        return float(np.sum(p))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        lo, hi = self.dual_box(y)
        t_hi = min(t_max, max_scale_in_box(lam, lo, hi))
        return float(t_hi) if float(np.sum(lam * y)) > 0.0 and np.isfinite(t_hi) else 0.0

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        return cp.sum(cp.pos(1.0 - cp.multiply(y, z)))

    def dual_value_cvxpy(self, lam: Any, y: Array) -> Any:
        import cvxpy as cp

        return cp.sum(cp.multiply(y, lam))

    def check_targets(self, y: Any, caller: str) -> Array:
        return check_binary_labels(y, caller, self.name)
