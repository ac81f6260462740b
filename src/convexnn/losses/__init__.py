"""Convex losses: value, gradient, Fenchel conjugate (for the dual) and CVXPY form.

Every loss is a sum over samples (never a mean), so ``beta`` keeps the paper's
meaning. Names: ``"squared"``, ``"logistic"``, ``"hinge"``, ``"squared_hinge"``,
``"huber"`` (``delta=1``; pass ``HuberLoss(delta=...)`` for another threshold) and
``"cross_entropy"`` (multi-class, (n, c) outputs). Anything that takes ``loss=``
accepts a name or a :class:`Loss` instance.
"""

from __future__ import annotations

from .base import Loss
from .cross_entropy import CrossEntropyLoss
from .hinge import HingeLoss
from .huber import HuberLoss
from .logistic import LogisticLoss
from .squared import SquaredLoss
from .squared_hinge import SquaredHingeLoss

LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredLoss,
    "logistic": LogisticLoss,
    "hinge": HingeLoss,
    "squared_hinge": SquaredHingeLoss,
    "huber": HuberLoss,
    "cross_entropy": CrossEntropyLoss,
}


def get_loss(loss: str | Loss, *, caller: str) -> Loss:
    """Return the loss object for a name (or pass a :class:`Loss` instance through).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        For anything that is neither a string nor a Loss.
    """
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(
            f"{caller}: loss must be a loss name or a convexnn.losses.Loss instance, got "
            f"{type(loss).__name__}; known names: {', '.join(repr(k) for k in LOSSES)}."
        )
    if loss not in LOSSES:
        raise ValueError(
            f"{caller}: unknown loss {loss!r}; expected one of "
            f"{', '.join(repr(k) for k in LOSSES)}, or a convexnn.losses.Loss instance."
        )
    return LOSSES[loss]()


__all__ = [
    "LOSSES",
    "CrossEntropyLoss",
    "HingeLoss",
    "HuberLoss",
    "LogisticLoss",
    "Loss",
    "SquaredHingeLoss",
    "SquaredLoss",
    "get_loss",
]
