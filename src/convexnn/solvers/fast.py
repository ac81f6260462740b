"""The default fast solver: gated -> working-set group lasso, relu -> cone prox-gradient.

``solve(..., solver="fast")`` dispatches on the formulation (it is solve's default for
smooth losses, both formulations; see BENCHMARKS.md, "The relu solver as the default"):
:class:`~convexnn.solvers.group_lasso.GroupLassoSolver` for ``"gated"``,
:class:`~convexnn.solvers.relu_pgd.ReluPGDSolver` (working-set FISTA with the exact
prox of norm + cone, warm started from a few gated iterations) for ``"relu"``. The relu
solver iterates in NumPy float64 whatever ``dtype``/``backend`` say.

Solver options (``solver_options``):

- ``dtype``: ``"auto"`` (default: float32 from ``n * P >= 1e6``), ``"float64"`` or
  ``"float32"``: float32 runs the gated solver's two GEMMs per iteration on corrections
  from a float64 anchor; iterates, residuals, dual points and certificates are float64.
- ``backend``: ``"numpy"`` (default) or ``"torch"``; ``device``: a torch device
  (``"cpu"``, ``"cuda"``; any but ``"cpu"`` needs ``backend="torch"`` and is refused
  otherwise, and by the relu solver). Results come back as float64 NumPy arrays.
- ``warm_start``: ``(V, W, c)`` with V, W of shape (d_eff, P) (zero columns allowed).
  relu: a warm start too wide for one Newton system (a trained network's hundreds of
  neurons) is replaced by the gated start, which was faster (:mod:`.relu_pgd`).
"""

from __future__ import annotations

from typing import Any

from ..problem import ConvexReLUProblem
from ._relu_polish import _polish_applies
from .base import FAST_OPTIONS, SolverResult
from .group_lasso import GroupLassoSolver
from .relu_pgd import ReluPGDSolver


class FastSolver:
    """Dispatch to the fast solver of the problem's formulation (registered ``"fast"``)."""

    name = "fast"
    formulations: tuple[str, ...] = ("gated", "relu")
    device_formulations: tuple[str, ...] = ("gated",)  # run on a tensor's GPU (solve)
    losses: tuple[str, ...] = ("*",)
    option_names: frozenset[str] | None = FAST_OPTIONS

    def __init__(self) -> None:
        self._gated = GroupLassoSolver()
        self._relu = ReluPGDSolver()

    def prefers(self, problem: ConvexReLUProblem) -> bool:
        """Whether solve() should pick this solver by default for ``problem``.

        Smooth losses, both formulations. The relu solver's Newton polish (scalar
        outputs; solve() sends vector outputs to :mod:`convexnn.multioutput`) certifies
        the small-beta problems where FISTA alone stalls; without it CVXPY is preferred.
        """
        if problem.loss.smoothness is None or problem.formulation not in self.formulations:
            return False
        return problem.formulation == "gated" or _polish_applies(problem)

    def solve(
        self,
        problem: ConvexReLUProblem,
        *,
        tol: float,
        max_iter: int | None,
        verbose: bool,
        options: dict[str, Any],
    ) -> SolverResult:
        inner: GroupLassoSolver | ReluPGDSolver
        inner = self._relu if problem.formulation == "relu" else self._gated
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
