"""Block Newton-CG on a fixed working set of the gated program: the end game of a round.

Once the support is known, FISTA's certified gap falls slowly: at n = 1e4, d = 41,
P = 2000 the last three rounds, on about 275 blocks, took 480 of 860 iterations. On a
working set whose blocks are all non-zero the objective

    F(B, c) = L(A_s(B) + c, y) + beta * sum_j ||b_j||_2

is twice differentiable, with Hessian

    H = A_s^T diag(h) A_s  (+ the output bias' row and column)
        + beta * blockdiag_j (I - u_j u_j^T) / ||b_j||,       u_j = b_j / ||b_j||,

``h`` the loss curvature (1 for the squared loss). Damped Newton steps take their
directions from preconditioned conjugate gradients: each product with H is one forward
and one adjoint (a FISTA iteration's cost; in the round's low precision when it is
refined, the gradient itself stays float64), and the block-Jacobi preconditioner is the
d x d blocks ``X^T diag(h |D_j|) X`` plus the penalty's block, inverted once per step.
The Newton decrement ``-g^T p`` (twice the model's decrease) stops the round.

A block that should vanish is sent through zero by the Newton model
(``u_j^T (b_j + p_j) <= 0``): the step goes as far as its zero when that lowers F, and
the block is frozen there, left to the next pricing. The step then goes on to the next
blocks' zeros in turn while F falls (:func:`_drop_path`): on the patterns of a trained
network many blocks vanish, and one per Newton step had cost about 200 Hessian products
each (the gated program of the Alg2 benchmark row at n = 4000, d = 32: 10797
iterations, 33 s, then 6131, 22 s). Each further drop was once also required to leave
its block at a KKT point (``||g_j|| <= beta`` there); at small beta that test refused
nearly every path past its first block (319 of 332 at n = 2000), one block went per
wide step, and the solves took 2-2.4x as long (n = 400 / 1000 / 2000 / 3000 at
beta = 1e-3 of its scale: 4.8 / 22.6 / 100.2 / 138.9 s against 2.3 / 10.5 / 41.6 /
61.4 s; 1.1-1.2x at n = 4000 and 6000). A block dropped
wrongly comes back: a round that converges, or that cannot lower F any more, lets the
dropped blocks whose zero is not optimal enter again (at most ``_REENTER`` times), and
the pricing sees the rest. When the first drop does not lower F, the model is not
trusted that far: a Levenberg-Marquardt ridge (``|g| / |B|``, ten times more on each
failure, ``_DAMP_TRIES`` times) bounds the step, as it does after a step that fails its
line search. With fewer samples than free dimensions the loss Hessian is singular and
the model is unbounded along radial directions of its null space (the penalty is linear
there): undamped steps had dropped blocks of the optimum, 10 per round, and the solve
ended 1.2-2.3x above it (features at 1e-2, targets at 1e3). A damped step's decrement
does not count as convergence.
Blocks of the working set that start at zero (priced violators) first enter along their
steepest direction (:func:`_enter`); those that cannot lower the objective stay frozen.
A round that has converged lets the blocks it dropped on the way enter again where zero
is not optimal for them (``||g_j|| > beta``; at most ``_REENTER`` times): a step that
sent a block of the optimum through zero had left the round above the working set's
optimum (6.402 against 6.361 with 20 spurious blocks at 0.1, exact steps).

Small systems (``m = k d`` free dimensions, ``n m^2 + m^3 / 3 <= _DENSE_FLOPS``) are
formed and factorised instead (:func:`_dense_step`, float64 NumPy; counted as one
product). On degenerate data CG cannot reach its tolerance: 80 integer points in 3-D,
Huber, 170 live blocks of 3 (more free dimensions than samples), 250 products per step,
and the gated solve ended at max_iter at a gap of 6.1e-3; with exact steps it is
certified in 1.2 s. A round may take ``_DENSE_PER_STEP`` factorised steps per step of
its ``max_steps``: far from the optimum of such data each exact step sends one block
through zero, and rounds of 20 steps left two more sweep cases at max_iter (40 points
with constant targets, gap 0.98; 80 integer points, gap 1.2e-4); with 100 they are
certified in 0.9 and 1.0 s. A working set wider than the data (``m > n``) is solved
in sample space instead where that is cheaper (:mod:`._woodbury`, ``O(n^2 k + n^3)``
flops). CG does not converge on such sets at small beta (n = 400, d = 9, 207 blocks
live at the optimum: 5000 products a round, max_iter 1.8x above the optimum; certified
in 3.1 s). Larger ones, once a CG step ran out of products, take "wide" steps up to
``_WIDE_FLOPS``: CG preconditioned by the sample-space factorisation of an earlier
step's Hessian (:class:`_WideFactor`), rebuilt after ``_STALE`` products (n = 2000,
d = 9, 730 blocks: max_iter 71% above the optimum; certified in 134 s with a
factorisation per step, 73 s so). Working sets narrower than the data take them too
once CG failed, where a factorisation costs at most ``_WIDE_PAYS`` failed CG steps: at
n = 6000 a round of 638 blocks of 9 (5742 free dimensions) spent 51 s in 20 CG steps
that all ran out of products, and did not converge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device
from scipy.linalg import cho_factor, cho_solve

from .._threads import one_blas_thread
from ._damping import Damping
from ._fista import SubProblem
from ._kernels import Backend, adjoint, column_norms, forward, take_columns, to_numpy
from ._woodbury import SampleSpaceFactor, sample_space_flops

_CG_MAX = 250  # CG iterations per Newton step
_CG_MIN = 10  # ... and at least these (a stiff direction can dominate the first residual)
_PRECONDITION_MAX = 2e7  # K d^2 entries of the block preconditioner; identity above
_PRECONDITION_FLOPS = 2e9  # ... or K d^3 flops to invert its blocks at each step
_CHUNK_ENTRIES = 4e6  # rows x d^2 outer products per GEMM when summing the blocks
_ARMIJO = 1e-4
_ROUNDING = 1e-12  # a Newton decrement this small relative to F is converged
_DROP_AT = 1.0  # a block whose radius this fraction of the step zeroes is dropped
# A Newton system of at most this many free dimensions (and flops, n m^2 + m^3 / 3) is
# formed and factorised (_dense_step) instead of solved by CG (see the module docstring).
_DENSE_DIM = 1200
_DENSE_FLOPS = 3e8
# Factorised steps a round may take per step of max_steps (they cost about one product
# each). On degenerate data each exact step of a round far from the optimum sends one
# block through zero, and 20 steps a round left the solve at max_iter (gated sweep cases
# 39 of seed 3, 74 of seed 2); with 100 they are certified (see the module docstring).
_DENSE_PER_STEP = 5
# A working set takes "wide" steps up to this many flops a factorisation once CG failed
# there (_exact_step_kind). At 1.5e10, n = 3000 (d = 9, about 900 blocks, small beta)
# still ended at max_iter, 26% above the optimum, in 76 s: certified in 76 s at 6e10;
# the gated Alg2 program at n = 4000, d = 33 went from 21.4 s to 15.7 s (8059 -> 2676
# iterations). At 6e10 (bench_small_beta, one thread), n = 4000 (973 blocks, 7e10 flops
# a factorisation, 2.7 s) ended at max_iter at a gap of 4.7e-2 after 207 s, n = 6000
# (999 blocks, 2.1e11, 6.9 s) at 1.3e-3 after 288 s: certified in 74-97 s and 154-178 s
# at 3e11 (with the m <= n rule and _STALE below; n = 10,000 needs 3.3e11 for the
# factorisation alone, and 2.4 GB).
_WIDE_FLOPS = 3e11
# CG products after which a wide step's preconditioner is rebuilt (_WideFactor). At
# n = 6000 a factorisation costs about 90 products: with 5, 24 factorisations in one
# round (233 s in all), with 15, 7 (154 s); n = 2000 within the noise (82 / 85 s). With
# the old m > n rule and 5, n = 4000 took 94-98 s (now 74-88 s) and the gated Alg2
# program at n = 4000, d = 33 23.2-24.3 s (now 15.4-17.1 s).
_STALE = 15
# A working set narrower than the data (m <= n) takes wide steps only where a
# factorisation costs at most this many failed CG steps (_CG_MAX products each). At
# n = 6000 that takes the round of 638 blocks (see the module docstring), not those of
# 160 and 320 blocks (3.7-4.4 s a factorisation, against 0.6-1.3 s a failed CG step;
# those rounds converged with CG: 2.2 and 10.5 s, against 5.8 and 13.5 s wide).
_WIDE_PAYS = 5
_REENTER = 3  # times a converged round lets dropped blocks enter again (_enter)
_DAMP_TRIES = 4  # ridge increases (x10 each) before a block is dropped or the round ends


@dataclass
class NewtonResult:
    B: Any  # (d, K) float64
    c: float
    n_hvp: int  # products with H (one forward and one adjoint each)
    n_steps: int
    n_dropped: int  # blocks sent through zero and frozen there
    objective: float
    converged: bool  # the Newton decrement reached dec_tol
    wide: bool = False  # a CG step ran out of products: "wide" steps (_exact_step_kind)

    def summary(self) -> str:
        return (
            f"{self.n_steps} steps, {self.n_hvp} Hessian products, {self.n_dropped} "
            f"blocks dropped, objective {self.objective:.10g}, converged {self.converged}"
        )


def newton_round(
    sub: SubProblem,
    B: Any,
    c: float,
    *,
    dec_tol: float,
    max_steps: int,
    max_hvp: int,
    gram_cache: dict[int, Any] | None = None,
    keys: Any = None,
    wide: bool = False,
) -> NewtonResult:
    """Damped Newton-CG on ``sub``'s working set from (B, c); see the module docstring.

    Parameters
    ----------
    sub : SubProblem
        The working set (float64 operators, optionally refined in low precision).
    B : array (d, K), float64
        Start; zero columns enter along their steepest direction or stay frozen.
    dec_tol : float
        Stop once the Newton decrement ``-g^T p`` is at most this (absolute).
    max_steps, max_hvp : int
        Caps on Newton steps (a factorised step counts ``1 / _DENSE_PER_STEP``) and on
        products with the Hessian.
    gram_cache, keys : dict and (K,) ints, optional
        For the squared loss (constant curvature), the preconditioner's d x d block of
        each column is kept in ``gram_cache`` under its key (the pattern index), so a
        later round computes only its new columns' blocks.
    wide : bool
        Whether an earlier round's CG step ran out of products: working sets then take
        "wide" steps where :func:`_exact_step_kind` says they pay.
    """
    xp = sub.backend.xp
    B = _enter(sub, B, c)
    f, z = _value(sub, B, c)
    n_hvp = n_steps = n_dropped = n_entered = 0
    converged = False
    g_first = None
    blocks = None  # the X^T diag(h |D_j|) X blocks, kept while h is constant
    # Levenberg-Marquardt ridge. Where the loss Hessian is rank-deficient (fewer samples
    # than free dimensions: n = 40, 18 blocks of 4) the model is unbounded along radial
    # directions of its null space (the penalty is linear there): undamped steps sent
    # blocks of the optimum through zero (10 dropped per round, the solve ended at a
    # gap of 0.999, 2.3x above the optimum). A block is dropped where it stands, or the
    # round ends, only once _DAMP_TRIES ridges failed too.
    damping = Damping(_DAMP_TRIES)
    cg_failed = wide  # a CG step ran out of _CG_MAX products (see _exact_step_kind)
    factor: _WideFactor | None = None  # the preconditioner of "wide" steps
    used = 0.0  # of max_steps: one per CG step, 1 / _DENSE_PER_STEP per factorised one
    while used < max_steps and n_hvp < max_hvp:
        n_steps += 1
        nt = column_norms(B)
        live = nt > 0
        if not bool(xp.any(live)):
            break
        safe = xp.where(live, nt, 1.0)
        u = B / safe[None, :]
        zc = z + c if sub.output_bias else z
        r = sub.ops.gradient(zc)
        h = sub.ops.curvature(zc)
        G = (sub.adjoint(r) + sub.beta * u) * live[None, :]
        gc = float(xp.sum(r)) if sub.output_bias else 0.0
        g_norm = float(xp.sqrt(xp.sum(G * G) + gc * gc))
        g_first = g_norm if g_first is None else g_first
        exact = _exact_step_kind(sub, int(xp.sum(live)), wide=cg_failed)
        used += 1.0 / _DENSE_PER_STEP if exact else 1.0
        if exact == "dense":
            P, pc, k = _dense_step(sub, h, u, safe, live, damping.value, G, gc)
        elif exact == "sample":
            P, pc, k = _sample_space_step(sub, h, u, safe, live, damping.value, G, gc)
        elif exact == "wide":
            eta = 0.1 if n_steps == 1 else max(min(0.1, g_norm / g_first), 1e-6)
            now = _WideFactor.current(factor, sub, h, u, safe, live, damping.value)
            hvp = _hessian_product(sub, h, u, safe, live, damping.value)
            budget = min(_CG_MAX, max_hvp - n_hvp)
            P, pc, k = _cg(hvp, now.preconditioner(live), -G, -gc, eta, budget, xp, 1)
            k += now is not factor  # a factorisation counts as one product, like _dense_step
            factor, now.stale = now, k > _STALE
        else:
            if blocks is None or sub.ops.loss.name != "squared":
                blocks = _cached_block_grams(sub, h, gram_cache, keys)
            pre = _preconditioner(
                blocks, u, safe, live, sub.beta, float(xp.sum(h)), xp, damping.value
            )
            hvp = _hessian_product(sub, h, u, safe, live, damping.value)
            eta = 0.1 if n_steps == 1 else max(min(0.1, g_norm / g_first), 1e-6)
            P, pc, k = _cg(hvp, pre, -G, -gc, eta, min(_CG_MAX, max_hvp - n_hvp), xp)
            cg_failed = cg_failed or k >= _CG_MAX
        n_hvp += k
        if P is None:  # no curvature along the gradient (a flat loss piece): not Newton's
            break
        radial = xp.sum(u * P, axis=0)  # the step's radial part of each block
        # the step at which each shrinking block would reach zero (2: none in reach)
        cross = xp.where(live & (radial < 0), nt / xp.where(radial < 0, -radial, 1.0), 2.0)
        first = int(xp.argmin(cross))
        ridge = g_norm / max(float(xp.sqrt(xp.sum(B * B))), 1e-300)  # a step about |B|
        dec = -float(xp.sum(G * P)) - gc * pc
        if float(cross[first]) <= _DROP_AT:  # the model sends a block through zero
            keep = (xp.arange(B.shape[1], device=device(B)) != first)[None, :]
            a = float(cross[first])
            B_a, c_a = (B + a * P) * keep, c + a * pc  # the step to where it vanishes
            f_a, z_a = _value(sub, B_a, c_a)
            if f_a < f - _ARMIJO * a * max(dec, 0.0):  # and the next ones, while they pay
                B, c, f, z, more = _drop_path(sub, B, c, P, pc, cross, keep, (B_a, c_a, f_a, z_a))
                n_dropped += more
            elif damping.fail(ridge):  # the model is not to be trusted that far
                continue
            else:  # drop it where it is
                B = B * keep
                f, z = _value(sub, B, c)
            damping.reset()
            n_dropped += 1
            continue
        if not dec > 0:
            break
        # the other blocks stop short of zero: the step is cut before the first crossing
        a = min(1.0, 0.9 * float(cross[first]))
        while True:
            f_new, z_new = _value(sub, B + a * P, c + a * pc)
            if f_new <= f - _ARMIJO * a * dec or a < 1e-10:
                break
            a *= 0.5
        # a damped step's decrement understates Newton's: not a test of convergence
        done = damping.value == 0.0 and dec <= max(dec_tol, _ROUNDING * abs(f))
        decreased = f_new < f
        if not decreased and not done and damping.fail(ridge):
            continue
        if decreased:
            damping.succeed(ridge)
            B, c, f, z = B + a * P, c + a * pc, f_new, z_new
        if done or not decreased:  # no decrease left but rounding's, or stuck (the
            # ridge exhausted): blocks dropped on the way whose zero is not optimal here
            # enter again, or the round ends (converged only if done).
            B_in = _enter(sub, B, c) if n_entered < _REENTER else B
            if B_in is B:
                converged = done
                break
            B, n_entered = B_in, n_entered + 1
            f, z = _value(sub, B, c)
            damping.reset()  # a no-op when done: no ridge then
    return NewtonResult(B, c, n_hvp, n_steps, n_dropped, f, converged, cg_failed)


def _drop_path(
    sub: SubProblem,
    B: Any,
    c: float,
    P: Any,
    pc: float,
    cross: Any,
    keep: Any,
    first: tuple[Any, float, float, Any],
) -> tuple[Any, float, float, Any, int]:
    """Past the first block's zero, along the same step: the next blocks dropped in turn.

    ``B(t) = (B + t P)`` with each block zeroed from its crossing ``cross[j]`` on (the
    first, out of ``keep``, already is: ``first`` is ``(B, c, F, predictions)`` there).
    The next block in crossing order (up to ``t = _DROP_AT``) is dropped while F keeps
    falling: one forward per drop, instead of a Newton step (about 200 Hessian products
    on Alg2 patterns at n = 4000, where one block went per step). Returns
    ``(B, c, f, z, number of further drops)``.
    """
    xp = sub.backend.xp
    order = np.argsort(to_numpy(cross))
    out = first
    ids = xp.arange(B.shape[1], device=device(B))
    more = 0
    for j in order[1:]:
        t = float(cross[int(j)])
        if t > _DROP_AT:
            break
        keep_t = keep & (ids != int(j))[None, :]
        B_t, c_t = (B + t * P) * keep_t, c + t * pc
        f_t, z_t = _value(sub, B_t, c_t)
        if not f_t < out[2]:
            break
        keep, out, more = keep_t, (B_t, c_t, f_t, z_t), more + 1
    return (*out, more)


def _value(sub: SubProblem, B: Any, c: float) -> tuple[float, Any]:
    """Objective F(B, c) and the predictions ``A_s(B)`` (without the bias)."""
    z = sub.forward(B)
    zc = z + c if sub.output_bias else z
    return sub.ops.value(zc) + sub.beta * float(sub.backend.xp.sum(column_norms(B))), z


def _low_operators(sub: SubProblem) -> tuple[Any, Any, Any]:
    """X, Ms and the backend of the Hessian products (the low-precision copies if any)."""
    if sub.low is not None:
        return sub.low.X, sub.low.Ms, sub.low.low
    return sub.X, sub.Ms, sub.backend


def _hessian_product(sub: SubProblem, h: Any, u: Any, nt: Any, live: Any, damp: float = 0.0) -> Any:
    """``(P, pc) -> (H P, (H p)_c)``: one forward and one adjoint per product (``H`` with
    ``damp`` added to its diagonal)."""
    X, Ms, low = _low_operators(sub)
    f64 = sub.backend
    xp = f64.xp
    mask = live[None, :]

    def apply(P: Any, pc: float) -> tuple[Any, float]:
        Ap = f64.asarray(forward(X, Ms, low.asarray(P)), f64.f64)
        w = h * (Ap + pc) if sub.output_bias else h * Ap
        HP = f64.asarray(adjoint(X, Ms, low.asarray(w)), f64.f64)
        HP = HP + sub.beta * (P - u * xp.sum(u * P, axis=0)[None, :]) / nt[None, :]
        HP = HP + damp * P if damp else HP
        hc = float(xp.sum(w)) + damp * pc if sub.output_bias else 0.0
        return HP * mask, hc

    return apply


def _cached_block_grams(sub: SubProblem, h: Any, cache: dict[int, Any] | None, keys: Any) -> Any:
    """:func:`_block_grams`, through ``cache`` for the squared loss (see newton_round)."""
    X, Ms, low = _low_operators(sub)
    K, d = Ms.shape[1], X.shape[1]
    if K * d * d > _PRECONDITION_MAX or K * d**3 > _PRECONDITION_FLOPS:
        return None
    if cache is None or keys is None or sub.ops.loss.name != "squared":
        return _block_grams(X, Ms, low, h, sub.backend)
    keys = [int(k) for k in keys]
    todo = [j for j, key in enumerate(keys) if key not in cache]
    if todo:
        new = _block_grams(X, take_columns(Ms, np.asarray(todo)), low, h, sub.backend)
        for j, block in zip(todo, new, strict=True):
            cache[keys[j]] = block
    return sub.backend.xp.stack([cache[key] for key in keys])


def _block_grams(X: Any, Ms: Any, low: Backend, h: Any, f64: Backend) -> Any:
    """``(K, d, d)`` blocks ``X^T diag(h |D_j|) X`` (float64) of the columns of Ms."""
    n, d = X.shape
    K = Ms.shape[1]
    xp = low.xp
    hl = low.asarray(h)
    C = None
    rows = max(1, int(_CHUNK_ENTRIES // (d * d)))
    for s in range(0, n, rows):
        Xr = X[s : s + rows]
        outer = xp.reshape(Xr[:, :, None] * Xr[:, None, :], (Xr.shape[0], d * d))
        part = (xp.abs(Ms[s : s + rows]) * hl[s : s + rows, None]).T @ outer
        C = part if C is None else C + part
    return f64.asarray(xp.reshape(C, (K, d, d)), f64.f64)


def block_grams_reference(X: np.ndarray, Ms: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Slow, obvious :func:`_block_grams`: one ``X^T diag(h |m_j|) X`` per column."""
    return np.stack([X.T @ ((h * np.abs(Ms[:, j]))[:, None] * X) for j in range(Ms.shape[1])])


def _eye_like(d: int, a: Any) -> Any:
    """The (d, d) identity with the dtype and on the device of array ``a``.

    Through ``array_api_compat``'s namespace: NumPy's own ``eye`` takes no ``device``
    before NumPy 2.0 (``eye() got an unexpected keyword argument 'device'``).
    """
    return array_namespace(a).eye(d, dtype=a.dtype, device=device(a))


def _penalty_blocks(u: Any, nt: Any, beta: float) -> Any:
    """``(K, d, d)`` Hessian blocks ``beta (I - u_j u_j^T) / ||b_j||`` of the penalty
    (``u`` (d, K) the unit directions, ``nt`` (K,) the norms)."""
    eye = _eye_like(u.shape[0], u)
    uT = u.T
    return (beta / nt)[:, None, None] * (eye[None] - uT[:, :, None] * uT[:, None, :])


def _preconditioner(
    blocks: Any, u: Any, nt: Any, live: Any, beta: float, h_sum: float, xp: Any, damp: float = 0.0
) -> Any:
    """``(Q, qc) -> M^{-1} (Q, qc)``: block Jacobi (identity without the blocks), of the
    Hessian with ``damp`` on its diagonal."""
    h_sum = h_sum + damp
    if blocks is None:
        return lambda Q, qc: (Q, qc / max(h_sum, 1e-300))
    d = blocks.shape[1]
    eye = _eye_like(d, blocks)
    C = blocks + _penalty_blocks(u, nt, beta)
    diag = xp.sum(C * eye[None], axis=(1, 2)) / d
    C = C + (1e-10 * xp.where(diag > 0, diag, 1.0) + damp)[:, None, None] * eye[None]
    Cinv = xp.linalg.inv(C)
    mask = live[None, :]

    def apply(Q: Any, qc: float) -> tuple[Any, float]:
        out = xp.matmul(Cinv, Q.T[:, :, None])[:, :, 0].T
        return out * mask, qc / max(h_sum, 1e-300)

    return apply


def _exact_step_kind(sub: SubProblem, k: int, *, wide: bool = False) -> str | None:
    """How the Newton system of ``k`` live blocks is solved: ``"dense"`` (formed and
    factorised, :func:`_dense_step`; ``m = k d`` free dimensions, at most ``_DENSE_DIM``,
    ``n m^2 + m^3 / 3`` flops) or ``"sample"`` (in sample space, :func:`_sample_space_step`),
    the cheaper within ``_DENSE_FLOPS``; else None (CG). After a CG step of the round
    ran out of products (``wide``), the working set takes ``"wide"`` steps up to
    ``_WIDE_FLOPS`` a factorisation (CG preconditioned in sample space,
    :class:`_WideFactor`): CG alone does not converge there at small beta, where at
    larger beta it is the cheaper (n = 2000, d = 22, the gated benchmark row: 0.42 s
    with CG, 0.73 s with a sample-space step each). A working set narrower than the data
    (``m <= n``) only where that costs at most ``_WIDE_PAYS`` failed CG steps."""
    if k <= 0:
        return None
    n, d = sub.X.shape
    m = k * d + 1
    costs = {"sample": sample_space_flops(n, k)}
    if m <= _DENSE_DIM:
        costs["dense"] = n * m * m + m**3 / 3
    kind = min(costs, key=costs.__getitem__)
    if costs[kind] <= _DENSE_FLOPS:
        return kind
    if not (wide and costs["sample"] <= _WIDE_FLOPS):
        return None
    # narrower than the data: CG may still converge; a factorisation must cost less
    # than _WIDE_PAYS failed CG steps (4 n m flops a product)
    return "wide" if m > n or costs["sample"] <= _WIDE_PAYS * _CG_MAX * 4 * n * m else None


class _WideFactor:
    """The sample-space factorisation (:class:`._woodbury.SampleSpaceFactor`) of a
    step's Hessian on its live blocks, as the working set's arrays: the exact step of
    :func:`_sample_space_step`, and the preconditioner of the "wide" Newton steps
    (:func:`_exact_step_kind`), there built at an earlier step, on a superset of the
    live blocks. Each factorisation costs about
    ``3 n^2 k`` flops (1.2e10 at n = 2000, k = 700, d = 9: 0.3 s), and the Hessian moves
    little from one step to the next, so CG on the current step, preconditioned by it,
    needs a few products (``4 n d k`` flops each); it is rebuilt once CG needed more than
    ``_STALE``, or a block outside it is live."""

    def __init__(self, sub: SubProblem, h: Any, u: Any, nt: Any, live: Any, damp: float):
        self.idx = np.flatnonzero(to_numpy(live) > 0)
        self.factor = SampleSpaceFactor(
            to_numpy(sub.X),
            to_numpy(take_columns(sub.Ms, self.idx)),
            to_numpy(h),
            to_numpy(u)[:, self.idx],
            to_numpy(nt)[self.idx],
            sub.beta,
            damp,
            sub.output_bias,
        )
        self.backend = sub.backend
        self.stale = False  # CG needed more than _STALE products with it

    @classmethod
    def current(
        cls,
        old: _WideFactor | None,
        sub: SubProblem,
        h: Any,
        u: Any,
        nt: Any,
        live: Any,
        damp: float,
    ) -> _WideFactor:
        """``old``, or a new factorisation where it is stale or misses a live block."""
        ids = np.flatnonzero(to_numpy(live) > 0)
        if old is not None and not old.stale and bool(np.isin(ids, old.idx).all()):
            return old
        return cls(sub, h, u, nt, live, damp)

    def preconditioner(self, live: Any) -> Any:
        """``(Q, qc) -> M^{-1} (Q, qc)`` on the blocks live now (for :func:`_cg`)."""
        bk, idx = self.backend, self.idx
        mask = live[None, :]

        def apply(Q: Any, qc: float) -> tuple[Any, float]:
            P_idx, pc = self.factor.solve(to_numpy(Q)[:, idx], qc)
            P = np.zeros(Q.shape)
            P[:, idx] = P_idx
            return bk.asarray(P, bk.f64) * mask, pc

        return apply


def _sample_space_step(
    sub: SubProblem, h: Any, u: Any, nt: Any, live: Any, damp: float, G: Any, gc: float
) -> tuple[Any | None, float, int]:
    """:func:`_dense_step`'s step, solved in sample space (:mod:`._woodbury`); float64
    NumPy, counted as one product."""
    P, pc = _WideFactor(sub, h, u, nt, live, damp).preconditioner(live)(-G, -gc)
    if not (bool(sub.backend.xp.all(sub.backend.xp.isfinite(P))) and np.isfinite(pc)):
        return None, 0.0, 1
    if not float(sub.backend.xp.sum(P * P)) + pc * pc > 0:
        return None, 0.0, 1
    return P, pc, 1


def _dense_step(
    sub: SubProblem, h: Any, u: Any, nt: Any, live: Any, damp: float, G: Any, gc: float
) -> tuple[Any | None, float, int]:
    """The exact Newton step ``-H^{-1} (G, gc)`` of a small system, in float64 NumPy.

    ``H = A^T diag(h) A`` (``A`` (n, m): the live blocks' columns ``m_j x^T``, and the
    output bias' column of ones) plus the penalty's blocks ``beta (I - u u^T) / ||b||``
    and ``damp``; Cholesky, or least squares where it is singular (no curvature along
    some direction). Returns ``(P, pc, 1)`` like :func:`_cg` (one product counted),
    ``(None, 0, 1)`` when no finite step comes out.
    """
    idx = np.flatnonzero(to_numpy(live) > 0)
    X, Ms = to_numpy(sub.X), to_numpy(take_columns(sub.Ms, idx))
    hn, un, ntn = to_numpy(h), to_numpy(u)[:, idx], to_numpy(nt)[idx]
    n, d = X.shape
    k = idx.size
    A = (Ms[:, :, None] * X[:, None, :]).reshape(n, k * d)
    if sub.output_bias:
        A = np.hstack([A, np.ones((n, 1))])
    H = A.T @ (hn[:, None] * A)
    pen = _penalty_blocks(un, ntn, sub.beta)
    rows = (np.arange(k) * d)[:, None, None] + np.arange(d)[None, :, None]
    H[rows, rows.transpose(0, 2, 1)] += pen
    H[np.diag_indices_from(H)] += 1e-12 * max(float(np.diag(H).max()), 1e-300) + damp
    rhs = -to_numpy(G)[:, idx].T.ravel()
    if sub.output_bias:
        rhs = np.append(rhs, -gc)
    try:
        with one_blas_thread():  # threaded, small systems cost more (:mod:`convexnn._threads`)
            x = cho_solve(cho_factor(H), rhs)
    except np.linalg.LinAlgError:
        x = np.linalg.lstsq(H, rhs, rcond=1e-12)[0]
    if not np.isfinite(x).all() or not (x @ x) > 0:
        return None, 0.0, 1
    P = np.zeros(G.shape)
    P[:, idx] = x[: k * d].reshape(k, d).T
    pc = float(x[-1]) if sub.output_bias else 0.0
    return sub.backend.asarray(P, sub.backend.f64), pc, 1


def _cg(
    hvp: Any,
    pre: Any,
    rhs: Any,
    rhs_c: float,
    eta: float,
    max_iter: int,
    xp: Any,
    min_iter: int = _CG_MIN,
) -> tuple[Any | None, float, int]:
    """Preconditioned CG on ``H x = rhs`` until ``||res||_{M^-1} <= eta ||rhs||_{M^-1}``.

    The preconditioned norm weighs each block by its own curvature, and CG takes at
    least ``min_iter`` products (``_CG_MIN`` but for an exact preconditioner): one stiff
    direction (the blocks' shared predictions, or a block just entered with its huge
    ``beta / ||b||`` term) can dominate the first residual, and CG then stopped after
    one product with a step that moved nothing else, which made a Newton round look
    converged (a Huber case: 50 such rounds).

    Returns ``(x, x_c, products)``, or ``(None, 0, products)`` when no step was made
    (``H`` flat along the first direction, or ``max_iter = 0``).
    """
    x, xc = xp.zeros_like(rhs), 0.0
    res, res_c = rhs, rhs_c
    zq, zc = pre(res, res_c)
    p, pc = zq, zc
    rz = float(xp.sum(res * zq)) + res_c * zc
    target = eta * eta * rz
    k = 0
    while k < max_iter:
        k += 1
        Hp, Hc = hvp(p, pc)
        curv = float(xp.sum(p * Hp)) + pc * Hc
        if not curv > 0:
            break
        a = rz / curv
        x, xc = x + a * p, xc + a * pc
        res, res_c = res - a * Hp, res_c - a * Hc
        zq, zc = pre(res, res_c)
        rz_new = float(xp.sum(res * zq)) + res_c * zc
        if rz_new <= target and k >= min_iter:
            break
        p, pc = zq + (rz_new / rz) * p, zc + (rz_new / rz) * pc
        rz = rz_new
    if not float(xp.sum(x * x)) + xc * xc > 0:
        return None, 0.0, k  # no step: no curvature along the first direction, or no budget
    return x, xc, k


def _enter(sub: SubProblem, B: Any, c: float) -> Any:
    """Zero columns of B enter along their steepest direction when that lowers F.

    At ``b_j = 0`` the slope of F along a unit ``v`` is ``beta - g_j^T v`` with
    ``g_j = -(A_s^T grad L)_j``: steepest at ``v = g_j / ||g_j||`` when ``||g_j|| > beta``.
    Each block takes the minimiser of its own quadratic model; all are halved together
    until F falls (at most 30 times).
    """
    xp = sub.backend.xp
    zero = column_norms(B) == 0
    if not bool(xp.any(zero)):
        return B
    f, z = _value(sub, B, c)
    zc = z + c if sub.output_bias else z
    g = -sub.adjoint(sub.ops.gradient(zc)) * zero[None, :]
    gn = column_norms(g)
    grow = zero & (gn > sub.beta)
    if not bool(xp.any(grow)):
        return B
    v = g / xp.where(grow, gn, 1.0)[None, :] * grow[None, :]
    h = sub.ops.curvature(zc)
    Av = sub.Ms * (sub.X @ v)  # (n, K): each block's own predictions along v
    curv = xp.sum(h[:, None] * Av * Av, axis=0)
    step = xp.where(grow, (gn - sub.beta) / xp.where(curv > 0, curv, 1.0), 0.0)
    dB = v * step[None, :]
    for _ in range(30):
        if _value(sub, B + dB, c)[0] < f:
            return B + dB
        dB = 0.5 * dB
    return B
