"""Huber loss ``L(z, y) = sum_i h_delta(z_i - y_i)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Array, Loss, max_scale_in_box


class HuberLoss(Loss):
    """``L(z, y) = sum_i h(z_i - y_i)``, ``h(r) = r^2 / 2`` for ``|r| <= delta``, else
    ``delta (|r| - delta / 2)``.

    Quadratic near the fit (same as the squared loss there), linear in the tails.
    ``grad = clip(z - y, -delta, delta)`` (smoothness 1). Conjugate:
    ``h*(s) = s^2 / 2`` on ``|s| <= delta``, so

        -L*(-lam; y) = lam^T y - 1/2 ||lam||^2   if ||lam||_inf <= delta, else -inf.

    Parameters
    ----------
    delta : float
        Threshold between the quadratic and the linear part, > 0.
    """

    name = "huber"
    smoothness = 1.0

    def __init__(self, delta: float = 1.0) -> None:
        value = float(delta) if isinstance(delta, (int, float, np.floating, np.integer)) else -1.0
        if isinstance(delta, bool) or not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"HuberLoss: delta must be a positive real number, got {delta!r}; pass e.g. "
                f"delta=1.0 (the residual size where the loss turns linear)."
            )
        self.delta = value

    def value(self, z: Array, y: Array) -> float:
        r = np.abs(np.asarray(z - y))
        q = np.minimum(r, self.delta)
        return float(np.sum(q * (r - 0.5 * q)))

    def value_xp(self, z: Any, y: Any) -> Any:
        r = abs(z - y)
        # min(r, delta) = r - relu(r - delta), written with abs only
        q = r - 0.5 * ((r - self.delta) + abs(r - self.delta))
        return (q * (r - 0.5 * q)).sum()

    def gradient(self, z: Array, y: Array) -> Array:
        return np.clip(z - y, -self.delta, self.delta)

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        full = np.full(np.shape(y), self.delta)
        return -full, full

    def dual_value(self, lam: Array, y: Array) -> float:
        if np.max(np.abs(lam), initial=0.0) > self.delta:
            return -np.inf
        return float(np.vdot(lam, y)) - 0.5 * float(np.vdot(lam, lam))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        lo, hi = self.dual_box(y)
        t_max = min(t_max, max_scale_in_box(lam, lo, hi))
        sq = float(np.vdot(lam, lam))
        if sq == 0.0:
            return 0.0
        return float(np.clip(float(np.vdot(lam, y)) / sq, 0.0, t_max))

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        # cvxpy's huber(r, M) is r^2 for |r| <= M and 2 M |r| - M^2 beyond: twice ours.
        return 0.5 * cp.sum(cp.huber(z - y, self.delta))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"HuberLoss(delta={self.delta!r})"
