"""Newton polish of the relu formulation: active-set Newton on the support's faces.

The solver (:mod:`.relu_pgd`) polishes its point before each certificate. When beta is
small FISTA converges slowly (the loss Hessian has rank n << 2 P d), and the certificate
needs the primal far more accurately than the objective does: the gap scales like the
dual infeasibility ``s_max / beta - 1`` of the residual, of the order of the square root
of the primal error (a point 1.6e-4 above the optimum certified a gap of only 1.7e-2).
With the support and the active cone constraints of the current point fixed, the problem
is smooth, and damped Newton steps (an active-set method: a blocking constraint joins,
with a bent search along the new faces; a negative multiplier leaves) reach the
restricted optimum to rounding. A round takes ``_NEWTON_ITER`` steps, or more while its
last steps still lower the objective by a share of the round's decrease
(``_PRODUCTIVE``): at small beta a round's decrease is spread over 50-150 steps, and
rounds cut short took 98 rounds instead of 22 (n = 150, d = 4, P = 200, beta = 1e-3:
12 s to 2.3 s; at beta = 1e-4, 523 rounds and 109 s to 29 rounds and 5.4 s).

On the small-beta reproducer (n=200, d=11, P=100, beta=1e-2) the solve went from 20000
iterations ending at a gap of 1.7e-2 (32 s) to a gap of 2e-12 in about 3 s. Skipped
(FISTA alone, as before) for multi-output losses. A support whose Newton system would
cost more than ``_POLISH_FLOPS`` flops (``n R^2`` for its Gram matrix, or ``R^3 / 3``
for a factorisation; R the free dimensions of the support) or whose (n, R) matrix
exceeds ``_POLISH_BYTES`` is polished chunk by chunk (below). A Newton step at
n = 4000, R = 1000 takes a fraction of a second; FISTA alone needed 20000 iterations
(130 s) there and stopped at a gap of 3e-5, the polish reaches 1e-6 in 15 s (the Alg2
warm start of ``benchmarks/bench_solvers.py``, n=4000, d=8).

Wide supports (``_polish_wide``). A network's warm start (SGD's or Adam's, the paper's
Alg2) puts hundreds of blocks inside their cones with no active constraint: at n = 1e4,
434 blocks of 42 free dimensions, against a cap of about 2000 for one Newton system.
Such a start is now replaced by the gated one (:mod:`.relu_pgd`); a support that grows
too wide during the solve is polished chunk by chunk, the blocks ranked by their KKT
residual and the others fixed (block-coordinate Newton); FISTA's exact cone steps had
cost 1-4 s per iteration there, and that Alg2 solve went from over 600 s to about 100 s.
A block whose basis shrinks (a constraint joins) keeps its Gram entries through
``T = N_old^T N_new`` (``_Gram``), without a pass over the n rows (an Alg2 solve at n = 4000,
d = 32: 42 s to 25 s).

The polish's blocking ratios run in a (block, row) layout with a scalar shift along the
bent search; with these, the n = 1e4 relu solve of the benchmark went from 176 s to
130 s (one thread, stand-alone). The polish carries its predictions along the steps, updates
null bases by Householder reflections and takes its KKT multipliers in one batched solve
(with the certificate's carried bounds, the n = 1e4 solve went from 58 s to 44 s), and
each block's first blocking row is compiled (:mod:`convexnn._jit`); a block on a ray of
its cone (about two thirds of the support's blocks at n = 1e4) gets its ratio from its
coordinates, without the products (:func:`_ray_ratios`: that solve's polishes 25% faster,
its Alg2 solve 43.5 s to 31-34 s). With the Gram matrix
of the polish updated per changed block (``_Gram``), the n=4000, d=8, P=1000 problem of
the benchmark went from 18.7 s to 5.0 s (one thread).

Robustness. Blocks that hold rounding only leave the support, among them a block whose
predictions are surely below rounding (:func:`_negligible`): Newton steps had shrunk one
to 2e-25 on the Alg2 program at n = 400, where its penalty Hessian froze it and the
polish cycled on releasing and re-joining one of its constraints; the solve stopped
"stalled" at a gap of 1.2e-5 after 4.9 s, and is now certified after 1.5 s. A Newton
system without curvature (a flat loss) takes a ridge step (:func:`_ridge`). Badly scaled
data (features at 1e-2, targets at 1e3, Huber): each polish puts its blocks exactly on
their faces (the Newton model sees ``theta = N^T b`` only, and blocks off their faces by
the active-set tolerance kept the support's cone norms 1e-5 off beta); a Newton step
that raises the objective (no curvature: a 1e14 step) is retried on a growing ridge
(Levenberg-Marquardt); the face's multipliers are tested once Newton's decrement reaches
its rounding floor. Six such problems (n = 80) went from 4-38 s, stuck at gaps near 1e-5
or at max_iter with a gap of 1.0, to certified (1e-8..1e-10) in 1.3-1.8 s. On
degenerate data (integer pixels, repeated samples) a row in the row space of a block's
face is zero on the whole face and never blocks (``first_independent``, as the CNN bcd's
``_blocking``): it had joined on rounding, making the face's rows dependent and its
multipliers ambiguous, and the polish released and re-joined such rows (relu sweep seed
61 case 36: 315 Newton steps to 161; case 58: 1162 to 1123; the same optima).

Ties. On such data several rows often reach zero slack at the same point of a step. A
bend blocked at once (ratio <= 1e-12: a row at zero slack along the bent direction) had
ended the bent search; the next Newton step was then blocked at ratio 0 by that row,
joined it and stopped: one Newton system per tie. Now the bend joins the row and goes
on, after a move of rounding only (taken while the objective rises by at most 1e-14
relative), so that the row joins at its zero slack: joined at a small positive slack,
off its face, the Newton model (which sees B through the face) and the objective had
disagreed, and the failed steps tripled the work of 3 sweep cases. Relu sweep seeds 61
and 62, 160 cases: 15940 -> 14010 Newton steps (58 cases fewer, 17 more, 85 the same;
61:44 2945 -> 2103, 61:58 1123 -> 836); the benchmark problems of
``benchmarks/bench_solvers.py`` (generic data, no ties) are unchanged step for step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._threads import one_blas_thread
from ..problem import ConvexReLUProblem
from ._cones import _active_rows, _cone_signs, _signed_masks, project_cones
from ._damping import Damping
from ._kernels import forward, loss_curvature
from ._polish_kernels import (
    _block_diag_index,
    _block_gradients,
    _face_multipliers,
    _first_blocking,
    _Gram,
    _in_span,
    _null_basis,
    _null_basis_less,
    _null_basis_more,
    _step_ratios,
)
from ._relu_certificate import _primal

_NEWTON_ITER = 50  # Newton steps per polish round (FISTA rounds move the active sets between)
# ... unless the round is still productive: its last _TAIL_WINDOW steps lowered the
# objective by at least _PRODUCTIVE of the round's decrease so far (up to _NEWTON_MAX
# steps). At n = 1e4 the steps after the 10th each join one constraint and gain 1e-4
# of the round's decrease (a longer polish only delays the pricing: 200 steps took 70 s
# instead of 43 s); at small beta (n = 150, d = 4, P = 200, beta = 1e-3) the decrease is
# spread over 50-150 steps, and cutting the rounds at 50 took 98 rounds and 12 s instead
# of 22 rounds and 2.3 s.
_TAIL_WINDOW = 10
_PRODUCTIVE = 1e-2
_NEWTON_MAX = 500
# Far from the optimum (the solver's last certified gap above ``relu_pgd._FAR_GAP``) a
# polish only has to lower the objective for the next pricing: it stops once its last
# _TAIL_WINDOW steps lowered it by less than _STALE of its decrease so far, after at
# least _STALE_MIN steps (``early_stop``). At n = 1e4, d = 41, P = 2000 rounds 1-4 had
# each run to the 50-step cap, the steps after the 20th gaining about 1e-4 of the
# round's decrease each: now 20 steps each, 199 Newton steps instead of 327 and the
# polishes 6.5-6.8 s instead of 9.8-10.1 s, the same 124 iterations. Stopping after 10
# or 15 steps, or at a share of 3e-2, cost another FISTA round there.
_STALE = 1e-2
_STALE_MIN = 20
_BENDS = 20  # bent-search segments after a blocked Newton step
# The most flops of one Newton system (``_polish_cap``): n R^2 for its Gram matrix (once
# per polish: the steps update it per changed block, ``_Gram``) or R^3 / 3 for one
# factorisation. At 1e10 the cap was R <= 447 at n = 5e4, d = 21, P = 500, beta = 7.6e-5 of
# its largest useful value: the support's ~480 blocks needed up to about 500 free
# dimensions, and the polish went chunk by chunk (block-coordinate Newton) or stopped
# after 50 steps; 36 rounds in 14 min left the objective at 1421.5 (gap 0.95). At 4e10
# (R <= 894 there) the solve is certified in 177 s at 1395.58. The five benchmark
# problems never reach either cap.
_POLISH_FLOPS = 4e10
_POLISH_BYTES = 4e8  # ... or when its (n, R) float64 matrix is larger
_NEGLIGIBLE = 1e-13  # a block whose predictions are below this share of the scale: zeroed


class Polished(NamedTuple):
    """A polish's point ``(B, c)`` (feasible), its Newton steps, and whether it stopped
    because the support's free dimensions outgrew one Newton system (``wide``)."""

    B: np.ndarray
    c: float
    steps: int
    wide: bool = False


def _polish(
    problem: ConvexReLUProblem,
    B: np.ndarray,
    c: float,
    max_iter: int | None = None,
    free: np.ndarray | None = None,
    early_stop: bool = False,
) -> Polished | None:
    """Active-set Newton on the support of B, its active cone constraints fixed.

    With ``free`` (block indices), only the support blocks among them move; the others
    stay fixed and enter through their predictions (a block-coordinate step, see
    :func:`_polish_wide`).

    On the non-zero blocks ``J`` with active constraints ``A_j b_j = 0`` (rows of
    ``(2 D_i - I) X`` at zero slack), ``b_j = N_j theta_j`` with ``N_j`` an orthonormal
    null-space basis, the problem is smooth in ``(theta, c)``:
    ``L(sum_j Phi_j theta_j + c) + beta sum_j ||theta_j||``, ``Phi_j = s_j D_j X N_j``.
    Damped Newton steps, cut at the first inactive constraint they would cross (which
    then joins the active set).
    At a stationary point of the restricted problem, the most negative multiplier of
    each block (KKT: ``grad_b f = A_act^T mu``, ``mu >= 0``) is released. Returns a
    :class:`Polished` point, feasible, or None (multi-output loss); the caller certifies
    it. When the free dimensions exceed the caps (``_polish_cap``; released constraints
    add some), the polish stops there with ``wide=True``: at the point reached, or at
    the given one (0 steps) when they exceed them from the start. With ``early_stop``
    (far from the optimum) it stops too once its steps no longer pay (``_STALE``).
    """
    X, y, loss, beta, P = problem.X, problem.y, problem.loss, problem.beta, problem.P
    if not _polish_applies(problem):
        return None
    max_iter = _NEWTON_ITER if max_iter is None else max_iter
    n, d = X.shape
    ob = problem.output_bias
    D, mask = problem.D, problem.mask
    DT = np.ascontiguousarray(D.T)  # (P, n): a block's signs are one contiguous row
    B_in, c_in = B, c
    B = B.copy()
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # j -> (active rows, N_j)
    version: dict[int, int] = {}  # j -> how many times its basis N_j changed
    gram = _Gram(X, mask)

    def set_active(j: int, rows: np.ndarray, N: np.ndarray | None = None) -> None:
        """Block j's active rows and null basis (N: given by :func:`join`, or an SVD)."""
        old = cache.get(j)
        if N is None and old is not None and np.array_equal(old[0], rows):
            return
        if N is None and old is not None and rows.size == old[0].size + 1:
            extra = np.setdiff1d(rows, old[0], assume_unique=True)
            if extra.size == 1:  # one constraint joins: a Householder update, not an SVD
                N = _null_basis_less(old[1], X[extra[0]])
        elif N is None and old is not None and 0 < rows.size == old[0].size - 1 <= d:
            gone = np.setdiff1d(old[0], rows, assume_unique=True)
            if gone.size == 1 and _UPDATE_ON_RELEASE:  # one leaves: a QR, not an SVD
                N = _null_basis_more(old[1], X[rows], X[gone[0]])
        cache[j] = (rows, _null_basis(X[rows], d) if N is None else N)
        version[j] = version.get(j, -1) + 1

    def join(j: int, row: int) -> None:
        """Constraint ``row`` joins block j's active set (a blocked step)."""
        rows, N = cache[j]
        if not (rows == row).any():
            set_active(j, np.union1d(rows, [row]), _null_basis_less(N, X[row]))

    def join_independent(j: int, new: np.ndarray) -> None:
        """Rows ``new`` (blocked at a zero step) join block j's face, in order, but only
        those outside its row space (:func:`_in_span`): the face's rows stay independent."""
        rows, N = cache[j]
        added = []
        for row in new[~np.isin(new, rows)]:
            if N.shape[1] == 0:  # the face spans every row
                break
            if not _in_span(X[row], N):
                N = _null_basis_less(N, X[row])
                added.append(row)
        if added:
            set_active(j, np.union1d(rows, added), N)

    def release(sup: np.ndarray, g: np.ndarray, Bs: np.ndarray) -> bool:
        """Drop the most negative multiplier of each block (KKT); True if any was."""
        released = False
        with_rows = np.array([j for j in sup if cache[int(j)][0].size], dtype=np.intp)
        if with_rows.size == 0:
            return False
        # All gradients in one GEMM (a per-block product cost 0.1-0.2 s per release at
        # n = 1e4).
        Rg = _block_gradients(X, DT, with_rows, g)
        Rg += beta * Bs[:, with_rows] / np.linalg.norm(Bs[:, with_rows], axis=0)
        act = [cache[int(j)][0] for j in with_rows]
        mus = _face_multipliers(X, DT[with_rows % P], act, Rg)
        for j, rows, mu in zip(with_rows, act, mus, strict=True):
            i = int(np.argmin(mu))
            if mu[i] < -1e-9 * (np.abs(mu).max() + beta):
                # With its copies (repeated rows of X, the same sign): the same
                # constraint, which would otherwise hold the face for another round.
                sign = DT[j % P, rows]
                same = np.all(X[rows] == X[rows[i]], axis=1) & (sign == sign[i])
                set_active(int(j), rows[~same])
                released = True
        return released

    def value(Bs: np.ndarray, cs: float) -> tuple[float, np.ndarray]:
        """Objective and predictions (bias included) of all blocks, fixed ones too."""
        nz = np.flatnonzero(Bs.any(axis=0))  # B is zero off the support
        z = forward(X, _signed_masks(mask, nz), Bs[:, nz]) + (cs if ob else 0.0)
        return _line_value(problem, z, Bs[:, nz]), z

    def blocking(Bs: np.ndarray, dBs: np.ndarray, sup: np.ndarray) -> np.ndarray:
        """(|sup|, n) step ratios at which inactive constraints are crossed (inf: never)."""
        active = [cache[int(j)][0] for j in sup]
        return _step_ratios(X, DT[sup % P], Bs[:, sup], dBs[:, sup], active)

    def first_blocking(
        Bs: np.ndarray, dBs: np.ndarray, sup: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each block's first blocking row and its ratio (see :func:`_first_blocking`)."""
        active = [cache[int(j)][0] for j in sup]
        return _first_blocking(X, DT, sup % P, Bs[:, sup], dBs[:, sup], active)

    def ranked(
        Bs: np.ndarray,
        dBs: np.ndarray,
        sup: np.ndarray,
        theta: np.ndarray,
        delta: np.ndarray,
        sizes: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`first_blocking` of blocks ``sup``: the rays' from their first
        coordinates ``theta`` and steps ``delta`` (:func:`_ray_ratios`; ``sizes`` their
        free dimensions), the other blocks' from their products."""
        first, ratio = _ray_ratios(theta, delta, sizes)
        if not _RAYS_BY_COORDINATES:  # the reference: every block's rows ranked
            first[:], ratio[:] = _UNRANKED, np.inf
        rest = np.flatnonzero(first == _UNRANKED)
        if rest.size:
            first[rest], ratio[rest] = first_blocking(Bs, dBs, sup[rest])
        return first, ratio

    def first_independent(
        Bs: np.ndarray,
        dBs: np.ndarray,
        sup: np.ndarray,
        first: np.ndarray,
        ratio: np.ndarray,
        shift: float = 0.0,
    ) -> int:
        """The block whose first blocking row blocks the step, that row outside the row
        space of the block's face (:func:`_in_span`).

        A row in it is zero on the whole face, and the step (in the face) keeps it there:
        its ratio is rounding only. Letting it join (at a ratio of 0 or 1e-10) made the
        face's rows dependent and their multipliers ambiguous: on integer data the polish
        released and re-joined such rows for hundreds of steps. That block's next row is
        taken instead (``first`` and ``ratio`` updated in place, ``shift`` added as in the
        bent search); the span is tested on the blocking block only, when it blocks (a
        ratio below 1: the bent search's ratios carry the shift, and its rest is
        ``1 - shift``).
        """
        k = int(np.argmin(ratio))
        skip: dict[int, list[int]] = {}
        while first[k] < 0 or ratio[k] < 1.0:
            if first[k] < 0:  # a ray's ratio, without its row (see :func:`_ray_ratios`)
                one = sup[k : k + 1]
                f_k, r_k = first_blocking(Bs, dBs, one)
                first[k], ratio[k] = f_k[0], r_k[0] + shift
                k = int(np.argmin(ratio))
                continue
            rows, N = cache[int(sup[k])]
            if rows.size == 0 or not _in_span(X[first[k]], N):
                break
            skip.setdefault(k, []).append(int(first[k]))
            others = [np.union1d(rows, skip[k])]  # treated as active: they never block
            one = sup[k : k + 1]
            f_k, r_k = _first_blocking(X, DT, one % P, Bs[:, one], dBs[:, one], others)
            first[k], ratio[k] = f_k[0], r_k[0] + shift
            k = int(np.argmin(ratio))
        return k

    def coordinates(sup: np.ndarray) -> tuple[np.ndarray, ...]:
        """Blocks ``sup``'s bases side by side: ``(sizes, offs, N_all (d, R), owner (R,),
        theta (R,))``, ``theta`` each block's coordinates ``N_j^T b_j``."""
        Ns = [cache[int(j)][1] for j in sup]
        sizes = np.array([N.shape[1] for N in Ns], dtype=np.intp)
        offs = np.concatenate([[0], np.cumsum(sizes)])
        N_all = np.hstack(Ns)  # sup is never empty here
        owner = np.repeat(sup, sizes)
        return sizes, offs, N_all, owner, np.einsum("dr,dr->r", N_all, B[:, owner])

    sup = np.flatnonzero(np.linalg.norm(B, axis=0) > 0)
    fixed = sup[~np.isin(sup, free)] if free is not None else sup[:0]
    sup = np.setdiff1d(sup, fixed)
    # The fixed blocks' predictions and penalty: constants of this polish.
    z_off = forward(X, _signed_masks(mask, fixed), B[:, fixed]) if fixed.size else 0.0
    pen_off = beta * float(np.linalg.norm(B[:, fixed], axis=0).sum())
    act0 = _active_rows(X, D, B, sup)  # (n, |sup|): one product for all blocks
    for t, j in enumerate(sup):
        set_active(int(j), np.flatnonzero(act0[:, t]))
        # On its face exactly: the Newton model sees B through theta = N^T b only.
        N = cache[int(j)][1]
        B[:, j] = N @ (N.T @ B[:, j])
    # zB: predictions at B, carried along the steps (z(a) = zB + a zd is exact).
    f, zB = value(B, c)
    x_max = float(np.sqrt(np.einsum("ij,ij->i", X, X).max()))  # max |X b| <= x_max |b|
    steps = 0
    history: list[float] = []  # the objective before each step
    damping = Damping(_DAMP_TRIES)  # Levenberg-Marquardt ridge of the Newton system (below)
    prev_dec = np.inf  # the last Newton decrement
    wide = False
    while _another_step(steps, max_iter, history, f, early_stop):
        steps += 1
        history.append(f)
        # A block stays while it has free directions and moves along them: one that is
        # rounding only (1e-17 entries, orthogonal to its face) has theta = 0, where the
        # penalty's Hessian beta / ||theta|| is a NaN.
        if sup.size == 0:
            break
        sizes, offs, N_all, owner, theta = coordinates(sup)
        keep = _moving(theta, sizes, offs) & ~_negligible(B[:, sup], x_max, zB, y)
        if not keep.all():
            B[:, sup[~keep]] = 0.0
            sup = sup[keep]
            f, zB = value(B, c)
            if sup.size == 0:
                break
            sizes, offs, N_all, owner, theta = coordinates(sup)
        R = int(offs[-1])
        if R > _polish_cap(n):  # n R^2 flops or an (n, R) matrix beyond the caps
            if steps == 1:  # from the start: the given point, untouched
                return Polished(B_in, c_in, 0, wide=True)
            steps, wide = steps - 1, True
            break
        Phi = gram.basis([(int(j), version[int(j)]) for j in sup], sizes, owner, N_all)
        z = Phi @ theta + (c if ob else 0.0) + z_off
        g = np.asarray(loss.gradient(z, y), dtype=np.float64)
        h = loss_curvature(loss, z, y)
        H = gram.squared() if loss.name == "squared" else Phi.T @ (h[:, None] * Phi)
        grad = Phi.T @ g
        if ob:  # the output bias: one more row and column
            hPhi = Phi.sum(axis=0) if loss.name == "squared" else h @ Phi
            H = np.block([[H, hPhi[:, None]], [hPhi[None, :], np.array([[h.sum()]])]])
            grad = np.append(grad, g.sum())
        # H is a fresh array (gram.squared() returns a copy), modified in place below.
        # Hessian of beta ||theta_k||: beta / ||theta_k|| (I - u_k u_k^T), all blocks at once.
        nt = np.sqrt(np.add.reduceat(theta * theta, offs[:-1]))
        u = theta / np.repeat(nt, sizes)
        grad[:R] += beta * u
        rows, cols, blk = _block_diag_index(sizes, offs)
        H[rows, cols] += (beta / nt[blk]) * ((rows == cols) - u[rows] * u[cols])
        H[np.diag_indices_from(H)] += 1e-12 * max(float(np.diag(H).max()), 1e-300) + damping.value
        try:
            with one_blas_thread():  # threaded, it cost 10x (:mod:`convexnn._threads`)
                step = -cho_solve(cho_factor(H), grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, grad, rcond=1e-12)[0]
        if not np.isfinite(step).all():
            # No curvature (e.g. the squared hinge with every margin met: the loss is
            # flat and only the penalty pulls): a ridge that makes the step about as long
            # as theta; the line search and the blocking rows take it from there.
            H[np.diag_indices_from(H)] += _ridge(grad, theta)
            step = -np.linalg.lstsq(H, grad, rcond=1e-12)[0]
        dec = -float(grad @ step)
        # Newton's decrement falls quadratically to its rounding floor (7e-21 at f = 2.8e3
        # on badly scaled data, above the 1e-24 test): there the face is settled too,
        # and its multipliers must be tested (a wrong face had stalled the solve).
        at_floor = dec <= 1e-16 * abs(f) and dec > 0.1 * prev_dec
        prev_dec = dec
        if not dec > 0 or dec <= 1e-24 * max(abs(f), 1e-300) or at_floor:
            prev_dec = np.inf
            if release(sup, g, B):
                continue
            break
        dB = np.zeros_like(B)
        dB[:, sup] = np.add.reduceat(N_all * step[:R], offs[:-1], axis=1)
        dc = float(step[R]) if ob else 0.0
        # Each block's first blocking row and its ratio: a bend recomputes one block's.
        first, first_ratio = ranked(B, dB, sup, theta[offs[:-1]], step[offs[:-1]], sizes)
        k = first_independent(B, dB, sup, first, first_ratio)
        a_max, row = min(1.0, float(first_ratio[k])), int(first[k])
        if a_max <= 1e-12:  # degenerate: constraints at zero slack block the step
            join(int(sup[k]), row)  # (outside its face's row space: progress)
            zero_k, zero_rows = np.nonzero(blocking(B, dB, sup) <= 1e-12)
            for kz in np.unique(zero_k):  # a block's independent rows, one basis each
                join_independent(int(sup[kz]), zero_rows[zero_k == kz])
            continue
        # Predictions are linear along the step: z(a) = zB + a zd. The step's own
        # predictions come from the basis: Phi @ step = sum_j s_j D_j X N_j step_j.
        zd = Phi @ step[:R] + dc

        a = a_max
        while True:
            f_new = _line_value(problem, zB + a * zd, B[:, sup] + a * dB[:, sup]) + pen_off
            if f_new <= f - 1e-4 * a * dec or a < 1e-10:
                break
            if dec <= 1e-12 * abs(f) and f_new <= f + 1e-14 * abs(f):
                break  # decrease below rounding: take the (full) Newton step
            a *= 0.5
        if f_new > f + 1e-14 * abs(f):
            # A step far too long for the quadratic model: where the loss has no curvature
            # (Huber's linear region, badly scaled data) the Newton step along theta's own
            # direction is unbounded, and even its cut at the first blocking row raised
            # the objective (a 1e14 step at n = 80, d = 3; the solve then crawled through
            # 20000 FISTA iterations). A ridge about |grad| / |theta| (a step about as
            # long as theta) and ten times more on each failure, as Levenberg-Marquardt.
            if damping.fail(_ridge(grad, theta)):
                continue
            break
        damping.succeed(_ridge(grad, theta))
        B[:, sup] += a * dB[:, sup]  # in place, on the support only (dB is zero off it)
        c, f, zB = c + a * dc, f_new, zB + a * zd
        if a == a_max < 1.0:
            join(int(sup[k]), row)
            # Bent search: the rest of the step, the blocked block's part projected on
            # its new face, while the objective decreases (no new factorisation).
            rem = 1.0 - a_max
            # The other blocks' ratios from the current B are max(ratio - shift, 0): a
            # scalar shift instead of a pass over the (n, |sup|) matrix per bend.
            shift = a_max
            for _ in range(_BENDS):
                jk = int(sup[k])
                N = cache[jk][1]
                bent = N @ (N.T @ dB[:, jk])
                # zd changes on block jk's mask only (its row of DT: contiguous).
                zd += np.where(DT[jk % P], X @ (bent - dB[:, jk]), 0.0) * (1.0 if jk < P else -1.0)
                dB[:, jk] = bent
                # a ray (or a point) now: from its coordinates; else its products
                n1 = N[:, :1]  # its first free direction
                th, de = (n1.T @ B[:, jk], n1.T @ bent) if n1.size else (np.zeros(1),) * 2
                first_k, ratio_k = ranked(B, dB, sup[k : k + 1], th, de, np.array([N.shape[1]]))
                first[k], first_ratio[k] = first_k[0], ratio_k[0] + shift
                k = first_independent(B, dB, sup, first, first_ratio, shift)
                a2, row = min(rem, max(float(first_ratio[k]) - shift, 0.0)), int(first[k])
                # A tie (a row at zero slack along the bent direction, as on degenerate
                # data) joins too, after a step of rounding only: breaking there left it
                # to a Newton step of its own (module docstring: ties).
                tie = a2 <= 1e-12
                f_new = _line_value(problem, zB + a2 * zd, B[:, sup] + a2 * dB[:, sup])
                f_new += pen_off
                if not (f_new < f or (tie and f_new <= f + 1e-14 * abs(f))):
                    break
                B[:, sup] += a2 * dB[:, sup]
                c, f, rem = c + a2 * dc, f_new, rem - a2
                zB += a2 * zd
                shift += a2
                if a2 == rem + a2:  # reached the end of the step
                    break
                join(int(sup[k]), row)
    nz = sup[B[:, sup].any(axis=0)]  # the fixed blocks are untouched
    B[:, nz] = project_cones(X, _cone_signs(D, nz), B[:, nz])[0]
    return Polished(B, c, steps, wide)


def _moving(theta: np.ndarray, sizes: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """(k,) whether each block has a non-zero coordinate (``theta[offs[k]:offs[k+1]]``);
    a block without free directions (size 0) does not move."""
    moving = np.zeros(sizes.size, dtype=bool)
    nz = sizes > 0
    if nz.any():
        moving[nz] = np.logical_or.reduceat(theta != 0, offs[:-1][nz])
    return moving


def _ray_ratios(
    theta: np.ndarray, delta: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The step ratios of the blocks on rays of their cones, from their coordinates.

    A block on a ray (one free dimension, ``sizes == 1``) is ``b = N theta`` and its
    step ``db = N delta``, N a unit vector: every inactive row's slack and rate are
    proportional, ``x_i^T db = (delta / theta) x_i^T b``, so all of them reach zero
    together, at ``-theta / delta``, when the block shrinks (``theta delta < 0``: it
    vanishes there), and none ever does when it grows (ratio inf, row 0, as
    :func:`_first_blocking`). Such a shrinking block's row is left unknown (``-1``):
    ``first_independent`` finds it, with its exact ratio, when the block blocks the
    step. A block with no free dimension (``sizes == 0``: a bend's block whose face
    became a point) does not move: ratio inf, row 0. The other blocks get row
    ``_UNRANKED``: the caller ranks them by :func:`_first_blocking`. At n = 1e4 about
    two thirds of the support's blocks are on rays at each Newton step; the two (k, n)
    GEMMs per step had taken 4 of the polish's 14 s.
    """
    ray = sizes == 1
    shrink = ray & (theta * delta < 0)
    ratio = np.full(sizes.size, np.inf)
    ratio[shrink] = -theta[shrink] / delta[shrink]
    first = np.where(ray, np.where(shrink, -1, 0), _UNRANKED)
    first[sizes == 0] = 0  # no free direction: the block does not move
    return first.astype(np.intp), ratio


_UNRANKED = -2  # a block's first blocking row still to be found (:func:`_ray_ratios`)
_RAYS_BY_COORDINATES = True  # False: every block's rows ranked by the products (tests)
_UPDATE_ON_RELEASE = True  # False: a released constraint's new basis by an SVD (tests)


def _negligible(Bs: np.ndarray, x_max: float, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Blocks of Bs whose predictions are surely rounding only (cf. _drop_negligible).

    ``max |X b| <= x_max ||b||``; the scale is that of the targets and predictions. Such
    a block (1e-25 at n = 400, left by Newton steps towards zero) has a penalty Hessian
    ``beta / ||b||`` of 1e24: it cannot move, and releasing its constraints cycled.
    """
    scale = max(float(np.abs(y).max(initial=0.0)), float(np.abs(z).max(initial=0.0)))
    return np.asarray(x_max * np.linalg.norm(Bs, axis=0) <= _NEGLIGIBLE * scale)


_DAMP_TRIES = 8  # ridge increases after a failed Newton step, before the polish stops


def _ridge(grad: np.ndarray, theta: np.ndarray) -> float:
    """A ridge that makes the Newton step about as long as theta: ``|grad| / |theta|``."""
    return float(np.linalg.norm(grad)) / max(float(np.linalg.norm(theta)), 1e-300)


def _productive(history: list[float], f: float, max_iter: int) -> bool:
    """Whether a polish goes on past ``max_iter`` steps (see ``_PRODUCTIVE``).

    ``history[k]`` is the objective before step ``k + 1``, ``f`` the current one.
    """
    if len(history) < max(_TAIL_WINDOW, max_iter) or len(history) >= _NEWTON_MAX:
        return False
    total = history[0] - f
    return history[-_TAIL_WINDOW] - f >= _PRODUCTIVE * total > 0


def _another_step(
    steps: int, max_iter: int, history: list[float], f: float, early_stop: bool
) -> bool:
    """Whether a polish takes another Newton step: up to ``max_iter`` (fewer with
    ``early_stop`` once stale, :func:`_stale`), and beyond while productive."""
    if steps < max_iter and not (early_stop and _stale(history, f)):
        return True
    return _productive(history, f, max_iter)


def _stale(history: list[float], f: float) -> bool:
    """Whether a polish far from the optimum stops before ``max_iter`` (``_STALE``):
    after ``_STALE_MIN`` steps, its last ``_TAIL_WINDOW`` lowered the objective by less
    than ``_STALE`` of its decrease so far (``history`` as in :func:`_productive`)."""
    if len(history) < _STALE_MIN:
        return False
    return history[-_TAIL_WINDOW] - f < _STALE * (history[0] - f)


def _polish_applies(problem: ConvexReLUProblem) -> bool:
    """The polish handles scalar outputs only (one loss curvature per sample)."""
    return problem.y.ndim == 1 and not getattr(problem.loss, "multi_output", False)


def _polish_cap(n: int) -> float:
    """The most free dimensions R of one Newton system over n samples (flops, bytes).

    ``n R^2 <= _POLISH_FLOPS`` (its Gram matrix), ``R^3 / 3 <= _POLISH_FLOPS`` (one
    factorisation) and ``8 n R <= _POLISH_BYTES`` (its (n, R) matrix).
    """
    return float(
        min(np.sqrt(_POLISH_FLOPS / n), np.cbrt(3 * _POLISH_FLOPS), _POLISH_BYTES / (8 * n))
    )


def _free_dims(problem: ConvexReLUProblem, B: np.ndarray, sup: np.ndarray) -> tuple[Any, Any]:
    """The support blocks' active rows (n, |sup|) and free dimensions (at least 1 each)."""
    act = _active_rows(problem.X, problem.D, B, sup)
    return act, np.maximum(problem.X.shape[1] - act.sum(axis=0), 1)


def _too_wide(problem: ConvexReLUProblem, B: np.ndarray) -> bool:
    """Whether B's support surely exceeds one Newton system: chunked polish needed."""
    sup = np.flatnonzero(B.any(axis=0))
    if sup.size == 0 or not _polish_applies(problem):
        return False
    return bool(_free_dims(problem, B, sup)[1].sum() > _polish_cap(problem.X.shape[0]))


def _polish_wide(
    problem: ConvexReLUProblem, B: np.ndarray, c: float, early_stop: bool = False
) -> Polished | None:
    """:func:`_polish` on the whole support, or chunk by chunk when it is too large.

    A wide support (e.g. an SGD network's warm start: hundreds of neurons, each inside
    its cone, so ``R`` = hundreds x d free dimensions) exceeds the caps of one dense
    Newton system. Then the blocks are taken by decreasing KKT residual (the gradient
    of the objective in the block, projected on the null space of its active
    constraints) in chunks whose free dimensions fit the caps, and each chunk is
    polished with the others fixed: one sweep of block-coordinate Newton, each step
    exact on its chunk's face, so the objective never rises.
    """
    X, beta = problem.X, problem.beta
    n, d = X.shape
    sup = np.flatnonzero(B.any(axis=0))
    if sup.size == 0 or not _polish_applies(problem):
        return _polish(problem, B, c, early_stop=early_stop)
    act, r_low = _free_dims(problem, B, sup)
    cap = _polish_cap(n)
    steps = 0
    if r_low.sum() <= cap:  # it may fit: the whole support at once ...
        whole = _polish(problem, B, c, early_stop=early_stop)
        if whole is None or not whole.wide:
            return whole
        # ... but its free dimensions exceeded the cap (r_low is a lower bound, and
        # released constraints add more): chunk by chunk, from the point it reached.
        # Giving up had sent the solve to FISTA rounds of up to max_iter (n = 2e4,
        # d = 21, beta = 1e-4 of its largest useful value: 1071 iterations, about 0.5 s
        # each, at 486 blocks).
        if whole.steps:  # it moved: the chunks start from its point, with its faces
            B, c, steps = whole.B, whole.c, whole.steps
            sup = np.flatnonzero(B.any(axis=0))
            if sup.size == 0:
                return Polished(B, c, steps)
            act = _free_dims(problem, B, sup)[0]
    cap = min(0.8 * cap + d, cap)  # released constraints add free dimensions: a margin
    z = _primal(problem, B, c, with_z=True)[2]
    g = np.asarray(problem.loss.gradient(z, problem.y), dtype=np.float64)
    grad = X.T @ (_signed_masks(problem.mask, sup) * g[:, None])
    grad += beta * B[:, sup] / np.linalg.norm(B[:, sup], axis=0)
    res = np.empty(sup.size)
    free = np.empty(sup.size, dtype=np.intp)  # each block's free dimensions (not r_low)
    for k in range(sup.size):
        N = _null_basis(X[act[:, k]], d)
        res[k] = np.linalg.norm(N.T @ grad[:, k])
        free[k] = max(N.shape[1], 1)
    chunks: list[list[int]] = [[]]
    width = 0
    for k in np.argsort(-res):  # greedy: each chunk's free dimensions within the cap
        if chunks[-1] and width + free[k] > cap:
            chunks.append([])
            width = 0
        chunks[-1].append(int(sup[k]))
        width += int(free[k])
    for chunk in chunks:  # a chunk that outgrows the caps too keeps its point
        out = _polish(problem, B, c, free=np.array(chunk), early_stop=early_stop)
        if out is not None:
            B, c, steps = out.B, out.c, steps + out.steps
    return Polished(B, c, steps)


def _line_value(problem: ConvexReLUProblem, z: np.ndarray, Bs: np.ndarray) -> float:
    """Objective at predictions z (bias included) and support blocks Bs."""
    norms = np.linalg.norm(Bs, axis=0)
    return float(problem.loss.value(z, problem.y)) + problem.beta * float(norms.sum())
