"""Patterns that matter: Alg2 patterns from a briefly trained network, column generation.

The convex program (8) over a subset of the patterns is exact for that subset only. Its
dual (eq. 4 restricted to the patterns) has one constraint per pattern and sign,

    max_{u in K_i, ||u|| <= 1}  s lam^T D_i X u  <=  beta,

and over *all* patterns these constraints read ``max_{||u|| <= 1} |lam^T (X u)_+| <= beta``
for the relu formulation (``D_i X u = (X u)_+`` on the cone ``K_i``). Column generation
solves the program on the current patterns, takes the dual candidate
``lam = -grad L(z, y)`` at the optimal predictions ``z`` (centred with an output bias),
searches for patterns whose constraint is violated (the *pricing* problem), adds them,
and re-solves warm, until the search finds no violated pattern.

The default pricing is a multi-start local search (:func:`search_patterns`); it is a
heuristic, so the final certificate is relative to the final pattern set. An exact
pricing oracle (any callable ``pricing(X_eff, lam) -> (value, pattern)``) can be
plugged in; the lower bound it implies is then global (see
:attr:`ColumnGenerationResult.priced_lower_bound`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._measures import relative_gap
from .._validation import (
    add_ones_column,
    as_generator,
    check_beta,
    check_choice,
    check_positive_int,
    check_time_budget,
    check_X,
    check_y,
)
from ..losses import Loss, get_loss
from ..losses.base import into_dual_domain
from ._matrix import PatternMatrix, fingerprint
from .sample import sample_patterns

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Pricing = Callable[[Array, Array], tuple[float, BoolArray]]

__all__ = [
    "ColumnGenerationResult",
    "column_generation",
    "network_patterns",
    "search_patterns",
]

_SAFETY = 1.0 - 8.0 * np.finfo(np.float64).eps
_N_REFINE = 8  # starts (per sign) whose neighbouring cells are also scored
_N_EXACT = 16  # best points whose own cells are scored exactly (NNLS)


# --------------------------------------------------------------------------------------
# Alg2: patterns of a network trained briefly by gradient descent
# --------------------------------------------------------------------------------------


def network_patterns(
    X: Any,
    y: Any,
    beta: float,
    *,
    n_neurons: int,
    n_runs: int = 1,
    hidden_bias: bool = False,
    output_bias: bool = False,
    loss: str | Loss = "squared",
    optimizer: str = "adam",
    lr: float = 1e-2,
    max_epochs: int = 200,
    n_flips: int | None = None,
    random_state: Any = None,
) -> PatternMatrix:
    """Patterns ``1[X_eff u_j >= 0]`` of networks trained briefly on eq. (2) (Alg2).

    Trains ``n_runs`` networks of width ``n_neurons`` for ``max_epochs`` full-batch
    steps of :func:`convexnn.baselines.train_torch` (NumPy gradient descent,
    :func:`convexnn.baselines.train_gd`, when PyTorch is missing and the loss is
    squared), and returns the distinct patterns of all their neurons. With ``n_flips``
    each pattern is followed by its Alg3 copy (the ``n_flips`` entries of smallest
    ``|x_j^T u|`` flipped).

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
    beta : float
        Weight decay of eq. (2), > 0.
    n_neurons : int
        Width of each network.
    n_runs : int
        Independent initialisations.
    hidden_bias, output_bias : bool
        As in :func:`convexnn.solve`.
    loss, optimizer, lr, max_epochs
        Passed to :func:`convexnn.baselines.train_torch`.
    n_flips : int or None
        Add the Alg3 flipped copies.
    random_state : None, int or numpy Generator

    Returns
    -------
    PatternMatrix of shape (n, P), P <= n_runs * n_neurons (twice that with flips)
        Not exhaustive; ``method`` is ``"network"`` (or ``"alg3"`` with flips).
    """
    caller = "network_patterns"
    X_arr = check_X(X, caller=caller)
    n_runs = check_positive_int(n_runs, caller=caller, name="n_runs")
    rng = as_generator(random_state, caller=caller)
    weights = [
        _trained_weights(
            X_arr,
            y,
            beta,
            n_neurons,
            hidden_bias,
            output_bias,
            loss,
            optimizer,
            lr,
            max_epochs,
            rng,
        )
        for _ in range(n_runs)
    ]
    W = np.hstack(weights)
    if n_flips is None:
        return sample_patterns(X_arr, method="network", weights=W, hidden_bias=hidden_bias)
    return sample_patterns(
        X_arr, method="alg3", weights=W, hidden_bias=hidden_bias, n_flips=n_flips
    )


def _trained_weights(
    X: Array,
    y: Any,
    beta: float,
    n_neurons: int,
    hidden_bias: bool,
    output_bias: bool,
    loss: str | Loss,
    optimizer: str,
    lr: float,
    max_epochs: int,
    rng: np.random.Generator,
) -> Array:
    """``U_eff`` (d_eff, m) of one briefly trained network."""
    from ..baselines import train_gd, train_torch

    seed = int(rng.integers(0, 2**31))
    try:
        import torch  # noqa: F401
    except ImportError:
        if get_loss(loss, caller="network_patterns").name != "squared":
            raise
        return train_gd(
            X,
            y,
            beta,
            n_neurons,
            hidden_bias=hidden_bias,
            output_bias=output_bias,
            max_iter=max_epochs,
            lr=lr,
            random_state=seed,
        ).network.U_eff
    return train_torch(
        X,
        y,
        beta,
        n_neurons=n_neurons,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        max_epochs=max_epochs,
        hidden_bias=hidden_bias,
        output_bias=output_bias,
        random_state=seed,
        record_every=max_epochs,
    ).best_network.U_eff


# --------------------------------------------------------------------------------------
# Pricing: max_{||u|| <= 1} s lam^T (X u)_+ by a multi-start local search
# --------------------------------------------------------------------------------------


def search_patterns(
    X: Any,
    lam: Any,
    *,
    n_starts: int = 64,
    n_iter: int = 20,
    formulation: str = "relu",
    starts: Any = None,
    random_state: Any = None,
) -> tuple[Array, BoolArray]:
    """Patterns with the largest dual norms of ``lam``, by a multi-start local search.

    For each sign ``s`` in {+1, -1} and each start ``u`` (``n_starts`` Gaussian
    directions plus the columns of ``starts``) it iterates the ReLU-activation fixed
    point of ``max_{||u|| <= 1} s lam^T (X u)_+``,

        D = diag(1[X u >= 0]),   u <- X^T D (s lam) / ||X^T D (s lam)||,

    (the maximiser of the linearisation over the ball; at a fixed point ``u`` is the
    maximiser over its own cell), then damped steps ``u <- normalize(u + t g)``. The
    cells of the best points, and the neighbouring cells of the best few, are the
    candidates. The best ones are scored by their exact dual norm
    (:func:`convexnn.duality.cone_dual_norms`, maximum over both signs); the others by
    the value reached in them, a lower bound on it (exact at a fixed point).
    ``"gated"`` alternates gates and directions instead (see :func:`_ascend_gated`) and
    scores every candidate exactly by ``||X^T D_i lam||``.

    A local search: ``values[0]`` is a lower bound on the exact maximum over all the
    patterns of ``X``; on small data it finds it (tested against brute force).

    Parameters
    ----------
    X : array of shape (n, d)
        The effective data (with the ones column for hidden biases).
    lam : array of shape (n,)
        Dual point.
    n_starts : int
        Random starting directions per sign.
    n_iter : int
        Ascent iterations per start.
    formulation : {"relu", "gated"}
        Which dual norm scores the patterns (``"gated"``: ``||X^T D_i lam||``).
    starts : array of shape (d, k) or None
        Extra starting directions (e.g. the neurons of the current network).
    random_state : None, int or numpy Generator

    Returns
    -------
    values : array of shape (K,)
        Dual norms ``max_s max_{u in K_i, ||u|| <= 1} s lam^T D_i X u`` (or lower
        bounds on them, see above), decreasing.
    patterns : array of shape (n, K) of bool
        The distinct patterns found, in the same order.
    """
    from ..duality import cone_dual_norms

    caller = "search_patterns"
    X_arr = check_X(X, caller=caller)
    lam_arr = check_y(lam, X_arr.shape[0], caller=caller, name="lam")
    formulation = check_choice(formulation, ("relu", "gated"), caller=caller, name="formulation")
    n_starts = check_positive_int(n_starts, caller=caller, name="n_starts")
    n_iter = check_positive_int(n_iter, caller=caller, name="n_iter")
    rng = as_generator(random_state, caller=caller)
    U0 = rng.standard_normal((X_arr.shape[1], n_starts))
    if starts is not None:
        U0 = np.hstack([U0, np.asarray(starts, dtype=np.float64).reshape(X_arr.shape[1], -1)])
    if formulation == "gated":
        D = _unique_columns(
            np.hstack([_ascend_gated(X_arr, s * lam_arr, U0, n_iter, rng) for s in (1.0, -1.0)])
        )
        values = cone_dual_norms(X_arr, D, lam_arr, formulation="gated")[:, 0]
    else:
        D, values = _relu_candidates(X_arr, lam_arr, U0, n_iter)
    order = np.argsort(-values, kind="stable")
    return values[order], D[:, order]


def _relu_candidates(X: Array, lam: Array, U0: Array, n_iter: int) -> tuple[BoolArray, Array]:
    """Distinct patterns from both signs' ascents and their values (see search_patterns).

    The pattern of a start's best point ``u`` gets the value ``s lam^T (X u)_+`` reached
    there, a lower bound on its dual norm; the ``_N_EXACT`` best of those and all the
    neighbouring cells are scored exactly by :func:`convexnn.duality.cone_dual_norms`.
    """
    from ..duality import cone_dual_norms

    bases, lowers, neighbours = [], [], []
    for s in (1.0, -1.0):
        base, low, near = _ascend(X, s * lam, U0, n_iter)
        bases.append(base)
        lowers.append(low)
        neighbours.append(near)
    base, low = np.hstack(bases), np.concatenate(lowers)
    top = np.argsort(-low, kind="stable")[:_N_EXACT]
    exact_D = _unique_columns(np.hstack([base[:, top], *neighbours]))
    rest = np.delete(np.arange(base.shape[1]), top)
    cand = np.hstack([exact_D, base[:, rest]])
    values = np.concatenate([np.full(exact_D.shape[1], np.nan), np.maximum(low[rest], 0.0)])
    keep = _first_columns(cand)
    cand, values = cand[:, keep], values[keep]
    exact = np.isnan(values)
    values[exact] = cone_dual_norms(X, cand[:, exact], lam).max(axis=1)
    return cand, values


def _first_columns(D: BoolArray) -> NDArray[np.intp]:
    """Indices of the first occurrence of each distinct column of ``D``."""
    seen: set[bytes] = set()
    keep = []
    for j, key in enumerate(_column_keys(D)):
        if key not in seen:
            seen.add(key)
            keep.append(j)
    return np.asarray(keep, dtype=np.intp)


def _normalize(U: Array) -> Array:
    norms = np.linalg.norm(U, axis=0)
    return U / np.where(norms > 0, norms, 1.0)


def _ascend(X: Array, lam: Array, U0: Array, n_iter: int) -> tuple[BoolArray, Array, BoolArray]:
    """Ascent of ``lam^T (X u)_+`` on the unit sphere from each column of ``U0``.

    ReLU-activation fixed point first, then monotone damped steps from the best point
    (the maximum often sits on a kink, where cells meet, which the fixed point cannot
    reach). Returns the patterns of the best points (n, S), the values reached there
    (S,), and, for the ``_N_REFINE`` best starts, the neighbouring cells across the
    hyperplanes closest to their best point (:func:`_with_neighbours`).
    """
    U = _normalize(U0)
    Z = X @ U
    best_val = lam @ np.maximum(Z, 0.0)
    best_U, best_Z = U.copy(), Z.copy()
    for _ in range(n_iter):  # fixed point: two GEMMs per iteration
        U = _step(U, X.T @ ((Z >= 0) * lam[:, None]), np.inf)
        Z = X @ U
        vals = lam @ np.maximum(Z, 0.0)
        better = vals > best_val
        best_val[better], best_U[:, better], best_Z[:, better] = (
            vals[better],
            U[:, better],
            Z[:, better],
        )
    step = np.full(U.shape[1], 0.3)
    for _ in range(n_iter):  # monotone damped steps from the best points
        trial = _step(best_U, X.T @ ((best_Z >= 0) * lam[:, None]), step)
        Z = X @ trial
        vals = lam @ np.maximum(Z, 0.0)
        better = vals > best_val
        best_val[better], best_U[:, better], best_Z[:, better] = (
            vals[better],
            trial[:, better],
            Z[:, better],
        )
        step = np.where(better, step, 0.5 * step)
    top = np.argsort(-best_val, kind="stable")[:_N_REFINE]
    return best_Z >= 0, best_val, _with_neighbours(X, best_U[:, top])


def _with_neighbours(X: Array, U: Array, k: int = 3) -> BoolArray:
    """Patterns of ``Z = X U`` (columns of U are points) and cells around them.

    For each point: its pattern ``Z >= 0``, the ``k`` patterns with one of the entries
    of smallest angular distance ``|x_j^T u| / ||x_j||`` flipped, and the one with the two
    closest flipped together (the cells around a kink where two hyperplanes meet). The
    closest hyperplane is a facet of the point's cell, so its flip is a cell too (in
    general position); the others may not be realisable, which is harmless for the
    relu dual norm (a cone ``K_i`` that is a face of a cell gives a smaller value).
    """
    Z = X @ U
    k = min(k, Z.shape[0])
    base = Z >= 0
    row_norms = np.linalg.norm(X, axis=1)
    idx = np.argsort(np.abs(Z) / np.where(row_norms > 0, row_norms, 1.0)[:, None], axis=0)[:k]
    cols = np.arange(Z.shape[1])
    out = [base]
    for j in range(k):
        F = base.copy()
        F[idx[j], cols] = ~F[idx[j], cols]
        out.append(F)
    if k >= 2:
        F = base.copy()
        F[idx[0], cols] = ~F[idx[0], cols]
        F[idx[1], cols] = ~F[idx[1], cols]
        out.append(F)
    return np.hstack(out)


def _ascend_gated(
    X: Array, lam: Array, H0: Array, n_iter: int, rng: np.random.Generator
) -> BoolArray:
    """Patterns ``D = 1[X h >= 0]`` with large ``||X^T D lam||`` (gated dual norm).

    Alternates ``u = X^T D lam / ||.||`` (the best ``u`` for the pattern) with a step
    on the gate ``h`` towards ``max_h sum_j c_j (x_j^T h)_+``, ``c_j = lam_j x_j^T u``
    (a ReLU surrogate of the best pattern for ``u``), from the given starts and from
    ``16 x`` as many random gates; returns the pattern of each start's best gate and
    of the 16 best random gates per start. All are realisable patterns.
    """
    H = _normalize(H0)
    best_val = np.full(H.shape[1], -np.inf)
    best_H = H.copy()
    for it in range(n_iter + 1):
        act = X @ H >= 0
        G = X.T @ (act * lam[:, None])
        vals = np.linalg.norm(G, axis=0)
        better = vals > best_val
        best_val[better], best_H[:, better] = vals[better], H[:, better]
        if it == n_iter:
            break
        C = lam[:, None] * (X @ _normalize(G))
        H = _step(H, X.T @ (act * C), 1.0 if it % 2 else np.inf)
    R = X @ rng.standard_normal((X.shape[1], 16 * H.shape[1])) >= 0
    r_vals = np.linalg.norm(X.T @ (R * lam[:, None]), axis=0)
    top = np.argsort(-r_vals)[: max(1, H.shape[1])]
    return np.hstack([X @ best_H >= 0, R[:, top]])


def _step(U: Array, G: Array, step: float | Array) -> Array:
    """``normalize(G)`` (``step = inf``) or ``normalize(U + step * normalize(G))``.

    ``step`` is a scalar or one step per column; columns with ``G = 0`` stay put.
    """
    g_norms = np.linalg.norm(G, axis=0)
    moving = g_norms > 0
    G = G / np.where(moving, g_norms, 1.0)
    if np.isscalar(step) and np.isinf(step):
        U_new = G
    else:
        U_new = _normalize(U + step * G)
    return np.where(moving[None, :], U_new, U)


def _unique_columns(D: BoolArray, exclude: set[bytes] | None = None) -> BoolArray:
    """Distinct columns of ``D`` (first occurrence), skipping those in ``exclude``."""
    seen = set() if exclude is None else set(exclude)
    keep = []
    for j, key in enumerate(_column_keys(D)):
        if key not in seen:
            seen.add(key)
            keep.append(j)
    return D[:, keep]


def _column_keys(D: BoolArray) -> list[bytes]:
    packed = np.ascontiguousarray(np.packbits(np.asarray(D, dtype=bool), axis=0).T)
    return [row.tobytes() for row in packed]


# --------------------------------------------------------------------------------------
# Column generation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnGenerationResult:
    """Outcome of :func:`column_generation`.

    Attributes
    ----------
    solution : convexnn.Solution
        The last solve, on the final patterns. Its certificate (``lower_bound``,
        ``gap``, ``scope``) is relative to those final patterns only (scope
        ``"patterns"``), unless they happen to be exhaustive.
    patterns : array of shape (n, P) of bool
        The final pattern set (initial patterns first, then the added ones in order).
    converged : bool
        True when the pricing found no violated pattern in the last round.
    n_rounds : int
        Solves done.
    priced_lower_bound : float
        Dual objective of ``t * lam`` with ``t`` scaled so that the constraints of the
        final patterns *and of every pattern the pricing examined* in the last round
        hold: a lower bound on the optimum over their union. If the pricing is exact
        (returns the true ``max_{||u|| <= 1} lam^T (X u)_+``), it is a lower bound on the
        non-convex problem (2) itself; with the default local search it is not proven.
    priced_dual_point : array of shape (n,)
        The scaled dual point ``t * lam`` whose dual objective is
        ``priced_lower_bound`` (its dual norms over ``patterns`` are at most ``beta``).
    history : dict of str to array
        One entry per round: ``"n_patterns"``, ``"objective"`` (eq. (2) of the
        recovered network), ``"convex_objective"`` (the program's value; for
        ``"gated"`` this is the one that decreases), ``"lower_bound"`` (certificate
        over the round's patterns),
        ``"max_price"`` (largest dual norm found by the pricing, divided by beta),
        ``"n_added"``, ``"solve_time"`` and ``"time"`` (cumulative seconds).
    time : float
        Total wall time (seconds).
    """

    solution: Any
    patterns: BoolArray
    converged: bool
    n_rounds: int
    priced_lower_bound: float
    priced_dual_point: Array
    history: dict[str, Array]
    time: float


def column_generation(
    X: Any,
    y: Any,
    beta: float,
    *,
    initial_patterns: Any = None,
    max_rounds: int = 20,
    time_budget: float | None = None,
    n_starts: int = 64,
    max_add: int = 50,
    formulation: str = "relu",
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    output_bias: bool = False,
    tol: float = 1e-6,
    solver: str = "fast",
    pricing: Pricing | None = None,
    random_state: Any = None,
    solver_options: dict[str, Any] | None = None,
) -> ColumnGenerationResult:
    """Grow the pattern set until no dual constraint is violated, re-solving warm.

    Each round solves the convex program (8)

        min  L(sum_i D_i X_eff (v_i - w_i) + c, y) + beta sum_i (||v_i|| + ||w_i||)
        s.t. (2 D_i - I) X_eff v_i >= 0, (2 D_i - I) X_eff w_i >= 0   (relu only)

    on the current patterns, forms ``lam = -grad L(z, y)`` at its predictions (centred
    with an output bias), prices new patterns ``1[X_eff u >= 0]`` with
    ``max_{||u|| <= 1} |lam^T (X_eff u)_+|`` (``"relu"``; ``"gated"`` scores them by
    ``||X_eff^T D lam||``), and adds the at most ``max_add`` most violated ones: those
    whose dual norm exceeds ``max(beta, s) (1 + tol)``, with ``s`` the largest dual norm
    over the current patterns. The next solve starts from the previous ``(V, W, c)``
    padded with zero columns (not for the CVXPY solvers, which cannot warm start).

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
    beta : float
        Weight decay, > 0.
    initial_patterns : array of shape (n, P0) of bool, or None
        Patterns of ``X_eff`` to start from (e.g. :func:`network_patterns`). None: 16
        Gaussian patterns drawn with ``random_state``.
    max_rounds : int
        Largest number of solves.
    time_budget : float or None
        Wall-clock cap in seconds (the rule of ``train_torch``'s), checked after each
        round: once the time since the start reaches it, no further round is solved. At
        least one round always runs (``0.0``: exactly one); ``inf`` is no cap. Stopped
        by it (or by ``max_rounds``) with violated patterns left, the result has
        ``converged=False``, is that of the last round's certified solve, and a
        ConvergenceWarning states the gap reached. None: no cap.
    n_starts : int
        Random starts of the default pricing search, per sign and round.
    max_add : int
        Most patterns added per round.
    formulation : {"relu", "gated"}
    loss : str or Loss
    hidden_bias, output_bias : bool
        As in :func:`convexnn.solve`.
    tol : float
        Solver tolerance (certified relative gap) and the relative violation needed to
        add a pattern.
    solver : str
        A solver of :func:`convexnn.solve`; ``"fast"`` by default.
    pricing : callable or None
        ``pricing(X_eff, lam) -> (value, pattern)`` with ``value`` the maximum of
        ``lam^T (X_eff u)_+`` over ``||u|| <= 1`` and ``pattern`` (n,) bool its pattern;
        called with ``+lam`` and ``-lam``. None: :func:`search_patterns` (a heuristic).
    random_state : None, int or numpy Generator
    solver_options : dict or None
        Extra options for the solver (``warm_start`` is set here).

    Returns
    -------
    ColumnGenerationResult
        ``result.solution`` is certified relative to the final patterns only.
    """
    from ..duality import max_cone_dual_norm
    from ..solve import solve

    caller = "column_generation"
    X_arr = check_X(X, caller=caller)
    y_arr = check_y(y, X_arr.shape[0], caller=caller)
    beta = check_beta(beta, caller=caller)
    max_rounds = check_positive_int(max_rounds, caller=caller, name="max_rounds")
    max_add = check_positive_int(max_add, caller=caller, name="max_add")
    time_budget = check_time_budget(time_budget, caller=caller)
    loss_obj = get_loss(loss, caller=caller)
    if pricing is not None and not callable(pricing):
        raise TypeError(
            f"{caller}: pricing must be None or a callable pricing(X_eff, lam) -> "
            f"(value, pattern), got {type(pricing).__name__}."
        )
    rng = as_generator(random_state, caller=caller)
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D = _initial(initial_patterns, X_arr, X_eff, hidden_bias, rng, caller)
    warm_ok = not solver.startswith("cvxpy")
    hist: dict[str, list[float]] = {k: [] for k in _HISTORY_KEYS}
    start = time.perf_counter()
    warm, converged, priced_lb, sol = None, False, -np.inf, None
    priced_lam = np.zeros(X_arr.shape[0])
    stop = f"max_rounds={max_rounds} solves"
    for round_ in range(max_rounds):
        options = dict(solver_options or {})
        if warm is not None:
            options["warm_start"] = warm
        sol = solve(
            X_arr,
            y_arr,
            beta,
            patterns=D,
            formulation=formulation,
            solver=solver,
            loss=loss_obj,
            hidden_bias=hidden_bias,
            output_bias=output_bias,
            tol=tol,
            solver_options=options,
        )
        lam = _dual_candidate(sol, X_eff, y_arr, loss_obj, output_bias)
        values, cand, fresh, claimed = _price(
            X_eff, lam, D, sol, formulation, n_starts, pricing, rng
        )
        # the dual norm of this very lam over the current patterns (the certificate's
        # may belong to another candidate): priced_lb needs it to be a bound
        s_cur = max_cone_dual_norm(X_eff, np.asarray(D, dtype=bool), lam, formulation=formulation)
        s_all = max(s_cur, claimed, float(values.max(initial=0.0)))
        priced_lb, priced_lam = _scaled_dual_value(lam, y_arr, beta, s_all, loss_obj)
        new = cand[:, fresh & (values > max(beta, s_cur) * (1.0 + tol))][:, :max_add]
        _append_history(hist, sol, s_all / beta, new.shape[1], start)
        if new.shape[1] == 0:
            converged = True
            break
        if time_budget is not None and time.perf_counter() - start >= time_budget:
            stop = f"time_budget={time_budget:g} s ({round_ + 1} solves)"
            break
        D = np.hstack([np.asarray(D, dtype=bool), new])
        if warm_ok:
            warm = _padded(sol, new.shape[1])
    assert sol is not None
    if not converged:
        _warn_not_converged(sol, stop, priced_lb, y_arr)
    return ColumnGenerationResult(
        solution=sol,
        patterns=np.asarray(sol.patterns, dtype=bool),
        converged=converged,
        n_rounds=len(hist["n_patterns"]),
        priced_lower_bound=float(priced_lb),
        priced_dual_point=priced_lam,
        history={k: np.asarray(v, dtype=np.float64) for k, v in hist.items()},
        time=time.perf_counter() - start,
    )


_HISTORY_KEYS = (
    "n_patterns",
    "objective",
    "convex_objective",
    "lower_bound",
    "max_price",
    "n_added",
    "solve_time",
    "time",
)


def _initial(
    initial_patterns: Any,
    X: Array,
    X_eff: Array,
    hidden_bias: bool,
    rng: np.random.Generator,
    caller: str,
) -> Any:
    if initial_patterns is None:
        # up to 16: data with fewer patterns need no warning (the pricing adds the rest)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="sample_patterns: found only")
            return sample_patterns(X, 16, hidden_bias=hidden_bias, random_state=rng)
    D = np.asarray(initial_patterns)
    if D.dtype != bool or D.ndim != 2 or D.shape[0] != X.shape[0] or D.shape[1] == 0:
        raise ValueError(
            f"{caller}: initial_patterns must be a boolean array of shape (n, P0) = "
            f"({X.shape[0]}, P0) with P0 >= 1, got {D.dtype} array of shape {D.shape}. "
            "Use sample_patterns or network_patterns to make one."
        )
    if isinstance(initial_patterns, PatternMatrix) and initial_patterns.exhaustive:
        if initial_patterns.X_fingerprint == fingerprint(X_eff):
            return initial_patterns  # already all patterns: one solve, global scope
    return _unique_columns(D)


def _dual_candidate(sol: Any, X_eff: Array, y: Array, loss: Loss, output_bias: bool) -> Array:
    """The dual candidate of the solution's certificate, unscaled; else ``-grad L(z, y)``.

    The certificate's candidate is in the loss's dual domain (with an output bias: sums
    to zero) and, for the hinge loss, has its margin coordinates optimised (or is the
    solver's multiplier). When its scale is 0, ``-grad L(z, y)`` at the convex
    predictions ``z`` (a subgradient for the hinge loss) is put into that domain.
    """
    cert = sol.certificate
    if cert.scale > 0 and np.all(np.isfinite(cert.dual_point)):
        return np.asarray(cert.dual_point, dtype=np.float64) / cert.scale
    D = np.asarray(sol.patterns, dtype=X_eff.dtype)
    z = np.einsum("np,np->n", X_eff @ (sol.V - sol.W), D)
    if sol.c is not None:
        z = z + sol.c
    lam, _ = loss.dual_candidate(z, y)
    lo, hi = loss.dual_box(y)
    return into_dual_domain(lam, lo, hi, output_bias)


def _price(
    X_eff: Array,
    lam: Array,
    D: Any,
    sol: Any,
    formulation: str,
    n_starts: int,
    pricing: Pricing | None,
    rng: np.random.Generator,
) -> tuple[Array, BoolArray, BoolArray, float]:
    """Patterns found by the pricing, their dual norms (decreasing), which are new, and
    the maximum a user pricing claimed (0 for the search)."""
    if pricing is None:
        starts = np.hstack([sol.network.U_eff, _pattern_directions(X_eff, lam, D)])
        values, cand = search_patterns(
            X_eff,
            lam,
            n_starts=n_starts,
            formulation=formulation,
            starts=starts,
            random_state=rng,
        )
        claimed = 0.0
    else:
        values, cand, claimed = _oracle(pricing, X_eff, lam, formulation)
    existing = set(_column_keys(np.asarray(D, dtype=bool)))
    fresh = np.array([k not in existing for k in _column_keys(cand)], dtype=bool)
    return values, cand, fresh, claimed


def _pattern_directions(X: Array, lam: Array, D: Any, k: int = 32) -> Array:
    """``X^T D_i lam`` of the ``k`` current patterns with the largest norms (extra starts)."""
    G = (X * lam[:, None]).T @ np.asarray(D, dtype=X.dtype)
    norms = np.linalg.norm(G, axis=0)
    top = np.argsort(-norms)[:k]
    return np.hstack([G[:, top], -G[:, top]])


def _oracle(
    pricing: Pricing, X_eff: Array, lam: Array, formulation: str
) -> tuple[Array, BoolArray, float]:
    """Call a user pricing for both signs; score its patterns with our dual norms.

    Also returns the largest value the pricing itself claimed (its maximum over all
    patterns, if it is exact).
    """
    from ..duality import cone_dual_norms

    pats, claimed = [], 0.0
    for s in (1.0, -1.0):
        value, pattern = pricing(X_eff, s * lam)
        claimed = max(claimed, float(value))
        pat = np.asarray(pattern, dtype=bool).reshape(-1)
        if pat.shape != (X_eff.shape[0],):
            raise ValueError(
                f"column_generation: pricing must return a pattern of shape "
                f"({X_eff.shape[0]},), got shape {np.shape(pattern)}."
            )
        pats.append(pat)
    D = _unique_columns(np.column_stack(pats))
    values = cone_dual_norms(X_eff, D, lam, formulation=formulation).max(axis=1)
    order = np.argsort(-values, kind="stable")
    return values[order], D[:, order], claimed


def _scaled_dual_value(
    lam: Array, y: Array, beta: float, s: float, loss: Loss
) -> tuple[float, Array]:
    """Best dual objective of ``t lam`` with ``t s <= beta`` (``s``: the dual norm of
    ``lam``), and that point ``t lam``."""
    t_max = _SAFETY * beta / s if s > 0 else np.inf
    t = float(loss.best_dual_scale(lam, y, t_max))
    return float(loss.dual_value(t * lam, y)), t * lam


def _warn_not_converged(sol: Any, stop: str, priced_lb: float, y: Array) -> None:
    """ConvergenceWarning: the pricing still found violated patterns after the last round
    (``stop`` says which cap ended it)."""
    from ..exceptions import ConvergenceWarning

    upper = sol.convex_objective  # gated: the program's, not the ReLU network's
    gap = upper - priced_lb
    rel = relative_gap(upper, priced_lb, y)
    warnings.warn(
        f"column_generation: stopped after {stop} with violated "
        f"patterns still found by the pricing; the convex objective {upper:.6g} on the "
        f"final patterns is {gap:.3g} (relative {rel:.3g}) above the priced lower bound "
        f"{priced_lb:.6g}. Raise max_rounds, time_budget or max_add, or start from more "
        "patterns.",
        ConvergenceWarning,
        stacklevel=3,
    )


def _padded(sol: Any, k: int) -> tuple[Array, Array, float | None]:
    pad = np.zeros((sol.V.shape[0], k))
    return np.hstack([sol.V, pad]), np.hstack([sol.W, pad]), sol.c


def _append_history(
    hist: dict[str, list[float]], sol: Any, max_price: float, n_added: int, start: float
) -> None:
    hist["n_patterns"].append(sol.patterns.shape[1])
    hist["objective"].append(sol.objective)
    hist["convex_objective"].append(sol.convex_objective)
    hist["lower_bound"].append(sol.lower_bound)
    hist["max_price"].append(max_price)
    hist["n_added"].append(n_added)
    hist["solve_time"].append(sol.time)
    hist["time"].append(time.perf_counter() - start)
