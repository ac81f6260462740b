"""Squared hinge loss ``L(z, y) = 1/2 sum_i max(0, 1 - y_i z_i)^2``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Array, Loss, binary_dual_box, check_binary_labels, max_scale_in_box, xp_relu


class SquaredHingeLoss(Loss):
    """``L(z, y) = 1/2 sum_i max(0, 1 - y_i z_i)^2`` with labels ``y_i`` in {-1, +1}.

    ``grad_i = -y_i max(0, 1 - y_i z_i)`` (smoothness 1). With ``p_i = lam_i y_i``,

        -L*(-lam; y) = sum_i (p_i - p_i^2 / 2)   if every p_i >= 0, else -inf.
    """

    name = "squared_hinge"
    smoothness = 1.0
    is_classification = True

    def value(self, z: Array, y: Array) -> float:
        h = np.maximum(0.0, 1.0 - y * z)
        return 0.5 * float(np.sum(h * h))

    def value_xp(self, z: Any, y: Any) -> Any:
        h = xp_relu(1.0 - y * z)
        return 0.5 * (h * h).sum()

    def gradient(self, z: Array, y: Array) -> Array:
        return -y * np.maximum(0.0, 1.0 - y * z)

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        return binary_dual_box(y, np.inf)

    def dual_value(self, lam: Array, y: Array) -> float:
        p = lam * y
        if np.any(p < 0.0):
            return -np.inf
        return float(np.sum(p - 0.5 * p * p))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        # t sum p - t^2 sum p^2 / 2: a concave parabola, within the domain p >= 0.
        lo, hi = self.dual_box(y)
        t_hi = min(t_max, max_scale_in_box(lam, lo, hi))
        p = lam * y
        sq = float(np.vdot(p, p))
        if sq == 0.0:
            return 0.0
        return float(np.clip(float(np.sum(p)) / sq, 0.0, t_hi))

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        return 0.5 * cp.sum_squares(cp.pos(1.0 - cp.multiply(y, z)))

    def check_targets(self, y: Any, caller: str) -> Array:
        return check_binary_labels(y, caller, self.name)
