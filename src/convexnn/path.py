"""Regularisation path: :func:`solve` over many weight decays, warm started.

The betas are solved from the largest to the smallest (the solution grows from zero),
each warm started from the previous one through the solver option ``warm_start``; the
working-set solver then prices and screens from that point, so the path costs a small
multiple of one solve. Results come back in the order the betas were given.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ._validation import (
    add_ones_column,
    check_beta,
    check_max_iter,
    check_tol,
    check_X,
    host_array,
)
from .losses import Loss, get_loss
from .problem import build_problem
from .solve import (
    Solution,
    _check_support,
    _fallback_applies,
    _fast_or_reference,
    _finish,
    _is_multi_output,
    _resolve_patterns,
    check_options,
    default_solver,
    on_data_device,
)
from .solvers import get_solver

CALLER = "solve_path"


class PathResult(list):  # type: ignore[type-arg]
    """A list of :class:`Solution` (:class:`MultiOutputSolution` for targets (n, c) or a
    multi-output loss), one per beta in the order given.

    Attributes
    ----------
    betas : array of shape (n_betas,)
        The weight decays, as given.
    time : float
        Total solver wall time over the path (seconds).
    """

    def __init__(self, solutions: list[Any], betas: np.ndarray) -> None:
        super().__init__(solutions)
        self.betas = betas
        self.time = float(sum(s.time for s in solutions))

    @property
    def objectives(self) -> np.ndarray:
        """Eq.-(2) objective of each recovered network, shape (n_betas,)."""
        return np.array([s.objective for s in self])

    @property
    def relative_gaps(self) -> np.ndarray:
        """Certified relative gap of each solution, shape (n_betas,)."""
        return np.array([s.relative_gap for s in self])


def solve_path(
    X: Any,
    y: Any,
    betas: Any,
    *,
    patterns: Any = None,
    formulation: str = "relu",
    solver: str | None = None,
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    output_bias: bool = False,
    n_patterns: int = 1000,
    max_exact_patterns: int = 5000,
    tol: float = 1e-6,
    max_iter: int | None = None,
    random_state: Any = None,
    verbose: bool = False,
    solver_options: dict[str, Any] | None = None,
) -> PathResult:
    """Solve the convex program (8) for every weight decay in ``betas``.

    For each ``beta`` in ``betas``,

        min_{v_i, w_i, c}  L(sum_i D_i X (v_i - w_i) + c, y) + beta sum_i (||v_i|| + ||w_i||)

    (with the cone constraints for ``"relu"``), over ONE pattern set resolved once from
    ``patterns`` (so every point of the path is the same program up to beta). The
    betas are solved in decreasing order, each warm started from the previous solution;
    a warm-started point that stalls above ``tol`` (status "stalled" or "inaccurate",
    e.g. on badly scaled data) is also solved cold, and the better of the two is kept
    (its ``time`` counts both), so no point is worse than an independent solve.

    Parameters
    ----------
    X, y, patterns, formulation, solver, loss, hidden_bias, output_bias, n_patterns,
    max_exact_patterns, tol, max_iter, random_state, verbose, solver_options
        As in :func:`convexnn.solve`.
    betas : array-like of shape (n_betas,)
        Weight decays, each > 0, in any order.

    Returns
    -------
    PathResult
        List of :class:`Solution` in the order of ``betas``. For targets (n, c) or the
        cross-entropy loss each point is a :class:`MultiOutputSolution`: one warm-started
        scalar path per output column over the same patterns, assembled as
        :func:`convexnn.solve_multioutput`'s "separate" solution (cross-entropy: one
        joint solve per beta, without warm starts). Otherwise each point is what
        :func:`convexnn.solve` returns at that beta (with the default solver, a small
        program the fast solver leaves above ``tol`` is re-solved by CVXPY, as there),
        up to the warm start.

    Warns
    -----
    ConvergenceWarning
        Once per point that stops above ``tol``, naming it (``betas[k] = ...``) and the
        certified gap reached.
    """
    X_arr = check_X(X, caller=CALLER)
    if np.ndim(y) > 2:  # else the scalar check says vector outputs are unsupported
        raise ValueError(
            f"{CALLER}: y must have shape (n_samples,) or (n_samples, n_outputs), got "
            f"shape {tuple(np.shape(y))}; pass one target column per output."
        )
    beta_arr = _check_betas(betas)
    tol = check_tol(tol, caller=CALLER)
    max_iter = check_max_iter(max_iter, caller=CALLER)
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D, source = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, n_patterns, max_exact_patterns, random_state,
        caller=CALLER,
    )  # fmt: skip
    if _is_multi_output(y, loss):
        kw = dict(
            formulation=formulation, solver=solver, loss=loss, hidden_bias=hidden_bias,
            output_bias=output_bias, tol=tol, max_iter=max_iter, verbose=verbose,
            solver_options=solver_options,
        )  # fmt: skip
        return _path_multioutput(X, X_arr, y, beta_arr, D, source, kw)
    options = dict(solver_options or {})
    warm: tuple[Any, Any, Any] | None = options.pop("warm_start", None)
    solutions: dict[int, Solution] = {}
    for k in np.argsort(-beta_arr, kind="stable"):
        problem = build_problem(
            X_arr,
            y,
            float(beta_arr[k]),
            D,
            formulation=formulation,
            loss=loss,
            hidden_bias=hidden_bias,
            output_bias=output_bias,
            caller=CALLER,
        )
        solver_obj = get_solver(solver or default_solver(problem), caller=CALLER)
        _check_support(solver_obj, problem)
        check_options(solver_obj, dict(options, warm_start=warm), solver is None, caller=CALLER)
        opts = dict(options, warm_start=warm) if _warm_capable(solver_obj) and warm else options
        opts = on_data_device(X, solver_obj, problem, opts)
        # as solve: the default solver re-solves a small program with CVXPY when the
        # fast one stops above tol (and no max_iter was given)
        fallback = solver is None and solver_obj.name == "fast" and max_iter is None
        fallback = fallback and _fallback_applies(problem)
        run = (problem, solver_obj, D, source, tol, max_iter, verbose, fallback)
        sol, result, caught = _solve_point(*run, opts)
        if "warm_start" in opts and sol.status in _COLD_RETRY:
            # A warm start that stalled: the cold solve too, the better one kept (the
            # path is then never worse than an independent solve).
            cold = _solve_point(*run, {key: v for key, v in opts.items() if key != "warm_start"})
            spent = sol.time + cold[0].time
            if _better(cold[0], sol):
                sol, result, caught = cold
            sol = dataclasses.replace(sol, time=spent)
        solutions[int(k)] = sol
        _rewarn(caught, int(k), float(beta_arr[k]))
        warm = (result.V, result.W, result.c)
    return PathResult([solutions[k] for k in range(beta_arr.size)], beta_arr)


def _path_multioutput(
    X: Any,
    X_arr: np.ndarray,
    y: Any,
    betas: np.ndarray,
    D: Any,
    source: str,
    kw: dict[str, Any],
) -> PathResult:
    """The path for targets (n, c) or a multi-output loss, over the patterns ``D``.

    A loss of one column per output (squared, logistic, ...): one warm-started scalar
    path per column, assembled at each beta as :func:`convexnn.solve_multioutput`'s
    "separate" solution. A joint loss (cross-entropy, a CVXPY program without warm
    starts): one :func:`convexnn.solve_multioutput` call per beta.
    """
    from .multioutput import check_targets_2d, separate_path_point, solve_multioutput

    loss_obj = get_loss(kw["loss"], caller=CALLER)
    Y = check_targets_2d(y, X_arr.shape[0], loss_obj, CALLER)
    if loss_obj.multi_output:
        joint = dict(kw, loss=loss_obj)
        sols: list[Any] = []
        for k, beta in enumerate(betas):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sol = solve_multioutput(X, Y, float(beta), patterns=D, **joint)
            _rewarn(caught, k, float(beta), stacklevel=4)
            sols.append(dataclasses.replace(sol, pattern_source=source))
        return PathResult(sols, betas)
    columns = []
    for j in range(Y.shape[1]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            columns.append(solve_path(X, Y[:, j], betas, patterns=D, **dict(kw, loss=loss_obj)))
        for w in caught:  # solve_path's own, naming the point: add the column
            text = str(w.message).removeprefix(f"{CALLER}: ")
            warnings.warn(f"{CALLER}: output {j}, {text}", w.category, stacklevel=3)
    points: list[Any] = []
    for k, beta in enumerate(betas):
        point = separate_path_point(
            X_arr, Y, float(beta), np.asarray(D, dtype=bool), source,
            formulation=kw["formulation"], loss=loss_obj, hidden_bias=kw["hidden_bias"],
            output_bias=kw["output_bias"], solutions=[col[k] for col in columns],
        )  # fmt: skip
        points.append(point)
    return PathResult(points, betas)


def _solve_point(
    problem: Any,
    solver_obj: Any,
    D: Any,
    source: str,
    tol: float,
    max_iter: int | None,
    verbose: bool,
    fallback: bool,
    options: dict[str, Any],
) -> tuple[Solution, Any, list[warnings.WarningMessage]]:
    """One point of the path: its Solution, the solver's result and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if fallback:
            res = _fast_or_reference(problem, solver_obj, tol, max_iter, verbose, options)
        else:
            res = solver_obj.solve(
                problem, tol=tol, max_iter=max_iter, verbose=verbose, options=options
            )
        return _finish(problem, res, D, source, tol), res, caught


# Statuses of a warm-started point that also get a cold solve (not "max_iter": a cap).
_COLD_RETRY = ("stalled", "inaccurate")


def _better(a: Solution, b: Solution) -> bool:
    """Whether ``a`` has the lower value of the program solved (by more than rounding),
    or the same value and a smaller certified gap.

    The program is judged as :func:`convexnn.solve` judges it: for "gated" its own value
    ``convex_objective`` (the ReLU network built from gated blocks, ``objective``, is
    another model, and a lower one of those had kept a stalled point over an optimal
    cold one); for "relu" the recovered network's ``objective``.
    """
    va, vb = _program_value(a), _program_value(b)
    scale = max(abs(vb), 1e-300)
    if va < vb - 1e-12 * scale:
        return True
    return va <= vb + 1e-12 * scale and _program_value_gap(a) < _program_value_gap(b)


def _program_value(sol: Solution) -> float:
    return float(sol.convex_objective if sol.formulation == "gated" else sol.objective)


def _program_value_gap(sol: Solution) -> float:
    """Relative gap of :func:`_program_value` against the certified lower bound (see
    :func:`_better`), with the certificate's floor (:mod:`convexnn._measures`)."""
    return sol.certificate.relative_gap_of(_program_value(sol))


def _rewarn(
    caught: list[warnings.WarningMessage], k: int, beta: float, stacklevel: int = 3
) -> None:
    """Re-emit one point's warnings at the caller of solve_path, naming that point."""
    for w in caught:
        text = str(w.message).removeprefix("solve: ")
        text = text.removeprefix("solve_multioutput: ")
        warnings.warn(
            f"{CALLER}: betas[{k}] = {beta:.6g}: {text}", w.category, stacklevel=stacklevel
        )


def _warm_capable(solver_obj: Any) -> bool:
    """CVXPY takes no warm start; the fast solvers do."""
    return not str(getattr(solver_obj, "name", "")).startswith("cvxpy")


def _check_betas(betas: Any) -> np.ndarray:
    hint = "pass e.g. np.geomspace(1.0, 1e-3, 10)."
    if isinstance(betas, (str, bytes)):
        raise TypeError(
            f"{CALLER}: betas must be an array of positive weight decays, got the string "
            f"{betas!r}; {hint}"
        )
    raw = np.atleast_1d(np.asarray(host_array(betas)))
    if raw.dtype.kind not in "iufO":  # strings, booleans, complex, dates: refused
        raise TypeError(
            f"{CALLER}: betas must be an array of positive weight decays, got dtype "
            f"{raw.dtype} ({betas!r}); {hint}"
        )
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(
            f"{CALLER}: betas must be a non-empty 1-D array of weight decays, got shape "
            f"{raw.shape}; {hint}"
        )
    for k, b in enumerate(raw):  # names the entry; refuses strings in an object array
        check_beta(b, caller=CALLER, name=f"betas[{k}]")
    return raw.astype(np.float64)
