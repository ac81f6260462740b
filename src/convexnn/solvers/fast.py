"""The default fast solver: gated -> working-set group lasso, relu -> augmented Lagrangian.

``solve(..., solver="fast")`` (the default for smooth losses where it applies)
dispatches on the formulation: :class:`~convexnn.solvers.group_lasso.GroupLassoSolver`
for ``"gated"``. The ReLU formulation is meant to go to
:class:`~convexnn.solvers.augmented_lagrangian.AugmentedLagrangianSolver` (warm started
from the gated solution), which does not yet reach the accuracy bar (violation 1e-8,
gap 1e-6) reliably and is therefore not registered; ``"relu"`` falls back to CVXPY.

Solver options (``solver_options``):

- ``dtype``: ``"float64"`` (default) or ``"float32"`` for the working-set iterations;
  residuals, dual points and certificates are always float64.
- ``backend``: ``"numpy"`` (default) or ``"torch"``; ``device``: a torch device
  (``"cpu"``, ``"cuda"``). Results come back as float64 NumPy arrays.
- ``warm_start``: ``(V, W, c)`` with V, W of shape (d_eff, P) (zero columns allowed).
"""

from __future__ import annotations

from typing import Any

from ..problem import ConvexReLUProblem
from .base import SolverResult
from .group_lasso import GroupLassoSolver


class FastSolver:
    """Dispatch to the fast solver of the problem's formulation (registered ``"fast"``)."""

    name = "fast"
    # "relu" joins once the augmented Lagrangian meets the accuracy bar (see README).
    formulations: tuple[str, ...] = ("gated",)
    losses: tuple[str, ...] = ("*",)

    def __init__(self) -> None:
        self._gated = GroupLassoSolver()

    def solve(
        self,
        problem: ConvexReLUProblem,
        *,
        tol: float,
        max_iter: int | None,
        verbose: bool,
        options: dict[str, Any],
    ) -> SolverResult:
        if problem.formulation != "gated":
            raise ValueError(
                f"solve: solver 'fast' supports formulation 'gated' only for now, got "
                f"{problem.formulation!r}; use solver='cvxpy'."
            )
        inner = self._gated
        res = inner.solve(problem, tol=tol, max_iter=max_iter, verbose=verbose, options=options)
        info = dict(res.info, algorithm=inner.name)
        return SolverResult(
            V=res.V,
            W=res.W,
            c=res.c,
            objective=res.objective,
            status=res.status,
            n_iter=res.n_iter,
            time=res.time,
            solver=self.name,
            info=info,
        )
