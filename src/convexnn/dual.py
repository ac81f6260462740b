"""The finite-dimensional dual of section 5, solved directly: strong duality, numerically.

For patterns ``D_1, ..., D_P`` (all of them: the dual of eq. (8), i.e. eq. (15) made
finite through Lemma 4 of appendix A.12) the dual is the SOCP

    max_{lam, mu_i, nu_i}  -L*(-lam; y)       ( = lam^T y - 1/2 ||lam||^2, squared loss )
    s.t.  || X^T (D_i lam + (2 D_i - I) mu_i) ||_2 <= beta,   mu_i >= 0,
          || X^T (-D_i lam + (2 D_i - I) nu_i) ||_2 <= beta,  nu_i >= 0,   i = 1..P,
          lo <= lam <= hi                            (the conjugate's domain, see below),
          1^T lam = 0                                (with an unregularised output bias).

``-L*(-lam; y)`` is finite only on the conjugate's domain: all of R^n for the squared
loss, ``0 <= y_i lam_i <= 1`` for the hinge loss (whose dual objective ``lam^T y`` is
linear, so without that box the program is unbounded). The box is the loss's
:meth:`~convexnn.losses.Loss.dual_box`, added as constraints wherever it is finite.

For a fixed pattern, ``min_{mu >= 0} ||X^T (D lam + (2 D - I) mu)||`` is the dual of
``max_{u in K_D, ||u|| <= 1} lam^T D X u`` (Lemma 4), so the constraints say that every
cone-restricted dual norm is at most ``beta``: the paper's ``alpha_i, beta_i`` (on
``S_i`` and its complement) are the two halves of ``mu_i`` here. The gated relaxation
has ``mu_i = nu_i = 0``: ``||X^T D_i lam|| <= beta``. Slater's condition holds
(``lam = 0``), so its optimum ``d*`` equals the optimum ``p*`` of eq. (8), hence of the
training problem (2) when the patterns are exhaustive (Theorem 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import add_ones_column, check_X
from .duality import cone_dual_norms
from .losses import Loss
from .losses.base import into_dual_domain
from .problem import ConvexReLUProblem, build_problem

Array = NDArray[np.float64]
CALLER = "solve_dual"
_CLARABEL = {"direct_solve_method": "qdldl"}


@dataclass(frozen=True)
class DualSolution:
    """Result of :func:`solve_dual`.

    Attributes
    ----------
    objective : float
        ``d* = -L*(-lam; y)`` at the returned ``lam`` (``lam^T y - ||lam||^2 / 2`` for
        the squared loss, ``lam^T y`` with ``0 <= y_i lam_i <= 1`` for the hinge loss).
    lam : array of shape (n,)
        The dual variable (the paper's ``v`` in eq. 15; the optimal residual for the
        squared loss: ``lam = y - f*(X)``).
    mu, nu : arrays of shape (n, P)
        Multipliers of the cone constraints for ``+lam`` and ``-lam`` (the paper's
        ``alpha_i + beta_i`` and ``alpha'_i + beta'_i``); zero for ``"gated"``.
    dual_norms : array of shape (P, 2)
        ``max_{u in K_i, ||u|| <= 1} +-lam^T D_i X u`` recomputed independently by
        :func:`convexnn.duality.cone_dual_norms`: all ``<= beta`` up to solver accuracy.
    max_violation : float
        ``max(dual_norms.max() / beta - 1, 0)``: relative infeasibility of ``lam``.
    patterns : array of shape (n, P) of bool
    pattern_source : {"exact", "sampled", "given"}
    formulation : {"relu", "gated"}
    status : str
        CVXPY's status.
    time : float
        Seconds spent in CVXPY.
    """

    objective: float
    lam: Array
    mu: Array
    nu: Array
    dual_norms: Array
    max_violation: float
    patterns: NDArray[np.bool_]
    pattern_source: str
    formulation: str
    status: str
    time: float

    def __repr__(self) -> str:
        return (
            f"DualSolution(objective={self.objective:.10g}, P={self.patterns.shape[1]}, "
            f"formulation={self.formulation!r}, max_violation={self.max_violation:.2g}, "
            f"status={self.status!r})"
        )


def solve_dual(
    X: Any,
    y: Any,
    beta: float,
    *,
    patterns: Any = None,
    formulation: str = "relu",
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    output_bias: bool = False,
    n_patterns: int = 1000,
    max_exact_patterns: int = 5000,
    random_state: Any = None,
    verbose: bool = False,
    solver_options: dict[str, Any] | None = None,
) -> DualSolution:
    """Solve the dual SOCP of section 5 with CVXPY + Clarabel.

    Maximises ``-L*(-lam; y)`` (``lam^T y - 1/2 ||lam||^2`` for the squared loss) subject
    to ``||X^T (D_i lam + (2 D_i - I) mu_i)|| <= beta``, ``mu_i >= 0`` and the same for
    ``-lam`` with ``nu_i``, for every pattern ``D_i``, and ``lam`` in the domain of the
    loss's conjugate (hinge: ``0 <= y_i lam_i <= 1``; see the module docstring). Its
    optimum equals the optimum of :func:`convexnn.solve` over the same patterns (strong
    duality); over exhaustive patterns both equal p* of the training problem (2).

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
    beta : float
        Weight decay of eq. (2), > 0.
    patterns, formulation, hidden_bias, output_bias, n_patterns, max_exact_patterns, \
random_state
        As in :func:`convexnn.solve`.
    loss : str or Loss
        ``"squared"``, or a loss with a CVXPY dual objective (``dual_value_cvxpy``).
    verbose : bool
        Clarabel's output.
    solver_options : dict or None
        Passed to Clarabel.

    Returns
    -------
    DualSolution

    Notes
    -----
    Interior-point cost grows like ``(P n)^3``: meant for small problems (P up to a few
    hundred), as an independent check of the primal solvers.
    """
    from .solve import _resolve_patterns

    X_arr = check_X(X, caller=CALLER)
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D, source = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, n_patterns, max_exact_patterns, random_state,
        caller=CALLER,
    )  # fmt: skip
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
    lam, mu, nu, status, elapsed = _solve_socp(problem, verbose, dict(solver_options or {}))
    lo, hi = problem.loss.dual_box(problem.y)
    if np.isfinite(lo).any() or np.isfinite(hi).any():
        # The interior-point point may leave the box by rounding (then -L* is -inf there).
        lam = into_dual_domain(lam, lo, hi, problem.output_bias)
    norms = cone_dual_norms(problem.X, problem.D, lam, formulation=problem.formulation)
    return DualSolution(
        objective=float(problem.loss.dual_value(lam, problem.y)),
        lam=lam,
        mu=mu,
        nu=nu,
        dual_norms=norms,
        max_violation=max(float(norms.max()) / problem.beta - 1.0, 0.0),
        patterns=np.asarray(D, dtype=bool),
        pattern_source=source,
        formulation=problem.formulation,
        status=status,
        time=elapsed,
    )


def dual_objective_cvxpy(loss: Loss, lam: Any, y: Array) -> Any:
    """CVXPY expression of ``-L*(-lam; y)``; closed form for the squared loss."""
    if loss.name == "squared":
        import cvxpy as cp

        return lam @ y - 0.5 * cp.sum_squares(lam)
    try:
        return loss.dual_value_cvxpy(lam, y)
    except NotImplementedError:
        raise ValueError(
            f"{CALLER}: loss {loss.name!r} has no CVXPY dual objective yet; use "
            f"loss='squared' or loss='hinge' (or a loss implementing dual_value_cvxpy), "
            f"or bound any loss through convexnn.solve's certificate."
        ) from None


def _dual_domain_constraints(loss: Loss, lam: Any, y: Array) -> list[Any]:
    """``lo <= lam <= hi`` where the loss's dual box is finite (none for squared)."""
    lo, hi = loss.dual_box(y)
    cons = []
    for bound, below in ((lo, True), (hi, False)):
        idx = np.flatnonzero(np.isfinite(bound))
        if idx.size:
            cons.append(lam[idx] >= bound[idx] if below else lam[idx] <= bound[idx])
    return cons


def _solve_socp(
    problem: ConvexReLUProblem, verbose: bool, options: dict[str, Any]
) -> tuple[Array, Array, Array, str, float]:
    """Build and solve the SOCP; return ``lam, mu, nu``, status and time."""
    import cvxpy as cp

    X, M, S = problem.X, problem.mask, problem.signs
    n, P = M.shape
    lam = cp.Variable(n, name="lam")
    XtDlam = X.T @ cp.diag(lam) @ M  # (d, P): column i = X^T D_i lam
    cons = []
    mu = nu = None
    if problem.formulation == "relu":
        mu = cp.Variable((n, P), nonneg=True, name="mu")
        nu = cp.Variable((n, P), nonneg=True, name="nu")
        cons += [
            cp.norm(XtDlam + X.T @ cp.multiply(S, mu), 2, axis=0) <= problem.beta,
            cp.norm(-XtDlam + X.T @ cp.multiply(S, nu), 2, axis=0) <= problem.beta,
        ]
    else:
        cons.append(cp.norm(XtDlam, 2, axis=0) <= problem.beta)
    if problem.output_bias:
        cons.append(cp.sum(lam) == 0)
    cons += _dual_domain_constraints(problem.loss, lam, problem.y)
    objective = cp.Maximize(dual_objective_cvxpy(problem.loss, lam, problem.y))
    cvx = cp.Problem(objective, cons)
    start = time.perf_counter()
    try:
        cvx.solve(solver="CLARABEL", verbose=verbose, **{**_CLARABEL, **options})
    except cp.error.SolverError as exc:
        raise RuntimeError(
            f"{CALLER}: Clarabel failed on the dual SOCP ({exc}). Try fewer patterns or a "
            f"larger beta."
        ) from exc
    elapsed = time.perf_counter() - start
    if lam.value is None:
        raise RuntimeError(
            f"{CALLER}: CVXPY returned status {cvx.status!r} with no solution. Check the "
            f"data scale."
        )
    zeros = np.zeros((n, P))
    mu_val = np.asarray(mu.value, dtype=np.float64) if mu is not None else zeros
    nu_val = np.asarray(nu.value, dtype=np.float64) if nu is not None else zeros
    return np.asarray(lam.value, dtype=np.float64), mu_val, nu_val, str(cvx.status), elapsed
