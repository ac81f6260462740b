"""The loss interface every solver and certificate relies on.

A loss ``L(z, y)`` is convex in the predictions ``z`` (shape (n,), or (n, c) for
multi-output networks; every loss here is a *sum* over samples, never a mean, so that
``beta`` keeps the paper's meaning). The training problem is
``min L(f(X), y) + beta * R``, its Fenchel dual (Theorem 6 of the paper) is

    max_lam  -L*(-lam; y)   s.t.  the dual-norm constraints on ``lam``,

and ``lam = -grad L(z, y)`` at any predictions ``z`` is the natural dual candidate
(for the squared loss, the residual ``y - z``).

``dual_box`` gives the box ``lo <= lam <= hi`` that contains the domain of
``lam -> -L*(-lam; y)`` (for all the losses here except cross-entropy it *is* the
domain): certificates project their candidate onto that box intersected with
``1^T lam = 0`` when the network has an output bias.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import check_finite, host_array

Array = NDArray[np.float64]


class Loss(ABC):
    """A convex loss ``L(z, y)`` with the pieces solvers and certificates need."""

    name: str = ""
    #: Lipschitz constant of ``grad L`` in ``z`` (None: not differentiable, e.g. hinge).
    #: First-order solvers declare the losses they support through it.
    smoothness: float | None = None
    #: True for losses that need (n, c) predictions (softmax cross-entropy).
    multi_output: bool = False
    #: True for classification losses (labels, not continuous targets).
    is_classification: bool = False

    @abstractmethod
    def value(self, z: Array, y: Array) -> float:
        """Loss value ``L(z, y)`` for predictions ``z`` and targets ``y`` of the same shape."""

    def value_xp(self, z: Any, y: Any) -> Any:
        """``L(z, y)`` as a 0-d array of ``z``'s own library (NumPy or PyTorch, differentiable).

        The single definition the PyTorch baselines train on, so that the SGD/Adam
        curves and the convex side measure the same objective.
        """
        raise NotImplementedError(f"{type(self).__name__} has no array-API value yet.")

    @abstractmethod
    def gradient(self, z: Array, y: Array) -> Array:
        """Gradient of ``L`` with respect to ``z``, same shape as ``z``."""

    @abstractmethod
    def dual_value(self, lam: Array, y: Array) -> float:
        """Dual objective ``-L*(-lam; y)``; ``-inf`` outside the conjugate's domain."""

    @abstractmethod
    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        """Return ``t`` in ``[0, t_max]`` maximising ``dual_value(t * lam, y)``."""

    @abstractmethod
    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        """CVXPY expression of ``L(z, y)`` for an affine CVXPY expression ``z``."""

    def dual_box(self, y: Array) -> tuple[Array, Array]:
        """Bounds ``(lo, hi)`` (shape of ``y``, may be infinite) containing the dual domain."""
        inf = np.full(np.shape(y), np.inf)
        return -inf, inf

    def dual_candidate(self, z: Array, y: Array) -> tuple[Array, NDArray[np.bool_] | None]:
        """Dual candidate ``-grad L(z)`` and the coordinates left free (None: none).

        Non-differentiable losses return a subgradient and mark the coordinates where
        the subdifferential is not a single point (e.g. hinge margins); certificates
        may then optimise those coordinates.
        """
        return -self.gradient(z, y), None

    def dual_value_cvxpy(self, lam: Any, y: Array) -> Any:
        """CVXPY (concave) expression of ``-L*(-lam; y)``, for losses with free coordinates."""
        raise NotImplementedError(f"{type(self).__name__} has no CVXPY dual objective.")

    def check_targets(self, y: Any, caller: str) -> Array:
        """Validate (and normalise) targets for this loss; return a float array.

        The default accepts any finite real targets (regression losses).
        """
        arr = np.asarray(host_array(y), dtype=np.float64)
        check_finite(arr, caller=caller, name="y")
        return arr

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def xp_relu(x: Any) -> Any:
    """``max(x, 0)`` written with ``abs`` only (works on NumPy arrays and torch tensors)."""
    return 0.5 * (x + abs(x))


def check_binary_labels(y: Any, caller: str, loss_name: str) -> Array:
    """Return labels in {-1, +1} from labels in {-1, +1} or {0, 1} (0 -> -1).

    Raises a clear error for continuous targets, other label sets and a single class.
    """
    try:
        arr = np.asarray(host_array(y), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{caller}: loss {loss_name!r} needs numeric labels in {{-1, +1}} or {{0, 1}}, "
            f"got {type(y).__name__}. Encode the classes as -1/+1 (e.g. with "
            f"sklearn.preprocessing.LabelEncoder)."
        ) from None
    check_finite(arr, caller=caller, name="y")
    values = np.unique(arr)
    if values.size > 2 or not (set(values) <= {-1.0, 1.0} or set(values) <= {0.0, 1.0}):
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
        kind = "continuous targets" if values.size > 2 else "labels"
        raise ValueError(
            f"{caller}: loss {loss_name!r} is a binary classification loss and needs "
            f"labels in {{-1, +1}} or {{0, 1}}, got {kind} with values {shown}. Use "
            f"loss='squared' or 'huber' for regression, 'cross_entropy' for several classes."
        )
    if values.size < 2:
        raise ValueError(
            f"{caller}: loss {loss_name!r} needs both classes in y, got only the label "
            f"{values[0]:g}. A classifier needs samples of two classes."
        )
    return np.where(arr == 1.0, 1.0, -1.0)


def binary_dual_box(y: Array, upper: float) -> tuple[Array, Array]:
    """Box for ``lam`` with ``lam * y`` in ``[0, upper]`` (labels ``y`` in {-1, +1})."""
    lo = np.where(y > 0, 0.0, -upper)
    hi = np.where(y > 0, upper, 0.0)
    return lo, hi


def max_scale_in_box(lam: Array, lo: Array, hi: Array) -> float:
    """Largest ``t >= 0`` with ``lo <= t lam <= hi`` (boxes containing 0); 0 if none."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(lam > 0, hi / lam, np.inf)
        down = np.where(lam < 0, lo / lam, np.inf)
    t = float(min(up.min(initial=np.inf), down.min(initial=np.inf)))
    return max(t, 0.0)


def into_dual_domain(lam: Array, lo: Array, hi: Array, output_bias: bool) -> Array:
    """``lam`` clipped into the dual box; with an output bias, projected onto
    ``{lo <= x <= hi, sum(x) = 0}`` (0 when that set is empty: one class only)."""
    lam = np.clip(lam, lo, hi)
    if not output_bias:
        return lam
    projected = project_box_sum_zero(lam, lo, hi)
    return projected if projected is not None else np.zeros_like(lam)


def bisect(positive: Callable[[float], bool], a: float, b: float) -> tuple[float, float]:
    """Narrow ``[a, b]``, with ``positive(a)`` and not ``positive(b)``, to the switch of
    a monotone test: halved until the midpoint rounds to an end (at most 200 times)."""
    for _ in range(200):
        mid = 0.5 * (a + b)
        if mid in (a, b):
            break
        if positive(mid):
            a = mid
        else:
            b = mid
    return a, b


def project_box_sum_zero(lam: Array, lo: Array, hi: Array) -> Array | None:
    """Euclidean projection of ``lam`` onto ``{lo <= x <= hi, sum(x) = 0}``.

    The projection is ``clip(lam - nu, lo, hi)`` with the scalar ``nu`` that makes the
    sum vanish (the sum is non-increasing in ``nu``; found by bisection, then the
    rounding residual is removed from the coordinates strictly inside the box).
    Returns None when the set is empty (``sum(lo) > 0`` or ``sum(hi) < 0``). For an
    unbounded box this is ``lam - mean(lam)``.
    """
    if np.all(np.isinf(lo)) and np.all(np.isinf(hi)):
        return lam - lam.mean()
    if float(np.sum(lo)) > 0.0 or float(np.sum(hi)) < 0.0:
        return None

    def total(nu: float) -> float:
        return float(np.sum(np.clip(lam - nu, lo, hi)))

    spread = float(np.max(np.abs(lam), initial=0.0)) + 1.0
    a, b = -spread, spread
    for _ in range(200):  # widen the bracket for unbounded sides
        if total(a) >= 0.0 and total(b) <= 0.0:
            break
        a, b = 2.0 * a, 2.0 * b
    a, b = bisect(lambda nu: total(nu) > 0.0, a, b)
    x = np.clip(lam - 0.5 * (a + b), lo, hi)
    inside = (x > lo) & (x < hi)
    if inside.any():
        x[inside] -= float(np.sum(x)) / int(inside.sum())
        x = np.clip(x, lo, hi)
    return x
