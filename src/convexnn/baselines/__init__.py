"""Non-convex baselines: gradient descent on the training objective (2)."""

from .gd import GDResult, train_gd
from .torch import TorchTrainResult, train_torch

__all__ = ["GDResult", "TorchTrainResult", "train_gd", "train_torch"]
