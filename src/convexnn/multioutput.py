"""Multi-output two-layer ReLU networks: targets Y of shape (n, c), shared hidden layer.

The training problem (eq. 2 with vector outputs, any convex loss of A.13) is

    p* = min_{U, alpha, c}  L( sum_j (X u_j)_+ alpha_j^T + 1 c^T, Y )
                            + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2)

with ``alpha_j`` the j-th row of alpha (m, c). Three ways to attack it:

``mode="separate"`` (exact)
    c independent scalar networks, each solved exactly by :func:`convexnn.solve`
    (program 8 per output column), concatenated into one network whose alpha
    (m_1 + ... + m_c, c) is block structured. This is the exact optimum of the problem
    *with the constraint that no neuron feeds two outputs*; its optimum is >= p*.
    The lower bound is the sum of the c scalar certificates (a bound on that
    constrained problem). Losses that couple the outputs (softmax cross-entropy) are
    solved as one joint program of c copies of (8) sharing the loss (still exact).

``mode="shared", formulation="gated"`` (exact for gated networks)
    With the gates fixed to the patterns ``D_i``, neuron j with gate ``D_i`` outputs
    ``D_i X u_j alpha_j^T``. Weight decay is minimised by balancing the two layers:
    ``beta/2 (||u||^2 + ||alpha||^2) >= beta ||u|| ||alpha|| = beta ||u alpha^T||_*``,
    with equality when ``||u|| = ||alpha||``; and for the neurons sharing gate i,
    ``sum_j ||u_j|| ||alpha_j|| >= ||sum_j u_j alpha_j^T||_*`` with equality for the SVD.
    So the gated training problem is exactly the group-nuclear-norm program

        min_{V_i in R^{d x c}, c}  L( sum_i D_i X V_i + 1 c^T, Y ) + beta sum_i ||V_i||_*

    (Sahiner et al., ICLR 2021), solved here with CVXPY. Each ``V_i = sum_k s_k p_k q_k^T``
    (SVD) gives neurons ``u = sqrt(s_k) p_k``, ``alpha_j = sqrt(s_k) q_k`` with gate D_i
    (``MultiOutputSolution.gates``), whose penalty is exactly ``beta s_k``.

``mode="shared", formulation="relu"`` (a convex RELAXATION, not exact)
    The exact ReLU program needs ``V_i = sum_k u_k alpha_k^T`` with every factor
    ``u_k`` in the cone ``K_i = {u : (2 D_i - I) X u >= 0}``: a cone-constrained
    nuclear norm, i.e. a copositive program (Sahiner et al.), intractable in general.
    The relaxation solved here drops the cone constraints on the factors: it is the
    gated program above. Every ReLU network is a gated network (gate D_i of a neuron
    u in K_i), so over exhaustive patterns the relaxed optimum is <= p*: the relaxation
    goes in the right direction for lower bounds. The neurons recovered by SVD are
    turned into a ReLU network (each factor's sign chosen to fit its cone best) and its
    output layer is refitted exactly (a group lasso over the rows of alpha with the
    hidden directions fixed, which never increases eq. (2)). When every factor lies
    in its cone (``relaxation_tight``) the ReLU network reproduces the relaxed
    predictions and the certificate closes the gap: then it is a proof of optimality.

Certificates, for every mode, tell only what is proven:

* ``objective`` (the upper bound) is always eq. (2) of the returned ReLU network.
* ``lower_bound`` for "shared" is ``-L*(-Lam)`` at a dual point ``Lam`` (n, c) scaled
  so that ``max_i ||X^T D_i Lam||_2 <= beta`` (spectral norm) and ``1^T Lam = 0`` with
  an output bias. Weak duality: for any network,
  ``<Lam, sum_j (X u_j)_+ alpha_j^T> <= sum_j ||alpha_j|| ||Lam^T (X u_j)_+||`` and
  ``||Lam^T (X u)_+|| = ||Lam^T D_i X u|| <= ||X^T D_i Lam||_2 ||u||`` for the
  pattern i of u, so ``p* >= -L*(-Lam)`` when the patterns are exhaustive (scope
  ``"global"``), for the ReLU *and* the gated problem. Over sampled patterns (scope
  ``"patterns"``) it bounds the gated program over those patterns only.
* ``lower_bound`` for "separate" bounds the separate problem only (networks without
  shared hidden neurons: one scalar network per output), whose optimum can exceed p*:
  a "shared" network may score below it, even with ``scope="global"`` (the scope says
  the bound covers separate networks of any width, not eq. (2)).
  ``shared_lower_bound`` is the shared certificate of the same network: the bound
  valid for p* itself (eq. (2) with vector outputs) over exhaustive patterns.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from array_api_compat import is_torch_array
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from ._measures import relative_gap
from ._validation import (
    add_ones_column,
    check_beta,
    check_choice,
    check_max_iter,
    check_tol,
    check_X,
    host_array,
)
from .exceptions import ConvergenceWarning
from .losses import Loss, get_loss
from .losses.base import project_box_sum_zero
from .network import TwoLayerReLU

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
CALLER = "solve_multioutput"
MODES = ("separate", "shared")
_SAFETY = 1.0 - 8.0 * np.finfo(np.float64).eps
_CONE_TOL = 1e-6  # relative cone violation below which a factor counts as a ReLU neuron
_BACKENDS = {"cvxpy": "CLARABEL", "cvxpy-scs": "SCS"}
# Tighter than Clarabel's defaults: the exponential cones of the logistic and
# cross-entropy losses otherwise stop near 1e-5 relative (the certificate then says so).
_CLARABEL_DEFAULTS = {
    "direct_solve_method": "qdldl",
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
}


@dataclass(frozen=True)
class MultiOutputSolution:
    """Result of :func:`solve_multioutput`.

    Attributes
    ----------
    network : TwoLayerReLU
        ReLU network with alpha of shape (m, c) and output bias of shape (c,) or None.
    objective : float
        Eq.-(2) objective of ``network`` (upper bound on p*).
    lower_bound : float
        Certified lower bound (see the module docstring for what it bounds). For
        ``mode="shared"``: on eq. (2) with vector outputs (one shared hidden layer). For
        ``mode="separate"``: only on networks WITHOUT shared hidden neurons (each neuron
        feeds one output: one scalar network per output), whose optimum can exceed that
        of eq. (2): a network with shared neurons may score below it. The bound valid
        for eq. (2) itself is ``shared_lower_bound``.
    gap, relative_gap : float
        ``objective - lower_bound`` and that over ``max(|objective|, 1e-12 ||Y||^2 / 2)``
        (``1e-12`` when Y = 0).
    scope : {"global", "patterns"}
        ``"global"``: exhaustive patterns, ``lower_bound`` holds for the non-convex
        problem of the mode (for "separate": the problem of one network per output,
        not eq. (2)); ``"patterns"``: only for the program over the patterns used.
    exact : bool
        Whether the program solved is exact for the chosen mode (False for
        ``mode="shared", formulation="relu"``: a convex relaxation).
    relaxation_tight : bool
        For the shared relaxation: every recovered factor lay in its cone, so the
        ReLU network reproduces the relaxed optimum. True for the exact modes.
    mode, formulation : str
    loss : Loss
    convex_objective : float
        Value of the convex program solved (for "separate": the sum over outputs).
    shared_lower_bound : float
        Lower bound from the shared dual at the returned network's predictions: valid
        for eq. (2) with vector outputs (shared hidden neurons allowed), over all
        networks when ``scope="global"``. For "separate" it is the bound to compare
        other (shared) networks with; usually well below ``lower_bound``.
    gates : array (n, m) of bool or None
        For "shared": the gate D_i of each neuron (the gated model is
        ``sum_j gates[:, j] * (X_eff u_j) alpha_j^T``); None for "separate".
    gated_objective : float or None
        Objective of that gated model (equals ``convex_objective`` up to solver
        accuracy); None for "separate".
    Y : array (n, c)
        Targets as used (one-hot for cross-entropy labels, {-1, +1} for binary losses).
    patterns : array (n, P) of bool
    pattern_source : {"exact", "sampled", "given"}
    status : str
    time : float
        Wall time in seconds.
    solutions : tuple of Solution or None
        The c scalar solutions of ``mode="separate"`` (decomposable losses).
    solver : str
        The backend that ran: ``"cvxpy"`` (Clarabel) or ``"cvxpy-scs"`` for the CVXPY
        programs; for ``mode="separate"`` with a decomposable loss, the solvers of the
        scalar solutions (distinct names joined by ", ").
    n_iter : int or None
        Iterations of the backend (for the scalar solutions: their sum); None when the
        backend does not report them.
    """

    network: TwoLayerReLU
    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    scope: str
    exact: bool
    relaxation_tight: bool
    mode: str
    formulation: str
    loss: Loss
    convex_objective: float
    shared_lower_bound: float
    gates: BoolArray | None
    gated_objective: float | None
    Y: Array
    patterns: BoolArray
    pattern_source: str
    status: str
    time: float
    solutions: tuple[Any, ...] | None = None
    solver: str = "cvxpy"
    n_iter: int | None = None

    @property
    def n_neurons(self) -> int:
        """Number of hidden neurons of the returned network."""
        return self.network.n_neurons

    def summary(self) -> str:
        """A few readable lines, saying what is exact and what the bound covers."""
        what = "exact" if self.exact else "convex RELAXATION (copositive program relaxed)"
        where = (
            "scope global"
            if self.scope == "global"
            else f"scope patterns: the {self.patterns.shape[1]} {self.pattern_source} patterns only"
        )
        lines = [
            f"mode={self.mode}  formulation={self.formulation}  loss={self.loss.name}"
            f"  program: {what}",
            f"outputs c = {self.Y.shape[1]}, neurons m = {self.n_neurons}, "
            f"patterns P = {self.patterns.shape[1]} ({self.pattern_source})",
            f"ReLU network objective (2) = {self.objective:.10g}  (upper bound)",
        ]
        if self.mode == "separate":
            lines += [
                f"certified lower bound      = {self.lower_bound:.10g}  ({where})",
                "  it bounds networks WITHOUT shared hidden neurons (one network per "
                "output) only: a network with shared neurons may score below it",
                f"gap = {self.gap:.3g}  (relative {self.relative_gap:.3g}), to that bound",
                f"bound for eq. (2) with vector outputs (shared neurons allowed): "
                f"shared_lower_bound = {self.shared_lower_bound:.10g}  ({where})",
            ]
        else:
            lines += [
                f"certified lower bound      = {self.lower_bound:.10g}  ({where}) for eq. "
                f"(2) with vector outputs",
                f"gap = {self.gap:.3g}  (relative {self.relative_gap:.3g})",
            ]
        return "\n".join(lines)


def solve_multioutput(
    X: Any,
    Y: Any,
    beta: float,
    *,
    mode: str = "separate",
    patterns: Any = None,
    formulation: str = "relu",
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    output_bias: bool = False,
    solver: str | None = None,
    tol: float = 1e-6,
    max_iter: int | None = None,
    n_patterns: int = 1000,
    max_exact_patterns: int = 5000,
    random_state: Any = None,
    verbose: bool = False,
    solver_options: dict[str, Any] | None = None,
) -> MultiOutputSolution:
    """Train a multi-output two-layer ReLU network (targets (n, c)); certify it.

    Minimises ``L(sum_j (X u_j)_+ alpha_j^T + 1 c^T, Y) + beta/2 sum_j (||u_j||^2 +
    ||alpha_j||^2)`` by one of the programs of the module docstring.

    Parameters
    ----------
    X : array of shape (n, d)
    Y : array of shape (n, c)
        Targets. For ``loss="cross_entropy"`` also a label vector (n,), one-hot
        encoded over ``np.unique(Y)``; binary losses take labels in {-1, 1} or {0, 1}
        in every column.
    beta : float
        Weight decay, > 0.
    mode : {"separate", "shared"}
        ``"separate"``: c scalar networks (exact); ``"shared"``: one hidden layer
        shared by all outputs (exact for ``formulation="gated"``, a convex relaxation
        for ``"relu"``).
    patterns : None, "exact", "sampled" or bool array (n, P)
        As in :func:`convexnn.solve`.
    formulation : {"relu", "gated"}
    loss : str or Loss
        Any loss of :mod:`convexnn.losses`.
    hidden_bias, output_bias : bool
        Regularised hidden biases (ones column) / unregularised output biases (c,).
    solver : None, "cvxpy" or "cvxpy-scs"
        Backend of the CVXPY programs (Clarabel or SCS; None: Clarabel); "separate"
        with a decomposable loss passes it to :func:`convexnn.solve` (any solver
        there; None: solve's default, the fast solver for smooth losses). With
        "cvxpy" there, Clarabel solved each output of n = 1000, d = 10, P = 200 in
        about 90 s; the fast solver takes about a second.
    tol : float
        Target relative gap; a ConvergenceWarning is raised when it is not certified
        (not for the relaxation, whose gap may be genuine).
    max_iter : int or None
    n_patterns, max_exact_patterns, random_state :
        Pattern choice, as in :func:`convexnn.solve`.
    verbose : bool
    solver_options : dict or None
        Passed to the backend: Clarabel's (SCS's) settings for the CVXPY programs; for
        "separate" with a loss of one column, to :func:`convexnn.solve` (with the
        default solver there, the fast solver's options).

    Returns
    -------
    MultiOutputSolution
    """
    start = time.perf_counter()
    setup = _setup(
        X, Y, beta, mode, patterns, formulation, loss, hidden_bias, output_bias,
        n_patterns, max_exact_patterns, random_state,
    )  # fmt: skip
    tol = check_tol(tol, caller=CALLER)
    max_iter = check_max_iter(max_iter, caller=CALLER)
    run = _Run(solver, tol, max_iter, verbose, dict(solver_options or {}))
    if mode == "shared":
        sol = _solve_shared(setup, run)
    elif setup.loss.multi_output:
        sol = _solve_separate_joint(setup, run)
    else:
        # A tensor goes to solve as given: on a GPU, each column's gated solve stays there
        # (:func:`convexnn.solve.on_data_device`).
        sol = _solve_separate(setup, run, X if is_torch_array(X) else None)
    program_gap = _program_gap(sol, setup.Y)
    if sol.exact and program_gap > tol:
        warnings.warn(
            f"{CALLER}: the certified relative gap of the {sol.mode} program is "
            f"{program_gap:.3g}, above tol={tol:.3g} (status {sol.status!r}).",
            ConvergenceWarning,
            stacklevel=2,
        )
    return replace(sol, time=float(time.perf_counter() - start))


@dataclass(frozen=True)
class _Setup:
    """Validated data of one multi-output problem."""

    X: Array  # user data (n, d)
    X_eff: Array  # with the ones column when hidden_bias
    Y: Array  # (n, c), encoded by the loss
    beta: float
    D: Any  # (n, P) patterns (a PatternMatrix when exact)
    formulation: str
    loss: Loss
    hidden_bias: bool
    output_bias: bool
    scope: str
    source: str


@dataclass(frozen=True)
class _Run:
    """Solver settings."""

    solver: str | None
    tol: float
    max_iter: int | None
    verbose: bool
    options: dict[str, Any]


def _setup(
    X: Any,
    Y: Any,
    beta: Any,
    mode: str,
    patterns: Any,
    formulation: str,
    loss: str | Loss,
    hidden_bias: bool,
    output_bias: bool,
    n_patterns: int,
    max_exact_patterns: int,
    random_state: Any,
) -> _Setup:
    from .solve import _resolve_patterns

    X_arr = check_X(X, caller=CALLER)
    beta_val = check_beta(beta, caller=CALLER)
    check_choice(mode, MODES, caller=CALLER, name="mode")
    formulation = check_choice(formulation, ("relu", "gated"), caller=CALLER, name="formulation")
    loss_obj = get_loss(loss, caller=CALLER)
    Y_arr = check_targets_2d(Y, X_arr.shape[0], loss_obj, CALLER)
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D, source = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, n_patterns, max_exact_patterns, random_state,
        caller=CALLER,
    )  # fmt: skip
    return _Setup(
        X_arr, X_eff, Y_arr, beta_val, D, formulation, loss_obj, bool(hidden_bias),
        bool(output_bias), "global" if source == "exact" else "patterns", source,
    )  # fmt: skip


def _program_gap(sol: MultiOutputSolution, Y: Array) -> float:
    """Relative gap of the program solved: its own value for gated (the gated model's
    objective for "shared", the gated programs' values for "separate"), not that of the
    ReLU network built from gated blocks (a different model; its gap had raised a
    spurious warning of 0.9 on a certified gated solve)."""
    upper = sol.objective
    if sol.gated_objective is not None:
        upper = sol.gated_objective
    elif sol.formulation == "gated":
        upper = sol.convex_objective
    return relative_gap(upper, sol.lower_bound, Y)


# -- validation -------------------------------------------------------------------------


def check_targets_2d(Y: Any, n: int, loss: Loss, caller: str) -> Array:
    """Targets as an (n, c) float array, checked and encoded by the loss."""
    arr = np.asarray(host_array(Y))
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{caller}: Y must have shape (n_samples, n_outputs), got shape {arr.shape}."
        )
    if arr.shape[0] != n:
        raise ValueError(
            f"{caller}: Y must have one row per row of X ({n}), got {arr.shape[0]}. "
            f"Check that X and Y describe the same samples."
        )
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(
            f"{caller}: Y must have at least one output column, got shape {arr.shape}; "
            f"pass targets of shape (n_samples, n_outputs) with n_outputs >= 1."
        )
    if loss.multi_output:
        return loss.check_targets(arr, caller)
    if arr.ndim == 1:
        arr = arr[:, None]
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{caller}: Y must be numeric for loss {loss.name!r}.") from None
    cols = [loss.check_targets(arr[:, k], f"{caller} (output {k})") for k in range(arr.shape[1])]
    return np.column_stack(cols)


# -- separate mode ----------------------------------------------------------------------


def _solve_separate(st: _Setup, run: _Run, X: Any = None) -> MultiOutputSolution:
    """c calls of :func:`convexnn.solve` on ``X`` (the data as given; None: ``st.X``), one
    per output column, same patterns."""
    X = st.X if X is None else X
    from .solve import solve

    sols = []
    for k in range(st.Y.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported once, above
            sol = solve(
                X, st.Y[:, k], st.beta, patterns=st.D, formulation=st.formulation,
                solver=run.solver, loss=st.loss, hidden_bias=st.hidden_bias,
                output_bias=st.output_bias, tol=run.tol, max_iter=run.max_iter,
                verbose=run.verbose, solver_options=run.options,
            )  # fmt: skip
        sols.append(sol)
    return _separate_solution(st, sols)


def separate_path_point(
    X: Array,
    Y: Array,
    beta: float,
    D: BoolArray,
    source: str,
    *,
    formulation: str,
    loss: Loss,
    hidden_bias: bool,
    output_bias: bool,
    solutions: list[Any],
) -> MultiOutputSolution:
    """The "separate" solution at one beta of a path from its c scalar ``solutions``.

    ``X`` (n, d) and ``Y`` (n, c) are checked arrays (``Y`` encoded by ``loss``), ``D``
    (n, P) the path's patterns and ``source`` their origin ("exact", "sampled",
    "given"); ``time`` is the sum of the scalar solves' times.
    """
    X_eff = add_ones_column(X) if hidden_bias else X
    scope = "global" if source == "exact" else "patterns"
    st = _Setup(X, X_eff, Y, beta, D, formulation, loss, hidden_bias, output_bias, scope, source)
    sol = _separate_solution(st, solutions)
    return replace(sol, time=float(sum(s.time for s in solutions)))


def _separate_solution(st: _Setup, sols: list[Any]) -> MultiOutputSolution:
    """The c scalar solutions ``sols`` (same patterns) as one separate-mode solution."""
    statuses = {s.status for s in sols}
    return _assemble(
        st,
        concatenate_networks([s.network for s in sols]),
        float(sum(s.lower_bound for s in sols)),
        mode="separate",
        exact=True,
        tight=True,
        convex_objective=float(sum(s.convex_objective for s in sols)),
        status="optimal" if statuses == {"optimal"} else "inaccurate",
        solutions=tuple(sols),
        scope="global" if all(s.scope == "global" for s in sols) else "patterns",
        solver=", ".join(dict.fromkeys(str(s.solver) for s in sols)),
        n_iter=int(sum(s.n_iter for s in sols)),
    )


def concatenate_networks(networks: list[TwoLayerReLU]) -> TwoLayerReLU:
    """c scalar networks as one network with block-structured alpha (m_1+...+m_c, c)."""
    c = len(networks)
    U = np.hstack([net.U for net in networks])
    alpha = np.zeros((U.shape[1], c))
    start = 0
    for k, net in enumerate(networks):
        alpha[start : start + net.n_neurons, k] = net.alpha
        start += net.n_neurons
    b = np.concatenate([net.b for net in networks]) if networks[0].b is not None else None
    cb = None
    if networks[0].c is not None:
        cb = np.array([float(net.c) for net in networks])  # type: ignore[arg-type]
    return TwoLayerReLU(U, alpha, b=b, c=cb)


def _solve_separate_joint(st: _Setup, run: _Run) -> MultiOutputSolution:
    """c copies of program (8), one per output, coupled only by the loss (cross-entropy).

    ``min L([A(V_k - W_k) + c_k]_k, Y) + beta sum_k sum_i (||v_ki|| + ||w_ki||)`` with
    the cone constraints for "relu". Exact for separate networks. Its dual constraints
    are per output column: ``max_i cone-dual-norm(Lam[:, k]) <= beta`` for every k.
    """
    import cvxpy as cp

    from .duality import _max_dual_norm
    from .network import recover_network

    M = np.asarray(st.D, dtype=np.float64)
    S, X_eff, Y = 2.0 * M - 1.0, st.X_eff, st.Y
    cols, blocks, cons = [], [], []
    for _ in range(Y.shape[1]):
        V = cp.Variable((X_eff.shape[1], M.shape[1]))
        W = cp.Variable((X_eff.shape[1], M.shape[1]))
        cols.append(cp.sum(cp.multiply(M, X_eff @ (V - W)), axis=1))
        blocks.append((V, W))
        if st.formulation == "relu":
            cons += [cp.multiply(S, X_eff @ V) >= 0, cp.multiply(S, X_eff @ W) >= 0]
    Z, c_var = _add_output_bias(cp.vstack(cols).T, st, cons)
    reg = sum(cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0)) for V, W in blocks)
    prob = cp.Problem(cp.Minimize(st.loss.cvxpy_expr(Z, Y) + st.beta * reg), cons)
    status = _run_cvxpy(prob, run)
    c_val = _value_or_none(c_var)
    nets = [
        recover_network(
            np.asarray(V.value, dtype=np.float64),
            np.asarray(W.value, dtype=np.float64),
            hidden_bias=st.hidden_bias,
            output_bias=float(c_val[k]) if c_val is not None else None,
        )
        for k, (V, W) in enumerate(blocks)
    ]
    Lam = _dual_candidate_2d(st.loss, np.asarray(Z.value, dtype=np.float64), Y, st.output_bias)
    D_bool = np.asarray(st.D, dtype=bool)
    s_max = max(_max_dual_norm(X_eff, D_bool, Lam[:, k], st.formulation) for k in range(Y.shape[1]))
    return _assemble(
        st,
        concatenate_networks(nets),
        _scaled_dual_value(st.loss, Lam, Y, st.beta, s_max),
        mode="separate",
        exact=True,
        tight=True,
        convex_objective=float(prob.value),
        status=status,
        solver=run.solver or "cvxpy",
        n_iter=_cvxpy_iterations(prob),
    )


def _add_output_bias(Z: Any, st: _Setup, cons: list[Any]) -> tuple[Any, Any]:
    """``Z + 1 c^T`` with a (1, c) variable when there is an output bias (else Z, None).

    Softmax ignores a common shift of the outputs: for cross-entropy ``c_0 = 0`` is
    pinned (appended to ``cons``) so that the optimum is unique (interior-point
    methods converge poorly on an unbounded optimal face).
    """
    import cvxpy as cp

    if not st.output_bias:
        return Z, None
    c_var = cp.Variable((1, st.Y.shape[1]))
    if st.loss.name == "cross_entropy":
        cons.append(c_var[0, 0] == 0)
    return Z + np.ones((st.Y.shape[0], 1)) @ c_var, c_var


def _value_or_none(var: Any) -> Array | None:
    return None if var is None else np.asarray(var.value, dtype=np.float64).reshape(-1)


# -- shared mode ------------------------------------------------------------------------


def _solve_shared(st: _Setup, run: _Run) -> MultiOutputSolution:
    """Group-nuclear-norm program (exact gated; the relaxation for relu), recovery, bound."""
    prob, Vs, Z, c_var = build_group_nuclear_program(
        st.X_eff, st.Y, st.beta, st.D, st.loss, st.output_bias
    )
    status = _run_cvxpy(prob, run)
    c_val = _value_or_none(c_var)
    V_vals = [np.asarray(V.value, dtype=np.float64) for V in Vs]
    U_eff, alpha, gate_idx, cone_ok = recover_shared(st.X_eff, np.asarray(st.D, bool), V_vals)
    gates = np.asarray(st.D, dtype=bool)[:, gate_idx]
    gated_obj = gated_objective(st.X_eff, st.Y, st.beta, U_eff, alpha, gates, c_val, st.loss)
    network = _network_from_eff(U_eff, alpha, c_val, st.hidden_bias, st.Y.shape[1])
    if st.formulation == "relu":
        # The options are the CVXPY program's; with solver=None the separate candidate
        # goes to solve's default solver, which takes other ones.
        opts = run.options if run.solver is not None else {}
        quiet = _Run(run.solver, run.tol, run.max_iter, False, opts)
        relu_st = replace(st, formulation="relu")
        sep = (_solve_separate_joint if st.loss.multi_output else _solve_separate)(relu_st, quiet)
        network = _best_relu_network(st, [network, sep.network])
    Lam = _dual_candidate_2d(st.loss, np.asarray(Z.value, dtype=np.float64), st.Y, st.output_bias)
    lower = _scaled_dual_value(st.loss, Lam, st.Y, st.beta, spectral_dual_norm(st.X_eff, st.D, Lam))
    return _assemble(
        st,
        network,
        lower,
        mode="shared",
        exact=st.formulation == "gated",
        tight=st.formulation == "gated" or bool(np.all(cone_ok)),
        convex_objective=float(prob.value),
        status=status,
        gates=gates,
        gated_objective=gated_obj,
        solver=run.solver or "cvxpy",
        n_iter=_cvxpy_iterations(prob),
    )


def build_group_nuclear_program(
    X: Array, Y: Array, beta: float, D: Any, loss: Loss, output_bias: bool
) -> tuple[Any, list[Any], Any, Any]:
    """``min L(sum_i D_i X V_i + 1 c^T, Y) + beta sum_i ||V_i||_*`` in CVXPY.

    Returns ``(problem, [V_1..V_P], Z, c)``, ``V_i`` of shape (d, c), ``c`` None
    without an output bias.
    """
    import cvxpy as cp

    M = np.asarray(D, dtype=np.float64)
    n, k = Y.shape
    Vs = [cp.Variable((X.shape[1], k)) for _ in range(M.shape[1])]
    Z = sum((M[:, i : i + 1] * X) @ V for i, V in enumerate(Vs))
    c_var = cp.Variable((1, k)) if output_bias else None
    if c_var is not None:
        Z = Z + np.ones((n, 1)) @ c_var
    cons = []
    if c_var is not None and loss.name == "cross_entropy":
        cons.append(c_var[0, 0] == 0)  # softmax ignores a common shift: pin it
    reg = sum(cp.normNuc(V) if k > 1 else cp.norm(V, 2) for V in Vs)
    return cp.Problem(cp.Minimize(loss.cvxpy_expr(Z, Y) + beta * reg), cons), Vs, Z, c_var


def recover_shared(
    X: Array, D: BoolArray, V_list: list[Array], zero_tol: float = 1e-6
) -> tuple[Array, Array, NDArray[np.intp], BoolArray]:
    """Neurons of the group-nuclear solution: SVD of each ``V_i``.

    ``V_i = sum_k s_k p_k q_k^T`` gives ``u = sqrt(s_k) p_k``, ``alpha = sqrt(s_k) q_k``
    (so ``beta/2 (||u||^2 + ||alpha||^2) = beta s_k``), gate ``D_i``; singular values
    at most ``zero_tol * max s`` are dropped. The sign of ``(u, alpha)`` (free in the
    SVD) is chosen so that ``u`` fits the cone ``(2 D_i - I) X u >= 0`` best.

    Returns
    -------
    U_eff (d, m), alpha (m, c), gate index (m,) into the columns of D, and
    cone_ok (m,): whether ``u`` lies in its cone (relative violation <= 1e-6), i.e.
    whether the ReLU neuron ``(X u)_+`` equals the gated one ``D_i X u``.
    """
    svds = [np.linalg.svd(V, full_matrices=False) for V in V_list]
    s_max = max((float(s.max(initial=0.0)) for _, s, _ in svds), default=0.0)
    us, alphas, gate, ok = [], [], [], []
    for i, (P_, s, Qt) in enumerate(svds):
        sign_i = np.where(D[:, i], 1.0, -1.0)
        for k in np.flatnonzero(s > zero_tol * s_max):
            u, a = np.sqrt(s[k]) * P_[:, k], np.sqrt(s[k]) * Qt[k]
            xu = X @ u
            scale = float(np.max(np.abs(xu), initial=0.0)) or 1.0
            viol_pos = float(np.max(-sign_i * xu, initial=0.0)) / scale
            viol_neg = float(np.max(sign_i * xu, initial=0.0)) / scale
            if viol_neg < viol_pos:  # (-u, -a): (X(-u))_+ = D_i X(-u) when -u in K_i
                u, a, viol_pos = -u, -a, viol_neg
            us.append(u)
            alphas.append(a)
            gate.append(i)
            ok.append(viol_pos <= _CONE_TOL)
    d, c = X.shape[1], (V_list[0].shape[1] if V_list else 1)
    U_eff = np.column_stack(us) if us else np.zeros((d, 0))
    alpha = np.vstack(alphas) if alphas else np.zeros((0, c))
    return U_eff, alpha, np.asarray(gate, dtype=np.intp), np.asarray(ok, dtype=bool)


def gated_objective(
    X: Array,
    Y: Array,
    beta: float,
    U: Array,
    alpha: Array,
    gates: BoolArray,
    c: Array | None,
    loss: Loss,
) -> float:
    """``L(sum_j gates_j * (X u_j) alpha_j^T + 1 c^T, Y) + beta/2 (||U||^2 + ||alpha||^2)``.

    X is the effective data (with the ones column for hidden biases).
    """
    Z = (gates * (X @ U)) @ alpha
    if c is not None:
        Z = Z + c
    return float(loss.value(Z, Y) + 0.5 * beta * (np.sum(U**2) + np.sum(alpha**2)))


def refit_output_layer(
    X: Array, Y: Array, beta: float, E: Array, loss: Loss, output_bias: bool
) -> tuple[Array, Array, Array | None] | None:
    """Best output layer for fixed unit hidden directions ``E`` (d, m): exact, convex.

    With the directions ``e_j`` fixed, eq. (2) minimised over the neuron scales is the
    group lasso ``min_{A, c} L((X E)_+ A + 1 c^T, Y) + beta sum_j ||A_j||`` over the
    rows ``A_j`` (``beta/2 (s^2 + ||a||^2) >= beta s ||a||``); the network is
    ``u_j = sqrt(||A_j||) e_j``, ``alpha_j = A_j / sqrt(||A_j||)``. X is the effective
    data. Returns ``(U_eff, alpha, c)``, or None if the solver fails.
    """
    import cvxpy as cp

    H = np.maximum(X @ E, 0.0)
    A = cp.Variable((E.shape[1], Y.shape[1]))
    Z = H @ A
    c_var = cp.Variable((1, Y.shape[1])) if output_bias else None
    if c_var is not None:
        Z = Z + np.ones((Y.shape[0], 1)) @ c_var
    cons = [c_var[0, 0] == 0] if c_var is not None and loss.name == "cross_entropy" else []
    reg = beta * cp.sum(cp.norm(A, 2, axis=1))
    prob = cp.Problem(cp.Minimize(loss.cvxpy_expr(Z, Y) + reg), cons)
    try:
        prob.solve(solver="CLARABEL")
    except cp.error.SolverError:  # pragma: no cover - the refit is an optional improvement
        return None
    if A.value is None:
        return None
    A_val = np.asarray(A.value, dtype=np.float64)
    row = np.linalg.norm(A_val, axis=1)
    keep = row > 1e-9 * max(float(row.max(initial=0.0)), 1e-300)
    U_new = E[:, keep] * np.sqrt(row[keep])
    alpha_new = A_val[keep] / np.sqrt(row[keep])[:, None]
    c_new = np.asarray(c_var.value, dtype=np.float64).reshape(-1) if c_var is not None else None
    return U_new, alpha_new, c_new


def _best_relu_network(st: _Setup, candidates: list[TwoLayerReLU]) -> TwoLayerReLU:
    """The candidate or the output-layer refit over all their directions with least eq. (2).

    Every candidate is a feasible point of the refit (same directions, ``A_j =
    ||u_j|| alpha_j``), so the refit can only help; the comparison guards against an
    inaccurate refit.
    """
    U_all = np.hstack([net.U_eff for net in candidates])
    norms = np.linalg.norm(U_all, axis=0)
    E = U_all[:, norms > 0] / norms[norms > 0]
    nets = list(candidates)
    if E.shape[1] > 0:
        refit = refit_output_layer(st.X_eff, st.Y, st.beta, E, st.loss, st.output_bias)
        if refit is not None:
            nets.append(_network_from_eff(*refit, st.hidden_bias, st.Y.shape[1]))
    values = [net.objective(st.X, st.Y, st.beta, loss=st.loss) for net in nets]
    return nets[int(np.argmin(values))]


def _network_from_eff(
    U_eff: Array, alpha: Array, c: Array | None, hidden_bias: bool, k: int
) -> TwoLayerReLU:
    if U_eff.shape[1] == 0:  # the zero network
        U_eff, alpha = np.zeros((U_eff.shape[0], 1)), np.zeros((1, k))
    if hidden_bias:
        return TwoLayerReLU(U_eff[:-1], alpha, b=U_eff[-1], c=c)
    return TwoLayerReLU(U_eff, alpha, c=c)


# -- certificates -----------------------------------------------------------------------


def spectral_dual_norm(X: Array, D: Any, Lam: Array) -> float:
    """``max_i ||X^T D_i Lam||_2`` (spectral norm): the shared dual norm of ``Lam`` (n, c).

    It bounds ``max_{||u|| <= 1} ||Lam^T (X u)_+||`` over the patterns D (equal for
    the gated model; an upper bound for the ReLU one, see the module docstring).
    """
    M = np.asarray(D, dtype=np.float64)
    G = np.einsum("nd,np,nc->pdc", X, M, Lam)  # G[i] = X^T D_i Lam
    if G.size == 0:
        return 0.0
    return float(np.linalg.norm(G, ord=2, axis=(1, 2)).max(initial=0.0))


def _dual_candidate_2d(loss: Loss, Z: Array, Y: Array, output_bias: bool) -> Array:
    """``-grad L(Z)`` (a subgradient for hinge) in the conjugate's domain, centred.

    With an output bias the columns must sum to 0. Cross-entropy: the output bias of
    the predictions is re-optimised (``b`` minimising ``L(Z + 1 b^T)``; at the optimum
    the columns of ``Y - softmax(Z + b)`` sum to 0) and the rounding residual removed
    by ``Lam -= 1 r^T / n`` (rows still sum to 0). Elementwise losses: every column is
    projected onto its dual box intersected with ``1^T lam = 0``. For hinge the margin
    coordinates keep the subgradient value 1/2 (not optimised as in the scalar
    certificate): the bound stays valid but may not close the gap.
    """
    if loss.name == "cross_entropy" and output_bias:
        Lam = Y - softmax(Z + _best_softmax_shift(Z, Y), axis=1)
        Lam = Lam - Lam.sum(axis=0, keepdims=True) / Y.shape[0]
        return _into_simplex(Lam, Y)
    Lam, _ = loss.dual_candidate(Z, Y)
    lo, hi = loss.dual_box(Y)
    Lam = np.clip(Lam, lo, hi)
    if not output_bias:
        return Lam
    out = np.zeros_like(Lam)
    for k in range(Lam.shape[1]):
        col = project_box_sum_zero(Lam[:, k], lo[:, k], hi[:, k])
        if col is not None:
            out[:, k] = col
    return out


def _into_simplex(Lam: Array, Y: Array) -> Array:
    """``Lam`` (rows and columns summing to 0) moved towards ``Y - 1 q^T`` (q the class
    frequencies: rows and columns also sum to 0) just enough that every ``Y - Lam`` is
    >= 0, as the cross-entropy conjugate's domain needs.

    The residual removal of :func:`_dual_candidate_2d` shifts each column by up to
    1e-16: on near-separable data (softmax probabilities of 1e-36) that made a
    probability negative, the dual value -inf, and the certified lower bound 0.
    """
    Q = Y - Lam
    q = Y.mean(axis=0)
    bad = (Q < 0.0) & (q > 0.0)[None, :]
    if not bad.any():
        return Lam
    Qb, qb = Q[bad], np.broadcast_to(q, Q.shape)[bad]
    theta = min(1.0, float(np.max(-Qb / (qb - Qb))) * (1.0 + 1e-9))
    return np.asarray((1.0 - theta) * Lam + theta * (Y - q[None, :]), dtype=np.float64)


def _best_softmax_shift(Z: Array, Y: Array) -> Array:
    """``b`` minimising ``sum_i lse(Z_i + b) - b^T Y^T 1`` (Newton-type, BFGS)."""
    counts = Y.sum(axis=0)

    def f(b: Array) -> tuple[float, Array]:
        W = Z + b
        return float(np.sum(logsumexp(W, axis=1)) - b @ counts), softmax(W, axis=1).sum(0) - counts

    res = minimize(f, np.zeros(Y.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-13})
    return np.asarray(res.x, dtype=np.float64)


def _scaled_dual_value(loss: Loss, Lam: Array, Y: Array, beta: float, s_max: float) -> float:
    """``-L*(-t Lam)`` at the best ``t in [0, beta / s_max]``."""
    t_max = _SAFETY * beta / s_max if s_max > 0 else np.inf
    t = float(loss.best_dual_scale(Lam, Y, t_max))
    return float(loss.dual_value(t * Lam, Y))


def _assemble(
    st: _Setup,
    network: TwoLayerReLU,
    lower: float,
    *,
    mode: str,
    exact: bool,
    tight: bool,
    convex_objective: float,
    status: str,
    gates: BoolArray | None = None,
    gated_objective: float | None = None,
    solutions: tuple[Any, ...] | None = None,
    scope: str | None = None,
    solver: str = "cvxpy",
    n_iter: int | None = None,
) -> MultiOutputSolution:
    """Objective (2) of ``network``, its shared certificate, and the solution record."""
    objective = network.objective(st.X, st.Y, st.beta, loss=st.loss)
    Z = network.predict(st.X)
    Z = Z[:, None] if Z.ndim == 1 else Z
    Lam = _dual_candidate_2d(st.loss, Z, st.Y, st.output_bias)
    s_max = spectral_dual_norm(st.X_eff, st.D, Lam)
    shared_lower = _scaled_dual_value(st.loss, Lam, st.Y, st.beta, s_max)
    if mode == "shared":
        lower = max(lower, shared_lower)
    gap = objective - lower
    return MultiOutputSolution(
        network=network,
        objective=float(objective),
        lower_bound=float(lower),
        gap=float(gap),
        relative_gap=relative_gap(objective, lower, st.Y),
        scope=scope or st.scope,
        exact=exact,
        relaxation_tight=tight,
        mode=mode,
        formulation=st.formulation,
        loss=st.loss,
        convex_objective=float(convex_objective),
        shared_lower_bound=float(shared_lower),
        gates=gates,
        gated_objective=gated_objective,
        Y=st.Y,
        patterns=np.asarray(st.D, dtype=bool),
        pattern_source=st.source,
        status=status,
        time=0.0,
        solutions=solutions,
        solver=solver,
        n_iter=n_iter,
    )


def _cvxpy_iterations(prob: Any) -> int | None:
    """The backend's iteration count of a solved CVXPY problem (None if not reported)."""
    stats = getattr(prob, "solver_stats", None)
    n_iter = getattr(stats, "num_iters", None)
    return int(n_iter) if n_iter is not None else None


def _run_cvxpy(prob: Any, run: _Run) -> str:
    """Solve a CVXPY problem with the named backend; return "optimal" or "inaccurate"."""
    import cvxpy as cp

    backend = _BACKENDS.get(run.solver or "cvxpy")
    if backend is None:
        raise ValueError(
            f"{CALLER}: solver {run.solver!r} cannot solve this program (a CVXPY program); "
            f"expected one of {', '.join(repr(k) for k in _BACKENDS)}."
        )
    kwargs: dict[str, Any] = dict(_CLARABEL_DEFAULTS) if backend == "CLARABEL" else {}
    if run.max_iter is not None:
        kwargs["max_iter" if backend == "CLARABEL" else "max_iters"] = run.max_iter
    kwargs.update(run.options)
    try:
        prob.solve(solver=backend, verbose=run.verbose, **kwargs)
    except cp.error.SolverError as exc:
        raise RuntimeError(
            f"{CALLER}: the CVXPY backend {backend} failed ({exc}). Try solver='cvxpy-scs', "
            f"a larger beta, or fewer patterns."
        ) from exc
    except TypeError as exc:  # a setting the backend does not know (e.g. "dtype")
        if not run.options:
            raise
        raise ValueError(
            f"{CALLER}: solver_options {sorted(run.options)} go to CVXPY's {backend} backend "
            f"here (a CVXPY program), which refused them ({exc}); pass {backend}'s own "
            f"settings."
        ) from exc
    if prob.value is None or not np.isfinite(prob.value):
        raise RuntimeError(f"{CALLER}: CVXPY returned status {prob.status!r} with no solution.")
    return "optimal" if prob.status == cp.OPTIMAL else "inaccurate"
