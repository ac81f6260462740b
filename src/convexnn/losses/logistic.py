"""Binary logistic loss ``L(z, y) = sum_i log(1 + exp(-y_i z_i))``, labels in {-1, +1}."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import entr, expit

from .base import Array, Loss, binary_dual_box, bisect, check_binary_labels, max_scale_in_box


class LogisticLoss(Loss):
    """``L(z, y) = sum_i log(1 + exp(-y_i z_i))`` with labels ``y_i`` in {-1, +1}.

    ``grad_i = -y_i sigmoid(-y_i z_i)`` (smoothness 1/4). With ``p_i = lam_i y_i`` the
    dual objective is a sum of binary entropies,

        -L*(-lam; y) = sum_i H(p_i),   H(p) = -p log p - (1 - p) log(1 - p),

    finite iff every ``p_i`` lies in ``[0, 1]`` (``-inf`` otherwise). Labels in {0, 1}
    are accepted by :meth:`check_targets` and mapped to {-1, +1}.
    """

    name = "logistic"
    smoothness = 0.25
    is_classification = True

    def value(self, z: Array, y: Array) -> float:
        return float(np.sum(np.logaddexp(0.0, -y * z)))

    def value_xp(self, z: Any, y: Any) -> Any:
        return _softplus_sum(-y * z)

    def gradient(self, z: Array, y: Array) -> Array:
        return -y * expit(-y * z)

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        return binary_dual_box(y, 1.0)

    def dual_value(self, lam: Array, y: Array) -> float:
        p = lam * y
        if np.any(p < 0.0) or np.any(p > 1.0):
            return -np.inf
        return float(np.sum(entr(p) + entr(1.0 - p)))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        lo, hi = self.dual_box(y)
        t_hi = min(t_max, max_scale_in_box(lam, lo, hi))
        p = (lam * y)[lam * y > 0]
        if p.size == 0 or t_hi <= 0.0:
            return 0.0

        def slope(t: float) -> float:  # d/dt sum H(t p), decreasing in t
            q = t * p
            with np.errstate(divide="ignore"):
                return float(np.sum(p * (np.log1p(-q) - np.log(q))))

        if slope(t_hi) >= 0.0:
            return float(t_hi)
        return bisect(lambda t: slope(t) > 0.0, 0.0, float(t_hi))[0]

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(y, z)))

    def check_targets(self, y: Any, caller: str) -> Array:
        return check_binary_labels(y, caller, self.name)


def _softplus_sum(m: Any) -> Any:
    """``sum log(1 + e^m)`` computed stably for NumPy arrays and torch tensors."""
    a = abs(m)
    if isinstance(m, np.ndarray):
        return (0.5 * (m + a) + np.log1p(np.exp(-a))).sum()
    from array_api_compat import array_namespace

    xp = array_namespace(m)
    return (0.5 * (m + a) + xp.log1p(xp.exp(-a))).sum()
