"""Convex losses: value, gradient, Fenchel conjugate (for the dual) and CVXPY form."""

from __future__ import annotations

from .._validation import check_choice
from .base import Loss
from .squared import SquaredLoss

LOSSES: dict[str, type[Loss]] = {"squared": SquaredLoss}


def get_loss(loss: str | Loss, *, caller: str) -> Loss:
    """Return the loss object for a name (or pass a Loss instance through)."""
    if isinstance(loss, Loss):
        return loss
    name = check_choice(loss, tuple(LOSSES), caller=caller, name="loss")
    return LOSSES[name]()


__all__ = ["LOSSES", "Loss", "SquaredLoss", "get_loss"]
