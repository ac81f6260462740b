"""Non-convex baselines: gradient descent on the training objective (2)."""

from .gd import GDResult, train_gd

__all__ = ["GDResult", "train_gd"]
