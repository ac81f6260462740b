"""ReLU formulation (eq. 8): working-set proximal gradient with an exact cone prox.

Solves

    min_{V, W, c}  L(sum_i D_i X (v_i - w_i) + c 1, y) + beta * sum_i (||v_i|| + ||w_i||)
    s.t.           v_i, w_i in K_i = {u : (2 D_i - I) X u >= 0}.

Each (pattern, sign) pair is one block ``b`` with signed mask column ``+-D_i``; FISTA
with restart (``_fista.fista``) runs unchanged with the exact cone projection as its
``project`` step (:mod:`._cones`).

The parts, one module each:

- :mod:`._cones`: cone projections (batched Lawson-Hanson) and the block helpers;
- :mod:`._relu_certificate`: the certificate, cone dual norms priced by bound;
- :mod:`._relu_polish`: the Newton polish on the support's faces (its kernels in
  :mod:`._polish_kernels`);
- this module: the outer loop, warm starts and the solver class.

Outer loop (float64): predictions, dual candidate ``lam0``, the gated norms
``||X^T D_i lam0||`` for all P (one GEMM; they bound the cone dual norms from above),
exact cone dual norms only for patterns whose gated norm can matter, certified lower
bound with ``s_max`` = the largest of these bounds, stop when the relative gap
``<= tol``; otherwise the working set = non-zero blocks plus the most violated pairs.
Warm start: the first ``_GATED_ITER`` iterations of the gated solver
(``group_lasso.solve_gated``, stopping earlier at a gap of ``_GATED_TOL``; at most a
twentieth of a small max_iter), each block split as ``v = P_K(u)``, ``w = P_K(-u)``.
The start only needs a rough support: the relu rounds (pricing, blocks entering along
their steepest directions, the Newton polish) find the rest faster than the gated
program's end game, which is slow wherever its groups are nearly collinear (the
patterns of a trained network, Alg2; all patterns of low-rank data). Against a
twentieth of max_iter (1000 iterations), to the same optima: the sampled benchmark
problems n = 400 / 4000 (d = 8) / 4000 (d = 32) / 2000 took 0.53 / 1.39 / 4.3 / 1.8 s
against 0.56-0.61 / 1.60-1.67 / 5.5-5.6 / 1.8-1.9 s, and n = 1e4 24.3 s against 23.7 s
(means of four alternated runs, within the noise); the Alg2 solves at n = 4000, d = 32 /
n = 2000 / n = 1e4 7.4-7.7 / 2.5-2.7 / 12.1 s against 8.0-8.8 / 3.6-3.9 / 14.7 s; a
rank-2 X (d = 10, n = 2000, all 4000 patterns) 1.6 s against 3.5 s; n = 2e4, d = 21,
P = 500 at beta / beta_max = 1e-3 40.8 s against 55.8 s. A given ``warm_start`` replaces
it, unless its support is too wide for one Newton system (``_too_wide``: a trained
network's, hundreds of neurons strictly inside their cones). Polishing such a start
chunk by chunk (``_polish_wide``) cost more than the whole solve from the gated start:
the Alg2 solve at n = 1e4 (one Adam run's 434 neurons, P = 2434) took 62.3 s from the
network (46.9 s of it in 1125 chunked Newton steps, to an objective 22% above the
optimum) and 23.9 s from the gated start, to the same optimum. (The gated solve
warm-started from the network was itself slower: 11.5 s against 7.3 s.)

The polish (:mod:`._relu_polish`) runs before each certificate; its result is kept
when its objective is lower. New blocks then enter without FISTA (``_add_blocks``):
each violating (pattern, sign) pair found by the pricing starts along its steepest
feasible direction ``P_K(+-X^T D_i lam0)``, and the next polish optimises them with the
rest; a FISTA round of ``_ROUND_ITER`` iterations runs only when that step fails to lower
the objective, when a full polish round hardly lowered it (a network's warm start with
many blocks that should vanish: FISTA's prox zeroes them), or when fewer than
``_ADD_FRACTION`` of the support would enter. A solve that ends without a certificate
(max_iter, stalled) prices its point in full when the last round's pricing took a
shortcut (``_Check.partial``), and reports that gap.

Robustness (this solver is solve's relu default for smooth losses): a rank-deficient X
(collinear columns, few distinct rows) is solved in its row space (:func:`row_space`);
a Newton system without curvature (a flat loss) takes a ridge step; blocks that hold
rounding only leave the support, and are zeroed in the output (:func:`_drop_negligible`).
A certificate that stops improving for ``_STALL_ROUNDS`` rounds ends the solve with
status ``"stalled"`` and a warning stating the gap.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import host_array
from ..exceptions import ConvergenceWarning
from ..problem import ConvexReLUProblem
from ._cones import (
    ConeSubProblem,
    _active_rows,
    _cone_signs,
    _signed_masks,
    project_cones,
    split_onto_cones,
)
from ._fista import fista
from ._kernels import LossOps, adjoint, check_cpu_device, dual_candidate, make_backend
from ._relu_certificate import _certify, _Check, _ConeNormCache, _primal
from ._relu_polish import (
    _NEGLIGIBLE,
    _NEWTON_ITER,
    _NEWTON_MAX,
    _STALE_MIN,
    _polish_wide,
    _too_wide,
)
from .base import FAST_OPTIONS, SolverResult
from .group_lasso import DEFAULT_MAX_ITER, check_smooth, solve_gated, with_auto_dtype

_MIN_NEW = 10
# Violators a round looks for (the pricing stops once it knows that many) and lets enter,
# per support block. Against one per block, on the benchmark problems n = 4000 (d = 8),
# n = 4000 (d = 32), n = 2000 and n = 1e4: Newton steps 314 / 299 / 204 / 262 -> 209 /
# 327 / 173 / 217, NNLS problem steps 31k / 116k / 50k / 336k -> 25k / 109k / 51k / 341k
# (n = 1e4: 6 rounds -> 5). In time the clear gain is at n = 4000, d = 8 (three
# alternated rounds: 3.1 / 3.7 / 3.0 s -> 2.8 / 2.3 / 2.3 s); at n = 1e4 it is within the
# machine's noise (28.7 / 33.7 / 33.9 s -> 29.8 / 29.5 / 37.5 s). Six or ten per block
# were slower at n = 1e4 (40, 44 s): the polish's systems grow with the blocks that enter.
_NEW_PER_SUPPORT = 3
# Fewer new blocks than this share of the support: a FISTA round takes them in (a few
# blocks entering a polish that has not settled its faces gained little: n = 4000,
# d = 32: 13.5 s -> 11.9 s; 0.05: 12.5 s).
_ADD_FRACTION = 0.1
_INNER_FRACTION = 0.2
# The gated warm start's tolerance, if it gets there within _GATED_ITER: the relu rounds
# (Newton polish) take it from there.
# At n = 1e4, d = 41, P = 2000 the gated loop reaches 1.9e-4 one Newton round early:
# 1e-3 instead of 1e-4 saved those rounds (631 -> 560 iterations, about 1.5 s of 41 s);
# the same iterations on the other benchmark problems; 3e-2 no better within the noise.
_GATED_TOL = 1e-3
_GATED_ITER = 100  # iterations of the gated warm start ...
_GATED_SHARE = 0.05  # ... or this share of a smaller max_iter
_ROUND_ITER = 10  # FISTA iterations between two Newton polishes
# Above this last certified gap the polish stops once its steps no longer pay
# (``_relu_polish._STALE``); 1e-2 took the same steps on the five benchmark problems.
_FAR_GAP = 0.1
_STALL = 1e-6  # relative decrease below which a full polish round counts as stalled
# The certificate has stopped improving (a floating-point floor) when, over this many
# outer rounds, the best gap did not halve and the objective fell by at most _FLOOR
# (relative). A safeguard: before the polish's fixes for badly scaled data (blocks put on
# their faces, the decrement's rounding floor, the ridge) a Huber problem with features at
# 1e-5 of the hidden bias's column ran 20000 iterations (26 s) at gaps of 2e-6..1e-4, its
# objective fixed after 17 rounds; the rule alone stopped it after 1.8 s with a warning.
# "Did not fall" also holds when the objective fell by less than 1/_RATE of the last
# certified gap over those rounds: at that rate the gap would take 100 times as long
# again to close. (n = 25, d = 2, features at 100x the bias's scale, beta = 1e-6: the
# objective crept down by 1e-9 relative per round at gaps of 1.5e-5..2.5e-5, and the
# solve ran 230+ rounds of 500 Newton steps, over 5 minutes, before CVXPY's 3 s.)
# Rounds whose polishes all ran to their cap (_NEWTON_MAX Newton steps) are long: a
# window of _STALL_ROUNDS_LONG of them suffices (n = 10, d = 2, columns at 1e4 and 1e-2,
# beta = 1e-7: 26 rounds of 500 steps crept down by 5e-5 relative each at gaps of 0.9,
# 8.8 s before CVXPY's answer).
_STALL_ROUNDS = 20
_STALL_ROUNDS_LONG = 5
_FLOOR = 1e-11
_RATE = 100.0


@dataclass
class ReluOutput:
    V: np.ndarray
    W: np.ndarray
    c: float | None
    n_iter: int
    status: str
    info: dict[str, Any]


def _split(U: np.ndarray, X: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gated blocks u_i -> feasible (v_i, w_i): ``v_i = P_K(u_i)`` or ``w_i = P_K(-u_i)``.

    Each block takes the side whose cone ``u_i`` (or ``-u_i``) violates less (squared
    violations ``sum_j (s_j x_j^T u_i)_-^2`` against ``(.)_+^2``); the other stays
    zero. Projecting both sides cost twice the NNLS, and the first polish dropped most
    of the smaller halves again (at n = 1e4: 550 blocks in, 101 out).
    """
    nz = np.flatnonzero(np.linalg.norm(U, axis=0) > 0)
    V, W = np.zeros_like(U), np.zeros_like(U)
    if nz.size == 0:
        return V, W
    plus, proj, _ = split_onto_cones(X, _cone_signs(D, nz), U[:, nz])
    V[:, nz[plus]] = proj[:, plus]
    W[:, nz[~plus]] = proj[:, ~plus]
    return V, W


def _scale_report(problem: ConvexReLUProblem) -> str:
    """Both suspects of a stall, with their sizes: the targets' scale and the data's
    (standardised X does not rule out targets of scale 1e8)."""
    y_max = float(np.abs(problem.y).max(initial=0.0))
    ones = problem.hidden_bias and bool(np.all(problem.X[:, -1] == 1.0))  # (not rotated)
    X = problem.X[:, :-1] if ones else problem.X
    rms = float(np.sqrt(np.mean(X**2, axis=0)).max(initial=0.0)) if X.size else 0.0
    text = (
        f"targets y far from unit scale (max |y| = {y_max:.3g} here), or columns of X far "
        f"from unit scale (largest root-mean-square column here: {rms:.3g})"
    )
    if problem.hidden_bias:
        text += ", or the hidden bias's column of ones beside columns of another scale"
    return text


def _stalled(primals: list[float], gaps: list[float], w: int = _STALL_ROUNDS) -> bool:
    """Whether the certificate has stopped improving (see ``_STALL_ROUNDS``).

    ``primals[k]`` and ``gaps[k]`` are round k's certified objective and relative gap.
    True when the last ``w`` rounds neither brought the best gap below half its best
    before them nor lowered the objective by more than ``_FLOOR`` (relative) or by more
    than ``1 / _RATE`` of the last gap.
    """
    if len(gaps) <= w:
        return False
    before = primals[-w - 1]
    no_gap = min(gaps[-w:]) > 0.5 * min(gaps[:-w])
    enough = max(_FLOOR * abs(before), gaps[-1] * abs(primals[-1]) / _RATE)
    no_primal = before - min(primals[-w:]) <= enough
    return no_gap and no_primal


def _add_blocks(
    problem: ConvexReLUProblem,
    B: np.ndarray,
    c: float,
    new: np.ndarray,
    cache: _ConeNormCache | None = None,
) -> tuple[np.ndarray, float] | None:
    """Blocks ``new`` (zero, violating) enter along their steepest feasible directions.

    At ``b_j = 0`` the directional derivative of the objective along ``u`` in the cone
    is ``-g_j^T u + beta ||u||`` with ``g_j = +-X^T D_i lam0``; it is most negative at
    ``u = P_K(g_j) / ||P_K(g_j)||`` (slope ``beta - ||P_K(g_j)||``). Each block takes
    the step that minimises its own quadratic model, all are scaled by a common factor
    (halved until the objective falls). Returns the new ``(B, c)`` or None. With
    ``cache`` (the pricing's), the projections start from the pricing's active sets.
    """
    X, loss, beta = problem.X, problem.loss, problem.beta
    f0, c, z = _primal(problem, B, c, with_z=True)
    lam0 = dual_candidate(loss, z, problem.y, problem.output_bias)
    M = _signed_masks(problem.mask, new)
    P = problem.P
    warm = None if cache is None else [cache.active[j // P][j % P] for j in new]
    Pn = project_cones(X, _cone_signs(problem.D, new), adjoint(X, M, lam0), warm)[0]
    norms = np.linalg.norm(Pn, axis=0)
    keep = norms > beta
    if not keep.any():
        return None
    new, dirs = new[keep], Pn[:, keep] / norms[keep]
    curv = float(loss.smoothness or 1.0) * np.sum((M[:, keep] * (X @ dirs)) ** 2, axis=0)
    dB = np.zeros_like(B)
    dB[:, new] = dirs * ((norms[keep] - beta) / np.maximum(curv, 1e-300))
    for _ in range(30):
        f1, c1 = _primal(problem, B + dB, c)
        if f1 < f0:
            return B + dB, c1
        dB *= 0.5
    return None


def _warm_faces(
    problem: ConvexReLUProblem, B: np.ndarray, ws: np.ndarray, cache: _ConeNormCache
) -> list[np.ndarray]:
    """Warm starts of a FISTA round's first cone projections, one per block of ``ws``.

    A non-zero block: the constraints active at it (its prox input is near it); a zero
    one: the active set of its last pricing (``cache``). Cold, that first projection
    took 12k ranking steps for 217 blocks at n = 1e4 (about 0.4-0.8 s), the warm ones
    after it under 1k.
    """
    P = problem.P
    on = np.asarray(B[:, ws].any(axis=0))
    act = _active_rows(problem.X, problem.D, B, ws[on])
    faces = iter(np.flatnonzero(act[:, t]) for t in range(act.shape[1]))
    return [next(faces) if o else cache.active[j // P][j % P] for j, o in zip(ws, on, strict=True)]


def _wanted_new(n_support: int) -> int:
    """How many violators a round looks for and lets enter: ``_NEW_PER_SUPPORT`` per
    support block, at least ``_MIN_NEW``."""
    return max(_MIN_NEW, _NEW_PER_SUPPORT * n_support)


def _working_set(B: np.ndarray, chk: _Check, beta: float) -> np.ndarray:
    """Indices into the 2P blocks: non-zero blocks plus the most violated priced pairs."""
    cone = np.where(chk.priced, chk.cone, 0.0)
    score = np.concatenate([cone[:, 0], cone[:, 1]])
    nonzero = np.linalg.norm(B, axis=0) > 0
    score = np.where(nonzero, -np.inf, score)
    order = np.argsort(-score)[: _wanted_new(int(nonzero.sum()))]
    ws = np.union1d(np.flatnonzero(nonzero), order[score[order] > beta])
    return ws if ws.size else np.argsort(-score)[:1]


def solve_relu(
    problem: ConvexReLUProblem,
    *,
    tol: float,
    max_iter: int,
    warm_start: tuple[Any, Any, Any] | None = None,
    verbose: bool = False,
    gated_options: dict[str, Any] | None = None,
) -> ReluOutput:
    """Working-set proximal gradient on eq. (8); see the module docstring."""
    X, D, P = problem.X, problem.D, problem.P
    backend = make_backend({}, caller="solve")  # float64: the cone steps are NumPy float64
    start = None if warm_start is None else _warm_point(problem, warm_start, verbose)
    if start is not None:
        V, W, c = start
        n_iter = 0
    else:
        # The warm start gets a few iterations only (see the module docstring); its
        # own max_iter warning is moot.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            g = solve_gated(
                problem,
                make_backend(with_auto_dtype(gated_options or {}, problem), caller="solve"),
                tol=max(tol, _GATED_TOL),
                max_iter=max(1, min(_GATED_ITER, int(_GATED_SHARE * max_iter))),
            )
        V, W = _split(g.U, X, D)
        c = float(g.c) if g.c is not None else 0.0
        n_iter = g.n_iter
    B = np.concatenate([V, W], axis=1)
    ops = LossOps(problem.loss, problem.y, backend)
    status, n_outer, n_polish = "max_iter", 0, 0
    norm_cache = _ConeNormCache(P)
    primals: list[float] = []  # each round's certified primal and gap (stall test)
    gaps: list[float] = []
    long_rounds: list[bool] = []  # whether each round's polish ran to _NEWTON_MAX steps
    stall_window = _STALL_ROUNDS
    best: tuple[np.ndarray, float, _Check] | None = None  # the point of the lowest gap
    while True:
        # Polish first, then certify the better point only (one certificate per round).
        f, c = _primal(problem, B, c)
        far = bool(gaps) and gaps[-1] > _FAR_GAP  # the polish may stop when stale
        pol = _polish_wide(problem, B, c, early_stop=far)
        stalled = False
        if pol is not None:
            n_polish += pol.steps
            f_p, c_p = _primal(problem, pol.B, pol.c)
            # A full polish round that hardly moved: blocks that should vanish or many
            # constraints that should change (a network's warm start); a FISTA round's
            # prox steps zero blocks and move faces at once. Far from the optimum a
            # round's budget is _STALE_MIN steps: the polish may stop there when stale.
            full = pol.steps >= (_STALE_MIN if far else _NEWTON_ITER)
            stalled = full and f - f_p <= _STALL * abs(f)
            if verbose:
                print(
                    f"[relu] polish: {pol.steps} Newton steps, objective {f_p:.10g} (was {f:.10g})"
                )
            if f_p < f:
                B, c = pol.B, c_p
        n_new = _wanted_new(int(B.any(axis=0).sum()))
        chk = _certify(problem, B, c, norm_cache, n_new=n_new, tol=tol)
        c = chk.c
        if verbose:
            n_act = int((np.linalg.norm(B, axis=0) > 0).sum())
            print(f"[relu] outer {n_outer}: rel gap {chk.rel_gap:.3e}, active {n_act}, it {n_iter}")
        if chk.rel_gap <= tol:
            status = "optimal"
            break
        if n_iter >= max_iter:
            break
        primals.append(chk.primal)
        gaps.append(chk.rel_gap)
        if best is None or chk.rel_gap < best[2].rel_gap:
            best = (B, c, chk)
        long_rounds.append(pol is not None and pol.steps >= _NEWTON_MAX)
        w = _STALL_ROUNDS_LONG if all(long_rounds[-_STALL_ROUNDS_LONG:]) else _STALL_ROUNDS
        if _stalled(primals, gaps, w):
            stall_window = w
            status = "stalled"
            B, c, chk = best
            break
        ws = _working_set(B, chk, problem.beta)
        new = ws[~B[:, ws].any(axis=0)]
        if pol is not None and new.size > _ADD_FRACTION * B.any(axis=0).sum() and not stalled:
            added = _add_blocks(problem, B, c, new, norm_cache)
            if added is not None:  # the next polish optimises them: no FISTA round
                B, c = added
                n_iter += 1
                n_outer += 1
                continue
        sub = ConeSubProblem(
            X=X,
            Ms=np.asfortranarray(_signed_masks(problem.mask, ws)),
            ops=ops,
            beta=problem.beta,
            output_bias=problem.output_bias,
            backend=backend,
        )
        sub.S = _cone_signs(D, ws)
        sub._active = _warm_faces(problem, B, ws, norm_cache)
        res = fista(
            sub,
            B[:, ws],
            c,
            tol=max(_INNER_FRACTION * chk.rel_gap, 0.5 * tol),
            max_iter=min(max_iter - n_iter, _ROUND_ITER if pol is not None else max_iter),
            stop="gap",
            y_np=problem.y,
        )
        n_iter += res.n_iter
        n_outer += 1
        B = np.zeros_like(B)
        B[:, ws] = res.B
        c = float(res.c)
    if status != "optimal" and chk.partial:  # its gap from all the pairs' norms
        chk = _certify(problem, B, c, norm_cache)
        c = chk.c
    if status == "max_iter":
        warnings.warn(
            f"solve: the relu proximal-gradient solver ran out of max_iter={max_iter} "
            f"iterations at a certified relative gap of {chk.rel_gap:.3g} (tol={tol:.3g}); "
            f"raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    if status == "stalled":
        warnings.warn(
            f"solve: the relu fast solver's certified relative gap stalled at "
            f"{chk.rel_gap:.3g} (tol={tol:.3g}): in {stall_window} rounds neither the "
            f"objective nor the gap improved. That is the floating-point floor of this "
            f"problem, usually from bad scaling: {_scale_report(problem)}. Rescale y (and "
            f"beta with it) or X to unit scale, raise tol, or use solver='cvxpy'.",
            ConvergenceWarning,
            stacklevel=4,
        )
    info = {
        "relative_gap": chk.rel_gap,
        "primal": chk.primal,
        "n_outer": n_outer,
        "n_newton": n_polish,
        "n_active": int((np.linalg.norm(B, axis=0) > 0).sum()),
        "dtype": "float64",
        # the last pricing is complete (a certified point's always; else priced above)
        "dual_norm_bound": (chk.lam0, chk.s_max) if not chk.partial else None,
    }
    c_out = c if problem.output_bias else None
    return ReluOutput(B[:, :P], B[:, P:], c_out, n_iter, status, info)


def _check_warm(problem: ConvexReLUProblem, warm_start: tuple[Any, Any, Any]) -> tuple[Any, ...]:
    """``warm_start`` with V, W as float64 arrays of shape (d_eff, P), or a clear error."""
    V, W = (np.asarray(host_array(a), dtype=np.float64) for a in warm_start[:2])
    if V.shape != (problem.d, problem.P) or W.shape != V.shape:
        raise ValueError(
            f"solve: warm_start V and W must have shape (d_eff, P) = "
            f"({problem.d}, {problem.P}), got {V.shape} and {W.shape}; pad new pattern "
            f"columns with zeros."
        )
    return (V, W, *warm_start[2:])


def _drop_negligible(problem: ConvexReLUProblem, B: np.ndarray) -> np.ndarray:
    """B with the blocks that only hold rounding zeroed.

    A block with ``max |X b| <= _NEGLIGIBLE * max(max |y|, max_j max |X b_j|)`` changes
    no prediction beyond rounding, but the cone projections are accurate relative to
    the data's scale, not to the block's: a 7e-18 block left by the split of a zero
    gated solution showed a relative cone violation of 0.9 on a zero network.
    """
    nz = np.flatnonzero(B.any(axis=0))
    if nz.size == 0:
        return B
    size = np.abs(problem.X @ B[:, nz]).max(axis=0)
    scale = max(float(np.abs(problem.y).max(initial=0.0)), float(size.max()))
    B = B.copy()
    B[:, nz[size <= _NEGLIGIBLE * scale]] = 0.0
    return B


_RANK_RTOL = 1e-10  # singular values of X below this share of the largest: dropped


def row_space(problem: ConvexReLUProblem) -> tuple[ConvexReLUProblem, np.ndarray | None]:
    """The same program in the coordinates of X's row space, and its basis Q (d, r).

    Every block acts through ``X v`` only (predictions and cones), and the component of
    ``v`` in the null space of X only adds to ``||v||``: an optimum lies in the row
    space, and ``v = Q v_r`` maps the program on ``X Q`` (n, r) back exactly. With
    collinear columns, or fewer distinct rows than ``d_eff``, the polish's Newton
    systems were singular in those directions (a NaN, or max_iter at a gap of 0.3 where
    CVXPY took 0.1 s). Returns ``(problem, None)`` when X has full column rank (or is
    zero).
    """
    s, Vt = np.linalg.svd(problem.X, full_matrices=False)[1:]
    r = int(np.sum(s > _RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0
    if r == problem.d or r == 0:
        return problem, None
    Q = np.ascontiguousarray(Vt[:r].T)
    return dataclasses.replace(problem, X=problem.X @ Q), Q


def _split_warm(
    problem: ConvexReLUProblem, warm_start: tuple[Any, Any, Any]
) -> tuple[np.ndarray, np.ndarray]:
    V, W = _check_warm(problem, warm_start)[:2]
    S = np.where(problem.D.T, 1.0, -1.0)
    return project_cones(problem.X, S, V)[0], project_cones(problem.X, S, W)[0]


def _warm_point(
    problem: ConvexReLUProblem, warm_start: tuple[Any, Any, Any], verbose: bool
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(V, W, c) of ``warm_start`` in the cones, or None when it is too wide to polish
    (a trained network's: the gated start is then faster, see the module docstring)."""
    V, W = _split_warm(problem, warm_start)
    if _too_wide(problem, np.concatenate([V, W], axis=1)):
        if verbose:
            print("[relu] warm start too wide for one Newton system: gated start instead")
        return None
    c = float(warm_start[2]) if warm_start[2] is not None and problem.output_bias else 0.0
    return V, W, c


class ReluPGDSolver:
    """Working-set proximal gradient for the relu formulation (registered ``"relu-pgd"``).

    Options: ``warm_start`` ((V, W, c) with V, W of shape (d_eff, P)); ``dtype``
    ("auto" | "float64" | "float32") of the gated warm start's iterations. The cone
    steps run in NumPy float64 only: ``backend="torch"`` is refused with an error.
    """

    name = "relu-pgd"
    formulations: tuple[str, ...] = ("relu",)
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
        if options.get("backend", "numpy") != "numpy":
            raise ValueError(
                f"solve: the relu fast solver {self.name!r} runs on NumPy only, got "
                f"backend={options['backend']!r}; use formulation='gated' for the torch "
                f"backend, or drop the backend option."
            )
        check_cpu_device(options, caller="solve", solver=f"the relu fast solver {self.name!r}")
        warm = options.get("warm_start")
        warm = None if warm is None else _check_warm(problem, warm)
        reduced, Q = row_space(problem)
        if Q is not None and warm is not None:
            warm = (Q.T @ warm[0], Q.T @ warm[1], *warm[2:])
        out = solve_relu(
            reduced,
            tol=tol,
            max_iter=DEFAULT_MAX_ITER if max_iter is None else int(max_iter),
            warm_start=warm,
            verbose=verbose,
            gated_options={"dtype": options.get("dtype", "auto")},
        )
        if Q is not None:
            out.V, out.W = Q @ out.V, Q @ out.W
            out.info["row_space_rank"] = reduced.d
        out.V, out.W = (_drop_negligible(problem, B) for B in (out.V, out.W))
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
