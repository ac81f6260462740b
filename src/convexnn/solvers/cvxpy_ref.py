"""Reference solver: the convex program (8) written in CVXPY, solved by Clarabel or SCS.

Exact (interior point) but slow: its cost grows like (2 P d)^3 per iteration, so it is
meant for small problems and as the reference every fast solver is tested against.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..problem import ConvexReLUProblem
from .base import SolverResult

_CLARABEL_DEFAULTS = {"direct_solve_method": "qdldl"}


class CvxpySolver:
    """Solve eq. (8) (``"relu"``) or its gated relaxation with CVXPY.

    Parameters
    ----------
    backend : {"CLARABEL", "SCS"}
        The conic solver CVXPY calls. Clarabel (interior point, default) is accurate
        to about 1e-8; SCS (first-order) is looser and meant for larger problems.
    """

    formulations: tuple[str, ...] = ("relu", "gated")
    losses: tuple[str, ...] = ("*",)
    option_names: frozenset[str] | None = None  # the backend's settings, checked by it

    def __init__(self, backend: str = "CLARABEL") -> None:
        self.backend = backend
        self.name = "cvxpy" if backend == "CLARABEL" else f"cvxpy-{backend.lower()}"

    def solve(
        self,
        problem: ConvexReLUProblem,
        *,
        tol: float,
        max_iter: int | None,
        verbose: bool,
        options: dict[str, Any],
    ) -> SolverResult:
        import cvxpy as cp

        start = time.perf_counter()
        cvx_problem, V, W, c = build_cvxpy_problem(problem)
        kwargs = self._solver_kwargs(tol, max_iter, options)
        capped = "" if max_iter is None else f" within max_iter={max_iter} iterations"
        other = "solver='cvxpy'" if self.backend == "SCS" else "solver='cvxpy-scs'"
        advice = "raise max_iter" if max_iter is not None else f"try {other}"
        try:
            cvx_problem.solve(solver=self.backend, verbose=verbose, **kwargs)
        except cp.error.SolverError as exc:
            raise RuntimeError(
                f"solve: the CVXPY backend {self.backend} failed{capped} ({exc}). To fix: "
                f"{advice}, a larger beta, or fewer patterns."
            ) from exc
        except TypeError as exc:  # a setting the backend does not know (e.g. "dtype")
            if not options:
                raise
            raise ValueError(
                f"solve: solver_options {sorted(options)} go to CVXPY's {self.backend} "
                f"backend, which refused them ({exc}). Pass {self.backend}'s own settings "
                f"there; the fast solvers' options (dtype, backend, device) need "
                f"solver='fast'."
            ) from exc
        elapsed = time.perf_counter() - start
        if V.value is None:
            raise RuntimeError(
                f"solve: CVXPY returned status {cvx_problem.status!r} with no solution "
                f"(backend {self.backend}{capped}). To fix: {advice}, or check the data "
                f"scale."
            )
        V_val = np.asarray(V.value, dtype=np.float64)
        W_val = np.asarray(W.value, dtype=np.float64)
        c_val = float(c.value) if c is not None else None
        lam = cvx_problem.constraints[0].dual_value
        status = "optimal" if cvx_problem.status == cp.OPTIMAL else "inaccurate"
        stats = cvx_problem.solver_stats
        return SolverResult(
            V=V_val,
            W=W_val,
            c=c_val,
            objective=problem.objective(V_val, W_val, c_val),
            status=status,
            n_iter=int(stats.num_iters or 0),
            time=elapsed,
            solver=self.name,
            info={
                "cvxpy_status": cvx_problem.status,
                "solve_time": stats.solve_time,
                "dual_point": None if lam is None else np.asarray(lam, dtype=np.float64),
            },
        )

    def _solver_kwargs(
        self, tol: float, max_iter: int | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        if self.backend == "CLARABEL":
            kwargs: dict[str, Any] = dict(_CLARABEL_DEFAULTS)
            if max_iter is not None:
                kwargs["max_iter"] = max_iter
        else:
            kwargs = {"eps": min(tol, 1e-6)}
            if max_iter is not None:
                kwargs["max_iters"] = max_iter
        kwargs.update(options)
        return kwargs


def build_cvxpy_problem(problem: ConvexReLUProblem) -> tuple[Any, Any, Any, Any]:
    """Write eq. (8) for ``problem`` in CVXPY.

    Returns
    -------
    (cvxpy.Problem, V, W, c)
        ``V``, ``W`` are (d, P) variables (column i = v_i, w_i); ``c`` is the output-bias
        variable or None.
    """
    import cvxpy as cp

    X, M = problem.X, problem.mask
    d, P = problem.d, problem.P
    V = cp.Variable((d, P), name="V")
    W = cp.Variable((d, P), name="W")
    pred = cp.sum(cp.multiply(M, X @ (V - W)), axis=1)
    c = cp.Variable(name="c") if problem.output_bias else None
    if c is not None:
        pred = pred + c
    # The predictions as a variable of their own: the multiplier of ``z == pred`` is the
    # optimal dual point ``lam = -grad L(z)`` of eq. (4), read back by the solver.
    z = cp.Variable(problem.n, name="z")
    reg = cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
    objective = cp.Minimize(problem.loss.cvxpy_expr(z, problem.y) + problem.beta * reg)
    constraints = [z == pred]
    if problem.formulation == "relu":
        S = problem.signs
        constraints += [cp.multiply(S, X @ V) >= 0, cp.multiply(S, X @ W) >= 0]
    return cp.Problem(objective, constraints), V, W, c
