"""Squared loss ``L(z, y) = 1/2 ||z - y||^2`` (the paper's eq. 2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Array, Loss


class SquaredLoss(Loss):
    """``L(z, y) = 1/2 ||z - y||_2^2`` (Frobenius norm for (n, c) outputs).

    Conjugate: ``L*(s) = 1/2 ||s||^2 + s^T y``, so the dual objective is
    ``-L*(-lam) = lam^T y - 1/2 ||lam||^2 = 1/2 ||y||^2 - 1/2 ||lam - y||^2``
    (eq. 4 of the paper), and ``-grad L(z) = y - z`` is the residual.
    """

    name = "squared"
    smoothness = 1.0

    def value(self, z: Array, y: Array) -> float:
        diff = np.asarray(z - y).ravel()
        return 0.5 * float(diff @ diff)

    def value_xp(self, z: Any, y: Any) -> Any:
        diff = z - y
        return 0.5 * (diff * diff).sum()

    def gradient(self, z: Array, y: Array) -> Array:
        return z - y

    def dual_value(self, lam: Array, y: Array) -> float:
        return float(np.vdot(lam, y)) - 0.5 * float(np.vdot(lam, lam))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        # dual_value(t lam) = t lam^T y - t^2 ||lam||^2 / 2 is a concave parabola in t.
        sq = float(np.vdot(lam, lam))
        if sq == 0.0:
            return 0.0
        return float(np.clip(float(np.vdot(lam, y)) / sq, 0.0, t_max))

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        return 0.5 * cp.sum_squares(z - y)
