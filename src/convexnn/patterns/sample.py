"""Sampled activation patterns (Remark 3.2 and section 6 of the paper).

The convex program (8) restricted to a subset of the patterns is still a valid convex
program whose solutions are networks; it is just not certified against *all* networks.
Three ways to pick the subset:

- ``"gaussian"``: ``u ~ N(0, I)``, pattern ``1[X u >= 0]`` (Remark 3.2).
- ``"network"``: the patterns of given hidden weights, e.g. of an initial network (Alg1)
  or one trained by gradient descent (Alg2).
- ``"alg3"``: each direction's pattern plus a copy with the ``n_flips`` entries of smallest
  ``|x_j^T u|`` flipped (the adaptive heuristic Alg3 of section 6); zero rows of X are
  never flipped (their entry does not change ``D X``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    add_ones_column,
    as_generator,
    check_bool,
    check_choice,
    check_finite,
    check_positive_int,
    check_X,
    host_array,
)
from ._matrix import PatternMatrix, fingerprint

__all__ = ["sample_patterns"]

METHODS = ("gaussian", "network", "alg3")
_CALLER = "sample_patterns"


def sample_patterns(
    X: Any,
    n_patterns: int | None = None,
    *,
    method: str = "gaussian",
    hidden_bias: bool = False,
    random_state: int | np.random.Generator | None = None,
    weights: Any = None,
    n_flips: int | None = None,
    unique: bool = True,
) -> PatternMatrix:
    """Sample activation patterns ``1[X_eff u >= 0]`` (not exhaustive).

    Parameters
    ----------
    X : array_like of shape (n, d)
        Data matrix.
    n_patterns : int or None
        Number of patterns wanted. Required for ``"gaussian"`` and for ``"alg3"`` without
        ``weights``; with ``weights`` it caps the number returned (None: all of them).
    method : {"gaussian", "network", "alg3"}, default="gaussian"
        How directions are chosen (see the module docstring).
    hidden_bias : bool, default=False
        Work on ``X_eff = [X, 1]`` (n, d + 1); ``weights`` then has ``d + 1`` rows.
    random_state : None, int or numpy.random.Generator
        Seed or generator for the Gaussian directions (no global state is used).
    weights : array_like of shape (d_eff, m), optional
        Hidden-layer weights, one column per neuron (``d_eff`` = columns of ``X_eff``).
        Required for ``"network"``; optional directions for ``"alg3"``.
    n_flips : int, optional
        For ``"alg3"``: entries flipped per direction (zero rows of X excepted), default
        ``max(1, n // 20)``.
    unique : bool, default=True
        Drop repeated patterns (first occurrence kept). Gaussian sampling then draws until
        ``n_patterns`` distinct patterns are found or ``20 * n_patterns + 100`` directions
        were drawn, and warns if it stops short.

    Returns
    -------
    PatternMatrix of shape (n, P), dtype bool
        Columns in order of discovery (for ``"alg3"``: each pattern followed by its flipped
        copy). ``exhaustive=False``, ``method=method``, ``X_fingerprint=fingerprint(X_eff)``.

    Raises
    ------
    ValueError, TypeError
        Invalid data or options; the message names the parameter and the fix.
    """
    X_eff, opts = _check_inputs(
        X, n_patterns, method, hidden_bias, random_state, weights, n_flips, unique
    )
    D = _SAMPLERS[opts["method"]](X_eff, opts)
    return PatternMatrix(
        D, exhaustive=False, method=opts["method"], X_fingerprint=fingerprint(X_eff)
    )


# --------------------------------------------------------------------------------------
# Samplers: each returns an (n, P) bool array
# --------------------------------------------------------------------------------------


def _sample_gaussian(X_eff: NDArray[np.float64], opts: dict[str, Any]) -> NDArray[np.bool_]:
    rng, n_patterns = opts["rng"], opts["n_patterns"]
    if not opts["unique"]:
        return X_eff @ rng.standard_normal((X_eff.shape[1], n_patterns)) >= 0
    return _draw_until(X_eff, opts, lambda U: X_eff @ U >= 0, per_direction=1)


def _sample_network(X_eff: NDArray[np.float64], opts: dict[str, Any]) -> NDArray[np.bool_]:
    return _take(X_eff @ opts["weights"] >= 0, opts)


def _sample_alg3(X_eff: NDArray[np.float64], opts: dict[str, Any]) -> NDArray[np.bool_]:
    zero_rows = ~np.any(X_eff != 0, axis=1)

    def patterns(U: NDArray[np.float64]) -> NDArray[np.bool_]:
        return _with_flips(X_eff @ U, opts["n_flips"], zero_rows)

    if opts["weights"] is not None:
        return _take(patterns(opts["weights"]), opts)
    if not opts["unique"]:
        n_dir = -(-opts["n_patterns"] // 2)
        U = opts["rng"].standard_normal((X_eff.shape[1], n_dir))
        return patterns(U)[:, : opts["n_patterns"]]
    return _draw_until(X_eff, opts, patterns, per_direction=2)


_SAMPLERS = {"gaussian": _sample_gaussian, "network": _sample_network, "alg3": _sample_alg3}


def _with_flips(
    Z: NDArray[np.float64], n_flips: int, zero_rows: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Patterns of ``Z = X U`` (n, b) interleaved with their flipped copies: (n, 2b).

    Zero rows of X (``zero_rows``, (n,)) are never flipped: ``x_j^T u = 0`` for every
    ``u``, so their entry does not change ``D X`` and a flip there would only give a
    second copy of the same column.
    """
    n, b = Z.shape
    P = Z >= 0
    F = P.copy()
    score = np.where(zero_rows[:, None], np.inf, np.abs(Z))
    idx = np.argpartition(score, n_flips - 1, axis=0)[:n_flips]  # (n_flips, b)
    cols = np.broadcast_to(np.arange(b), idx.shape)
    live = ~zero_rows[idx]
    F[idx[live], cols[live]] = ~F[idx[live], cols[live]]
    return np.stack([P, F], axis=2).reshape(n, 2 * b)


def _draw_until(
    X_eff: NDArray[np.float64],
    opts: dict[str, Any],
    patterns: Callable[[NDArray[np.float64]], NDArray[np.bool_]],
    *,
    per_direction: int,
) -> NDArray[np.bool_]:
    """Draw Gaussian directions in batches until ``n_patterns`` distinct patterns appear."""
    rng, n_patterns = opts["rng"], opts["n_patterns"]
    cap = 20 * n_patterns + 100
    found = _DistinctColumns(X_eff.shape[0])
    drawn = 0
    while len(found) < n_patterns and drawn < cap:
        need = -(-(n_patterns - len(found)) // per_direction)
        batch = min(max(2 * need, 32), cap - drawn)
        found.add(patterns(rng.standard_normal((X_eff.shape[1], batch))), n_patterns)
        drawn += batch
    if len(found) < n_patterns:
        warnings.warn(
            f"{_CALLER}: found only {len(found)} distinct patterns out of n_patterns="
            f"{n_patterns} requested after {drawn} random directions (method="
            f"{opts['method']!r}); the data may have fewer patterns than that. Returning "
            f"the {len(found)} found (enumerate_patterns(X) gives all of them when few).",
            UserWarning,
            stacklevel=4,
        )
    return found.matrix()


def _take(D: NDArray[np.bool_], opts: dict[str, Any]) -> NDArray[np.bool_]:
    """Deduplicate (if asked) and keep at most ``n_patterns`` columns of given patterns."""
    n_patterns = opts["n_patterns"]
    if opts["unique"]:
        found = _DistinctColumns(D.shape[0])
        found.add(D, n_patterns)
        D = found.matrix()
    elif n_patterns is not None:
        D = D[:, :n_patterns]
    if n_patterns is not None and D.shape[1] < n_patterns:
        warnings.warn(
            f"{_CALLER}: the given weights give only {D.shape[1]} "
            f"{'distinct ' if opts['unique'] else ''}patterns, fewer than n_patterns="
            f"{n_patterns}; returning those {D.shape[1]}.",
            UserWarning,
            stacklevel=4,
        )
    return D


class _DistinctColumns:
    """Distinct boolean columns in order of first appearance."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: set[bytes] = set()
        self.blocks: list[NDArray[np.bool_]] = []

    def __len__(self) -> int:
        return len(self.seen)

    def add(self, D: NDArray[np.bool_], limit: int | None) -> None:
        """Append the new columns of ``D`` (n, b), stopping at ``limit`` in total."""
        packed = np.ascontiguousarray(np.packbits(D, axis=0).T)  # (b, ceil(n/8))
        keep = []
        for j, row in enumerate(packed):
            if limit is not None and len(self.seen) >= limit:
                break
            key = row.tobytes()
            if key not in self.seen:
                self.seen.add(key)
                keep.append(j)
        self.blocks.append(D[:, keep])

    def matrix(self) -> NDArray[np.bool_]:
        """The distinct columns found, (n, P)."""
        if not self.blocks:
            return np.zeros((self.n, 0), dtype=bool)
        return np.concatenate(self.blocks, axis=1)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _check_inputs(
    X: Any,
    n_patterns: Any,
    method: Any,
    hidden_bias: Any,
    random_state: Any,
    weights: Any,
    n_flips: Any,
    unique: Any,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    X = check_X(X, caller=_CALLER)
    method = check_choice(method, METHODS, caller=_CALLER, name="method")
    for name, flag in (("hidden_bias", hidden_bias), ("unique", unique)):
        check_bool(flag, caller=_CALLER, name=name)
    X_eff = add_ones_column(X) if hidden_bias else X
    W = None if weights is None else _check_weights(weights, X_eff.shape[1], bool(hidden_bias))
    if W is None and method == "network":
        raise ValueError(
            f"{_CALLER}: method='network' needs weights, the hidden-layer weights of shape "
            f"(d_eff, m) = ({X_eff.shape[1]}, m); got None. Pass weights=U, or use "
            f"method='gaussian'."
        )
    if W is not None and method == "gaussian":
        raise ValueError(
            f"{_CALLER}: weights are used by method='network' and method='alg3', not by "
            f"method='gaussian' (which draws u ~ N(0, I)). Pass method='network' to use them."
        )
    opts = {
        "method": method,
        "weights": W,
        "unique": bool(unique),
        "n_patterns": _check_n_patterns(n_patterns, method, W is not None),
        "n_flips": _check_n_flips(n_flips, method, X.shape[0]),
        "rng": as_generator(random_state, caller=_CALLER),
    }
    return X_eff, opts


def _check_n_patterns(n_patterns: Any, method: str, has_weights: bool) -> int | None:
    if n_patterns is None:
        if has_weights:
            return None
        raise ValueError(
            f"{_CALLER}: n_patterns is required for method={method!r} without weights, got "
            f"None. Pass the number of patterns to sample, e.g. sample_patterns(X, 100)."
        )
    return check_positive_int(n_patterns, caller=_CALLER, name="n_patterns")


def _check_n_flips(n_flips: Any, method: str, n: int) -> int:
    if n_flips is None:
        return max(1, n // 20)
    if method != "alg3":
        raise ValueError(
            f"{_CALLER}: n_flips only applies to method='alg3', got n_flips={n_flips!r} with "
            f"method={method!r}. Drop n_flips or use method='alg3'."
        )
    value = check_positive_int(n_flips, caller=_CALLER, name="n_flips")
    if value > n:
        raise ValueError(
            f"{_CALLER}: n_flips must be at most the number of samples n = {n}, got {value}."
        )
    return value


def _check_weights(weights: Any, d_eff: int, hidden_bias: bool) -> NDArray[np.float64]:
    try:
        W = np.asarray(host_array(weights), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{_CALLER}: weights must be a numeric array of shape (d_eff, m) = ({d_eff}, m), "
            f"got {type(weights).__name__}."
        ) from None
    if W.ndim == 1 and W.shape[0] == d_eff:
        hint = " For one neuron pass weights.reshape(-1, 1)."
    else:
        hint = ""
    if W.ndim != 2 or W.shape[1] == 0:
        raise ValueError(
            f"{_CALLER}: weights must have shape (d_eff, m) = ({d_eff}, m) with m >= 1, one "
            f"column per neuron; got shape {W.shape}.{hint}"
        )
    check_finite(W, caller=_CALLER, name="weights")
    if W.shape[0] == d_eff:
        return W
    bias = " plus one for the bias (hidden_bias=True)" if hidden_bias else ""
    hint = "Pass one row per column of X_eff and one column per neuron."
    if hidden_bias and W.shape[0] == d_eff - 1:
        hint = "Append the bias row, or pass hidden_bias=False."
    elif not hidden_bias and W.shape[0] == d_eff + 1:
        hint = "If the last row is a bias, pass hidden_bias=True."
    elif W.shape[1] == d_eff:
        hint = "Did you pass the transpose? Use weights.T (one column per neuron)."
    raise ValueError(
        f"{_CALLER}: weights must have shape (d_eff, m) = ({d_eff}, m), one row per column "
        f"of X{bias}; got shape {W.shape}. {hint}"
    )
