"""Solvers of the convex program (8). Adding one = one file + one entry here."""

from __future__ import annotations

from .._validation import check_choice
from .base import Solver, SolverResult
from .cvxpy_ref import CvxpySolver, build_cvxpy_problem
from .fast import FastSolver
from .group_lasso import GroupLassoSolver
from .relu_pgd import ReluPGDSolver

SOLVERS: dict[str, Solver] = {
    "cvxpy": CvxpySolver("CLARABEL"),
    "cvxpy-scs": CvxpySolver("SCS"),
    "fast": FastSolver(),
    "group-lasso": GroupLassoSolver(),
    "relu-pgd": ReluPGDSolver(),
}


def get_solver(name: str, *, caller: str) -> Solver:
    """Look a solver up by name, with an error listing the known ones."""
    return SOLVERS[check_choice(name, tuple(SOLVERS), caller=caller, name="solver")]


__all__ = [
    "SOLVERS",
    "CvxpySolver",
    "FastSolver",
    "GroupLassoSolver",
    "Solver",
    "SolverResult",
    "build_cvxpy_problem",
    "get_solver",
]
