"""Patch extraction: images ``(N, C, H, W)`` or signals ``(N, C, L)`` -> patch matrices ``X_k``.

A two-layer CNN with m filters of size ``C x kh x kw`` sees its input through the K patch
matrices ``X_k`` (n x d, ``d = C kh kw``): ``f(X) = sum_j sum_k phi(X_k u_j) alpha_jk``
(paper, section 4). The patches here are ordered as ``torch.nn.functional.unfold`` orders
them (channel, then kernel row, then kernel column; positions row-major), so a filter
``u_j`` is ``conv.weight[j].reshape(-1)`` of an ``nn.Conv2d`` / ``nn.Conv1d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import check_finite

Array = NDArray[np.float64]
CALLER = "extract_patches"


def _pair(value: Any, ndim: int, *, name: str, minimum: int, caller: str) -> tuple[int, ...]:
    """``int`` or tuple of ``ndim`` ints -> tuple of ``ndim`` ints >= ``minimum``."""
    vals: tuple[Any, ...] = (value,) * ndim if np.isscalar(value) else tuple(value)
    if len(vals) != ndim or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals
    ):
        raise ValueError(
            f"{caller}: {name} must be an int or a tuple of {ndim} ints, got {value!r}."
        )
    if any(v < minimum for v in vals):
        raise ValueError(f"{caller}: {name} must be >= {minimum}, got {value!r}.")
    return tuple(int(v) for v in vals)


def conv_geometry(
    spatial: tuple[int, ...],
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    *,
    caller: str = CALLER,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Validate the convolution geometry; return (kernel, stride, padding, output spatial shape)."""
    nd = len(spatial)
    kernel = _pair(kernel_size, nd, name="kernel_size", minimum=1, caller=caller)
    strides = _pair(stride, nd, name="stride", minimum=1, caller=caller)
    pads = _pair(padding, nd, name="padding", minimum=0, caller=caller)
    out = tuple(
        (s + 2 * p - k) // st + 1
        for s, k, st, p in zip(spatial, kernel, strides, pads, strict=True)
    )
    if any(s + 2 * p < k for s, k, p in zip(spatial, kernel, pads, strict=True)):
        raise ValueError(
            f"{caller}: kernel_size {kernel} is larger than the padded input "
            f"{tuple(s + 2 * p for s, p in zip(spatial, pads, strict=True))}; use a smaller "
            f"kernel or more padding."
        )
    return kernel, strides, pads, out


def check_images(X: Any, *, caller: str = CALLER) -> Array:
    """Return ``X`` as a finite float64 array of shape (N, C, H, W) or (N, C, L)."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{caller}: X must be a numeric array of shape (N, C, H, W) or (N, C, L), got "
            f"{type(X).__name__} that cannot be converted ({exc})."
        ) from None
    if arr.ndim not in (3, 4) or min(arr.shape[1:], default=0) == 0:
        hint = " Add the channel axis with X[:, None]." if arr.ndim in (2, 3) else ""
        raise ValueError(
            f"{caller}: X must be images (N, C, H, W) or signals (N, C, L), got shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"{caller}: X must hold at least one sample, got shape {arr.shape}. Pass "
            f"non-empty data."
        )
    check_finite(arr, caller=caller, name="X")
    return arr


def extract_patches(
    X: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, *, caller: str = CALLER
) -> Array:
    """Patch matrices of images or 1-D signals, as a PyTorch convolution sees them.

    Parameters
    ----------
    X : array of shape (N, C, H, W) or (N, C, L)
        Images or signals (channels first).
    kernel_size, stride, padding : int or tuple
        As for ``nn.Conv2d`` / ``nn.Conv1d`` (zero padding).
    caller : str
        The name that errors on X or the geometry start with (the public function that
        was called).

    Returns
    -------
    patches : array of shape (N, K, d)
        ``patches[:, k, :]`` is the patch matrix ``X_k``; ``K`` is the number of output
        positions (row-major), ``d = C * prod(kernel_size)`` ordered as
        ``torch.nn.functional.unfold`` (channel, kernel row, kernel column), so that
        ``patches @ conv.weight.reshape(m, -1).T`` is the convolution's output.
    """
    arr = check_images(X, caller=caller)
    spatial = arr.shape[2:]
    kernel, strides, pads, out = conv_geometry(spatial, kernel_size, stride, padding, caller=caller)
    nd = len(spatial)
    padded = np.pad(arr, [(0, 0), (0, 0), *[(p, p) for p in pads]])
    axes = tuple(range(2, 2 + nd))
    win = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=axes)
    index: tuple[slice, ...] = (slice(None), slice(None))
    index += tuple(slice(None, o * s, s) for o, s in zip(out, strides, strict=True))
    win = win[index]
    # win: (N, C, *out, *kernel) -> (N, *out, C, *kernel)
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    N, C = arr.shape[:2]
    K = int(np.prod(out))
    return np.ascontiguousarray(win.transpose(order)).reshape(N, K, C * int(np.prod(kernel)))


def _extract_patches_loop(X: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0) -> Array:
    """Slow reference of :func:`extract_patches` (explicit loops; for tests)."""
    arr = check_images(X)
    if arr.ndim == 3:
        return _extract_patches_loop(
            arr[:, :, None, :], (1, _first(kernel_size)), (1, _first(stride)), (0, _first(padding))
        )
    kernel, strides, pads, out = conv_geometry(arr.shape[2:], kernel_size, stride, padding)
    N, C, H, W = arr.shape
    padded = np.zeros((N, C, H + 2 * pads[0], W + 2 * pads[1]))
    padded[:, :, pads[0] : pads[0] + H, pads[1] : pads[1] + W] = arr
    rows = []
    for i in range(out[0]):
        for j in range(out[1]):
            r0, c0 = i * strides[0], j * strides[1]
            patch = padded[:, :, r0 : r0 + kernel[0], c0 : c0 + kernel[1]]
            rows.append(patch.reshape(N, -1))
    return np.stack(rows, axis=1)


def _first(value: Any) -> int:
    first: Any = value if np.isscalar(value) else next(iter(value))
    return int(first)
