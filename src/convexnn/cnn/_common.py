"""Input checks and solver helpers shared by the CNN programs."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import check_beta, check_finite, check_positive_int, check_tol, host_array
from .patches import extract_patches

Array = NDArray[np.float64]


def as_patches(X: Any, kernel_size: Any, stride: Any, padding: Any, *, caller: str) -> Array:
    """Images/signals with a ``kernel_size``, or ready patches (N, K, d) without one."""
    if kernel_size is not None:
        return extract_patches(X, kernel_size, stride, padding, caller=caller)
    arr = np.asarray(host_array(X), dtype=np.float64)
    if arr.ndim != 3 or min(arr.shape) == 0:
        raise ValueError(
            f"{caller}: without kernel_size, X must be patches of shape (N, K, d) (see "
            f"extract_patches), got shape {arr.shape}; pass kernel_size=... for images."
        )
    check_finite(arr, caller=caller, name="X")
    return arr


def check_targets(y: Any, n: int, *, caller: str) -> Array:
    """``y`` of shape (n,) or (n, c), finite float64."""
    arr = np.asarray(host_array(y), dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ValueError(
            f"{caller}: y must have shape ({n},) or ({n}, n_outputs), one row per sample, "
            f"got shape {arr.shape}."
        )
    check_finite(arr, caller=caller, name="y")
    return arr


def check_scalar_targets(y: Any, n: int, loss: Any, *, caller: str) -> Array:
    """``y`` of shape (n,), finite, checked and encoded by ``loss`` (e.g. labels {0, 1}
    become {-1, +1} for the binary classification losses)."""
    arr = check_targets(y, n, caller=caller)
    if arr.ndim != 1:
        raise ValueError(
            f"{caller}: y must be 1-D, one target per sample (N,) = ({n},), got shape "
            f"{arr.shape}; this network has one output (fit one per column)."
        )
    return loss.check_targets(arr, caller)  # type: ignore[no-any-return]


def check_common(beta: Any, tol: Any, max_iter: Any, *, caller: str) -> tuple[float, float, int]:
    """beta > 0, tol > 0 (finite), max_iter an int >= 1."""
    beta_v = check_beta(beta, caller=caller)
    return (
        beta_v,
        check_tol(tol, caller=caller),
        check_positive_int(max_iter, caller=caller, name="max_iter"),
    )


def kept_blocks(V: Array, W: Array, zero_tol: float) -> tuple[Array, Array, Array, Array]:
    """The blocks a recovered network keeps: norms of V's and W's columns ``nv, nw``
    and the masks ``kv, kw`` of those above ``zero_tol`` times the largest norm (smaller
    ones are the solver's rounding). One rule for the network (``relu._recover``) and
    for the solver's own certificate (``_relu_bcd.network_objective``)."""
    nv, nw = np.linalg.norm(V, axis=0), np.linalg.norm(W, axis=0)
    scale = max(nv.max(initial=0.0), nw.max(initial=0.0))
    return nv, nw, nv > zero_tol * scale, nw > zero_tol * scale


# A working-set solve stalls only after this many certificates none of which was this
# much better than the best before them (see no_better_certificate).
STALL_ROUNDS, BETTER = 5, 0.9


def no_better_certificate(gaps: list[float]) -> bool:
    """True when none of the last ``STALL_ROUNDS`` relative gaps of a working-set solve
    (one per outer round) was ``BETTER`` times the best before them.

    The "bcd" solvers stop "stalled" only then, and when the objective's rate is too
    slow for the gap: at small beta the certified gap overstates the distance to the
    optimum, so the objective's decrease over a round can be tiny beside the gap while
    the rounds still close it. The relu program on N = 28 images of 8 x 8, half
    duplicated with other targets, Huber, beta = 0.004: 2e-7 above the optimum the gap
    was 0.11, and the objective's rate alone stopped the solve "stalled" there (after
    the gaps 1.0, 0.96, 0.66, 0.38, 0.55, 0.11); two rounds of 1-2 epochs more
    certified 1e-10. The gated program on 33 such images of 6 x 6, beta = 0.0015: each
    round cut the gap 4-10x (0.34, 0.094, 0.0083, 8.5e-4) when it stopped "stalled".
    """
    if len(gaps) <= STALL_ROUNDS:
        return False
    return min(gaps[-STALL_ROUNDS:]) > BETTER * min(gaps[:-STALL_ROUNDS])
