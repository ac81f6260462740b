"""Working-set block coordinate descent for the gated CNN program (a group lasso).

The gated program of :mod:`convexnn.cnn.relu` is a group lasso whose group designs are
dense: with ``F_i = sum_k D_ik X_k`` (N x d),

    min_V  L(sum_i F_i v_i, y) + beta sum_i ||v_i||.

Plain FISTA on it moves every group with one global step ``1 / ||A||^2``; on image
patches (correlated columns, overlapping patches) it creeps. This solver does what
fast group-lasso solvers do (skglm, celer, glmnet):

- **working sets**: the groups that are nonzero plus the worst violators of the dual
  constraint ``||F_i^T lam|| <= beta``, priced with one full adjoint per outer round;
  the set doubles while the gap stays above ``tol``;
- **exact block steps**: each group is minimised exactly over the quadratic model
  ``L(z) + g^T F_i dv + (s/2) dv^T F_i^T F_i dv`` (``s`` the loss's smoothness: the
  exact block minimum for the squared loss, a majoriser for the others), through the
  eigendecomposition of its d x d Gram matrix and a one-dimensional secular equation;
- **Anderson acceleration** of the working set's iterates every few epochs, kept only
  when it lowers the objective;
- **certified stopping**: the relative duality gap of the whole program, with the dual
  point ``-grad L`` scaled to satisfy every group's constraint, as in
  :meth:`ConvReLUProgram.lower_bound`.

Only the working set's designs are built (``|ws| N d`` numbers); the pricing runs on
the operator of the program, never on the N x (P d) design.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from .._measures import gap_scale
from ..losses import Loss
from ..solvers._kernels import loss_curvature
from ._common import no_better_certificate
from ._sample_step import dense_flops, sample_space_flops, sample_space_step

Array = NDArray[np.float64]

_EPOCHS_PER_CHECK = 10  # BCD epochs between the working set's gap checks
_ANDERSON = 5  # iterates combined by one Anderson step
_MIN_WS = 10  # smallest working set
_INNER_SHRINK = 0.3  # the working set's gap target, relative to the outer gap
_STALL_CHECKS, _STALL_FACTOR = 20, 100  # see _stalled
_NEWTON_STEPS = 10  # Newton steps on the support after each check's epochs
_NEWTON_MAX = 50_000_000  # largest support design (N x groups x d numbers) for Newton
_DENSE_MAX = 4000  # largest Newton system (groups x d) solved densely; beyond: PCG
_SAMPLE_MAX = 3000  # most samples for a Newton step in sample space (N x N factorised)
# PCG's relative residual: min(0.1, ||g|| / ||g_first||) (an inexact Newton method,
# superlinear as the gradient falls), at least _CG_TOL; at most _CG_MAX products.
_CG_TOL, _CG_MAX = 1e-8, 200
_MU_START, _MU_MIN = 1e-6, 1e-12  # Levenberg-Marquardt damping, relative to mean(diag H)


def group_design(X: Array, S: NDArray[np.bool_], i: int) -> Array:
    """``F_i = sum_k D_ik X_k`` (N, d) for patches X (N, K, d) and patterns S (N, K, P)."""
    return np.einsum("nk,nkd->nd", S[:, :, i].astype(X.dtype), X)  # type: ignore[no-any-return]


def group_design_reference(X: Array, S: NDArray[np.bool_], i: int) -> Array:
    """Slow, obvious :func:`group_design`: a loop over samples and patches."""
    N, K, d = X.shape
    F = np.zeros((N, d))
    for n in range(N):
        for k in range(K):
            if S[n, k, i]:
                F[n] += X[n, k]
    return F


def block_minimiser(lam: Array, Q: Array, b: Array, beta: float) -> Array:
    """``argmin_v 1/2 v^T H v - b^T v + beta ||v||`` for ``H = Q diag(lam) Q^T >= 0``.

    Zero when ``||b|| <= beta``; otherwise ``v = (H + mu I)^{-1} b`` with ``mu > 0`` the
    root of ``mu ||v(mu)|| = beta``. With ``c = Q^T b`` and ``t = 1 / mu`` the condition
    reads ``phi(t) = 1 / ||c / (1 + t lam)|| = 1 / beta``; ``phi`` is increasing and
    concave in t, so Newton's method from ``t = 0`` stays left of the root and converges
    monotonically. (``b`` lies in the range of H for the programs here, so ``phi`` grows
    without bound and the root exists.)
    """
    c = Q.T @ b
    if float(np.linalg.norm(c)) <= beta:
        return np.zeros_like(b)
    t, target = 0.0, 1.0 / beta
    for _ in range(100):
        w = c / (1.0 + t * lam)
        nw = float(np.linalg.norm(w))
        phi = 1.0 / nw
        if phi >= target * (1.0 - 1e-15):
            break
        # d||w||/dt = -sum(w^2 lam / (1 + t lam)) / ||w||, so dphi/dt = that sum / ||w||^3
        slope = float(np.sum(w * w * lam / (1.0 + t * lam))) / nw**3
        t_new = t + (target - phi) / slope if slope > 0 else t
        if not t_new > t * (1.0 + 1e-15):
            break
        t = t_new
    if t <= 0.0:  # only when ||c|| is beta to rounding: v is vanishingly small
        return np.zeros_like(b)
    return Q @ (c / (1.0 / t + lam))  # type: ignore[no-any-return]


def block_minimiser_reference(H: Array, b: Array, beta: float) -> Array:
    """Slow :func:`block_minimiser`: bisection on ``mu`` with a linear solve per step."""
    if np.linalg.norm(b) <= beta:
        return np.zeros_like(b)
    I = np.eye(len(b))
    lo, hi = 0.0, 1.0
    while hi * np.linalg.norm(np.linalg.solve(H + hi * I, b)) < beta:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if mid * np.linalg.norm(np.linalg.lstsq(H + mid * I, b, rcond=None)[0]) < beta:
            lo = mid
        else:
            hi = mid
    return np.asarray(np.linalg.solve(H + hi * I, b), dtype=np.float64)


class _Blocks:
    """The working set's designs and Gram eigendecompositions, built once per group."""

    def __init__(self, X: Array, S: NDArray[np.bool_], smoothness: float) -> None:
        self.X, self.S, self.s = X, S, smoothness
        self.F: dict[int, Array] = {}
        self.eig: dict[int, tuple[Array, Array]] = {}

    def get(self, i: int) -> tuple[Array, Array, Array]:
        if i not in self.F:
            F = group_design(self.X, self.S, i)
            lam, Q = np.linalg.eigh(self.s * (F.T @ F))
            self.F[i], self.eig[i] = F, (np.maximum(lam, 0.0), Q)
        return self.F[i], *self.eig[i]


def _epoch(
    blocks: _Blocks, ws: np.ndarray, V: Array, z: Array, loss: Loss, y: Array, beta: float
) -> None:
    """One cyclic pass of exact block steps over the working set (V, z in place)."""
    squared = loss.name == "squared"
    g = loss.gradient(z, y) if squared else None
    for i in ws:
        F, lam, Q = blocks.get(int(i))
        if not squared:
            g = loss.gradient(z, y)
        assert g is not None
        v_old = V[:, i]
        # model in v: s/2 v^T G v - (s G v_old - F^T g)^T v + beta ||v||
        b = Q @ (lam * (Q.T @ v_old)) - F.T @ g
        v_new = block_minimiser(lam, Q, b, beta)
        dv = v_new - v_old
        if np.any(dv):
            dz = F @ dv
            z += dz
            V[:, i] = v_new
            if squared:
                g = g + dz


def _anderson(history: list[Array]) -> Array | None:
    """Anderson extrapolation of the last iterates (flattened), or None if ill-posed."""
    U = np.diff(np.stack(history), axis=0)  # (m, n)
    C = U @ U.T
    try:
        c = np.linalg.solve(C + 1e-12 * np.trace(C) * np.eye(len(C)), np.ones(len(C)))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(c)) or c.sum() == 0:
        return None
    c /= c.sum()
    return np.tensordot(c, np.stack(history[1:]), axes=1)  # type: ignore[no-any-return]


def _restricted_gap(
    AT: Any, z: Array, loss: Loss, y: Array, beta: float, V: Array, cols: np.ndarray | None
) -> tuple[float, float, Array]:
    """Objective, gap and dual norms at z, the dual point scaled over ``cols`` (None: all)."""
    lam = -loss.gradient(z, y)
    norms = np.linalg.norm(AT(lam), axis=0)
    s = float(np.max(norms if cols is None else norms[cols], initial=0.0))
    t_max = (1.0 - 1e-14) * beta / s if s > 0 else np.inf
    t = float(loss.best_dual_scale(lam, y, t_max))
    primal = loss.value(z, y) + beta * float(np.linalg.norm(V, axis=0).sum())
    return primal, primal - float(loss.dual_value(t * lam, y)), norms


def solve_gated_bcd(
    prog: Any, tol: float, max_iter: int, verbose: bool = False
) -> tuple[Array, int, str]:
    """Solve ``prog`` (a gated :class:`ConvReLUProgram`) to the relative gap ``tol``.

    Returns ``(V, n_epochs, status)`` with V (d_eff, P) and status "optimal",
    "max_iter" (``max_iter`` counts block-coordinate epochs over the working sets) or
    "stalled" (the last five rounds' certificates were no better than the best before
    them, see :func:`._common.no_better_certificate`, and at the objective's recent
    rate the gap would take more than 100 times as long again to close: degenerate
    programs, e.g. tiny beta with more free dimensions than samples, where the Newton
    model is poor and the dual bound loose). A working-set round ends when its own
    objective stalls that way (over its own checks).
    ``verbose``: one line per working-set round (gap, support, epochs).
    """
    loss: Loss = prog.loss
    X, S, y, beta = prog.X, prog.S, prog.y, float(prog.beta)
    d, Pn = X.shape[2], S.shape[2]
    blocks = _Blocks(X, S, float(loss.smoothness or 0.0))  # checked smooth by the caller
    V = np.zeros((d, Pn))
    z = prog.A(V)
    ws_size, epochs = _MIN_WS, 0
    trail: list[float] = []  # the objective at every check
    gaps: list[float] = []  # the relative gap of every round
    while True:
        primal, gap, norms = _restricted_gap(prog.AT, z, loss, y, beta, V, None)
        gaps.append(gap / gap_scale(primal, y))
        if verbose:
            n_blocks = int(np.count_nonzero(np.linalg.norm(V, axis=0)))
            print(f"[gated cnn bcd] epoch {epochs}: rel gap {gaps[-1]:.3e}, {n_blocks} blocks")
        if gap <= tol * gap_scale(primal, y):
            return V, epochs, "optimal"
        if epochs >= max_iter:
            return V, epochs, "max_iter"
        if no_better_certificate(gaps) and _stalled(trail, gap):
            return V, epochs, "stalled"
        support = np.flatnonzero(np.linalg.norm(V, axis=0) > 0)
        ws_size = max(ws_size, 2 * support.size)
        score = norms / beta
        score[support] = np.inf  # the support stays in
        ws = np.sort(np.argsort(-score, kind="stable")[: min(ws_size, Pn)])
        target = _INNER_SHRINK * gap
        run = _solve_working_set(prog, blocks, ws, V, z, target, max_iter - epochs, tol, trail)
        epochs += run
        z = prog.A(V)  # drop the rounding the incremental updates gathered
        ws_size = min(2 * ws_size, Pn)


def _solve_working_set(
    prog: Any,
    blocks: _Blocks,
    ws: np.ndarray,
    V: Array,
    z: Array,
    target: float,
    budget: int,
    tol: float,
    trail: list[float],
) -> int:
    """BCD epochs with Anderson steps on ``ws``, each ``_EPOCHS_PER_CHECK`` of them
    followed by Newton steps on the support, until the set's gap is below ``target``
    or the objective stalls (appended to ``trail`` at each check). Returns the epochs."""
    loss, y, beta = prog.loss, prog.y, float(prog.beta)
    history: list[Array] = []
    start = len(trail)
    for k in range(1, budget + 1):
        _epoch(blocks, ws, V, z, loss, y, beta)
        history.append(V[:, ws].ravel().copy())
        if len(history) == _ANDERSON + 1:
            _try_anderson(blocks, ws, V, z, loss, y, beta, history)
            history.clear()
        if k % _EPOCHS_PER_CHECK == 0 or k == budget:
            _newton_on_support(blocks, V, z, loss, y, beta)
            history.clear()
            primal, gap, _ = _restricted_gap(prog.AT, z, loss, y, beta, V, ws)
            trail.append(primal)
            if gap <= target or _stalled(trail[start:], gap):
                return k
    return budget


def _stalled(trail: list[float], gap: float) -> bool:
    """True when the objective's decrease over the last ``_STALL_CHECKS`` checks, kept
    up, would take more than ``_STALL_FACTOR`` times as long again to close ``gap``."""
    if len(trail) <= _STALL_CHECKS:
        return False
    return _STALL_FACTOR * (trail[-_STALL_CHECKS - 1] - trail[-1]) < gap


def _newton_on_support(
    blocks: _Blocks, V: Array, z: Array, loss: Loss, y: Array, beta: float
) -> None:
    """Damped Newton steps on the nonzero groups, where the objective is smooth.

    Block coordinate steps find the support fast but creep when the groups' designs
    are correlated (overlapping patches); on a fixed support the objective
    ``L(Phi theta) + beta sum_k ||theta_k||`` is twice differentiable, with Hessian
    ``Phi^T diag(h) Phi + blockdiag(beta / ||theta_k|| (I - u_k u_k^T))``. Groups that
    should leave are zeroed by the next epoch's exact block steps.
    """
    d = V.shape[0]
    supp = np.flatnonzero(np.linalg.norm(V, axis=0) > 0)
    if supp.size == 0 or supp.size * d * z.size > _NEWTON_MAX:
        return
    f_old = _objective(z, V, loss, y, beta)
    mu, g_first = _MU_START, 0.0
    for _ in range(_NEWTON_STEPS):
        if supp.size == 0:
            return
        Phi = np.hstack([blocks.get(int(i))[0] for i in supp])  # (N, m d), group-major
        B = V[:, supp]
        model = _Model(Phi, B, z, loss, y, beta)
        g_norm = float(np.linalg.norm(model.grad))
        g_first = g_first or g_norm
        eta = max(min(0.1, g_norm / g_first), _CG_TOL)
        while mu < 1e12:
            step = model.step(mu, eta)
            if step is None:
                mu *= 10.0
                continue
            target = B + step.reshape(-1, d).T
            # a group whose target crosses zero (radially) wants to leave the support;
            # the smooth model cannot take it there (its curvature beta / ||v|| grows
            # without bound), so the step is tried with such groups at zero first.
            leave = np.einsum("dk,dk->k", target, B) <= 0
            cut = np.where(leave, 0.0, target)
            if leave.any() and _accept(blocks, V, z, supp, cut, f_old, loss, y, beta):
                f_old, supp = _objective(z, V, loss, y, beta), supp[~leave]
                break
            predicted = -(model.grad @ step + 0.5 * step @ model.matvec(step))
            dz = Phi @ step
            f_try = _objective(z + dz, _with(V, supp, target), loss, y, beta)
            if f_try < f_old and f_old - f_try >= 0.1 * predicted:
                V[:, supp] = target
                z += dz
                mu = max(mu / 10.0, _MU_MIN)
                decrease, f_old = f_old - f_try, f_try
                if decrease <= 1e-15 * abs(f_try):
                    return
                break
            mu *= 10.0
        else:
            return


def _with(V: Array, cols: np.ndarray, B: Array) -> Array:
    """A copy of V with columns ``cols`` replaced by B."""
    out = V.copy()
    out[:, cols] = B
    return out


def _accept(
    blocks: _Blocks,
    V: Array,
    z: Array,
    cols: np.ndarray,
    B: Array,
    f_old: float,
    loss: Loss,
    y: Array,
    beta: float,
) -> bool:
    """Move V[:, cols] to B (and z with it) if that lowers the objective below f_old."""
    z_try = z.copy()
    for j, i in enumerate(cols):
        dv = B[:, j] - V[:, i]
        if np.any(dv):
            z_try += blocks.get(int(i))[0] @ dv
    V_try = _with(V, cols, B)
    if _objective(z_try, V_try, loss, y, beta) >= f_old:
        return False
    V[:] = V_try
    z[:] = z_try
    return True


class _Model:
    """The Newton system of ``L(Phi theta) + beta sum_k ||theta_k||`` at blocks B (d, m).

    Hessian ``Phi^T diag(h) Phi + blockdiag(beta / ||theta_k|| (I - u_k u_k^T))``, in
    group-major order. Damped steps ``(H + mu Delta) p = -g`` are solved in one of three
    ways (``mode``):

    - ``"sample"``: in sample space (:mod:`._sample_step`), for supports wider than the
      data (``N <= _SAMPLE_MAX`` and cheaper than the dense solve); ``Delta`` is each
      group's mean Hessian diagonal times the identity;
    - ``"dense"``: up to ``_DENSE_MAX`` unknowns, ``Delta = diag(H)``;
    - ``"pcg"``: beyond, conjugate gradients with the d x d diagonal blocks as
      preconditioner (products with Phi only: N m d numbers per product),
      ``Delta = diag(H)``.
    """

    def __init__(self, Phi: Array, B: Array, z: Array, loss: Loss, y: Array, beta: float):
        d, m = B.shape
        N = Phi.shape[0]
        self.Phi, self.d, self.m = Phi, d, m
        norms = np.linalg.norm(B, axis=0)
        self.U, self.w = B / norms, beta / norms  # unit blocks, penalty curvatures
        self.h = np.ones_like(z) if loss.name == "squared" else loss_curvature(loss, z, y)
        self.grad = ((Phi.T @ loss.gradient(z, y)).reshape(m, d) + beta * self.U.T).ravel()
        dense_ok = m * d <= _DENSE_MAX
        if N <= _SAMPLE_MAX and (
            not dense_ok or sample_space_flops(N, m, d) < dense_flops(N, m, d)
        ):
            self.mode = "sample"
            diag = (Phi * Phi).T @ self.h + (self.w[:, None] * (1.0 - self.U.T**2)).ravel()
            self.diag = np.maximum(diag, 1e-300)
        elif dense_ok:
            self.mode = "dense"
            H = Phi.T @ (self.h[:, None] * Phi)
            for k in range(m):
                sl = slice(k * d, (k + 1) * d)
                H[sl, sl] += self.w[k] * (np.eye(d) - np.outer(self.U[:, k], self.U[:, k]))
            self.H = H
            self.diag = np.maximum(np.diag(H), 1e-300)
        else:
            self.mode = "pcg"
            P3 = Phi.reshape(-1, m, d)
            blocks = np.einsum("nkd,n,nke->kde", P3, self.h, P3)
            eye = np.eye(d)[None]
            blocks += self.w[:, None, None] * (eye - np.einsum("dk,ek->kde", self.U, self.U))
            self.blocks = blocks
            self.diag = np.maximum(np.einsum("kdd->kd", blocks).ravel(), 1e-300)

    def matvec(self, p: Array) -> Array:
        """``H p`` without the damping."""
        if self.mode == "dense":
            return self.H @ p  # type: ignore[no-any-return]
        P = p.reshape(self.m, self.d)
        radial = np.einsum("kd,dk->k", P, self.U)
        pen = self.w[:, None] * (P - radial[:, None] * self.U.T)
        return self.Phi.T @ (self.h * (self.Phi @ p)) + pen.ravel()  # type: ignore[no-any-return]

    def step(self, mu: float, eta: float) -> Array | None:
        """``-(H + mu Delta)^{-1} g``, or None when that fails (by PCG: to a relative
        residual ``eta``, an inexact Newton step)."""
        if self.mode == "sample":
            delta = mu * self.diag.reshape(self.m, self.d).mean(axis=1)
            return sample_space_step(self.Phi, self.h, self.U, self.w, self.grad, delta)
        damp = mu * self.diag
        if self.mode == "dense":
            try:
                return -scipy.linalg.solve(self.H + np.diag(damp), self.grad, assume_a="pos")  # type: ignore[no-any-return]
            except (np.linalg.LinAlgError, ValueError):
                return None
        pre = self.blocks + np.einsum("kd,de->kde", damp.reshape(self.m, self.d), np.eye(self.d))
        try:
            np.linalg.cholesky(pre)  # positive definite, or no step
            inv = np.linalg.inv(pre)
        except np.linalg.LinAlgError:
            return None

        def precondition(r: Array) -> Array:
            return np.einsum("kde,ke->kd", inv, r.reshape(self.m, self.d)).ravel()

        return _pcg(lambda p: self.matvec(p) + damp * p, precondition, -self.grad, eta)


def _pcg(matvec: Any, precondition: Any, b: Array, tol: float) -> Array:
    """Preconditioned conjugate gradients for ``A x = b`` (A positive definite) to a
    relative residual of ``tol`` or ``_CG_MAX`` products."""
    x = np.zeros_like(b)
    r = b.copy()
    zr = precondition(r)
    p = zr.copy()
    rz = float(r @ zr)
    stop = tol * float(np.linalg.norm(b))
    for _ in range(_CG_MAX):
        Ap = matvec(p)
        pAp = float(p @ Ap)
        if pAp <= 0:
            break
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        if float(np.linalg.norm(r)) <= stop:
            break
        zr = precondition(r)
        rz, rz_old = float(r @ zr), rz
        p = zr + (rz / rz_old) * p
    return x


def _objective(z: Array, V: Array, loss: Loss, y: Array, beta: float) -> float:
    return float(loss.value(z, y)) + beta * float(np.linalg.norm(V, axis=0).sum())


def _try_anderson(
    blocks: _Blocks,
    ws: np.ndarray,
    V: Array,
    z: Array,
    loss: Loss,
    y: Array,
    beta: float,
    history: list[Array],
) -> None:
    """Replace V[:, ws] (and z) by the Anderson point when it lowers the objective."""
    acc = _anderson(history)
    if acc is None:
        return
    Vw = acc.reshape(V.shape[0], ws.size)
    _accept(blocks, V, z, ws, Vw, _objective(z, V, loss, y, beta), loss, y, beta)
