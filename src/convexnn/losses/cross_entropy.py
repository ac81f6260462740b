"""Softmax cross-entropy for multi-class outputs: ``sum_i [lse(z_i) - y_i^T z_i]``."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import entr, logsumexp, softmax

from .._validation import check_finite, host_array
from .base import Array, Loss, bisect, max_scale_in_box

#: Row sums of a dual point may differ from 0 by this much (rounding) and still count.
ROW_SUM_TOL = 1e-9


class CrossEntropyLoss(Loss):
    """``L(Z, Y) = sum_i [log sum_k exp(Z_ik) - Y_i^T Z_i]`` for predictions Z (n, c).

    Targets ``Y`` are one-hot rows (n, c) (any rows of probabilities are accepted).
    :meth:`check_targets` also takes a vector of class labels (n,) and encodes it one-hot
    over ``np.unique(y)`` (sorted: column k is the k-th smallest label), the convention
    of scikit-learn's ``classes_``.

    ``grad = softmax(Z) - Y`` (smoothness 1/2: the Hessian of log-sum-exp has
    eigenvalues <= 1/2). With ``Q = Y - Lam``,

        -L*(-Lam; Y) = sum_ik -Q_ik log Q_ik    if every row of Q is a probability
                                               vector, else -inf,

    i.e. the entropy of the rows of ``Q`` (rows of ``Lam`` then sum to 0).
    """

    name = "cross_entropy"
    smoothness = 0.5
    multi_output = True
    is_classification = True

    def value(self, z: Array, y: Array) -> float:
        return float(np.sum(logsumexp(z, axis=1)) - np.vdot(y, z))

    def value_xp(self, z: Any, y: Any) -> Any:
        from array_api_compat import array_namespace

        xp = array_namespace(z)
        m = xp.max(z, axis=1, keepdims=True)
        lse = m[:, 0] + xp.log(xp.sum(xp.exp(z - m), axis=1))
        return lse.sum() - (y * z).sum()

    def gradient(self, z: Array, y: Array) -> Array:
        return softmax(z, axis=1) - y

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        return y - 1.0, np.asarray(y, dtype=np.float64)

    def dual_value(self, lam: Array, y: Array) -> float:
        q = y - lam
        if np.any(q < 0.0) or np.any(np.abs(lam.sum(axis=1)) > ROW_SUM_TOL):
            return -np.inf
        return float(np.sum(entr(q)))

    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        lo, hi = self.dual_box(y)
        t_hi = min(t_max, max_scale_in_box(lam, lo, hi))
        if t_hi <= 0.0 or not np.any(lam):
            return 0.0

        def slope(t: float) -> float:  # d/dt sum entr(Y - t Lam) = sum Lam log Q (rows sum 0)
            q = y - t * lam
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = np.where(lam != 0.0, lam * np.log(q), 0.0)
            return float(np.sum(terms))

        if slope(t_hi) >= 0.0:
            return float(t_hi)
        return bisect(lambda t: slope(t) > 0.0, 0.0, float(t_hi))[0]

    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        import cvxpy as cp

        return cp.sum(cp.log_sum_exp(z, axis=1)) - cp.sum(cp.multiply(y, z))

    def check_targets(self, y: Any, caller: str) -> Array:
        arr = np.asarray(host_array(y))
        if arr.ndim == 1:
            return one_hot(arr, caller)
        if arr.ndim != 2:
            raise ValueError(
                f"{caller}: loss 'cross_entropy' needs class labels of shape (n,) or one-hot "
                f"targets of shape (n, n_classes), got shape {arr.shape}."
            )
        Y = np.asarray(arr, dtype=np.float64)
        check_finite(Y, caller=caller, name="y")
        if Y.shape[1] < 2 or np.any(Y < 0) or not np.allclose(Y.sum(axis=1), 1.0, atol=1e-9):
            raise ValueError(
                f"{caller}: loss 'cross_entropy' needs 2-D targets whose rows are one-hot "
                f"(or probability) vectors over >= 2 classes, got shape {Y.shape} with rows "
                f"that are not. Pass the class labels as a vector instead."
            )
        return Y


def one_hot(labels: Any, caller: str) -> Array:
    """One-hot encode a label vector over ``np.unique(labels)``; >= 2 classes required."""
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        check_finite(arr, caller=caller, name="y")
        if np.any(arr != np.round(arr)):
            raise ValueError(
                f"{caller}: loss 'cross_entropy' needs class labels, got continuous targets "
                f"(e.g. {arr[arr != np.round(arr)][0]!r}). Use loss='squared' for regression."
            )
    classes, codes = np.unique(arr, return_inverse=True)
    if classes.size < 2:
        raise ValueError(
            f"{caller}: loss 'cross_entropy' needs at least two classes in y, got only "
            f"{classes[0]!r}. A classifier needs samples of two classes or more."
        )
    Y = np.zeros((arr.shape[0], classes.size))
    Y[np.arange(arr.shape[0]), codes.ravel()] = 1.0
    return Y
