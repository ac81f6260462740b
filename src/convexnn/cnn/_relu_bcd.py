"""Working-set block coordinate descent on the cones for the relu CNN program.

The relu CNN program of :mod:`convexnn.cnn.relu` is the gated group lasso of
:mod:`._gated_bcd` with each group split in two signed blocks (``v_i`` and ``w_i``,
designs ``+F_i`` and ``-F_i``, ``F_i = sum_k D_ik X_k``) and each block constrained to
its polyhedral cone ``K_i = {u : (2 D_ik - I) X_k u >= 0 for all k}`` (N K half-spaces
in d dimensions, the same cone for ``v_i`` and ``w_i``):

    min  L(sum_i F_i (v_i - w_i), y) + beta sum_i (||v_i|| + ||w_i||),  v_i, w_i in K_i.

This solver keeps every iterate feasible (so the recovered network's objective is the
convex one) and does what :mod:`._gated_bcd` does, on the cones:

- **exact block steps on the cone**: each block minimises the loss's quadratic model
  ``1/2 v^T H v - b^T v + beta ||v||`` over ``K_i`` (``H = s F_i^T F_i``, s the loss's
  smoothness) by a primal active-set method (:func:`cone_block_minimiser`): on the
  current face (the active constraints' null space, at most d - 1 of them) the minimum
  is :func:`._gated_bcd.block_minimiser` on the reduced Gram matrix; a constraint that
  blocks the way to it joins the face, one whose multiplier is negative leaves it; a
  zero block enters along its steepest feasible direction ``P_K(b)`` (Lawson-Hanson,
  :func:`convexnn.solvers._cones.project_cones`) when ``||P_K(b)|| > beta``;
- **working sets**: the nonzero blocks plus the worst violators of the cone dual
  constraints ``||P_K(+-F_i^T lam)|| <= beta``, priced with
  :func:`convexnn.duality.cone_dual_norms` once per outer round; the set doubles while
  the gap stays above ``tol``;
- **Newton steps on the faces**: with each nonzero block written ``v_b = N_b t_b`` in
  its face's null basis, the program is a smooth group lasso in ``t``; damped
  (Levenberg-Marquardt) Newton steps on it are cut back to stay in the cones, a cut
  constraint joining its block's face, and the rest of a cut step goes on bent onto the
  new faces (:func:`_bend`, as the dense relu polish's bent search). Without them block
  steps creep on the correlated designs of overlapping patches, as they did in the
  gated program; without the bends the steps crept on thin cones (small beta, large
  filters), one row per step;
- **warm start** from a loose gated "bcd" solve, each gated block ``u_i`` split into
  ``P_K(u_i)`` or ``P_K(-u_i)`` (the side it violates less), as
  :func:`convexnn.solvers.relu_pgd._split` does;
- **certified stopping**: the relative gap between the recovered network's objective
  (blocks below ``zero_tol`` of the largest dropped, as :func:`.relu._recover` does)
  and the dual bound of :meth:`ConvReLUProgram.bound_and_norms`.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import NDArray

from .. import _jit
from .._measures import gap_scale, relative_gap
from ..exceptions import ConvergenceWarning
from ..losses import Loss
from ..solvers._cones import project_cones, split_onto_cones
from ..solvers._kernels import loss_curvature
from ..solvers._polish_kernels import _in_span
from ._common import kept_blocks, no_better_certificate
from ._gated_bcd import block_minimiser, group_design, solve_gated_bcd

Array = NDArray[np.float64]

# Block epochs between Newton rounds (and working-set gap checks), and a round's Newton
# steps. One epoch per round and up to 30 steps, against 5 and 10: on stop 44's grid of
# 22 planted problems (8 x 8 images, N = 50-200, P = 20 / 50; 2 x 32 signals, N = 100 /
# 300; beta = 1, 0.1, 0.01) 130 CPU s against 177 s, the same optima to 1e-13; at
# beta = 0.01 and N = 50, P = 50: 775 -> 160 epochs, 30.5 -> 13.2 s (2 and 20: 14.7 s;
# 1 and 50: as 1 and 30). The Newton steps move the coupled blocks of overlapping
# patches together, where block steps crept.
_EPOCHS_PER_CHECK = 1
_MIN_WS = 10  # smallest working set (blocks)
_INNER_SHRINK = 0.3  # the working set's gap target, relative to the outer gap
_STALL_CHECKS, _STALL_FACTOR = 20, 100  # see _stalled
_NEWTON_STEPS = 30  # Newton steps per round (at most)
_BENDS = 20  # bent-search segments after a blocked Newton step (see _bend)
_DENSE_MAX = 4000  # largest Newton system (free dimensions of the support)
_MU_START, _MU_MIN = 1e-6, 1e-12  # Levenberg-Marquardt damping, relative to diag(H)
_WARM_TOL, _WARM_ITER = 1e-3, 100  # the gated warm start's gap and epochs
_RANK_TOL = 1e-10  # singular values below this (relative) span a face's null space
_KKT_TOL = 1e-10  # a multiplier below -_KKT_TOL * beta (times its row's norm) leaves


def null_basis(C: Array, d: int) -> Array:
    """Orthonormal basis (d, r) of ``{u : C u = 0}`` for C (m, d).

    Like the polish's ``_polish_kernels._null_basis``, with the full SVD always. Any
    orthonormal basis of the null space will do: the faces' rows stay independent (see
    :func:`_blocking`), so the solve no longer hangs on this basis's rounding (before,
    with the polish's reduced SVD, or the basis rotated, or two BLAS threads,
    degenerate data stalled).
    """
    if C.shape[0] == 0:
        return np.eye(d)
    _, s, Vt = np.linalg.svd(C, full_matrices=True)
    rank = int(np.sum(s > _RANK_TOL * s[0])) if s.size and s[0] > 0 else 0
    return np.ascontiguousarray(Vt[rank:].T)


def cone_block_minimiser(
    H: Array,
    b: Array,
    beta: float,
    Xf: Array,
    sgn: Array,
    v: Array,
    face: list[int],
    max_steps: int,
    entry: list[np.ndarray] | None = None,
    reduced: dict[tuple[int, ...], tuple[Array, Array, Array]] | None = None,
) -> tuple[Array, list[int]]:
    """``argmin 1/2 v^T H v - b^T v + beta ||v||`` over ``{v : sgn * (Xf v) >= 0}``.

    A primal active-set method from the feasible ``v`` whose active constraints
    ``face`` (rows of Xf, linearly independent, at zero slack) are given. Each step
    minimises over the face's null space (:func:`block_minimiser` on the reduced Gram
    matrix) and moves towards that minimiser until a constraint blocks (it joins the
    face); at the face's minimiser the constraint with the most negative multiplier
    leaves, or the point is optimal. At ``v = 0`` the block enters along ``P_K(b)``
    when ``||P_K(b)|| > beta`` (else 0 is optimal). Every iterate is feasible and
    lowers the objective. A row in the face's row space (repeated or dependent patches)
    never joins it (:func:`_blocking`), so the face's rows stay independent and their
    multipliers unique. Returns ``(v, face)`` after at most ``max_steps`` steps.
    ``entry`` (a list holding one index array, updated in place) carries the last
    projection's active rows, Lawson-Hanson's warm start for the next one; ``reduced``
    caches each face's null basis and reduced eigendecomposition (H fixed).
    """
    d = v.shape[0]
    v = v.copy()
    face = list(face)
    Cv = sgn * (Xf @ v)
    for _ in range(max_steps):
        if not np.any(v):
            entered = _enter(H, b, beta, Xf, sgn, entry)
            if entered is None:
                return np.zeros(d), []
            v, face = entered
            Cv = sgn * (Xf @ v)
        N, lam, Q = _reduced(H, Xf, sgn, face, reduced)
        t = block_minimiser(lam, Q, N.T @ b, beta) if N.shape[1] else np.zeros(0)
        if not np.any(t):  # the face's minimum is at 0 (a face of rank d holds only 0)
            v, face, Cv = np.zeros(d), [], np.zeros_like(Cv)
            continue
        p = N @ t - v
        Cp = sgn * (Xf @ p)
        j, alpha = _blocking(Cv, Cp, face, Xf, N)
        v += alpha * p
        Cv += alpha * Cp
        if j >= 0:
            Cv[j] = 0.0
            face.append(j)
            continue
        if not face:
            return v, face
        k = _leaving(H @ v - b + beta * v / np.linalg.norm(v), sgn[face, None] * Xf[face], beta)
        if k < 0:
            return v, face
        face.pop(k)
    return v, face


def _reduced(
    H: Array,
    Xf: Array,
    sgn: Array,
    face: list[int],
    cache: dict[tuple[int, ...], tuple[Array, Array, Array]] | None,
) -> tuple[Array, Array, Array]:
    """The face's null basis N and the eigendecomposition of ``N^T H N`` (cached)."""
    key = tuple(face)
    if cache is not None and key in cache:
        return cache[key]
    N = null_basis(sgn[face, None] * Xf[face], H.shape[0])
    lam, Q = np.linalg.eigh(N.T @ H @ N)
    out = (N, np.maximum(lam, 0.0), Q)
    if cache is not None:
        if len(cache) >= 16:
            cache.clear()
        cache[key] = out
    return out


def _enter(
    H: Array, b: Array, beta: float, Xf: Array, sgn: Array, entry: list[np.ndarray] | None
) -> tuple[Array, list[int]] | None:
    """A zero block's best point on the ray of ``P_K(b)``, with the projection's face,
    or None when ``||P_K(b)|| <= beta`` (zero is optimal; ``||P_K(b)|| <= ||b||``)."""
    if float(np.linalg.norm(b)) <= beta:
        return None
    if entry is not None and _quick_bound(b, Xf, sgn, entry[0]) <= beta:
        return None
    proj, active = project_cones(Xf, sgn[None, :], b[:, None], entry)
    if entry is not None:
        entry[0] = active[0]
    p = proj[:, 0]
    norm = float(np.linalg.norm(p))
    if norm <= beta:
        return None
    u = p / norm
    curv = float(u @ H @ u)
    if curv <= 0:
        return None
    return ((norm - beta) / curv) * u, [int(j) for j in active[0]]


def _quick_bound(b: Array, Xf: Array, sgn: Array, rows: np.ndarray) -> float:
    """``||b + C_A^T mu||`` with ``mu >= 0`` fitted on the rows A of the last projection:
    an upper bound on ``||P_K(b)|| = min_{mu >= 0} ||b + C^T mu||``, for d-sized work."""
    if rows.size == 0:
        return float(np.linalg.norm(b))
    C = sgn[rows, None] * Xf[rows]
    mu = np.maximum(np.linalg.lstsq(C.T, -b, rcond=None)[0], 0.0)
    return float(np.linalg.norm(b + C.T @ mu))


def _blocking(
    Cv: Array, Cp: Array, face: list[int], Xf: Array | None = None, N: Array | None = None
) -> tuple[int, float]:
    """The first constraint hit moving from ``v`` by ``p`` (index, step <= 1); -1, 1.0
    when the whole step is feasible.

    With the face's null basis N (and the rows Xf), a row in the row space of the face
    (:func:`_in_span`: a repeated patch, or one dependent on the face's, as on
    degenerate data) does not block: it is zero on the whole face, and ``p`` (in the
    face) keeps it there, so its ``Cp`` is rounding only. Letting it join made the
    face's rows dependent and their multipliers ambiguous: on repeated samples the
    active set cycled (row in, row out) to its step cap, and rounding decided between a
    certified solve and a stall. Ties go to the lowest index.
    """
    thr = 1e-13 * float(np.max(np.abs(Cp), initial=0.0))
    down = Cp < -thr
    if face:
        down[face] = False
    if not down.any():
        return -1, 1.0
    idx = np.flatnonzero(down)
    ratios = np.maximum(Cv[idx], 0.0) / -Cp[idx]
    k = int(np.argmin(ratios))
    if ratios[k] >= 1.0:
        return -1, 1.0
    if Xf is not None and N is not None and face and _in_span(Xf[idx[k]], N):
        keep = ratios < 1.0
        keep[keep] = [not _in_span(x, N) for x in Xf[idx[keep]]]  # the rare degenerate case
        if not keep.any():
            return -1, 1.0
        k = int(np.flatnonzero(keep)[np.argmin(ratios[keep])])
    return int(idx[k]), float(ratios[k])


def _leaving(r: Array, Cw: Array, beta: float) -> int:
    """The face row whose KKT multiplier (``r = Cw^T mu``) is the most negative, or -1
    when none is below ``-_KKT_TOL * beta`` (scaled by its row's norm)."""
    mu = np.linalg.lstsq(Cw.T, r, rcond=None)[0]
    scaled = mu * np.linalg.norm(Cw, axis=1)
    k = int(np.argmin(scaled))
    return k if scaled[k] < -_KKT_TOL * beta else -1


class _Patterns:
    """Per pattern: the design ``F_i`` (N, d), Gram ``s F_i^T F_i`` and cone signs."""

    def __init__(self, prog: Any) -> None:
        self.X, self.S = prog.X, prog.S
        self.Xf = prog.Xf
        self.Mf = prog.Mf
        self.s = float(prog.loss.smoothness or 0.0)  # checked smooth by the caller
        self.F: dict[int, Array] = {}
        self.G: dict[int, Array] = {}
        self._signs: dict[int, Array] = {}
        self.Xt = np.ascontiguousarray(self.Xf.T)  # (d, N K): block products row-major
        self._ST: np.ndarray | None = None

    def get(self, i: int) -> tuple[Array, Array]:
        if i not in self.F:
            F = group_design(self.X, self.S, i)
            self.F[i], self.G[i] = F, self.s * (F.T @ F)
        return self.F[i], self.G[i]

    def signs(self, i: int) -> Array:
        if i not in self._signs:
            self._signs[i] = 2.0 * self.Mf[:, i] - 1.0
        return self._signs[i]

    def sign_rows(self) -> np.ndarray:
        """All patterns' cone signs as rows, ``D^T`` (P, N K) bool (True: +1)."""
        if self._ST is None:
            self._ST = np.ascontiguousarray(self.Mf.T, dtype=bool)
        return self._ST


class _State:
    """Blocks B (d, 2P) (v blocks, then w blocks), predictions z and the blocks' faces."""

    def __init__(self, prog: Any, B: Array, faces: list[list[int]]) -> None:
        self.prog = prog
        self.P = prog.S.shape[2]
        self.B, self.faces = B, faces
        self.entry = [[np.zeros(0, dtype=np.intp)] for _ in faces]  # see cone_block_minimiser
        self.reduced: list[dict[tuple[int, ...], tuple[Array, Array, Array]]] = [{} for _ in faces]
        self.z = prog.A(B[:, : self.P] - B[:, self.P :])

    def sign(self, b: int) -> float:
        return 1.0 if b < self.P else -1.0

    def objective(self) -> float:
        return _objective(self.prog.loss, self.prog.y, self.prog.beta, self.z, self.B)

    def refresh(self) -> None:
        """Recompute z from B (drops the incremental updates' rounding)."""
        self.z = self.prog.A(self.B[:, : self.P] - self.B[:, self.P :])


def _objective(loss: Loss, y: Array, beta: float, z: Array, B: Array) -> float:
    return float(loss.value(z, y)) + beta * float(np.linalg.norm(B, axis=0).sum())


def _epoch(pats: _Patterns, st: _State, ws: np.ndarray) -> None:
    """One cyclic pass of exact cone-constrained block steps over ``ws`` (in place)."""
    prog = st.prog
    loss, y, beta = prog.loss, prog.y, float(prog.beta)
    d = st.B.shape[0]
    for b in ws:
        b = int(b)
        i, sign = b % st.P, st.sign(b)
        F, G = pats.get(i)
        g = loss.gradient(st.z, y)
        v_old = st.B[:, b]
        rhs = G @ v_old - sign * (F.T @ g)
        v_new, face = cone_block_minimiser(
            G,
            rhs,
            beta,
            pats.Xf,
            pats.signs(i),
            v_old,
            st.faces[b],
            4 * d + 10,
            st.entry[b],
            st.reduced[b],
        )
        dv = v_new - v_old
        st.faces[b] = face
        if np.any(dv):
            st.z += sign * (F @ dv)
            st.B[:, b] = v_new


def solve_relu_bcd(
    prog: Any, tol: float, max_iter: int, zero_tol: float, verbose: bool = False
) -> tuple[Array, Array, int, str]:
    """Solve ``prog`` (a relu :class:`ConvReLUProgram`, smooth loss) to the relative gap
    ``tol`` of its recovered network's objective.

    Returns ``(V, W, n_epochs, status)`` with V, W (d_eff, P) feasible and status
    "optimal", "max_iter" (``max_iter`` counts block epochs over the working sets,
    the gated warm start's included) or "stalled" (the last five certificates were no
    better than the best before them, and at the objective's rate over the last half of
    the run the gap would take more than 100 times that long to close; see
    :func:`._common.no_better_certificate` and :func:`_stalled`). ``verbose``: one line per
    working-set round (gap, support, epochs).
    """
    pats = _Patterns(prog)
    B, faces, epochs = _warm_start(prog, pats, tol, max_iter)
    st = _State(prog, B, faces)
    Pn2 = B.shape[1]
    ws_size = _MIN_WS
    trail: list[float] = []
    gaps: list[float] = []
    while True:
        rel, norms = _certify(st, zero_tol)
        gaps.append(rel)
        if verbose:
            n_blocks = int(np.count_nonzero(np.linalg.norm(st.B, axis=0)))
            print(f"[relu cnn bcd] epoch {epochs}: rel gap {rel:.3e}, {n_blocks} blocks")
        if rel <= tol:
            return *_split_blocks(st), epochs, "optimal"
        if epochs >= max_iter:
            return *_split_blocks(st), epochs, "max_iter"
        outer = rel * gap_scale(st.objective(), prog.y)
        if no_better_certificate(gaps) and _stalled(trail, outer):
            return *_split_blocks(st), epochs, "stalled"
        support = np.flatnonzero(np.linalg.norm(st.B, axis=0) > 0)
        ws_size = max(ws_size, 2 * support.size)
        score = norms.T.ravel() / prog.beta  # block b = (sign, pattern) order
        score[support] = np.inf
        ws = np.sort(np.argsort(-score, kind="stable")[: min(ws_size, Pn2)])
        ws = ws[score[ws] > 1.0]  # zero blocks that satisfy their constraint stay zero
        run = _solve_working_set(pats, st, ws, _INNER_SHRINK * outer, max_iter - epochs, trail)
        epochs += run
        st.refresh()
        ws_size = min(2 * ws_size, Pn2)


def _split_blocks(st: _State) -> tuple[Array, Array]:
    return st.B[:, : st.P].copy(), st.B[:, st.P :].copy()


def _certify(st: _State, zero_tol: float) -> tuple[float, Array]:
    """Relative gap of the recovered network's objective, and the cone dual norms (P, 2)."""
    prog = st.prog
    lower, norms = prog.bound_and_norms(-prog.loss.gradient(st.z, prog.y))
    upper = network_objective(prog, st.B[:, : st.P], st.B[:, st.P :], zero_tol)
    return relative_gap(upper, lower, prog.y), norms


def network_objective(prog: Any, V: Array, W: Array, zero_tol: float) -> float:
    """The objective of the ReLU CNN that :func:`.relu._recover` builds from (V, W):
    ``L(sum_k sum_i (X_k v_i)_+ - (X_k w_i)_+) + beta sum_i (||v_i|| + ||w_i||)`` over the
    blocks above ``zero_tol`` times the largest norm."""
    nv, nw, kv, kw = kept_blocks(V, W, zero_tol)
    N, K = prog.X.shape[:2]
    out = np.maximum(prog.Xf @ V[:, kv], 0.0).sum(axis=1)
    out -= np.maximum(prog.Xf @ W[:, kw], 0.0).sum(axis=1)
    z = out.reshape(N, K).sum(axis=1)
    return float(prog.loss.value(z, prog.y)) + prog.beta * float(nv[kv].sum() + nw[kw].sum())


def _warm_start(
    prog: Any, pats: _Patterns, tol: float, max_iter: int
) -> tuple[Array, list[list[int]], int]:
    """Blocks and faces from a loose gated "bcd" solve (see the module docstring)."""
    gated = dataclasses.replace(prog, formulation="gated")
    budget = max(1, min(_WARM_ITER, max_iter // 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        U, epochs, _ = solve_gated_bcd(gated, max(tol, _WARM_TOL), budget)
    d, Pn = U.shape
    B = np.zeros((d, 2 * Pn))
    faces: list[list[int]] = [[] for _ in range(2 * Pn)]
    nz = np.flatnonzero(np.linalg.norm(U, axis=0) > 0)
    if nz.size == 0:
        return B, faces, epochs
    sgn = 2.0 * pats.Mf[:, nz].T - 1.0  # (k, NK)
    plus, proj, active = split_onto_cones(pats.Xf, sgn, U[:, nz])
    for k, i in enumerate(nz):
        b = int(i) if plus[k] else int(i) + Pn
        B[:, b] = proj[:, k]
        # the projection's active rows are independent (Lawson-Hanson's passive set)
        faces[b] = [int(j) for j in active[k]] if np.any(proj[:, k]) else []
    return _best_scale(prog, B), faces, epochs


def _best_scale(prog: Any, B: Array) -> Array:
    """B times the scale c in [0, 4] that minimises ``L(c z) + c beta R`` (the split
    blocks keep the gated norms but lose part of their predictions: at N = 60 planted
    3 x 12 x 12 images their objective was 36 times the optimum). Scaling keeps the
    blocks in their cones and on their faces."""
    Pn = B.shape[1] // 2
    z = prog.A(B[:, :Pn] - B[:, Pn:])
    R = float(np.linalg.norm(B, axis=0).sum())
    if R == 0:
        return B

    def f(c: float) -> float:
        return float(prog.loss.value(c * z, prog.y)) + c * prog.beta * R

    res = scipy.optimize.minimize_scalar(f, bounds=(0.0, 4.0), method="bounded")
    c = float(res.x) if f(float(res.x)) < f(1.0) else 1.0
    return B * c


def _solve_working_set(
    pats: _Patterns, st: _State, ws: np.ndarray, target: float, budget: int, trail: list[float]
) -> int:
    """Block epochs on ``ws``, each ``_EPOCHS_PER_CHECK`` of them followed by Newton
    steps on the faces, until the set's gap is below ``target`` or the objective stalls
    over this round's checks (appended to ``trail`` at each check). Returns the epochs.

    The round judges its own checks only: over the whole run, a new round started
    inside the last one's plateau and ended after 1-3 epochs, as its set had barely
    moved the objective yet (N = 49 images of 6 x 6 half duplicated, beta = 0.0016:
    rounds of 1-3 epochs, gaps 0.85-0.93, "stalled"; with rounds judged alone it
    certified 8e-10 in 168 epochs)."""
    prog = st.prog
    # the round's lower bound: the stall test compares the objective's rate with the gap
    # left from it (the round's starting gap goes stale as the objective falls: at
    # N = 40 images of 8 x 8, beta = 0.01, it was 3x the objective when the test fired)
    lower = st.objective() - target / _INNER_SHRINK
    start = len(trail)
    checks, spacing, next_price = 0, 1, 1
    for k in range(1, budget + 1):
        _epoch(pats, st, ws)
        if k % _EPOCHS_PER_CHECK == 0 or k == budget:
            _newton_on_faces(pats, st)
            st.refresh()
            trail.append(st.objective())
            checks += 1
            # the restricted gap costs cone dual norms (NNLS, as much as the whole
            # certificate): priced once the objective moves by less than the target
            # between checks, at checks spaced 1, 2, 4, ... apart, or when it stops moving
            step = trail[-2] - trail[-1] if len(trail) > 1 else np.inf
            if step > target or (checks < next_price and step > 0.01 * target):
                continue
            own = trail[start:]
            if _restricted_gap(prog, st, ws) <= target or _stalled(own, own[-1] - lower):
                return k
            spacing *= 2
            next_price = checks + spacing
    return budget


def _restricted_gap(prog: Any, st: _State, ws: np.ndarray) -> float:
    """Gap of the working set's program: the dual point scaled over its patterns only."""
    pats_ws = np.unique(ws % st.P)
    sub = dataclasses.replace(prog, S=prog.S[:, :, pats_ws])
    keep = np.zeros((pats_ws.size, 2), dtype=bool)
    keep[np.searchsorted(pats_ws, ws % st.P), ws // st.P] = True
    lower, _ = sub.bound_and_norms(-prog.loss.gradient(st.z, prog.y), keep)
    return st.objective() - lower


def _stalled(trail: list[float], gap: float) -> bool:
    """True when the objective's decrease over the last half of ``trail`` (at least
    ``_STALL_CHECKS`` checks), kept up, would take more than ``_STALL_FACTOR`` times that
    window to close ``gap``.

    The window grows with the run: at small beta the objective moved in bursts between
    plateaus of 30+ checks (of 5 epochs each, before stop 45) while the blocks changed
    faces (N = 60 images of 8 x 8, beta = 0.01: a fixed window of 20 checks stopped 29%
    above the optimum, which the run then reached 220 checks later), and ``gap`` is the
    certified one, which the dual bound overstates there (0.95 relative at 7% above the
    optimum)."""
    window = max(_STALL_CHECKS, len(trail) // 2)
    if len(trail) <= window:
        return False
    return _STALL_FACTOR * (trail[-window - 1] - trail[-1]) < gap


# -- Newton steps on the faces -----------------------------------------------------------------
class _FaceModel:
    """Newton system of ``L(sum_b Phi_b t_b) + beta sum_b ||t_b||`` on the support,
    ``Phi_b = +-F_i N_b`` with ``N_b`` the null basis of block b's face."""

    def __init__(self, pats: _Patterns, st: _State, supp: np.ndarray) -> None:
        prog = st.prog
        self.supp = supp
        self.N = [_face_basis(pats, st, int(b)) for b in supp]
        self.sizes = np.array([N.shape[1] for N in self.N])
        self.Phi = np.hstack(
            [
                st.sign(int(b)) * (pats.get(int(b) % st.P)[0] @ N)
                for b, N in zip(supp, self.N, strict=True)
            ]
        )
        self.t = [N.T @ st.B[:, int(b)] for b, N in zip(supp, self.N, strict=True)]
        loss, y, beta = prog.loss, prog.y, float(prog.beta)
        h = np.ones_like(st.z) if loss.name == "squared" else loss_curvature(loss, st.z, y)
        self.H = self.Phi.T @ (h[:, None] * self.Phi)
        pen_g = []
        for t, at in zip(self.t, np.cumsum(self.sizes) - self.sizes, strict=True):
            nt = float(np.linalg.norm(t))
            u = t / nt
            pen_g.append(beta * u)
            # the penalty's Hessian on the block's diagonal block, added in place
            # (scipy's block_diag took 45% of this model's time at N = 200, P = 50);
            # zero on a ray (t.size 1: u = +-1), where most blocks lie at small beta
            if t.size > 1:
                sl = slice(at, at + t.size)
                self.H[sl, sl] += beta / nt * (np.eye(t.size) - np.outer(u, u))
        self.grad = self.Phi.T @ loss.gradient(st.z, y) + np.concatenate(pen_g)
        self.diag = np.maximum(np.diag(self.H), 1e-300)

    def step(self, mu: float) -> Array | None:
        try:
            A = self.H + np.diag(mu * self.diag)
            return -scipy.linalg.solve(A, self.grad, assume_a="pos")  # type: ignore[no-any-return]
        except (np.linalg.LinAlgError, ValueError):
            return None

    def blocks(self, p: Array) -> list[Array]:
        return np.split(p, np.cumsum(self.sizes)[:-1])


def _face_basis(pats: _Patterns, st: _State, b: int) -> Array:
    """Null basis of block b's face (from the block's cache of reduced problems)."""
    i = b % st.P
    return _reduced(pats.get(i)[1], pats.Xf, pats.signs(i), st.faces[b], st.reduced[b])[0]


def _newton_on_faces(pats: _Patterns, st: _State) -> None:
    """Damped Newton steps on the nonzero blocks within their faces, cut back to the
    cones (the cutting constraint joins its block's face); a block whose target crosses
    zero is tried at zero first. Each accepted step lowers the objective."""
    d = st.B.shape[0]
    mu = _MU_START
    for _ in range(_NEWTON_STEPS):
        supp = np.flatnonzero(np.linalg.norm(st.B, axis=0) > 0)
        if supp.size == 0:
            return
        free = sum(d - len(st.faces[int(b)]) for b in supp)
        if free > _DENSE_MAX:
            return
        if _drop_off_face(pats, st, supp):
            continue
        model = _FaceModel(pats, st, supp)
        f_old = st.objective()
        while mu < 1e12:
            p = model.step(mu)
            if p is None:
                mu *= 10.0
                continue
            steps = model.blocks(p)
            targets = [t + dt for t, dt in zip(model.t, steps, strict=True)]
            leave = np.array([float(tn @ t) <= 0 for tn, t in zip(targets, model.t, strict=True)])
            if leave.any() and _try_zero(pats, st, supp[leave], f_old):
                break
            dV = np.column_stack([N @ dt for N, dt in zip(model.N, steps, strict=True)])
            alpha, hit = _max_step(pats, st, supp, dV)
            if alpha <= 0.0:
                mu *= 10.0
                continue
            predicted = -(model.grad @ p + 0.5 * p @ (model.H @ p))
            B_try = st.B.copy()
            B_try[:, supp] += alpha * dV
            z_try = st.z + alpha * (model.Phi @ p)
            f_try = _objective(st.prog.loss, st.prog.y, st.prog.beta, z_try, B_try)
            if f_try < f_old and f_old - f_try >= 0.1 * alpha * predicted:
                st.B, st.z = B_try, z_try
                if hit is not None:
                    st.faces[hit[0]].append(hit[1])
                    f_try = _bend(pats, st, supp, dV, model.Phi @ p, hit, 1.0 - alpha, f_try)
                mu = max(mu / 10.0, _MU_MIN)
                if f_old - f_try <= 1e-15 * abs(f_try):
                    return
                break
            mu *= 10.0
        else:
            return


def _max_step(
    pats: _Patterns, st: _State, supp: np.ndarray, dV: Array
) -> tuple[float, tuple[int, int] | None]:
    """Largest step in [0, 1] along dV (columns of ``supp``) that stays in the cones,
    and the (block, row) that cuts it (None when the full step is feasible)."""
    return _first_cut(pats, st, supp, *_products(pats, st, supp, dV))


def _products(pats: _Patterns, st: _State, supp: np.ndarray, dV: Array) -> tuple[Array, Array]:
    """The rows' products with the blocks ``supp`` and with their steps dV, unsigned:
    ``X_f b`` and ``X_f dv`` as rows, (|supp|, N K) each (a block's row contiguous for
    :class:`_Cuts`, which signs them)."""
    return st.B[:, supp].T @ pats.Xt, dV.T @ pats.Xt


def _first_cut(
    pats: _Patterns, st: _State, supp: np.ndarray, XB: Array, XdV: Array
) -> tuple[float, tuple[int, int] | None]:
    """:func:`_blocking` for all blocks at once: the smallest step in [0, 1] at which a
    row cuts (products XB, XdV of :func:`_products`), and its (block, row); see
    :meth:`_Cuts.cut`."""
    return _Cuts(pats, st, supp, XB, XdV, signed=False).cut()


def _first_cuts_reference(Cv: Array, Cp: Array, faces: list[list[int]]) -> tuple[Array, Array]:
    """Each block's first cutting row and its ratio, ``(row (m,), first (m,))``, for the
    signed slacks Cv (clipped at 0) and slopes Cp, (m, N K): row j cuts block k when
    ``Cp[k, j] < -1e-13 max_j |Cp[k, j]|`` and j is off the face ``faces[k]``, at
    ``Cv / -Cp``; the first row of the smallest ratio (row 0, inf where none cuts).
    NumPy; :func:`convexnn._jit.cone_first_cuts` is the compiled one."""
    thr = -1e-13 * np.maximum(Cp.max(axis=1, initial=0.0), -Cp.min(axis=1, initial=0.0))
    down = Cp < thr[:, None]
    for k, face in enumerate(faces):
        down[k, face] = False
    neg = np.full(Cp.shape, -np.inf)
    np.divide(Cv, Cp, out=neg, where=down)
    row = np.argmax(neg, axis=1)
    return row, -neg[np.arange(row.size), row]


def _first_cuts(
    pats: _Patterns, st: _State, supp: np.ndarray, Cv: Array, Cp: Array, signed: bool
) -> tuple[Array, Array]:
    """:func:`_first_cuts_reference`, compiled when numba is there; with
    ``signed=False`` Cv and Cp are the raw products, signed (and Cv clipped) in place."""
    faces = [st.faces[int(b)] for b in supp]
    jit = _jit.kernels()
    if jit is None:
        if not signed:
            S = np.where(pats.sign_rows()[supp % st.P], 1.0, -1.0)
            Cv *= S
            np.maximum(Cv, 0.0, out=Cv)
            Cp *= S
        return _first_cuts_reference(Cv, Cp, faces)
    ptr = np.zeros(len(faces) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(f) for f in faces])
    idx = np.array([j for f in faces for j in f], dtype=np.int64)
    pat = np.asarray(supp % st.P, dtype=np.int64)
    row, first = jit.cone_first_cuts(Cv, Cp, pats.sign_rows(), pat, ptr, idx, not signed)
    return np.asarray(row, dtype=np.intp), first


class _Cuts:
    """The first cut of a step (:func:`_first_cut`), kept along a bent search, one
    block's slopes changed per bend.

    Moving all blocks by ``a`` along unchanged slopes lowers every row's ratio by ``a``:
    each block's first ratio and row are kept with the move at which they were
    computed (``base``), its slacks brought up to date only when read (a block whose
    face is tested, or whose slopes change). Per bend: one block's column instead of
    passes over the (N K, |supp|) slacks and slopes (at N = 200 images of 8 x 8, P = 50,
    beta = 0.01 those passes took 60% of the solve). Same cuts as a new ``_Cuts`` on the
    updated matrices, to rounding (tested against it).
    """

    def __init__(
        self,
        pats: _Patterns,
        st: _State,
        supp: np.ndarray,
        Cv: Array,
        Cp: Array,
        signed: bool = True,
    ) -> None:
        """Cv, Cp (|supp|, N K): the blocks' slacks (clipped at 0) and slopes, one row per
        block; with ``signed=False`` the raw products of :func:`_products`, signed here
        (in place)."""
        self.pats, self.st, self.supp, self.Cv, self.Cp = pats, st, supp, Cv, Cp
        self.shift = 0.0
        self.base = np.zeros(supp.size)
        self.row, self.first = _first_cuts(pats, st, supp, Cv, Cp, signed)

    def column(self, k: int) -> Array:
        """Block k's slacks at the current move (rounding below 0 counts as 0)."""
        if self.base[k] != self.shift:
            col = self.Cv[k]
            col += (self.shift - self.base[k]) * self.Cp[k]
            np.maximum(col, 0.0, out=col)
            self.first[k] -= self.shift - self.base[k]
            self.base[k] = self.shift
        return self.Cv[k]

    def bend(self, k: int, slopes: Array, joined: int) -> None:
        """Block k's new slopes, its row ``joined`` (now on its face) at zero slack."""
        self.column(k)[joined] = 0.0
        self.Cp[k] = slopes
        face = self.st.faces[int(self.supp[k])]
        row, first = _first_cuts_reference(self.Cv[k : k + 1], self.Cp[k : k + 1], [face])
        self.row[k], self.first[k] = row[0], first[0]

    def move(self, a: float) -> None:
        self.shift += a

    def cut(self) -> tuple[float, tuple[int, int] | None]:
        """The smallest step in [0, 1] at which a row cuts, and its (block, row): the
        face's span test (:func:`_blocking`) only for the blocks whose first ratio could
        cut the step, in the order of those ratios. Ties go to the first block."""
        first = np.maximum(self.first - (self.shift - self.base), 0.0)
        alpha, hit = 1.0, None
        for k in np.argsort(first, kind="stable"):
            if not first[k] < alpha:
                break
            b = int(self.supp[k])
            j, a = int(self.row[k]), float(first[k])
            if self.st.faces[b]:  # the face's rows only when one blocks
                Cv = self.column(int(k))
                N = _face_basis(self.pats, self.st, b)
                j, a = _blocking(Cv, self.Cp[k], self.st.faces[b], self.pats.Xf, N)
            if j >= 0 and a < alpha:
                alpha, hit = a, (b, j)
        return alpha, hit


def _try_zero(pats: _Patterns, st: _State, cols: np.ndarray, f_old: float) -> bool:
    """Set blocks ``cols`` to zero (feasible: 0 is in every cone) if that lowers the
    objective below ``f_old``."""
    z_try = st.z.copy()
    for b in cols:
        b = int(b)
        z_try -= st.sign(b) * (pats.get(b % st.P)[0] @ st.B[:, b])
    B_try = st.B.copy()
    B_try[:, cols] = 0.0
    if _objective(st.prog.loss, st.prog.y, st.prog.beta, z_try, B_try) >= f_old:
        return False
    st.B, st.z = B_try, z_try
    for b in cols:
        st.faces[int(b)] = []
    return True


def _drop_off_face(pats: _Patterns, st: _State, supp: np.ndarray) -> bool:
    """Zero the blocks that (to rounding) have left their face's null space: a face of
    rank d leaves only ``v = 0``, and such blocks hold rounding only. True if any."""
    dropped = False
    for b in supp:
        b = int(b)
        v = st.B[:, b]
        N = _face_basis(pats, st, b)
        if float(np.linalg.norm(N.T @ v)) <= 0.5 * float(np.linalg.norm(v)):
            st.z -= st.sign(b) * (pats.get(b % st.P)[0] @ v)
            st.B[:, b] = 0.0
            st.faces[b] = []
            dropped = True
    return dropped


def _bend(
    pats: _Patterns,
    st: _State,
    supp: np.ndarray,
    dV: Array,
    zd: Array,
    hit: tuple[int, int],
    rem: float,
    f: float,
) -> float:
    """Bent search: the rest ``rem`` of a Newton step cut by the cones, its blocked
    block's part projected on that block's new face (the cutting row has joined it),
    segment by segment while the objective decreases, each segment's cutting row joining
    its block's face, up to ``_BENDS`` segments (no new factorisation). Returns the
    objective. As the dense relu polish does (:mod:`convexnn.solvers._relu_polish`).

    At small beta the cones are thin: most blocks sit on faces with all but one or two
    of their d constraints active, the rows off the face are nearly active too, and the
    Newton steps were cut at steps of 1e-8 to 1e-5 (N = 40 images of 8 x 8, beta = 0.01:
    the median cut 1.4e-5 at a row with relative slack 1.8e-5), one row per step.
    """
    dV = dV.copy()
    loss, y, beta = st.prog.loss, st.prog.y, st.prog.beta
    col = {int(b): k for k, b in enumerate(supp)}
    # the rows' slacks and slopes, updated per segment (one block's slopes per bend)
    cuts = _Cuts(pats, st, supp, *_products(pats, st, supp, dV), signed=False)
    for _ in range(_BENDS):
        b, k = hit[0], col[hit[0]]
        N = _face_basis(pats, st, b)
        bent = N @ (N.T @ dV[:, k])
        zd = zd + st.sign(b) * (pats.get(b % st.P)[0] @ (bent - dV[:, k]))
        dV[:, k] = bent
        cuts.bend(k, pats.signs(b % st.P) * (pats.Xf @ bent), hit[1])
        alpha, nxt = cuts.cut()
        a = min(rem, alpha)
        if a > 0.0:
            B_try = st.B.copy()
            B_try[:, supp] += a * dV
            z_try = st.z + a * zd
            f_try = _objective(loss, y, beta, z_try, B_try)
            if not f_try < f:
                return f
            st.B, st.z, f = B_try, z_try, f_try
            cuts.move(a)
        if nxt is None or alpha >= rem:  # the end of the step
            return f
        rem -= a
        hit = nxt
        st.faces[hit[0]].append(hit[1])
    return f
