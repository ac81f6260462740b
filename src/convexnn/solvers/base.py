"""What every solver returns, and what it declares it can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..problem import ConvexReLUProblem

Array = NDArray[np.float64]


@dataclass(frozen=True)
class SolverResult:
    """Raw output of a solver on a :class:`~convexnn.problem.ConvexReLUProblem`.

    Attributes
    ----------
    V, W : arrays of shape (d_eff, P)
        Column i holds ``v_i`` (resp. ``w_i``) of eq. (8).
    c : float or None
        Output bias, when the problem has one.
    objective : float
        Value of the convex program at (V, W, c), as computed by the problem object.
    status : str
        ``"optimal"``, ``"inaccurate"``, ``"max_iter"`` or ``"stalled"`` (the certified gap
        stopped improving above tol, at the rounding floor of badly scaled data).
    n_iter : int
        Iterations the solver reports (interior-point iterations for CVXPY).
    time : float
        Wall time in seconds spent inside the solver (building + solving).
    solver : str
        Name of the solver that produced the result.
    info : dict
        Solver-specific extras (e.g. the CVXPY status string).
    """

    V: Array
    W: Array
    c: float | None
    objective: float
    status: str
    n_iter: int
    time: float
    solver: str
    info: dict[str, Any]


class Solver(Protocol):
    """A solver of the convex program (8).

    ``formulations`` and ``losses`` declare what it supports (``"*"`` for any loss),
    ``option_names`` the ``solver_options`` it takes (None: any, passed on to a backend
    that checks them itself); :func:`convexnn.solve` checks them and refuses clearly
    instead of failing later, or of ignoring an option. A solver that runs some
    formulations on PyTorch tensors on a GPU lists them in an optional
    ``device_formulations``: :func:`convexnn.solve` then keeps data given on a GPU there
    (``backend="torch"`` on its device).
    """

    name: str
    formulations: tuple[str, ...]
    losses: tuple[str, ...]
    option_names: frozenset[str] | None

    def solve(
        self,
        problem: ConvexReLUProblem,
        *,
        tol: float,
        max_iter: int | None,
        verbose: bool,
        options: dict[str, Any],
    ) -> SolverResult: ...


# The options of the fast solvers (see :mod:`.fast`).
FAST_OPTIONS = frozenset({"dtype", "backend", "device", "warm_start"})
