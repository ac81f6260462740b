"""ReLU formulation (eq. 8): augmented Lagrangian on a working set of patterns.

STATUS: work in progress, NOT registered in ``SOLVERS`` and not behind ``"fast"``.
Measured on n=200..2000 problems it does not yet reach a relative constraint violation
of 1e-8 with a certified gap of 1e-6 within 2e4 iterations (the multiplier updates
stall while rho grows, and the active-set polish below mis-identifies the active
cone rows). Kept as the starting point for that work; ``"relu"`` uses CVXPY meanwhile.

Solves

    min_{V, W, c}  L(sum_i D_i X (v_i - w_i) + c 1, y) + beta * sum_i (||v_i|| + ||w_i||)
    s.t.           S_i * (X v_i) >= 0,  S_i * (X w_i) >= 0,     S_i = 2 D_i - 1,

by the method of multipliers restricted to the patterns of a working set: the inner
problem (FISTA with restart, see ``_fista``) is the loss plus group norms plus the
penalty ``1/(2 rho) ||(Gamma - rho S * (X B))_+||^2``; the multipliers follow
``Gamma <- (Gamma - rho S * (X B))_+`` and ``rho`` grows when the violation does not
shrink fourfold.

Warm start: the gated solution (``group_lasso.solve_gated``); each of its blocks
``u_i`` becomes ``v_i`` when ``1^T D_i X u_i >= 0`` and ``w_i = -u_i`` otherwise.

Pricing and stopping, in float64 with the predictions' dual point
``lam0 = -grad L(z)``: the gated norms ``||X^T D_i lam0||`` bound the cone-restricted
dual norms from above, so only patterns outside the working set whose gated norm exceeds
``beta`` get the exact cone norm (a small NNLS each, ``duality.cone_dual_norms``); those
above ``beta`` join the working set. The loop stops once the relative constraint
violation is ``<= 1e-8`` and the certified relative gap (cone dual norms over all P,
``duality.max_cone_dual_norm``) is ``<= tol``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..duality import cone_dual_norms, max_cone_dual_norm
from ..exceptions import ConvergenceWarning
from ..problem import ConvexReLUProblem
from ._fista import Penalty, SubProblem, fista
from ._kernels import (
    Backend,
    LossOps,
    adjoint,
    dual_candidate,
    dual_lower_bound,
    forward,
    gap_scale,
    make_backend,
    spectral_norm_sq,
    to_numpy,
)
from .base import SolverResult
from .group_lasso import DEFAULT_MAX_ITER, _take, check_smooth, solve_gated

VIOLATION_TOL = 1e-8
_RHO_GROWTH = 4.0
_EPS_START = 1e-1
_EPS_MIN = 1e-11
_MAX_NEW = 50


@dataclass
class ReluOutput:
    V: np.ndarray
    W: np.ndarray
    c: float | None
    n_iter: int
    status: str
    info: dict[str, Any]


def split_gated(problem: ConvexReLUProblem, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gated blocks ``u_i`` as ReLU blocks: ``v_i = u_i`` or ``w_i = -u_i`` by the sign of
    ``1^T D_i X u_i``."""
    sums = np.sum(problem.mask * (problem.X @ U), axis=0)
    pos = sums >= 0
    return np.where(pos, U, 0.0), np.where(pos, 0.0, -U)


class _State:
    """Working set ``S`` (pattern indices) and the iterate ``B = [V_S, W_S]`` (d, 2k)."""

    def __init__(
        self,
        problem: ConvexReLUProblem,
        backend: Backend,
        V: np.ndarray,
        W: np.ndarray,
        S: np.ndarray,
    ) -> None:
        self.problem = problem
        self.backend = backend
        xp = backend.xp
        self.X = backend.asarray(problem.X)
        self.M = backend.asarray(problem.mask)
        self.S = np.asarray(S, dtype=np.intp)
        self.B = backend.asarray(np.concatenate([V[:, self.S], W[:, self.S]], axis=1))
        self.Gamma = xp.zeros(
            (problem.n, 2 * self.S.size),
            dtype=backend.dtype,
            device=getattr(self.X, "device", None),
        )
        self._build_masks()

    def _build_masks(self) -> None:
        xp = self.backend.xp
        MS = _take(xp, self.M, self.S)
        self.Ms = xp.concat([MS, -MS], axis=1)
        sig = 2.0 * MS - 1.0
        self.Sg = xp.concat([sig, sig], axis=1)

    def add(self, new: np.ndarray) -> None:
        """Grow the working set by the patterns ``new`` (zero blocks, zero multipliers)."""
        xp, k, m = self.backend.xp, self.S.size, new.size
        d, n = self.problem.d, self.problem.n
        dev = getattr(self.X, "device", None)
        zB = xp.zeros((d, m), dtype=self.backend.dtype, device=dev)
        zG = xp.zeros((n, m), dtype=self.backend.dtype, device=dev)
        self.B = xp.concat([self.B[:, :k], zB, self.B[:, k:], zB], axis=1)
        self.Gamma = xp.concat([self.Gamma[:, :k], zG, self.Gamma[:, k:], zG], axis=1)
        self.S = np.concatenate([self.S, new])
        self._build_masks()

    def full(self, B: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(V, W) of shape (d, P) in float64 from ``B`` (default: the iterate)."""
        B = to_numpy(self.B if B is None else B)
        k = self.S.size
        V = np.zeros((self.problem.d, self.problem.P))
        W = np.zeros_like(V)
        V[:, self.S] = B[:, :k]
        W[:, self.S] = B[:, k:]
        return V, W

    def violation(self) -> float:
        """Relative cone violation of the working-set blocks (as the problem defines it)."""
        xp = self.backend.xp
        XB = self.X @ self.B
        scale = float(xp.max(xp.abs(XB))) if XB.shape[1] else 0.0
        worst = float(xp.max(xp.clip(-self.Sg * XB, min=0.0))) if XB.shape[1] else 0.0
        return worst / scale if scale > 0 else 0.0


@dataclass
class _Cert:
    rel_gap: float
    primal: float
    lower: float
    lam0: np.ndarray
    gated_norms: np.ndarray


def _certify(
    problem: ConvexReLUProblem, V: np.ndarray, W: np.ndarray, c: float, cone: bool
) -> _Cert:
    """Float64 certificate from the convex predictions (cone norms only when ``cone``)."""
    y = np.asarray(problem.y, dtype=np.float64)
    z = problem.predict(V, W, c if problem.output_bias else None)
    primal = problem.loss.value(z, y) + problem.beta * problem.regularizer(V, W)
    lam0 = dual_candidate(problem.loss, z, y, problem.output_bias)
    gated = np.linalg.norm(problem.AT(lam0), axis=0)
    s_max = float(gated.max(initial=0.0))
    if cone and s_max > problem.beta:
        s_max = max_cone_dual_norm(problem.X, problem.D, lam0, formulation="relu")
    lower, _ = dual_lower_bound(problem.loss, lam0, y, problem.beta, s_max)
    return _Cert((primal - lower) / gap_scale(primal, y), primal, lower, lam0, gated)


def _price(problem: ConvexReLUProblem, cert: _Cert, S: np.ndarray) -> np.ndarray:
    """Patterns outside ``S`` whose cone dual norm exceeds beta (most violated first)."""
    outside = np.setdiff1d(np.flatnonzero(cert.gated_norms > problem.beta), S)
    if outside.size == 0:
        return outside
    outside = outside[np.argsort(-cert.gated_norms[outside])][: 4 * _MAX_NEW]
    norms = cone_dual_norms(problem.X, problem.D[:, outside], cert.lam0).max(axis=1)
    keep = norms > problem.beta
    return outside[keep][np.argsort(-norms[keep])][:_MAX_NEW]


def _warm(
    problem: ConvexReLUProblem,
    backend: Backend,
    tol: float,
    max_iter: int,
    warm_start: Any,
    verbose: bool,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    if warm_start is not None:
        V, W = to_numpy(warm_start[0]), to_numpy(warm_start[1])
        c = float(warm_start[2]) if warm_start[2] is not None else 0.0
        if V.shape != (problem.d, problem.P) or W.shape != V.shape:
            raise ValueError(
                f"solve: warm_start V and W must have shape (d_eff, P) = "
                f"({problem.d}, {problem.P}), got {V.shape} and {W.shape}; pad new "
                f"pattern columns with zeros."
            )
        return V, W, (c if problem.output_bias else 0.0), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = solve_gated(problem, backend, tol=max(tol, 1e-5), max_iter=max_iter, verbose=verbose)
    V, W = split_gated(problem, out.U)
    return V, W, float(out.c or 0.0), out.n_iter


def solve_relu(
    problem: ConvexReLUProblem,
    backend: Backend,
    *,
    tol: float,
    max_iter: int,
    warm_start: tuple[Any, Any, Any] | None = None,
    verbose: bool = False,
) -> ReluOutput:
    """Augmented Lagrangian on the working set, then active-set polish; see the module."""
    V, W, c, n_iter = _warm(problem, backend, tol, max_iter, warm_start, verbose)
    work = backend.with_dtype("float64")  # 1e-8 violations need float64 iterations
    active = np.flatnonzero((np.linalg.norm(V, axis=0) + np.linalg.norm(W, axis=0)) > 0)
    st = _State(problem, work, V, W, active)
    cert = _certify(problem, V, W, c, cone=False)
    st.add(_price(problem, cert, st.S))
    ops = LossOps(problem.loss, problem.y, work)
    rho, lip_f, lip_x, eps = 0.0, 0.0, 0.0, _EPS_START
    prev_viol, viol, n_outer, n_polish, status = np.inf, np.inf, 0, 0, "max_iter"
    k_lip = -1
    while n_iter < max_iter:
        sub = SubProblem(
            X=st.X,
            Ms=st.Ms,
            ops=ops,
            beta=problem.beta,
            output_bias=problem.output_bias,
            backend=work,
        )
        if k_lip != st.S.size:
            lip_f, lip_x, k_lip = _lipschitz(sub, work), _x_norm(st, work), st.S.size
            if rho == 0.0:
                rho = lip_f / max(lip_x, 1e-300)
        sub.penalty = Penalty(st.Sg, st.Gamma, rho)
        sub.Lip = lip_f + rho * lip_x
        res = fista(
            sub,
            st.B,
            c,
            tol=eps,
            max_iter=max_iter - n_iter,
            stop="grad_map",
            y_np=problem.y,
            backtrack=True,
        )
        n_iter += res.n_iter
        n_outer += 1
        st.B, c = res.B, float(res.c)
        st.Gamma = work.xp.clip(st.Gamma - rho * (st.Sg * (st.X @ st.B)), min=0.0)
        viol = st.violation()
        if verbose:
            print(
                f"[relu] AL {n_outer}: violation {viol:.2e}, rho {rho:.3g}, "
                f"working set {st.S.size}, it {n_iter}"
            )
        if viol <= _POLISH_START and n_iter < max_iter:
            Bp, cp, it = _polish(st, problem, ops, c, 0.1 * tol, max_iter - n_iter)
            n_iter += it
            n_polish += 1
            V, W = st.full(Bp)
            viol = problem.constraint_violation(V, W)
            cert = _certify(problem, V, W, cp, cone=viol <= VIOLATION_TOL)
            if verbose:
                print(f"[relu] polish: violation {viol:.2e}, rel gap {cert.rel_gap:.2e}")
            if viol <= VIOLATION_TOL and cert.rel_gap <= tol:
                c, status = cp, "optimal"
                break
        else:
            V, W = st.full()
            cert = _certify(problem, V, W, c, cone=False)
        new = _price(problem, cert, st.S)
        if new.size:
            st.add(new)
        if viol > 0.25 * prev_viol:
            rho *= _RHO_GROWTH
        prev_viol = viol
        eps = max(0.2 * eps, _EPS_MIN)
    info = {
        "relative_gap": cert.rel_gap,
        "lower_bound": cert.lower,
        "primal": cert.primal,
        "constraint_violation": viol,
        "n_outer": n_outer,
        "working_set": int(st.S.size),
        "rho": rho,
    }
    if status == "max_iter":
        warnings.warn(
            f"solve: the ReLU augmented-Lagrangian solver ran out of max_iter={max_iter} "
            f"iterations at a relative gap of {cert.rel_gap:.3g} (tol={tol:.3g}) and a "
            f"relative constraint violation of {viol:.2g}; raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return ReluOutput(V, W, c if problem.output_bias else None, n_iter, status, info)


_POLISH_ROUNDS = 6
_POLISH_START = 1e-2  # AL violation below which a polish is attempted
_ROW_REL = 1e-3  # rows whose multiplier exceeds this fraction of the block's largest


def _initial_rows(st: _State) -> list[np.ndarray]:
    """Active cone constraints of every column, read off the AL multipliers.

    At most ``d - 1`` rows per block (the largest multipliers above a fraction of the
    block's largest): more would confine a non-zero block to ``{0}``.
    """
    G = to_numpy(st.Gamma)
    d = st.problem.d
    rows = []
    for j in range(G.shape[1]):
        top = float(G[:, j].max(initial=0.0))
        cand = np.flatnonzero(G[:, j] > _ROW_REL * top) if top > 0 else np.zeros(0, np.intp)
        rows.append(np.sort(cand[np.argsort(-G[cand, j])][: d - 1]))
    return rows


def _projectors(X: np.ndarray, rows: list[np.ndarray], frozen: np.ndarray) -> np.ndarray:
    """``Pi_j`` onto ``null(X[rows_j])`` (0 for frozen blocks), shape (K, d, d)."""
    d = X.shape[1]
    out = np.zeros((len(rows), d, d))
    for j, r in enumerate(rows):
        if frozen[j]:
            continue
        if r.size == 0:
            out[j] = np.eye(d)
            continue
        _, sv, Vt = np.linalg.svd(X[r], full_matrices=True)
        rank = int(np.sum(sv > 1e-10 * sv[0])) if sv.size else 0
        N = Vt[rank:].T
        out[j] = N @ N.T
    return out


def _fix_rows(
    st: _State, problem: ConvexReLUProblem, B: np.ndarray, c: float, rows: list[np.ndarray]
) -> bool:
    """Add violated rows and drop rows with negative multipliers; True if any changed.

    Multipliers of block j solve ``(S X)_R^T gamma = grad_j f + beta b_j / ||b_j||``.
    """
    X = problem.X
    Sg = to_numpy(st.Sg)
    SXB = Sg * (X @ B)
    scale = max(float(np.abs(X @ B).max(initial=0.0)), 1e-300)
    z = to_numpy(forward(st.X, st.Ms, st.backend.asarray(B)))
    z = z + (c if problem.output_bias else 0.0)
    g = problem.loss.gradient(z, problem.y)
    G = to_numpy(adjoint(st.X, st.Ms, st.backend.asarray(g)))
    norms = np.linalg.norm(B, axis=0)
    changed = False
    for j in np.flatnonzero(norms > 0):
        bad = np.flatnonzero(SXB[:, j] < -1e-12 * scale)
        if bad.size:
            worst = bad[np.argsort(SXB[bad, j])[: max(1, problem.d // 4)]]
            rows[j] = np.union1d(rows[j], worst)
            changed = True
            continue
        r = rows[j]
        if r.size == 0:
            continue
        A = (Sg[r, j, None] * X[r]).T
        gamma = np.linalg.lstsq(A, G[:, j] + problem.beta * B[:, j] / norms[j], rcond=None)[0]
        if gamma.min() < -1e-9 * max(float(np.abs(gamma).max()), 1e-300):
            rows[j] = np.delete(r, int(np.argmin(gamma)))
            changed = True
    return changed


def _polish(
    st: _State, problem: ConvexReLUProblem, ops: LossOps, c: float, tol: float, max_iter: int
) -> tuple[np.ndarray, float, int]:
    """Active-set polish: confine each block to the null space of its active cone rows.

    On those subspaces the cone constraints hold with equality, so the problem is a
    group lasso with projected blocks (FISTA, gap stop); rows are then added where a
    block violates another constraint and dropped where its multiplier is negative.
    Returns the polished ``B`` (d, K), ``c`` and the iterations spent.
    """
    X = problem.X
    rows = _initial_rows(st)
    B = to_numpy(st.B)
    frozen = np.linalg.norm(B, axis=0) == 0
    n_iter = 0
    for _ in range(_POLISH_ROUNDS):
        Pj = _projectors(X, rows, frozen)
        sub = SubProblem(
            X=st.X,
            Ms=st.Ms,
            ops=ops,
            beta=problem.beta,
            output_bias=problem.output_bias,
            backend=st.backend,
            projectors=st.backend.asarray(Pj),
        )
        sub.lipschitz()
        res = fista(
            sub,
            sub.project(st.backend.asarray(B)),
            c,
            tol=tol,
            max_iter=max(max_iter - n_iter, 1),
            stop="gap",
            y_np=problem.y,
        )
        n_iter += res.n_iter
        B, c = to_numpy(res.B), float(res.c)
        if n_iter >= max_iter or not _fix_rows(st, problem, B, c, rows):
            break
    return B, c, n_iter


def _lipschitz(sub: SubProblem, backend: Backend) -> float:
    """``smoothness * lambda_max(A A^T (+ 1 1^T))`` for the signed working-set operator."""
    sub.penalty = None
    return sub.lipschitz()


def _x_norm(st: _State, backend: Backend) -> float:
    X = st.X
    return spectral_norm_sq(lambda r: X @ (X.T @ r), X.shape[0], backend)


class AugmentedLagrangianSolver:
    """ReLU (eq. 8) solver: augmented Lagrangian warm-started from the gated solution.

    Registered as ``"al"``. Options as :class:`GroupLassoSolver` (``dtype`` applies to
    the gated warm start; the multiplier iterations run in float64).
    """

    name = "al"
    formulations: tuple[str, ...] = ("relu",)
    losses: tuple[str, ...] = ("*",)

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
        backend = make_backend(options, caller="solve")
        out = solve_relu(
            problem,
            backend,
            tol=tol,
            max_iter=DEFAULT_MAX_ITER if max_iter is None else int(max_iter),
            warm_start=options.get("warm_start"),
            verbose=verbose,
        )
        return SolverResult(
            V=out.V,
            W=out.W,
            c=out.c,
            objective=problem.objective(out.V, out.W, out.c),
            status=out.status,
            n_iter=out.n_iter,
            time=time.perf_counter() - start,
            solver=self.name,
            info=out.info,
        )
