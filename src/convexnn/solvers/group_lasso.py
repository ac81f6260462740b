"""Gated formulation: a working-set group-lasso solver with certified stopping.

Solves (``"gated"``, no cones; then ``v_i - w_i`` collapses to one block ``u_i``)

    min_{U, c}  L(sum_i D_i X u_i + c 1, y) + beta * sum_i ||u_i||_2 .

Outer loop, all in float64 where it certifies:

1. predictions ``z``, dual candidate ``lam0 = -grad L(z)`` (centred with an output bias);
2. one full adjoint ``G = [X^T D_i lam0]_i`` prices every remaining group; the dual
   norm is ``max_i ||g_i||``, the feasible dual point ``t lam0`` gives a lower bound, the
   primal value an upper bound: stop when the relative gap is ``<= tol``. The bound of
   ``lam0`` only falls like the square root of the primal suboptimality; a second
   candidate, ``lam0`` aligned with the non-zero blocks
   (:func:`~convexnn.solvers._kernels.aligned_dual_candidate`: one k x k solve and one
   more adjoint), falls like the suboptimality itself and the better bound is kept.
   At n = 1e4, d = 41, P = 2000 that certifies 1e-6 after 860 FISTA iterations instead
   of 1340; the inner FISTA still stops at a fraction of the plain gap;
3. gap-safe screening: with ``r = sqrt(2 smoothness gap)``, a group with
   ``t ||g_i|| + r ||D_i X||_F < beta`` is zero at every optimum and is dropped for good;
4. working set = the non-zero groups plus the most violated ones (``||g_i|| > beta``, at
   most as many as are active, at least 10), solved by FISTA with adaptive restart
   to a fraction of the current gap, warm started;
5. the end game: once the plain gap is below ``_NEWTON_GAP`` and at most a tenth of the
   working set is new, the round is a Newton-CG round instead
   (:func:`~convexnn.solvers._newton.newton_round`: the objective is smooth on
   non-zero blocks; block-Jacobi preconditioned CG, each product one forward and one
   adjoint) to the working set's optimum. At n = 1e4, d = 41, P = 2000 the last two
   rounds took 103 Hessian products instead of 330 FISTA iterations (860 -> 598 in
   all). A Newton round that does not converge is followed by a FISTA round. A FISTA
   round that runs out of ``_ROUND_CAP`` iterations hands over to a Newton round at any
   gap and with any share of new blocks: FISTA's rate scales with the data (features at
   1e-2, targets at 1e3: one round had run all 20000 iterations and ended 2.3x above
   the optimum; rescaled near-separable logistic data, 20 rounds of 1000 iterations
   without a Newton round, 0.7% above it).

With ``dtype="float32"`` the iterates, the loss and every gap stay in float64 and only the
two GEMMs per iteration run in float32, on corrections from a float64 anchor taken at the
start of each round (``_fista.Refined``): float32 speed to float64 accuracy. If a round's
gap stalls even so (five checks without a 1% fall), the loop goes on in plain float64.
The pricing adjoints of the checks between rounds run in float32 too: their gaps are
estimates (the norms' rounding is about 1e-7 relative), used only to price groups and to
set the next round's target. Whatever must be rigorous gets a float64 check first: the
stop (once the estimated gap is below ``max(10 tol, 1e-5)``), a screening (once the
estimate predicts one), running out of ``max_iter``. At n = 1e4, d = 41, P = 2000 nine
of the ten checks are priced in float32 (their adjoints 0.93 s -> 0.47 s in all).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._measures import gap_scale, relative_gap
from ..exceptions import ConvergenceWarning
from ..problem import ConvexReLUProblem
from ._fista import SubProblem, fista, refine
from ._kernels import (
    Backend,
    LossOps,
    adjoint,
    aligned_dual_candidate,
    best_bias,
    column_norms,
    dual_candidate,
    dual_lower_bound,
    forward,
    make_backend,
    take_columns,
    to_numpy,
    worth_aligning,
)
from ._newton import newton_round
from .base import FAST_OPTIONS, SolverResult

DEFAULT_MAX_ITER = 20000
_FLOAT32_STALL = 5  # gap checks without a 1% fall: float32 has stalled
_MIN_NEW = 10
_INNER_FRACTION = 0.2
_ALIGN_GAP = 0.05  # plain gap below which the aligned candidate is tried
_NEWTON_GAP = 1e-2  # plain gap below which a round may be a Newton round
_NEWTON_NEW = 0.1  # ... if at most this share of its working set is new
_NEWTON_STEPS = 20
# FISTA iterations per round, after which a round that has not converged hands over to a
# Newton round (at any gap, with any new blocks): FISTA's rate scales with the data; on
# badly scaled data (features at 1e-2, targets at 1e3, weights near 1e5) one round ran
# out of all 20000 iterations at a gap of 0.999, 2.3x above the optimum.
_ROUND_CAP = 1000
_NEWTON_DEC = 0.1  # Newton decrement, relative to tol * gap scale, that ends a round
_EXACT_TOL = 10.0  # estimated gap, relative to tol, from which a check is redone in float64
_EXACT_GAP = 1e-5  # ... and at least this: far above the estimates' float32 rounding
_SCREEN_SHARE = 0.2  # share of the alive groups a screening must drop to be applied


@dataclass
class GatedOutput:
    U: np.ndarray  # (d, P) float64
    c: float | None
    n_iter: int
    status: str
    info: dict[str, Any]


@dataclass
class _Data:
    """Problem data on the backend: float64 copies (certificate) and compute copies."""

    X64: Any
    M64: Any
    Xc: Any
    Mc: Any
    fro: np.ndarray  # ||D_i X||_F, shape (P,), float64 NumPy
    y: np.ndarray


def _prepare(problem: ConvexReLUProblem, backend: Backend) -> _Data:
    X64 = backend.asarray(problem.X, backend.f64)
    M64 = _fortran(backend.asarray(problem.mask, backend.f64))
    if backend.is_float32:
        Xc, Mc = backend.asarray(problem.X), _fortran(backend.asarray(problem.mask))
    else:
        Xc, Mc = X64, M64
    xp = backend.xp
    fro = to_numpy(xp.sqrt(M64.T @ xp.sum(X64 * X64, axis=1)))
    return _Data(X64, M64, Xc, Mc, fro, np.asarray(problem.y, dtype=np.float64))


def _fortran(M: Any) -> Any:
    return np.asfortranarray(M) if isinstance(M, np.ndarray) else M


@dataclass
class _Round:
    """A working set and what is cached for it across rounds (masks, step constant)."""

    ws: np.ndarray
    Lip: float = 0.0
    masks: dict[bool, Any] = field(default_factory=dict)

    def mask(self, M: Any, *, low: bool = False) -> Any:
        """Columns ``ws`` of M (float64, or the low-precision copy), sliced once."""
        if low not in self.masks:
            self.masks[low] = take_columns(M, self.ws)
        return self.masks[low]


@dataclass
class _Alive:
    """The groups not screened out, with their mask columns in float64 and, for float32
    pricing, in the compute dtype (sliced on first use)."""

    idx: np.ndarray
    M64: Any
    _low: Any = None

    @classmethod
    def every(cls, data: _Data) -> _Alive:
        return cls(np.arange(data.fro.size), data.M64, data.Mc)

    def low(self, data: _Data) -> Any:
        if self._low is None:
            self._low = take_columns(data.Mc, self.idx)
        return self._low

    def restrict(self, data: _Data, keep: np.ndarray) -> _Alive:
        idx = self.idx[keep]
        return _Alive(idx, take_columns(data.M64, idx))


@dataclass
class _Check:
    """A check of the current iterate over the alive groups (a certificate if ``exact``)."""

    primal: float
    lower: float
    rel_gap: float
    plain_gap: float  # the relative gap of lam0 alone (what the inner FISTA measures)
    t: float
    gnorm: np.ndarray  # ||X^T D_i lam0|| of the alive groups (lam0 = -grad L: pricing)
    c: float  # the output bias, re-optimised for the current blocks
    dual_norms: np.ndarray  # ||X^T D_i lam|| of the alive groups, lam the bound's (screening)
    #: (candidate, its largest dual norm) for each candidate tried: plain, then aligned
    bounds: list[tuple[np.ndarray, float]] = field(default_factory=list)
    #: False: priced in float32, every gap and bound above is an estimate
    exact: bool = True


def _certify(
    data: _Data,
    problem: ConvexReLUProblem,
    backend: Backend,
    U: np.ndarray,
    c: float,
    alive: _Alive,
    *,
    low: bool = False,
    estimate: _Check | None = None,
) -> _Check:
    """Primal value, dual candidates and bounds at (U, c), priced over the alive groups.

    ``low``: the pricing adjoints in the float32 compute dtype (estimates; see the
    module docstring), else in float64 (a certificate). ``estimate``: a float32 check of
    the same (U, c) whose primal value and candidates are re-priced, not rebuilt.
    """
    nz = np.flatnonzero(np.linalg.norm(U, axis=0) > 0)
    loss, y = problem.loss, data.y
    M_nz: Any = None  # the non-zero blocks' mask columns, sliced once
    if estimate is None:
        M_nz = take_columns(data.M64, nz)
        primal, c, lam0 = _primal_and_candidate(data, problem, backend, U[:, nz], M_nz, c)
    else:
        primal, c, lam0 = estimate.primal, estimate.c, estimate.bounds[0][0]
    gnorm = _dual_norms(data, backend, alive, lam0, low)
    lower, t = dual_lower_bound(loss, lam0, y, problem.beta, float(gnorm.max(initial=0.0)))
    plain_gap = relative_gap(primal, lower, y)
    dual_norms = gnorm
    bounds = [(lam0, float(gnorm.max(initial=0.0)))]
    # Far from the optimum the aligned bound is no better (nor its screening).
    lam1: np.ndarray | None = None
    if estimate is not None and len(estimate.bounds) > 1:
        lam1 = estimate.bounds[1][0]
    elif plain_gap <= _ALIGN_GAP and worth_aligning(nz.size, problem.n):
        lam1 = to_numpy(
            aligned_dual_candidate(
                data.X64,
                take_columns(data.M64, nz) if M_nz is None else M_nz,
                backend.asarray(U[:, nz], backend.f64),
                backend.asarray(lam0, backend.f64),
                problem.beta,
                problem.output_bias,
            )
        )
    if lam1 is not None:
        norms1 = _dual_norms(data, backend, alive, lam1, low)
        lower1, t1 = dual_lower_bound(loss, lam1, y, problem.beta, float(norms1.max(initial=0.0)))
        bounds.append((lam1, float(norms1.max(initial=0.0))))
        if lower1 > lower:
            lower, t, dual_norms = lower1, t1, norms1
    rel_gap = relative_gap(primal, lower, y)
    return _Check(primal, lower, rel_gap, plain_gap, t, gnorm, c, dual_norms, bounds, not low)


def _primal_and_candidate(
    data: _Data,
    problem: ConvexReLUProblem,
    backend: Backend,
    U_nz: np.ndarray,
    M_nz: Any,
    c: float,
) -> tuple[float, float, np.ndarray]:
    """Primal value at the non-zero blocks U_nz (with their mask columns M_nz) and the
    best output bias c*, c*, and ``lam0 = -grad L``."""
    z_np = to_numpy(forward(data.X64, M_nz, backend.asarray(U_nz, backend.f64)))
    loss = problem.loss
    if problem.output_bias:
        c = best_bias(loss, z_np, data.y, c)
        z_np = z_np + c
    norms = np.linalg.norm(U_nz, axis=0)
    primal = float(loss.value(z_np, data.y)) + problem.beta * float(norms.sum())
    return primal, c, dual_candidate(loss, z_np, data.y, problem.output_bias)


def _dual_norms(
    data: _Data, backend: Backend, alive: _Alive, lam: np.ndarray, low: bool
) -> np.ndarray:
    """``||X^T D_i lam||`` of the alive groups (float64 NumPy); ``low``: the adjoint in
    the compute dtype (float32), its columns' norms in float64."""
    if low:
        G = adjoint(data.Xc, alive.low(data), backend.asarray(lam))
        return np.linalg.norm(to_numpy(G), axis=0)
    G = adjoint(data.X64, alive.M64, backend.asarray(lam, backend.f64))
    return to_numpy(column_norms(G))


def solve_gated(
    problem: ConvexReLUProblem,
    backend: Backend,
    *,
    tol: float,
    max_iter: int,
    warm_start: tuple[Any, Any, Any] | None = None,
    verbose: bool = False,
) -> GatedOutput:
    """Working-set FISTA on the gated program; see the module docstring.

    Returns U (d, P) in float64 NumPy (``V = U``, ``W = 0`` is optimal for eq. 8 gated).
    """
    data = _prepare(problem, backend)
    U, c = _initial_point(problem, warm_start)
    P = problem.P
    alive = _Alive.every(data)
    n_iter, n_outer, n_screened, n_iter32 = 0, 0, 0, 0
    prev: _Round | None = None  # the last round's working set, masks and Lip
    top = None  # the last power-iteration vector (see SubProblem.top)
    refined = backend.is_float32  # float32 GEMMs on corrections from float64 anchors
    f64 = backend.with_dtype("float64")
    status, chk = "max_iter", None
    newton_ok = True  # False after a Newton round that did not converge
    slow = False  # the last FISTA round ran out of _ROUND_CAP iterations
    grams: dict[int, Any] = {}  # pattern -> its d x d preconditioner block (newton_round)
    n_hvp, n_newton = 0, 0
    wide = False  # a Newton round's CG ran out of products (newton_round)
    while True:
        chk = _certify(data, problem, backend, U, c, alive, low=refined)
        if not chk.exact and _needs_exact(chk, problem, U, alive, data, tol, n_iter >= max_iter):
            chk = _certify(data, problem, backend, U, c, alive, estimate=chk)
        c = chk.c
        if verbose:
            kind = "" if chk.exact else " (float32 estimate)"
            print(
                f"[gated] outer {n_outer}: rel gap {chk.rel_gap:.3e}{kind}, active "
                f"{int((np.linalg.norm(U, axis=0) > 0).sum())}, alive {alive.idx.size}, "
                f"it {n_iter}"
            )
        if chk.rel_gap <= tol and chk.exact:
            if alive.idx.size == P:
                status = "optimal"
                break
            alive = _Alive.every(data)  # final check over every group
            continue
        if n_iter >= max_iter:
            break
        if chk.exact:
            alive, chk, n_drop = _screen(data, problem, U, chk, alive)
            n_screened += n_drop
        ws = _working_set(U, chk, alive.idx, problem.beta)
        rnd = prev if prev is not None and np.array_equal(prev.ws, ws) else _Round(ws)
        sub = SubProblem(
            X=data.X64,
            Ms=rnd.mask(data.M64),
            ops=LossOps(problem.loss, data.y, f64),
            beta=problem.beta,
            output_bias=problem.output_bias,
            backend=f64,
        )
        B0 = f64.asarray(U[:, ws])
        if refined:
            refine(sub, data.Xc, rnd.mask(data.Mc, low=True), backend, B0, c)
        sub.Lip = rnd.Lip  # the same working set as the last round: no new power iteration
        sub.top = top  # else the power iteration starts from the last one's vector
        newton = None
        if newton_ok and _newton_ready(chk, U, ws, slow):
            newton = newton_round(
                sub,
                B0,
                c,
                dec_tol=_NEWTON_DEC * tol * gap_scale(chk.primal, data.y),
                max_steps=_NEWTON_STEPS,
                max_hvp=max_iter - n_iter,
                gram_cache=grams,
                keys=ws,
                wide=wide,
            )
            wide = newton.wide
            if verbose:
                print(f"[gated] newton: {newton.summary()}")
            n_hvp += newton.n_hvp
            n_iter += newton.n_hvp  # each product costs what a FISTA iteration does
            n_iter32 += newton.n_hvp if refined else 0  # its products ran in float32
            newton_ok = newton.converged  # else a FISTA round next
            if not newton.objective < chk.primal:  # no better: a FISTA round instead
                newton = None
        if newton is not None:
            B_new, c = newton.B, newton.c
            n_newton += newton.n_steps
        else:
            res = fista(
                sub,
                B0,
                c,
                tol=max(_INNER_FRACTION * chk.plain_gap, 0.5 * tol),
                max_iter=min(max_iter - n_iter, _ROUND_CAP),
                stop="gap",
                y_np=data.y,
                stall_checks=_FLOAT32_STALL if refined else 0,
            )
            slow = not res.converged and res.n_iter == _ROUND_CAP
            rnd.Lip, top = sub.Lip, sub.top
            n_iter32 += res.n_iter if refined else 0
            if refined and not res.converged and res.n_iter < max_iter - n_iter:
                refined = False  # stalled at float32's floor even so: go on in float64
            n_iter += res.n_iter
            B_new, c = res.B, float(res.c)
            newton_ok = True
        prev = rnd
        n_outer += 1
        U = np.zeros_like(U)
        U[:, ws] = to_numpy(B_new)
    info = {
        "relative_gap": chk.rel_gap,
        "lower_bound": chk.lower,
        "primal": chk.primal,
        "n_outer": n_outer,
        "n_active": int((np.linalg.norm(U, axis=0) > 0).sum()),
        "n_screened": n_screened,
        "n_iter_float32": n_iter32,
        # the last check was over every group: solve's certificate need not redo it
        "dual_norm_bound": chk.bounds if status == "optimal" else None,
        "n_newton": n_newton,
        "n_hessian_products": n_hvp,
        "dtype": np.dtype(backend.dtype).name
        if isinstance(U, np.ndarray) and not str(backend.dtype).startswith("torch")
        else str(backend.dtype).replace("torch.", ""),
    }
    if status == "max_iter":
        warnings.warn(
            f"solve: the gated working-set solver ran out of max_iter={max_iter} "
            f"iterations at a certified relative gap of {chk.rel_gap:.3g} (tol={tol:.3g}); "
            f"raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return GatedOutput(U, c if problem.output_bias else None, n_iter, status, info)


def _initial_point(
    problem: ConvexReLUProblem, warm_start: tuple[Any, Any, Any] | None
) -> tuple[np.ndarray, float]:
    if warm_start is None:
        c0 = float(np.mean(problem.y)) if problem.output_bias else 0.0
        return np.zeros((problem.d, problem.P)), c0
    V, W, c = (to_numpy(warm_start[0]), to_numpy(warm_start[1]), warm_start[2])
    if V.shape != (problem.d, problem.P) or W.shape != V.shape:
        raise ValueError(
            f"solve: warm_start V and W must have shape (d_eff, P) = "
            f"({problem.d}, {problem.P}), got {V.shape} and {W.shape}; pad new pattern "
            f"columns with zeros."
        )
    U = V - W
    c0 = float(c) if (c is not None and problem.output_bias) else 0.0
    return U.astype(np.float64, copy=True), c0


def _screen(
    data: _Data, problem: ConvexReLUProblem, U: np.ndarray, chk: _Check, alive: _Alive
) -> tuple[_Alive, _Check, int]:
    """Gap-safe rule (a float64 check): drop alive groups that are zero at every optimum."""
    keep = _screen_keep(data, problem, U, chk, alive)
    if not _screening_pays(keep):
        return alive, chk, 0
    chk.gnorm, chk.dual_norms = chk.gnorm[keep], chk.dual_norms[keep]
    return alive.restrict(data, keep), chk, int(keep.size - keep.sum())


def _screening_pays(keep: np.ndarray) -> bool:
    """Re-slicing the mask copies it: only worth it once a fifth of the columns go."""
    n_drop = int(keep.size - keep.sum())
    return n_drop > 0 and n_drop >= _SCREEN_SHARE * keep.size


def _screen_keep(
    data: _Data, problem: ConvexReLUProblem, U: np.ndarray, chk: _Check, alive: _Alive
) -> np.ndarray:
    """Alive groups the gap-safe test keeps: ``t ||g_i|| + r ||D_i X||_F >= beta`` with
    ``r = sqrt(2 smoothness gap)``, or non-zero. A certificate only on a float64 check."""
    gap = max(chk.primal - chk.lower, 0.0)
    radius = np.sqrt(2.0 * float(problem.loss.smoothness or 1.0) * gap)
    nonzero = np.linalg.norm(U[:, alive.idx], axis=0) > 0
    return (chk.t * chk.dual_norms + radius * data.fro[alive.idx] >= problem.beta) | nonzero


def _needs_exact(
    chk: _Check,
    problem: ConvexReLUProblem,
    U: np.ndarray,
    alive: _Alive,
    data: _Data,
    tol: float,
    last: bool,
) -> bool:
    """Whether a float32-priced check must be redone in float64: to stop (the estimated
    gap is near ``tol``), to screen (the estimate predicts a screening), or the last."""
    if last or chk.rel_gap <= max(_EXACT_TOL * tol, _EXACT_GAP):
        return True
    return _screening_pays(_screen_keep(data, problem, U, chk, alive))


def _newton_ready(chk: _Check, U: np.ndarray, ws: np.ndarray, slow: bool = False) -> bool:
    """A Newton round pays once the support has settled (a small gap, few new blocks),
    or when FISTA is slow: its last round ran out of ``_ROUND_CAP`` iterations."""
    n_new = int((np.linalg.norm(U[:, ws], axis=0) == 0).sum())
    return slow or (chk.plain_gap <= _NEWTON_GAP and n_new <= _NEWTON_NEW * ws.size)


def _working_set(U: np.ndarray, chk: _Check, alive: np.ndarray, beta: float) -> np.ndarray:
    """Non-zero groups plus the most violated alive ones."""
    norms = np.linalg.norm(U[:, alive], axis=0)
    active = alive[norms > 0]
    score = np.where(norms > 0, -np.inf, chk.gnorm)
    n_new = max(_MIN_NEW, active.size)
    order = np.argsort(-score)[:n_new]
    new = alive[order[score[order] > beta]]
    ws = np.union1d(active, new)
    if ws.size == 0:
        ws = alive[np.argsort(-chk.gnorm)[:1]]
    return ws


class GroupLassoSolver:
    """Working-set group-lasso solver of the gated program (registered ``"group-lasso"``).

    Options: ``dtype`` ("auto" | "float64" | "float32"; "auto": float32 iterations when
    ``n * P >= 1e6``, where the GEMMs dominate), ``backend`` ("numpy" | "torch"),
    ``device`` (torch device), ``warm_start`` ((V, W, c) with V, W of shape (d_eff, P)).
    """

    name = "group-lasso"
    formulations: tuple[str, ...] = ("gated",)
    device_formulations: tuple[str, ...] = ("gated",)  # run on a tensor's GPU (solve)
    losses: tuple[str, ...] = ("*",)
    option_names: frozenset[str] | None = FAST_OPTIONS

    def solve(
        self,
        problem: ConvexReLUProblem,
        *,
        tol: float,
        max_iter: int | None,
        verbose: bool,
        options: dict[str, Any],
    ) -> SolverResult:
        start = time.perf_counter()
        check_smooth(problem, self.name)
        backend = make_backend(with_auto_dtype(options, problem), caller="solve")
        out = solve_gated(
            problem,
            backend,
            tol=tol,
            max_iter=DEFAULT_MAX_ITER if max_iter is None else int(max_iter),
            warm_start=options.get("warm_start"),
            verbose=verbose,
        )
        W = np.zeros_like(out.U)
        return SolverResult(
            V=out.U,
            W=W,
            c=out.c,
            objective=problem.objective(out.U, W, out.c),
            status=out.status,
            n_iter=out.n_iter,
            time=time.perf_counter() - start,
            solver=self.name,
            info=out.info,
        )


_FLOAT32_MIN_SIZE = 1_000_000  # n * P from which float32 iterations pay off ("auto")


def with_auto_dtype(options: dict[str, Any], problem: ConvexReLUProblem) -> dict[str, Any]:
    """``options`` with ``dtype="auto"`` (the default) resolved for this problem.

    Float32 halves the memory traffic of the two GEMMs per iteration (the n = 1e4,
    P = 2000 benchmark solve: 22 s -> 15 s with the float64 anchor, same optimum); below
    ``_FLOAT32_MIN_SIZE`` the GEMMs are not the cost and the second (float32) mask is
    not worth its copy. The certificate is float64 either way.
    """
    if options.get("dtype", "auto") != "auto":
        return options
    big = problem.n * problem.P >= _FLOAT32_MIN_SIZE
    return {**options, "dtype": "float32" if big else "float64"}


def check_smooth(problem: ConvexReLUProblem, name: str) -> None:
    """Refuse non-smooth losses (the fast solvers take gradient steps on the loss)."""
    if problem.loss.smoothness is None:
        raise ValueError(
            f"solve: solver {name!r} needs a smooth loss (loss.smoothness is None for "
            f"{problem.loss.name!r}); use solver='cvxpy' for this loss."
        )
