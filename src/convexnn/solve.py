"""``solve``: patterns -> convex program (8) -> network (Theorem 1) -> certified gap."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_torch_array
from numpy.typing import NDArray

from ._measures import relative_gap
from ._validation import (
    add_ones_column,
    as_generator,
    check_bool,
    check_max_iter,
    check_positive_int,
    check_tol,
    check_X,
)
from .duality import Certificate, dual_certificate
from .exceptions import ConvergenceWarning
from .gated_network import GatedReLU, gated_network_of_blocks
from .losses import Loss
from .network import TwoLayerReLU, recover_network
from .patterns import enumerate_patterns, sample_patterns
from .patterns._matrix import pattern_scope
from .problem import ConvexReLUProblem, build_problem, check_patterns
from .prune import check_prune, pruned_as_asked
from .solvers import SolverResult, get_solver

Array = NDArray[np.float64]
CALLER = "solve"


@dataclass(frozen=True)
class Solution:
    """Result of :func:`solve`.

    Attributes
    ----------
    network : TwoLayerReLU
        The ReLU network recovered by Theorem 1 (m* = ``network.n_neurons``).
    objective : float
        Eq.-(2) objective of ``network`` itself: an upper bound on the optimum p*.
    lower_bound : float
        Certified lower bound (dual objective of a feasible dual point).
    gap, relative_gap : float
        ``objective - lower_bound`` and that divided by ``max(|objective|, 1e-12 s)``,
        ``s = ||y||^2 / 2`` (1 when y = 0; :mod:`convexnn._measures`). Negative (rarely,
        and only with ``scope="patterns"``) when the network beats the program over its
        patterns: recovery merges nearly parallel blocks into one neuron when that lowers
        objective (2), and the merged neuron may activate on a pattern outside the set.
        For ``formulation="gated"`` they measure ``network`` (the ReLU network of
        Theorem 1) against the gated program's bound, often far apart though ``status``
        is "optimal": the solver is judged on the gated program (``convex_objective``
        against ``lower_bound``; ``summary()`` gives that gap first), and its model is
        ``gated_network(X)``.
    scope : {"global", "patterns"}
        ``"global"``: the patterns are exhaustive, so ``lower_bound`` bounds the
        non-convex training problem (2) over networks of any width. ``"patterns"``:
        the bound holds for the convex program over the given patterns only.
    convex_objective : float
        Value of the convex program at the solver's (V, W, c).
    V, W : arrays of shape (d_eff, P)
        Solver's blocks, column i = v_i / w_i.
    c : float or None
        Output bias.
    patterns : array (n, P) of bool
        The patterns used.
    pattern_source : {"exact", "sampled", "given"}
    formulation, solver, status : str
    n_iter : int
    time : float
        Wall time of the solver (seconds).
    constraint_violation : float
        Relative violation of the cone constraints at (V, W) (0 for "gated"; 0 when
        every block predicts at most ``1e-8 max|y|``, see
        :meth:`ConvexReLUProblem.constraint_violation`).
    certificate : Certificate
    gated_network(X) : method
        ``formulation="gated"`` only: the gated ReLU network whose training problem the
        gated program is (:mod:`convexnn.gated_network`), its gates found for X, the data
        given to ``solve``. Where every pattern is realisable by a gate (sampled Gaussian
        or enumerated ones always are) its predictions on X are the program's and its
        objective is ``convex_objective``; else it warns. ``network`` is the ReLU network
        of Theorem 1, which the gated blocks do not make exact. One maximum-margin gate
        per neuron: 0.2-2.5 s per 250 neurons at n = 4000 (d = 8 / 32), 5 s at n = 1e4
        (d = 41) on the 2-core benchmark machine (BENCHMARKS.md, stop 38).
    """

    network: TwoLayerReLU
    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    scope: str
    convex_objective: float
    V: Array
    W: Array
    c: float | None
    patterns: NDArray[np.bool_]
    pattern_source: str
    formulation: str
    solver: str
    status: str
    n_iter: int
    time: float
    constraint_violation: float
    certificate: Certificate

    def gated_network(self, X: Any) -> GatedReLU:
        """The gated network of a ``formulation="gated"`` solution on the data ``X``.

        Parameters
        ----------
        X : array of shape (n, d)
            The features given to :func:`solve` (without the ones column of a hidden
            bias: the blocks' d_eff rows say whether there is one).

        Returns
        -------
        GatedReLU
            Neuron i is block ``u_i = v_i - w_i``, balanced, gated by the maximum-margin
            gate of its pattern (:func:`convexnn.pattern_gates`). A ``UserWarning``
            says when some pattern has no such gate (e.g. the flips of
            ``method="alg3"``): the network's predictions then differ from the
            program's on some rows, and its own ``objective`` is the one to report.
        """
        caller = "Solution.gated_network"
        if self.formulation != "gated":
            raise ValueError(
                f"{caller}: a gated network exists for formulation='gated' solutions, got "
                f"formulation={self.formulation!r}; use network (the ReLU network) instead."
            )
        X_arr = check_X(X, caller=caller)
        n, d_eff = self.patterns.shape[0], self.V.shape[0]
        if X_arr.shape[0] != n or X_arr.shape[1] not in (d_eff, d_eff - 1):
            raise ValueError(
                f"{caller}: X must be the ({n}, {d_eff} or {d_eff - 1}) features given to "
                f"solve (without the ones column of a hidden bias), got shape {X_arr.shape}."
            )
        hidden_bias = X_arr.shape[1] == d_eff - 1
        X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
        return gated_network_of_blocks(
            np.asarray(self.V - self.W, dtype=np.float64),
            self.patterns,
            X_eff,
            hidden_bias=hidden_bias,
            output_bias=self.c,
            caller=caller,
        )

    @property
    def n_neurons(self) -> int:
        """m*: number of non-zero blocks, i.e. neurons of the recovered network."""
        return self.network.n_neurons

    def summary(self) -> str:
        """A few readable lines; says whether the certificate is global."""
        scope = (
            "GLOBAL (all patterns: bound holds for the non-convex problem (2))"
            if self.scope == "global"
            else f"relative to the {self.patterns.shape[1]} {self.pattern_source} patterns only"
        )
        lines = [
            f"formulation={self.formulation}  solver={self.solver}  status={self.status}",
            f"patterns: P={self.patterns.shape[1]} ({self.pattern_source})",
        ]
        if self.formulation == "gated":
            m = int((np.linalg.norm(self.V - self.W, axis=0) > 0).sum())
            gated_gap = self.convex_objective - self.lower_bound
            rel = self.certificate.relative_gap_of(self.convex_objective)
            lines += [
                f"gated program (a relaxation of the ReLU program): optimum "
                f"{self.convex_objective:.10g}, certified gap {gated_gap:.3g} (relative "
                f"{rel:.3g}); its gated network (sol.gated_network(X)): {m} neurons",
                f"ReLU network of its blocks (sol.network, Theorem 1): m* = {self.n_neurons}",
            ]
        else:
            lines += [
                f"neurons m* = {self.n_neurons}",
                f"convex optimum            = {self.convex_objective:.10g}",
            ]
        lines += [
            f"ReLU network objective (2) = {self.objective:.10g}  (upper bound)",
            f"certified lower bound      = {self.lower_bound:.10g}",
            f"gap = {self.gap:.3g}  (relative {self.relative_gap:.3g}), scope: {scope}",
        ]
        if self.gap < 0 and self.scope == "global":
            lines.append(
                "negative gap: rounding (the bound and the objective agree to "
                f"{abs(self.relative_gap):.1g} relative); no network beats the global optimum"
            )
        elif self.gap < 0:
            lines.append(
                "negative gap: the returned network (after merging near-parallel "
                "neurons) lies outside these patterns and beats their optimum"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Solution(objective={self.objective:.6g}, lower_bound={self.lower_bound:.6g}, "
            f"relative_gap={self.relative_gap:.2g}, scope={self.scope!r}, "
            f"n_neurons={self.n_neurons}, P={self.patterns.shape[1]}, status={self.status!r})"
        )


def solve(
    X: Any,
    y: Any,
    beta: float,
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
    prune: bool | str = "auto",
) -> Any:
    """Train a two-layer ReLU network to the optimum of the convex program (8).

    Solves

        min_{v_i, w_i, c}  1/2 || sum_i D_i X (v_i - w_i) + c - y ||^2
                           + beta * sum_i (||v_i||_2 + ||w_i||_2)
        s.t.  (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0   (formulation "relu")

    recovers the network of Theorem 1 and certifies it with a dual point.

    Parameters
    ----------
    X : array of shape (n, d)
        Data, used as is (the ones column is added here when ``hidden_bias``). NumPy
        or anything ``np.asarray`` takes; PyTorch tensors on any device. A tensor on a
        GPU keeps the gated fast solve on that device (:func:`on_data_device`).
    y : array of shape (n,)
        Targets.
    beta : float
        Weight decay of eq. (2), > 0.
    patterns : None, "exact", "sampled" or bool array of shape (n, P)
        None: exact enumeration when the count is at most ``max_exact_patterns``,
        else ``n_patterns`` Gaussian samples. Arrays must be patterns of X (with the
        ones column when ``hidden_bias``): see :func:`enumerate_patterns`.
    formulation : {"relu", "gated"}
        "relu" is eq. (8); "gated" drops the cone constraints (group lasso).
    solver : str or None
        ``"fast"`` (certified stop: the working-set group lasso for ``"gated"``, the
        cone solver warm-started from it for ``"relu"``), ``"group-lasso"`` and
        ``"relu-pgd"`` (the same algorithms by name), ``"cvxpy"`` (Clarabel, the
        reference) or ``"cvxpy-scs"``. None picks ``"fast"`` when the loss is smooth,
        else ``"cvxpy"`` (hinge). With None, a small program (``n * P <= 20000``; squared,
        huber or squared hinge loss) that the fast solver leaves above ``tol`` is solved
        again by CVXPY (Clarabel, at most 5 s or 5x the fast solver's time), whose
        result is kept when Clarabel calls it optimal and its objective is lower
        (``solver`` then reads ``"fast -> cvxpy"``, and ``time`` counts both).
    loss : str or Loss
        ``"squared"``, ``"logistic"``, ``"hinge"``, ``"squared_hinge"``, ``"huber"`` (see
        :mod:`convexnn.losses`); ``"cross_entropy"`` goes through the multi-output path.
    hidden_bias, output_bias : bool
        Regularised hidden biases (ones column) / unregularised output bias.
    n_patterns : int
        Number of sampled patterns when sampling.
    max_exact_patterns : int
        With ``patterns=None``: enumerate when the bound ``count_patterns_bound`` on the
        number of patterns (over the distinct hyperplanes of X) is at most this.
    tol : float
        Target relative gap; a ConvergenceWarning is raised when it is not certified.
    max_iter : int or None
        Solver iteration cap (``n_iter`` counts in the solver's own iterations). None:
        the solver's default; then the default solver may also re-solve a small
        program with CVXPY when the fast one stops above ``tol`` (below). A given cap
        rules that re-solve out.
    random_state : None, int or numpy Generator
        For sampling patterns.
    verbose : bool
        Solver output.
    solver_options : dict or None
        Passed to the solver. The fast solvers take ``dtype``, ``backend``, ``device``
        and ``warm_start`` (:mod:`convexnn.solvers.fast`); ``"cvxpy"`` passes its
        options on to Clarabel (``"cvxpy-scs"``: to SCS). Any other name is refused
        with an error, not ignored.
    prune : bool or "auto"
        Carathéodory pruning of the recovered network (:func:`convexnn.prune_network`):
        same predictions and objective (2), at most n + 1 neurons. "auto" prunes when
        the network has more than n + 1 neurons or is small (n * m <= 2e5).

    Returns
    -------
    Solution
        For targets of shape (n, c) or the cross-entropy loss, the call is passed on to
        :func:`convexnn.solve_multioutput` (mode "separate": c exact scalar networks
        sharing nothing) and returns its ``MultiOutputSolution``.
    """
    tol = check_tol(tol, caller=CALLER)
    max_iter = check_max_iter(max_iter, caller=CALLER)
    hidden_bias = check_bool(hidden_bias, caller=CALLER, name="hidden_bias")
    output_bias = check_bool(output_bias, caller=CALLER, name="output_bias")
    if _is_multi_output(y, loss):
        from .multioutput import solve_multioutput

        return solve_multioutput(
            X,
            y,
            beta,
            mode="separate",
            patterns=patterns,
            formulation=formulation,
            loss=loss,
            hidden_bias=hidden_bias,
            output_bias=output_bias,
            solver=solver,
            tol=tol,
            max_iter=max_iter,
            n_patterns=n_patterns,
            max_exact_patterns=max_exact_patterns,
            random_state=random_state,
            verbose=verbose,
            solver_options=solver_options,
        )
    check_prune(prune, caller=CALLER)
    X_arr = check_X(X, caller=CALLER)
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D, source = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, n_patterns, max_exact_patterns, random_state
    )
    problem = build_problem(
        X_arr,
        y,
        beta,
        D,
        formulation=formulation,
        loss=loss,
        hidden_bias=hidden_bias,
        output_bias=output_bias,
        caller=CALLER,
    )
    solver_obj = get_solver(default_solver(problem) if solver is None else solver, caller=CALLER)
    _check_support(solver_obj, problem)
    options = dict(solver_options or {})
    check_options(solver_obj, options, solver is None, caller=CALLER)
    options = on_data_device(X, solver_obj, problem, options)
    # A given max_iter is a cap: no CVXPY re-solve (Clarabel's iterations) after it.
    if (
        solver is None
        and solver_obj.name == "fast"
        and max_iter is None
        and _fallback_applies(problem)
    ):
        result = _fast_or_reference(problem, solver_obj, tol, max_iter, verbose, options)
    else:
        result = solver_obj.solve(
            problem, tol=tol, max_iter=max_iter, verbose=verbose, options=options
        )
    return _finish(problem, result, D, source, tol, prune)


# The default solver re-solves small programs with CVXPY when the fast one stops short of
# tol (degenerate data: badly scaled, tiny beta, more free dimensions than samples), for
# the losses whose programs are quadratic or second-order cone (Clarabel is usually fast
# there, and runs under a time limit; on the exponential cone of the logistic loss it
# raised on 14 of 400 sweep cases and once took 457 s).
_FALLBACK_SIZE = 20_000  # n * P
_FALLBACK_LOSSES = ("squared", "huber", "squared_hinge")
_FALLBACK_SECONDS, _FALLBACK_RATIO = 5.0, 5.0  # Clarabel's limit: max(5 s, 5x the fast)


def _fallback_applies(problem: ConvexReLUProblem) -> bool:
    return problem.n * problem.P <= _FALLBACK_SIZE and problem.loss.name in _FALLBACK_LOSSES


def _fast_or_reference(
    problem: ConvexReLUProblem,
    fast: Any,
    tol: float,
    max_iter: int | None,
    verbose: bool,
    options: dict[str, Any],
) -> SolverResult:
    """The fast solver's result; if it stopped above tol, CVXPY's when that is lower.

    The fast solver's warnings are held back and re-emitted when its result is kept. A
    CVXPY result (only one that Clarabel calls optimal, within its time limit) is
    returned under the solver name ``"fast -> cvxpy"``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fast.solve(problem, tol=tol, max_iter=max_iter, verbose=verbose, options=options)
    if result.status != "optimal":
        # Clarabel's time is capped (one 80 x 160 squared-loss program took it 496 s):
        # a result it has not called optimal is not taken.
        limit = max(_FALLBACK_SECONDS, _FALLBACK_RATIO * result.time)
        try:
            with warnings.catch_warnings():  # an internal attempt: its result speaks for it
                warnings.simplefilter("ignore")
                ref = get_solver("cvxpy", caller=CALLER).solve(
                    problem, tol=tol, max_iter=None, verbose=verbose, options={"time_limit": limit}
                )
        except RuntimeError:  # Clarabel failed: the fast result stands
            ref = None
        if ref is not None and ref.status == "optimal" and ref.objective < result.objective:
            fast_info = f"status {result.status}, objective {result.objective:.10g}"
            return dataclasses.replace(
                ref,
                solver="fast -> cvxpy",
                time=result.time + ref.time,  # both attempts
                info=dict(ref.info, fast=fast_info),
            )
    for w in caught:  # at the caller's line, as solve's own warnings (stacklevel 3)
        warnings.warn(w.message, w.category, stacklevel=3)
    return result


def _is_multi_output(y: Any, loss: Any) -> bool:
    """Targets (n, c), or a loss that needs one output per class (cross-entropy)."""
    name = loss if isinstance(loss, str) else getattr(loss, "name", "")
    return bool(np.ndim(y) == 2 or name == "cross_entropy" or getattr(loss, "multi_output", False))


def default_solver(problem: ConvexReLUProblem) -> str:
    """``"fast"`` where it is the default (smooth losses: gated, and relu with scalar
    outputs; see ``FastSolver.prefers``), else ``"cvxpy"``."""
    prefers = getattr(get_solver("fast", caller=CALLER), "prefers", None)
    return "fast" if prefers is not None and prefers(problem) else "cvxpy"


def _resolve_patterns(
    patterns: Any,
    X: Array,
    X_eff: Array,
    hidden_bias: bool,
    n_patterns: int,
    max_exact: int,
    random_state: Any,
    *,
    caller: str = CALLER,
    warn_fallback: str | None = None,
    stacklevel: int = 4,
) -> tuple[NDArray[np.bool_], str]:
    """The patterns ``D`` (n, P) and their source ("exact", "sampled" or "given").

    ``patterns=None`` enumerates them, and samples ``n_patterns`` when there are more
    than ``max_exact``: silently, or, when ``warn_fallback`` is given, with a
    UserWarning (at ``stacklevel``) that ends with that text (what the sampled result
    means for the caller). Errors and warnings are labelled ``caller``.
    """
    if patterns is None:
        # enumerate_patterns checks its size bound before enumerating: let it decide.
        try:
            return enumerate_patterns(X, hidden_bias=hidden_bias, max_patterns=max_exact), "exact"
        except ValueError as exc:
            patterns = "sampled"
            n_patterns = check_positive_int(n_patterns, caller=caller, name="n_patterns")
            if warn_fallback is not None:
                warnings.warn(
                    f"{caller}: the patterns of X cannot be enumerated within "
                    f"max_exact_patterns={max_exact} ({exc}) Using {n_patterns} sampled "
                    f"patterns instead: {warn_fallback}",
                    UserWarning,
                    stacklevel=stacklevel,
                )
    if isinstance(patterns, str):
        if patterns == "exact":
            return enumerate_patterns(X, hidden_bias=hidden_bias), "exact"
        if patterns == "sampled":
            n_patterns = check_positive_int(n_patterns, caller=caller, name="n_patterns")
            as_generator(random_state, caller=caller)  # refused under caller's name
            D = sample_patterns(X, n_patterns, hidden_bias=hidden_bias, random_state=random_state)
            return D, "sampled"
        raise ValueError(
            f"{caller}: patterns must be None, 'exact', 'sampled' or a boolean array of "
            f"shape (n, P), got the string {patterns!r}."
        )
    patterns = check_patterns(patterns, X.shape[0], caller=caller)
    scope = pattern_scope(patterns, X_eff, hidden_bias=hidden_bias, caller=caller)
    return patterns, "exact" if scope == "global" else "given"


def check_options(solver: Any, options: dict[str, Any], default: bool, *, caller: str) -> None:
    """Refuse ``solver_options`` the solver does not take (``option_names``), by name.

    ``default``: the solver was picked by :func:`default_solver` (the user named none).
    """
    names = getattr(solver, "option_names", None)
    if names is None or not (unknown := sorted(set(options) - names)):
        return
    picked = " (the default solver for this problem)" if default else ""
    raise ValueError(
        f"{caller}: solver {solver.name!r}{picked} takes the solver_options "
        f"{sorted(names)}, got {unknown}; settings of the CVXPY backends (Clarabel's "
        f"tol_gap_abs, time_limit, ...) need solver='cvxpy'."
    )


def on_data_device(
    X: Any, solver: Any, problem: ConvexReLUProblem, options: dict[str, Any]
) -> dict[str, Any]:
    """``options``, plus ``backend="torch"`` on X's device when X is a PyTorch tensor on
    an accelerator (a GPU: any device but the CPU) and the solver runs the problem's
    formulation there (its ``device_formulations``: the gated fast solvers).

    A ``backend`` given in ``options`` is kept, and so is a ``device``. Tensors on the
    CPU run on NumPy, faster there (the gated solve at n = 1e4, d = 42, P = 2000: 3.6 s
    against 5.2 s on torch, one thread); the relu formulation's cone steps run in NumPy
    float64 wherever the data are. Results come back as float64 NumPy arrays either way.
    """
    if not is_torch_array(X) or X.device.type == "cpu" or "backend" in options:
        return options
    if problem.formulation not in getattr(solver, "device_formulations", ()):
        return options
    return {**options, "backend": "torch", "device": options.get("device", str(X.device))}


def _check_support(solver: Any, problem: ConvexReLUProblem) -> None:
    if problem.formulation not in solver.formulations:
        raise ValueError(
            f"{CALLER}: solver {solver.name!r} does not support formulation "
            f"{problem.formulation!r}; it supports {solver.formulations}."
        )
    if "*" not in solver.losses and problem.loss.name not in solver.losses:
        raise ValueError(
            f"{CALLER}: solver {solver.name!r} does not support loss {problem.loss.name!r}; "
            f"it supports {solver.losses}."
        )


# (zero_tol, merge_tol) of recover_network, from the most literal to the most aggressive;
# the last drops every block (the zero network, optimal for large beta).
_RECOVERY_CANDIDATES = (
    (0.0, 1e-9),  # every block: interior-point solutions spread mass over tiny blocks
    (1e-6, 1e-9),
    (1e-6, 1e-7),
    (1e-6, 1e-5),
    (1e-6, 1e-3),
    (1e-4, 1e-3),
    (1e-2, 1e-3),
    (1.0, None),
)


def _recover_smallest_network(
    problem: ConvexReLUProblem, result: SolverResult
) -> tuple[TwoLayerReLU, float]:
    """Theorem-1 network with the fewest neurons that does not raise objective (2).

    Near-zero blocks are dropped and parallel blocks merged (see
    :func:`recover_network`) with growing tolerances; a smaller network is kept only if
    its own objective (2) does not exceed the best so far by more than 1e-12 relative.
    Returns the network and its objective (2).
    """
    X_user = problem.X[:, :-1] if problem.hidden_bias else problem.X
    best: tuple[TwoLayerReLU, float] | None = None
    for zero_tol, merge_tol in _RECOVERY_CANDIDATES:
        net = recover_network(
            result.V,
            result.W,
            hidden_bias=problem.hidden_bias,
            output_bias=result.c,
            zero_tol=zero_tol,
            merge_tol=merge_tol,
        )
        obj = net.objective(X_user, problem.y, problem.beta, loss=problem.loss)
        if best is None or (
            obj <= best[1] + 1e-12 * abs(best[1]) and net.n_neurons <= best[0].n_neurons
        ):
            best = (net, obj)
    assert best is not None
    return best


def _pruned(
    problem: ConvexReLUProblem, network: TwoLayerReLU, upper: float, prune: bool | str
) -> tuple[TwoLayerReLU, float]:
    """Carathéodory pruning (same predictions, objective within 1e-8 relative) when asked
    or cheap (:func:`convexnn.prune.pruned_as_asked`)."""
    X_user = problem.X[:, :-1] if problem.hidden_bias else problem.X
    return pruned_as_asked(
        network, upper, X_user, problem.y, problem.beta, loss=problem.loss, prune=prune
    )


def _finish(
    problem: ConvexReLUProblem,
    result: SolverResult,
    D: NDArray[np.bool_],
    source: str,
    tol: float,
    prune: bool | str = "auto",
) -> Solution:
    network, upper = _recover_smallest_network(problem, result)
    network, upper = _pruned(problem, network, upper, prune)
    # The dual candidate comes from the convex predictions: any candidate gives a valid
    # bound once scaled, and these are the most accurate (the network's predictions
    # differ by the solver's constraint violations and the dropped near-zero blocks).
    z = problem.predict(result.V, result.W, result.c)
    # _resolve_patterns already decided: "exact" means exhaustive for this very X.
    scope = "global" if source == "exact" else "patterns"
    # A fast solver's last certificate bounds the cone norms at its dual candidate.
    hint = result.info.get("dual_norm_bound")
    # gated: the candidate aligned with the solution's blocks certifies far tighter near
    # the optimum, for one small solve and one GEMM (relu: the cone norms again; its
    # fast solver polishes to rounding, where the plain candidate is as good).
    blocks = (result.V, result.W) if problem.formulation == "gated" else None
    cert = dual_certificate(problem, z, upper, scope=scope, dual_norm_bound=hint, blocks=blocks)
    lam = result.info.get("dual_point")
    if lam is not None and np.all(np.isfinite(lam)):
        # The solver's own multiplier (CVXPY) is the optimal dual point up to accuracy:
        # for hinge-type losses it beats -grad L(z), which is only a subgradient.
        alt = dual_certificate(problem, z, upper, scope=scope, lam=lam)
        if alt.lower_bound > cert.lower_bound:
            cert = alt
    status = result.status
    # The solver is judged on its own program: for "gated" the ReLU network built from
    # the gated blocks differs from the gated model, and that difference is reported
    # (objective vs convex_objective), not blamed on the solver.
    solver_gap = cert.relative_gap
    if problem.formulation == "gated":
        solver_gap = relative_gap(result.objective, cert.lower_bound, problem.y)
    if solver_gap > tol:
        if status == "optimal":  # the solver's own test passed (CVXPY's tolerances), ours not
            status = "inaccurate"
        warnings.warn(
            f"{CALLER}: solver {result.solver!r} stopped with status {status!r} at a "
            f"certified relative gap of {solver_gap:.3g}, above tol={tol:.3g}.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return Solution(
        network=network,
        objective=upper,
        lower_bound=cert.lower_bound,
        gap=cert.gap,
        relative_gap=cert.relative_gap,
        scope=cert.scope,
        convex_objective=result.objective,
        V=result.V,
        W=result.W,
        c=result.c,
        patterns=D,
        pattern_source=source,
        formulation=problem.formulation,
        solver=result.solver,
        status=status,
        n_iter=result.n_iter,
        time=result.time,
        constraint_violation=problem.constraint_violation(result.V, result.W),
        certificate=cert,
    )
