"""The loss interface every solver and certificate relies on.

A loss ``L(z, y)`` is convex in the predictions ``z`` (shape (n,)). The training
problem is ``min L(f(X), y) + beta * R``, its Fenchel dual is

    max_lam  -L*(-lam; y)   s.t.  the dual-norm constraints on ``lam``,

and ``lam = -grad L(z, y)`` at any predictions ``z`` is the natural dual candidate
(for the squared loss, the residual ``y - z``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class Loss(ABC):
    """A convex loss ``L(z, y)`` with the pieces solvers and certificates need."""

    name: str = ""
    #: Lipschitz constant of ``grad L`` in ``z`` (None: not differentiable, e.g. hinge).
    #: First-order solvers declare the losses they support through it.
    smoothness: float | None = None

    @abstractmethod
    def value(self, z: Array, y: Array) -> float:
        """Loss value ``L(z, y)`` for predictions ``z`` (n,) and targets ``y`` (n,)."""

    def value_xp(self, z: Any, y: Any) -> Any:
        """``L(z, y)`` as a 0-d array of ``z``'s own library (NumPy or PyTorch, differentiable).

        The single definition the PyTorch baselines train on, so that the SGD/Adam
        curves and the convex side measure the same objective.
        """
        raise NotImplementedError(f"{type(self).__name__} has no array-API value yet.")

    @abstractmethod
    def gradient(self, z: Array, y: Array) -> Array:
        """Gradient of ``L`` with respect to ``z``, shape (n,)."""

    @abstractmethod
    def dual_value(self, lam: Array, y: Array) -> float:
        """Dual objective ``-L*(-lam; y)``; ``-inf`` outside the conjugate's domain."""

    @abstractmethod
    def best_dual_scale(self, lam: Array, y: Array, t_max: float) -> float:
        """Return ``t`` in ``[0, t_max]`` maximising ``dual_value(t * lam, y)``."""

    @abstractmethod
    def cvxpy_expr(self, z: Any, y: Array) -> Any:
        """CVXPY expression of ``L(z, y)`` for an affine CVXPY expression ``z``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
