"""Export convexnn networks to other frameworks and import them back.

PyTorch is optional (``pip install convexnn[torch]``): :mod:`convexnn.export.torch`
imports it only when :func:`to_torch` or :func:`from_torch` is called.
"""

from .torch import from_torch, to_torch

__all__ = ["from_torch", "to_torch"]
