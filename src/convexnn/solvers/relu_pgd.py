"""ReLU formulation (eq. 8): working-set proximal gradient with an exact cone prox.

Solves

    min_{V, W, c}  L(sum_i D_i X (v_i - w_i) + c 1, y) + beta * sum_i (||v_i|| + ||w_i||)
    s.t.           v_i, w_i in K_i = {u : (2 D_i - I) X u >= 0}.

Each (pattern, sign) pair is one block ``b`` with signed mask column ``+-D_i``. For a
closed convex cone K, ``prox_{t ||.|| + I_K}(z) = (1 - t / ||P_K z||)_+ P_K z``, so
FISTA with restart (``_fista.fista``) runs unchanged with the cone projection as its
``project`` step. ``P_K(z) = z + A^T mu`` with ``A = (2 D_i - I) X`` and
``mu = argmin_{mu >= 0} ||z + A^T mu||`` (Moreau: ``-A^T mu`` is the projection on the
polar cone), solved by the batched Lawson-Hanson method of :mod:`convexnn.duality`,
warm started from the previous active constraints of each block. Every iterate is
feasible up to the NNLS accuracy (about 1e-12 relative).

Outer loop (float64): predictions, dual candidate ``lam0``, the gated norms
``||X^T D_i lam0||`` for all P (one GEMM; they bound the cone dual norms from above),
exact cone dual norms only for patterns whose gated norm can matter, certified lower
bound with ``s_max`` = the largest of these bounds, stop when the relative gap
``<= tol``; otherwise the working set = non-zero blocks plus the most violated pairs.
Warm start: the gated solution (``group_lasso.solve_gated``, to a gap of
``_GATED_TOL``, given a twentieth of max_iter), each block split as ``v = P_K(u)``,
``w = P_K(-u)``. On the patterns of a trained network (Alg2) the gated program is ill
conditioned and its share runs out before ``_GATED_TOL``; a tenth of max_iter (2000
iterations) had cost the Alg2 solves at n = 4000, d = 32 / n = 2000 / n = 1e4 17.5,
6.0 and 25.9 s against 12.4, 5.0 and 23.5 s with a twentieth, to the same optima. On
the sampled benchmark problems the gated start ends before either share. A given ``warm_start``
replaces it, unless its support is too wide for one Newton system (``_too_wide``: a
trained network's, hundreds of neurons strictly inside their cones). Polishing such a
start chunk by chunk (``_polish_wide``) cost more than the whole solve from the gated
start: the Alg2 solve at n = 1e4 (one Adam run's 434 neurons, P = 2434) took 62.3 s
from the network (46.9 s of it in 1125 chunked Newton steps, to an objective 22% above
the optimum) and 23.9 s from the gated start, to the same optimum. (The gated solve
warm-started from the network was itself slower: 11.5 s against 7.3 s.)

Newton polish (``_polish``), before each FISTA round. When beta is small FISTA converges
slowly (the loss Hessian has rank n << 2 P d), and the certificate needs the primal far
more accurately than the objective does: the gap scales like the dual infeasibility
``s_max / beta - 1`` of the residual, of the order of the square root of the primal
error (a point 1.6e-4 above the optimum certified a gap of only 1.7e-2). With the support
and the active cone constraints of the current point fixed, the problem is smooth, and
damped Newton steps (an active-set method: a blocking constraint joins, with a bent
search along the new faces; a negative multiplier leaves) reach the restricted optimum
to rounding. A round takes ``_NEWTON_ITER`` steps, or more while its last steps still
lower the objective by a share of the round's decrease (``_PRODUCTIVE``): at small beta
a round's decrease is spread over 50-150 steps, and rounds cut short took 98 rounds
instead of 22 (n = 150, d = 4, P = 200, beta = 1e-3: 12 s to 2.3 s; at beta = 1e-4,
523 rounds and 109 s to 29 rounds and 5.4 s). The result is kept when its objective is
lower. New blocks then enter
without FISTA (``_add_blocks``): each violating (pattern, sign) pair found by the pricing
starts along its steepest feasible direction ``P_K(+-X^T D_i lam0)``, and the next polish
optimises them with the rest; a FISTA round of ``_ROUND_ITER`` iterations runs only when
that step fails to lower the objective, when a full polish round hardly lowered it
(a network's warm start with many blocks that should vanish: FISTA's prox zeroes them),
or when fewer than ``_ADD_FRACTION`` of the support would enter.
On the
small-beta reproducer (n=200, d=11, P=100, beta=1e-2) the solve went from 20000
iterations ending at a gap of 1.7e-2 (32 s) to a gap of 2e-12 in about 3 s. Skipped
(FISTA alone, as before) for multi-output losses and when a Newton system would cost
more than ``_POLISH_FLOPS`` flops (``n R^2``, R the free dimensions of the support) or
its (n, R) matrix more than ``_POLISH_BYTES``. A Newton step at n = 4000, R = 1000 takes
a fraction of a second; FISTA alone needed 20000 iterations (130 s) there and stopped
at a gap of 3e-5, the polish reaches 1e-6 in 15 s (the Alg2 warm start of
``benchmarks/bench_solvers.py``, n=4000, d=8).

Wide supports (``_polish_wide``). A network's warm start (SGD's or Adam's, the paper's
Alg2) puts hundreds of blocks inside their cones with no active constraint: at n = 1e4,
434 blocks of 42 free dimensions, against a cap of about 1000 for one Newton system.
Such a start is now replaced by the gated one (above); a support that grows too wide
during the solve is polished chunk by chunk, the blocks ranked by their KKT residual and
the others fixed (block-coordinate Newton); FISTA's exact cone steps had cost 1-4 s per
iteration there, and that Alg2 solve went from over 600 s to about 100 s. A block whose
basis shrinks (a constraint joins) keeps its Gram entries through ``T = N_old^T N_new``
(``_Gram``), without a pass over the n rows (an Alg2 solve at n = 4000, d = 32: 42 s to
25 s).

Pricing cost: exact cone norms are Lawson-Hanson NNLS solves. Far from the optimum the
pricing stops once it knows enough violators (``_certify(n_new=)``), and a pair whose
NNLS bound ``||g + A^T mu||`` (any ``mu >= 0``) already falls below the threshold that
matters stops there (:func:`cone_norm_bounds`). The NNLS steps a window of up to 256
columns at once, refilled as columns finish (``_NNLSState.run``), so that a few slow
columns do not cost a batch of nearly empty steps. The certificate streams every pair
it prices, both signs and all patterns, through one such window by decreasing bound
(:func:`._cone_stream.stream_cone_norms`; chunks of 256 patterns, one sign at a time,
had left 740-2470 mostly near-empty rankings per early certificate at n = 1e4, now
150-450). With the support priced first, a
cold certificate at the n = 1e4 optimum of the benchmark went from 18.8 s to 12.9 s, and
to 9.0 s with the passive rows cached per slot and the violations ranked in float32
(checked in float64: ``_NNLSState.most_violated``). The support pairs are priced from their
own faces: at a point the polish left stationary, the projection of ``+-g_i`` lies on
the face of ``b_j``, so one least-squares solve and one optimality test settle it
(``_ConeNormCache.support_norms``); a cold Lawson-Hanson start needed about d exchange
steps per pair, 2-4 s per certificate for the ~200 support blocks at n = 1e4. With this
(and new blocks projected from the pricing's active sets), that solve went from 134 s
to 67 s. The polish's blocking ratios run in
a (block, row) layout with a scalar shift along the bent search; with these, the n = 1e4
relu solve of the benchmark went from 176 s to 130 s (one thread, stand-alone).
Each certificate starts from the last one's bounds plus the drift of G
(:meth:`_ConeNormCache.carried_bounds`); the polish carries its predictions along the
steps, updates null bases by Householder reflections and takes its KKT multipliers in
one batched solve; with these the n = 1e4 solve went from 58 s to 44 s. The NNLS inner
loop (least squares and step-backs on each passive set) and each block's first blocking
row are compiled (:mod:`convexnn._jit`, numba; NumPy references without it): 54 s to
44 s (stand-alone, one thread, on a slower machine than the figures above).
The last certificate is handed to ``solve`` (``info["dual_norm_bound"]``), which then
need not recompute the cone norms.
With the Gram matrix of the polish updated per changed block (``_Gram``), the
n=4000, d=8, P=1000 problem of the benchmark went from 18.7 s to 5.0 s (one thread).

Robustness (this solver is solve's relu default for smooth losses): a rank-deficient X
(collinear columns, few distinct rows) is solved in its row space (:func:`row_space`);
a Newton system without curvature (a flat loss) takes a ridge step; blocks that hold
rounding only leave the support, and are zeroed in the output (:func:`_drop_negligible`).
In the polish that includes a block whose predictions are surely below rounding
(:func:`_negligible`): Newton steps had shrunk one to 2e-25 on the Alg2 program at
n = 400, where its penalty Hessian froze it and the polish cycled on releasing and
re-joining one of its constraints; the solve stopped "stalled" at a gap of 1.2e-5 after
4.9 s, and is now certified after 1.5 s.
Badly scaled data (features at 1e-2, targets at 1e3, Huber): each polish puts its blocks
exactly on their faces (the Newton model sees ``theta = N^T b`` only, and blocks off
their faces by the active-set tolerance kept the support's cone norms 1e-5 off beta);
a Newton step that raises the objective (no curvature: a 1e14 step) is retried on a
growing ridge (Levenberg-Marquardt); the face's multipliers are tested once Newton's
decrement reaches its rounding floor. Six such problems (n = 80) went from 4-38 s,
stuck at gaps near 1e-5 or at max_iter with a gap of 1.0, to certified (1e-8..1e-10) in
1.3-1.8 s. A certificate that stops improving for ``_STALL_ROUNDS`` rounds ends the
solve with status ``"stalled"`` and a warning stating the gap.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .. import _jit
from ..duality import _cheap_bounds, _NNLSState, _padded_gram
from ..exceptions import ConvergenceWarning
from ..problem import ConvexReLUProblem
from ._cone_stream import project_one, stream_cone_norms
from ._damping import Damping
from ._fista import SubProblem, fista
from ._kernels import (
    LossOps,
    adjoint,
    best_bias,
    dual_candidate,
    dual_lower_bound,
    forward,
    gap_scale,
    loss_curvature,
    make_backend,
)
from .base import SolverResult
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
# The gated warm start's tolerance: the relu rounds (Newton polish) take it from there.
# At n = 1e4, d = 41, P = 2000 the gated loop reaches 1.9e-4 one Newton round early:
# 1e-3 instead of 1e-4 saved those rounds (631 -> 560 iterations, about 1.5 s of 41 s);
# the same iterations on the other benchmark problems; 3e-2 no better within the noise.
_GATED_TOL = 1e-3
_GATED_SHARE = 0.05  # of max_iter, for the gated warm start
_ROUND_ITER = 10  # FISTA iterations between two Newton polishes
_STALL = 1e-6  # relative decrease below which a full polish round counts as stalled
# The certificate has stopped improving (a floating-point floor) when, over this many
# outer rounds, the best gap did not halve and the objective fell by at most _FLOOR
# (relative). A safeguard: before the polish's fixes for badly scaled data (blocks put on
# their faces, the decrement's rounding floor, the ridge) a Huber problem with features at
# 1e-5 of the hidden bias's column ran 20000 iterations (26 s) at gaps of 2e-6..1e-4, its
# objective fixed after 17 rounds; the rule alone stopped it after 1.8 s with a warning.
_STALL_ROUNDS = 20
_FLOOR = 1e-11


def project_cones(
    X: np.ndarray, S: np.ndarray, Z: np.ndarray, active: list[np.ndarray] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Euclidean projection of each column of Z on its cone ``{u : S_k * (X u) >= 0}``.

    Parameters
    ----------
    X : array (n, d)
    S : array (K, n) of +-1
        Cone signs of column k.
    Z : array (d, K)
    active : list of K index arrays, optional
        Constraints active at a previous projection (warm start of Lawson-Hanson).

    Returns
    -------
    P : array (d, K)
        ``P_k = z_k + sum_j mu_kj s_kj x_j``, ``mu_k >= 0`` solving the dual NNLS.
    active : list of K index arrays
        The constraints with ``mu_kj > 0``, for the next call.
    """
    out, new_active, _ = _lawson_hanson(X, S, Z, active)
    return out, new_active


def cone_norm_bounds(
    X: np.ndarray,
    S: np.ndarray,
    Z: np.ndarray,
    active: list[np.ndarray] | None,
    stop_below: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``||P_K z_k||`` of each column, or an upper bound ``<= stop_below[k]``.

    Lawson-Hanson keeps ``mu >= 0``, and for every ``mu >= 0``,
    ``||P_K z|| = min_{mu >= 0} ||z + A^T mu|| <= ||z + A^T mu||``: a column stops as
    soon as that bound falls to its threshold (the certificate only needs to know that
    the norm is below it), which saves most steps on the many columns far inside.

    Returns ``(values (K,), exact (K,) bool, active)``.
    """
    out, new_active, exact = _lawson_hanson(X, S, Z, active, stop_below)
    return np.linalg.norm(out, axis=0), exact, new_active


def _lawson_hanson(
    X: np.ndarray,
    S: np.ndarray,
    Z: np.ndarray,
    active: list[np.ndarray] | None,
    stop_below: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """:func:`project_cones`; with ``stop_below``, see :func:`cone_norm_bounds`.

    Also returns which columns are exact projections (the others: ``z + A^T mu`` for a
    feasible ``mu``, whose norm is at most their threshold).
    """
    K = Z.shape[1]
    out = Z.copy()
    exact = np.ones(K, dtype=bool)
    new_active: list[np.ndarray] = [np.zeros(0, dtype=np.intp)] * K
    XZ = X @ Z
    scale = np.abs(XZ).max(axis=0) + 1e-300
    inside = np.all(S.T * XZ >= -1e-14 * scale, axis=0)
    todo = np.flatnonzero(~inside)
    if todo.size == 0:
        return out, new_active, exact
    st = _NNLSState(X, S[todo], np.ascontiguousarray(Z[:, todo].T))
    if active is not None:
        for b, k in enumerate(todo):
            st.warm_start(b, active[k][: X.shape[1]])
        st.restore_feasibility(np.flatnonzero(st.running))
        st.running[:] = st.g.any(axis=1)
        st.solved[:] = ~st.running
        if stop_below is not None:  # the warm active set alone often bounds it enough
            exact[todo[st.stop_bounded(stop_below[todo])]] = False
    bounded = st.run(None if stop_below is None else stop_below[todo])
    exact[todo[bounded]] = False
    mu = np.maximum(st.mu, 0.0) * st.valid
    proj = st.passive_point(np.arange(todo.size), mu)
    for b, k in enumerate(todo):
        if st.solved[b]:
            out[:, k] = proj[b]
            new_active[k] = st.idx[b][st.valid[b] & (mu[b] > 0)]
        else:
            out[:, k], new_active[k] = project_one(X, S[k], Z[:, k])
            exact[k] = True
    return out, new_active, exact


class ConeSubProblem(SubProblem):
    """Working-set subproblem whose ``project`` is the cone projection (NumPy float64).

    ``fista`` then takes exact prox steps ``group_prox(P_K(.))``, and ``subproblem_gap``
    uses ``||P_K(X^T D lam)||``, the cone dual norms, in its certificate.
    """

    S: Any = None  # (K, n) cone signs of the working-set blocks
    _active: list[np.ndarray] | None = None

    def project(self, B: Any) -> Any:
        P, self._active = project_cones(self.X, self.S, B, self._active)
        return P


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
    S = _cone_signs(D, nz)  # (k, n)
    SXU = S * (X @ U[:, nz]).T
    plus = np.sum(np.minimum(SXU, 0.0) ** 2, axis=1) <= np.sum(np.maximum(SXU, 0.0) ** 2, axis=1)
    v, w = nz[plus], nz[~plus]
    if v.size:
        V[:, v] = project_cones(X, S[plus], U[:, v])[0]
    if w.size:
        W[:, w] = project_cones(X, S[~plus], -U[:, w])[0]
    return V, W


@dataclass
class _Check:
    primal: float
    rel_gap: float
    cone: np.ndarray  # (P, 2) upper bounds on the cone dual norms, exact where priced
    priced: np.ndarray  # (P, 2) bool: exact entries
    c: float
    lam0: np.ndarray  # (n,) the dual candidate
    s_max: float  # upper bound on its largest cone dual norm


def _primal(problem: ConvexReLUProblem, B: np.ndarray, c: float, with_z: bool = False) -> Any:
    """Objective of ``B = [V, W]`` with the best output bias: ``(primal, c[, z])``."""
    P, y, loss = problem.P, problem.y, problem.loss
    nz = np.flatnonzero(B.any(axis=0))
    U = np.zeros((B.shape[0], P))
    np.add.at(U.T, nz % P, (np.where(nz < P, 1.0, -1.0) * B[:, nz]).T)
    pats = np.unique(nz % P)  # the patterns with a non-zero block
    z = forward(problem.X, problem.mask[:, pats], U[:, pats])
    if problem.output_bias:
        c = best_bias(loss, z, y, c)
        z = z + c
    primal = float(loss.value(z, y)) + problem.beta * float(np.linalg.norm(B, axis=0).sum())
    return (primal, c, z) if with_z else (primal, c)


class _ConeNormCache:
    """Active constraints of the last cone projection of each (pattern, sign) pair.

    The dual candidate moves little between two outer rounds, so warm starting the
    Lawson-Hanson projections from the previous active sets saves most of their steps.
    """

    def __init__(self, P: int) -> None:
        empty = np.zeros(0, dtype=np.intp)
        self.active: list[list[np.ndarray]] = [[empty] * P, [empty] * P]
        self._signs: np.ndarray | None = None
        # The last certificate's (G (d, P), upper bounds (P, 2)): bounds for the next.
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def carried_bounds(self, G: np.ndarray) -> np.ndarray | None:
        """Upper bounds (P, 2) on the cone norms of ``+-G`` from the last certificate's.

        ``P_K`` is non-expansive, so ``||P_K(g)|| <= ||P_K(g_old)|| + ||g - g_old||``
        for every cone K: the last round's bounds plus the drift of each column of G.
        """
        if self.last is None or self.last[0].shape != G.shape:
            return None
        G_old, bounds = self.last
        return bounds + np.linalg.norm(G - G_old, axis=0)[:, None]

    def signs(self, D: np.ndarray) -> np.ndarray:
        """(P, n) cone signs ``2 D_i - 1``, made once per solve (160 MB at n = 1e4)."""
        if self._signs is None:
            self._signs = np.where(D.T, 1.0, -1.0)
        return self._signs

    def norms(
        self,
        X: np.ndarray,
        S: np.ndarray,
        G: np.ndarray,
        idx: np.ndarray,
        below: float = 0.0,
        need: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(k, 2)`` norms ``||P_{K_i}(+-g_i)||`` for patterns ``idx`` (G: (d, k)).

        Entries whose norm is proven ``<= below`` may stop early at such an upper bound
        (:func:`cone_norm_bounds`); the second array says which entries are exact. With
        ``need`` ((k, 2) bool), only those entries are computed (the others: ``inf``, not
        exact).
        """
        out = np.full((idx.size, 2), np.inf)
        exact = np.zeros((idx.size, 2), dtype=bool)
        for sign in (0, 1):
            k = np.arange(idx.size) if need is None else np.flatnonzero(need[:, sign])
            if k.size == 0:
                continue
            prev = [self.active[sign][i] for i in idx[k]]
            thr = np.full(k.size, below)
            Z = G[:, k] if sign == 0 else -G[:, k]
            out[k, sign], exact[k, sign], act = cone_norm_bounds(X, S[idx[k]], Z, prev, thr)
            for i, a in zip(idx[k], act, strict=True):
                self.active[sign][i] = a
        return out, exact

    def support_norms(
        self, X: np.ndarray, D: np.ndarray, G: np.ndarray, B: np.ndarray, j: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cone norms of the non-zero blocks ``j`` (indices into the 2P), from their faces.

        At a stationary point of the restricted problem (the polish's), the projection
        of ``+-g_i`` on ``K_i`` lies on the face of ``b_j``: its active constraints are
        those of ``b_j``. Lawson-Hanson warm started there needs one least-squares solve
        and one optimality test, instead of the d or so exchange steps of a cold start
        (2-4 s per certificate at n = 1e4 for the ~200 support blocks). Returns
        ``(values, exact)``, (k,) each: a value that fails the test is the upper bound
        ``||g + A^T mu||`` of the clipped least-squares ``mu >= 0``, not the norm.
        """
        P, d = D.shape[1], X.shape[1]
        pat, sign = j % P, j // P
        Z = np.ascontiguousarray((G[:, pat] * np.where(sign == 0, 1.0, -1.0)).T)
        st = _NNLSState(X, _cone_signs(D, j), Z)
        act = _active_rows(X, D, B, j)
        for b in range(j.size):
            st.warm_start(b, np.flatnonzero(act[:, b])[:d])
        st.restore_feasibility(np.flatnonzero(st.running))
        # Those whose least-squares solve finished (it stops the others) are optimal if
        # no constraint is violated; g = 0 has the norm 0.
        ia = np.flatnonzero(st.running)
        st.running[:] = False
        exact = np.linalg.norm(st.g, axis=1) == 0.0
        if ia.size:
            exact[ia] = ~st.most_violated(ia)[1]
        mu = np.maximum(st.mu, 0.0) * st.valid
        for b in range(j.size):
            self.active[int(sign[b])][int(pat[b])] = st.idx[b][st.valid[b] & (mu[b] > 0)]
        return st.values(), exact


def _certify(
    problem: ConvexReLUProblem,
    B: np.ndarray,
    c: float,
    cache: _ConeNormCache | None = None,
    n_new: int | None = None,
    tol: float = 0.0,
) -> _Check:
    """Certificate of ``B = [V, W]`` (d, 2P): primal, cone norms, relative gap.

    Every cone norm has a cheap upper bound (``duality._cheap_bounds``: the projection
    on the half-space of the most violated constraint; exact when ``+-g_i`` is in the
    cone), and from the second round on the last certificate's bound plus the drift of
    its column of G (:meth:`_ConeNormCache.carried_bounds`). The support pairs (non-zero
    blocks) come first, each from its own face
    (:meth:`_ConeNormCache.support_norms`): exact where the polish left the block
    stationary, else an upper bound. Their values are about beta, which makes the
    threshold below tight at once. The other pairs get exact norms by decreasing bound,
    in chunks, until the next bound is below both beta (no block there can enter the
    working set) and the largest support value or exact norm found (every entry enters
    ``s_max``, so a smaller bound cannot change it); the other entries keep their bound.
    A pair whose NNLS bound falls below that threshold stops there
    (:func:`cone_norm_bounds`).

    With ``n_new`` (the blocks the working set wants), pricing also stops once that many
    exact violators ``norm > beta`` off the support are known and the gap is above
    ``tol`` even with ``s_max`` = the largest value so far: the lower bound only falls as
    ``s_max`` grows, so more exact norms could not certify this point (the reported gap,
    from the bounds, is then valid but looser). Far from the optimum this prices a few
    chunks instead of every pattern whose bound exceeds beta. The support pairs left as
    bounds are priced exactly only when that could certify ``tol`` (always without
    ``n_new``).
    """
    X, y, loss, P, beta = problem.X, problem.y, problem.loss, problem.P, problem.beta
    cache = _ConeNormCache(P) if cache is None else cache
    primal, c, z = _primal(problem, B, c, with_z=True)
    lam0 = dual_candidate(loss, z, y, problem.output_bias)
    G = adjoint(X, problem.mask, lam0)  # (d, P), without an (n, P) temporary
    cone, exact = _cheap_bounds(X, problem.D, G, np.linalg.norm(G, axis=0))
    carried = cache.carried_bounds(G)
    if carried is not None:  # far below beta last round: often proven without NNLS
        cone = np.minimum(cone, carried)
    S = cache.signs(problem.D)
    # The support pairs first, from their faces (their norms are about beta: a tight
    # ``best`` at once, so that the other pairs stop at a bound).
    sup = np.flatnonzero(B.any(axis=0))
    sup = sup[~exact[sup % P, sup // P]]
    on_sup = np.zeros((P, 2), dtype=bool)
    on_sup[sup % P, sup // P] = True
    if sup.size:
        vals, ok = cache.support_norms(X, problem.D, G, B, sup)
        cone[sup % P, sup // P] = np.minimum(cone[sup % P, sup // P], vals)
        exact[sup % P, sup // P] = ok
    # Every entry of ``cone`` enters s_max, so pricing may stop below its largest
    # support entry even where that is only a bound.
    best = float(np.where(exact | on_sup, cone, 0.0).max(initial=0.0))
    priced = exact.copy()
    pi, si = np.nonzero(~(exact | on_sup))
    order = np.argsort(-cone[pi, si], kind="stable")
    pi, si = pi[order], si[order]
    known = {"best": best, "violators": int((cone[exact & ~on_sup] > beta).sum())}

    def on_exact(values: np.ndarray) -> bool:
        """Every exact norm enters s_max; stop once enough violators are known and even
        ``best`` (<= s_max: the lower bound only falls as s_max grows) cannot certify."""
        known["best"] = max(known["best"], float(values.max(initial=0.0)))
        known["violators"] += int((values > beta).sum())
        return (
            n_new is not None
            and known["violators"] >= n_new
            and _gap(problem, lam0, primal, known["best"]) > tol
        )

    cone[pi, si], priced[pi, si] = stream_cone_norms(
        X,
        S,
        G,
        si * P + pi,
        cone[pi, si],
        cache.active,
        lambda: min(beta, known["best"]),
        on_exact,
    )
    loose = on_sup & ~priced
    if loose.any() and (
        n_new is None or _gap(problem, lam0, primal, np.where(loose, 0.0, cone).max()) <= tol
    ):  # the support's bounds are what stands between this point and its certificate
        idx = np.flatnonzero(loose.any(axis=1))
        out, ok = cache.norms(X, S, G[:, idx], idx, 0.0, loose[idx])
        cone[idx] = np.where(loose[idx], np.minimum(out, cone[idx]), cone[idx])
        priced[idx] |= loose[idx] & ok
    s_max = float(cone.max(initial=0.0))
    cache.last = (G, cone.copy())
    return _Check(primal, _gap(problem, lam0, primal, s_max), cone, priced, c, lam0, s_max)


def _gap(problem: ConvexReLUProblem, lam0: np.ndarray, primal: float, s_max: float) -> float:
    """Relative gap of ``primal`` against the dual point ``lam0`` scaled for ``s_max``."""
    lower, _ = dual_lower_bound(problem.loss, lam0, problem.y, problem.beta, s_max)
    return (primal - lower) / gap_scale(primal, problem.y)


_ACTIVE_TOL = 1e-9  # slack <= tol * max |X b_j|: constraint taken as active
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
_BENDS = 20  # bent-search segments after a blocked Newton step
_POLISH_FLOPS = 1e10  # skip the polish when a Newton system costs more (n R^2)
_POLISH_BYTES = 4e8  # ... or when its (n, R) float64 matrix is larger


def _null_basis(A: np.ndarray, d: int) -> np.ndarray:
    """Orthonormal basis (d, r) of the null space of the rows of A."""
    if A.shape[0] == 0:
        return np.eye(d)
    # full V^T (d, d) always; full U only when it is small (fewer rows than d)
    _, sv, Vt = np.linalg.svd(A, full_matrices=A.shape[0] < d)
    rank = int((sv > 1e-10 * sv[0]).sum()) if sv.size and sv[0] > 0 else 0
    return Vt[rank:].T


def _face_multipliers(
    X: np.ndarray, DT: np.ndarray, active: list[np.ndarray], R: np.ndarray
) -> list[np.ndarray]:
    """Least-squares multipliers ``mu_k = argmin ||A_k^T mu - r_k||`` of each block's face.

    ``A_k`` holds the active rows ``s_i x_i`` (``i`` in ``active[k]``, ``s_i = +1``
    where ``DT[k, i]``) and ``r_k = R[:, k]``: the KKT test of the polish. All blocks
    in one batched solve of the normal equations ``A A^T mu = A r``, padded and
    regularised as the NNLS ones (``duality._padded_gram``). A loop of ``lstsq`` per
    block cost about 0.1 s per release at n = 1e4. Reference: ``np.linalg.lstsq``.
    """
    k, m = len(active), max((a.size for a in active), default=0)
    A = np.zeros((k, m, X.shape[1]))
    valid = np.zeros((k, m), dtype=bool)
    for b, rows in enumerate(active):
        A[b, : rows.size] = X[rows] * np.where(DT[b, rows], 1.0, -1.0)[:, None]
        valid[b, : rows.size] = True
    gram = _padded_gram(A, valid)[0]
    mu = np.linalg.solve(gram, np.einsum("bkd,db->bk", A, R)[:, :, None])[:, :, 0]
    return [mu[b, : rows.size] for b, rows in enumerate(active)]


def _null_basis_less(N: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, r - 1) of the vectors of span N (d, r) orthogonal to x.

    ``N`` itself when x is (numerically) orthogonal to span N already, as in
    :func:`_null_basis`'s rank test. A Householder reflection H maps ``c = N^T x`` to
    a multiple of ``e_1``; the other columns of ``N H`` are orthogonal to x.
    """
    c = N.T @ x
    nc = float(np.linalg.norm(c))
    if nc <= 1e-10 * float(np.linalg.norm(x)):
        return N
    v = c.copy()
    v[0] += np.copysign(nc, c[0])
    NH = N - np.outer(N @ v, 2.0 * v / (v @ v))
    return NH[:, 1:]


def _active_rows(X: np.ndarray, D: np.ndarray, B: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(n, k) bool: the cone constraints of blocks ``j`` at zero slack (``_ACTIVE_TOL``)."""
    XB = X @ B[:, j]
    XB *= _cone_signs(D, j).T
    return XB <= _ACTIVE_TOL * np.abs(XB).max(axis=0)


def _block_diag_index(
    sizes: np.ndarray, offs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and block of every entry of a block-diagonal (sizes) matrix."""
    sq = sizes * sizes
    blk = np.repeat(np.arange(sizes.size), sq)
    loc = np.arange(int(sq.sum())) - np.repeat(np.cumsum(sq) - sq, sq)
    r = sizes[blk]
    return offs[blk] + loc // r, offs[blk] + loc % r, blk


def _polish(
    problem: ConvexReLUProblem,
    B: np.ndarray,
    c: float,
    max_iter: int | None = None,
    free: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int] | None:
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
    each block (KKT: ``grad_b f = A_act^T mu``, ``mu >= 0``) is released. Returns
    (B, c, steps), feasible, or None (multi-output loss); the caller certifies it.
    """
    X, y, loss, beta, P = problem.X, problem.y, problem.loss, problem.beta, problem.P
    if not _polish_applies(problem):
        return None
    max_iter = _NEWTON_ITER if max_iter is None else max_iter
    n, d = X.shape
    ob = problem.output_bias
    D, mask = problem.D, problem.mask
    DT = np.ascontiguousarray(D.T)  # (P, n): a block's signs are one contiguous row
    B = B.copy()
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # j -> (active rows, N_j)
    version: dict[int, int] = {}  # j -> how many times its basis N_j changed
    gram = _Gram(X, mask)

    def identify(j: int, Bs: np.ndarray) -> np.ndarray:
        return np.flatnonzero(_active_rows(X, D, Bs, np.array([j]))[:, 0])

    def set_active(j: int, rows: np.ndarray, N: np.ndarray | None = None) -> None:
        """Block j's active rows and null basis (N: given by :func:`join`, or an SVD)."""
        old = cache.get(j)
        if N is None and old is not None and np.array_equal(old[0], rows):
            return
        if N is None and old is not None and rows.size == old[0].size + 1:
            extra = np.setdiff1d(rows, old[0], assume_unique=True)
            if extra.size == 1:  # one constraint joins: a Householder update, not an SVD
                N = _null_basis_less(old[1], X[extra[0]])
        cache[j] = (rows, _null_basis(X[rows], d) if N is None else N)
        version[j] = version.get(j, -1) + 1

    def join(j: int, row: int) -> None:
        """Constraint ``row`` joins block j's active set (a blocked step)."""
        rows, N = cache[j]
        if not (rows == row).any():
            set_active(j, np.union1d(rows, [row]), _null_basis_less(N, X[row]))

    def release(sup: np.ndarray, g: np.ndarray, Bs: np.ndarray) -> bool:
        """Drop the most negative multiplier of each block (KKT); True if any was."""
        released = False
        with_rows = np.array([j for j in sup if cache[int(j)][0].size], dtype=np.intp)
        if with_rows.size == 0:
            return False
        # All gradients in one GEMM by the shared adjoint kernel (a per-block product cost
        # 0.1-0.2 s per release at n = 1e4).
        Rg = adjoint(X, _signed_masks(mask, with_rows), g)
        Rg += beta * Bs[:, with_rows] / np.linalg.norm(Bs[:, with_rows], axis=0)
        act = [cache[int(j)][0] for j in with_rows]
        mus = _face_multipliers(X, DT[with_rows % P], act, Rg)
        for j, rows, mu in zip(with_rows, act, mus, strict=True):
            i = int(np.argmin(mu))
            if mu[i] < -1e-9 * (np.abs(mu).max() + beta):
                set_active(int(j), np.delete(rows, i))
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

    sup = np.flatnonzero(np.linalg.norm(B, axis=0) > 0)
    fixed = sup[~np.isin(sup, free)] if free is not None else sup[:0]
    sup = np.setdiff1d(sup, fixed)
    # The fixed blocks' predictions and penalty: constants of this polish.
    z_off = forward(X, _signed_masks(mask, fixed), B[:, fixed]) if fixed.size else 0.0
    pen_off = beta * float(np.linalg.norm(B[:, fixed], axis=0).sum())
    for j in sup:
        set_active(int(j), identify(int(j), B))
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
    while steps < max_iter or _productive(history, f, max_iter):
        steps += 1
        history.append(f)
        # A block stays while it has free directions and moves along them: one that is
        # rounding only (1e-17 entries, orthogonal to its face) has theta = 0, where the
        # penalty's Hessian beta / ||theta|| is a NaN.
        moves = [(cache[int(j)][1].T @ B[:, j]).any() for j in sup]
        keep = sup[np.array(moves, dtype=np.bool_) & ~_negligible(B[:, sup], x_max, zB, y)]
        if keep.size < sup.size:
            B[:, np.setdiff1d(sup, keep)] = 0.0
            sup = keep
            f, zB = value(B, c)
        if sup.size == 0:
            break
        Ns = [cache[int(j)][1] for j in sup]
        sizes = np.array([N.shape[1] for N in Ns])
        offs = np.concatenate([[0], np.cumsum(sizes)])
        R = int(offs[-1])
        if R > _polish_cap(n):  # n R^2 flops or an (n, R) matrix beyond the caps
            return None
        N_all = np.hstack(Ns)  # (d, R)
        owner = np.repeat(sup, sizes)
        theta = np.einsum("dr,dr->r", N_all, B[:, owner])
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
        first, first_ratio = first_blocking(B, dB, sup)
        k = int(np.argmin(first_ratio))
        a_max, row = min(1.0, float(first_ratio[k])), int(first[k])
        if a_max <= 1e-12:  # degenerate: constraints at zero slack block the step
            zero_k, zero_rows = np.nonzero(blocking(B, dB, sup) <= 1e-12)
            for kz in np.unique(zero_k):  # all of a block's rows at once: one basis each
                jz = int(sup[kz])
                set_active(jz, np.union1d(cache[jz][0], zero_rows[zero_k == kz]))
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
        B, c, f, zB = B + a * dB, c + a * dc, f_new, zB + a * zd
        if a == a_max < 1.0:
            join(int(sup[k]), row)
            # Bent search: the rest of the step, the blocked block's part projected on
            # its new face, while the objective decreases (no new factorisation).
            rem = 1.0 - a_max
            # The other blocks' ratios from the current B are max(ratio - shift, 0): a
            # scalar shift instead of a pass over the (n, |sup|) matrix per bend.
            shift = a_max
            for _ in range(_BENDS):
                N = cache[int(sup[k])][1]
                bent = N @ (N.T @ dB[:, sup[k]])
                zd = zd + _signed_masks(mask, sup[k : k + 1])[:, 0] * (X @ (bent - dB[:, sup[k]]))
                dB[:, sup[k]] = bent
                first_k, ratio_k = first_blocking(B, dB, sup[k : k + 1])
                first[k], first_ratio[k] = first_k[0], ratio_k[0] + shift
                k = int(np.argmin(first_ratio))
                a2, row = min(rem, max(float(first_ratio[k]) - shift, 0.0)), int(first[k])
                if a2 <= 1e-12:
                    break
                f_new = _line_value(problem, zB + a2 * zd, B[:, sup] + a2 * dB[:, sup])
                f_new += pen_off
                if not f_new < f:
                    break
                B, c, f, rem = B + a2 * dB, c + a2 * dc, f_new, rem - a2
                zB = zB + a2 * zd
                shift += a2
                if a2 == rem + a2:  # reached the end of the step
                    break
                join(int(sup[k]), row)
    nz = sup[B[:, sup].any(axis=0)]  # the fixed blocks are untouched
    B[:, nz] = project_cones(X, _cone_signs(D, nz), B[:, nz])[0]
    return B, c, steps


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


def _stalled(primals: list[float], gaps: list[float]) -> bool:
    """Whether the certificate has stopped improving (see ``_STALL_ROUNDS``).

    ``primals[k]`` and ``gaps[k]`` are round k's certified objective and relative gap.
    True when the last ``_STALL_ROUNDS`` rounds neither brought the best gap below half
    its best before them nor lowered the objective by more than ``_FLOOR`` (relative).
    """
    w = _STALL_ROUNDS
    if len(gaps) <= w:
        return False
    before = primals[-w - 1]
    no_gap = min(gaps[-w:]) > 0.5 * min(gaps[:-w])
    no_primal = before - min(primals[-w:]) <= _FLOOR * abs(before)
    return no_gap and no_primal


def _productive(history: list[float], f: float, max_iter: int) -> bool:
    """Whether a polish goes on past ``max_iter`` steps (see ``_PRODUCTIVE``).

    ``history[k]`` is the objective before step ``k + 1``, ``f`` the current one.
    """
    if len(history) < max(_TAIL_WINDOW, max_iter) or len(history) >= _NEWTON_MAX:
        return False
    total = history[0] - f
    return history[-_TAIL_WINDOW] - f >= _PRODUCTIVE * total > 0


def _step_ratios(
    X: np.ndarray, DT: np.ndarray, Bs: np.ndarray, dBs: np.ndarray, active: list[np.ndarray]
) -> np.ndarray:
    """(k, n) step ratios ``a`` at which blocks ``Bs + a dBs`` (d, k) reach their cones'
    constraints ``s_i x_i^T b >= 0`` (``s_i = +1`` where ``DT[k, i]``), inf where never.

    The ratio ``max(s a_i, 0) / (-s b_i)`` (``a_i = x_i^T b``, ``b_i = x_i^T db``, the
    rate ``s b_i < 0``) equals ``max(-a_i / b_i, 0)``: the signs cancel and enter only
    the (boolean) test of the rate's sign. Rows ``active[k]`` never block. Row-major by
    block, in place: this runs at every Newton step of the polish. Reference:
    :func:`_step_ratios_reference`.
    """
    ratio = Bs.T @ X.T
    rate = dBs.T @ X.T
    crossed = (rate < 0) == DT  # s b_i < 0 ...
    crossed &= rate != 0  # ... strictly
    blk = np.repeat(np.arange(len(active)), [r.size for r in active])
    crossed[blk, _cat_index(active)] = False  # active rows never block
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(ratio, rate, out=ratio)
    np.negative(ratio, out=ratio)
    np.maximum(ratio, 0.0, out=ratio)
    np.copyto(ratio, np.inf, where=~crossed)
    return ratio


def _first_blocking(
    X: np.ndarray,
    DT: np.ndarray,
    pat: np.ndarray,
    Bs: np.ndarray,
    dBs: np.ndarray,
    active: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Each block's first blocking row and its step ratio, ``(first (k,), ratio (k,))``.

    The row-wise ``argmin`` of :func:`_step_ratios` (blocks ``Bs + a dBs``, cone signs
    ``DT[pat[k]]``; row 0 and inf where nothing blocks): compiled in one pass over the
    two GEMM results (:func:`convexnn._jit.first_blocking`) when numba is there.
    """
    jit = _jit.kernels()
    if jit is None:
        ratio = _step_ratios(X, DT[pat], Bs, dBs, active)
        first = np.argmin(ratio, axis=1)
        return first, ratio[np.arange(first.size), first]
    slack = Bs.T @ X.T
    rate = dBs.T @ X.T
    blk = np.repeat(np.arange(len(active)), [r.size for r in active])
    rate[blk, _cat_index(active)] = 0.0  # active rows never block
    return jit.first_blocking(slack, rate, DT, np.asarray(pat, dtype=np.int64))


def _step_ratios_reference(
    X: np.ndarray, DT: np.ndarray, Bs: np.ndarray, dBs: np.ndarray, active: list[np.ndarray]
) -> np.ndarray:
    """Slow, obvious :func:`_step_ratios`: slack over minus the rate, with the signs."""
    S = np.where(DT, 1.0, -1.0)
    slack, rate = S * (Bs.T @ X.T), S * (dBs.T @ X.T)
    for k, rows in enumerate(active):
        rate[k, rows] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rate < 0, np.maximum(slack, 0.0) / -rate, np.inf)


def _polish_applies(problem: ConvexReLUProblem) -> bool:
    """The polish handles scalar outputs only (one loss curvature per sample)."""
    return problem.y.ndim == 1 and not getattr(problem.loss, "multi_output", False)


def _polish_cap(n: int) -> float:
    """The most free dimensions R of one Newton system over n samples (flops, bytes)."""
    return float(min(np.sqrt(_POLISH_FLOPS / n), _POLISH_BYTES / (8 * n)))


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
    problem: ConvexReLUProblem, B: np.ndarray, c: float
) -> tuple[np.ndarray, float, int] | None:
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
        return _polish(problem, B, c)
    act, r_low = _free_dims(problem, B, sup)
    cap = _polish_cap(n)
    if r_low.sum() <= cap:  # it may fit: the whole support at once
        return _polish(problem, B, c)
    cap = min(0.8 * cap + d, cap)  # r_low is only a lower bound on R: some margin
    z = _primal(problem, B, c, with_z=True)[2]
    g = np.asarray(problem.loss.gradient(z, problem.y), dtype=np.float64)
    grad = X.T @ (_signed_masks(problem.mask, sup) * g[:, None])
    grad += beta * B[:, sup] / np.linalg.norm(B[:, sup], axis=0)
    res = np.empty(sup.size)
    for k in range(sup.size):
        N = _null_basis(X[act[:, k]], d)
        res[k] = np.linalg.norm(N.T @ grad[:, k])
    chunks: list[list[int]] = [[]]
    width = 0
    for k in np.argsort(-res):  # greedy: each chunk's free dimensions within the cap
        if chunks[-1] and width + r_low[k] > cap:
            chunks.append([])
            width = 0
        chunks[-1].append(int(sup[k]))
        width += int(r_low[k])
    steps = 0
    for chunk in chunks:
        out = _polish(problem, B, c, free=np.array(chunk))
        if out is not None:
            B, c, k_steps = out
            steps += k_steps
    return B, c, steps


def _line_value(problem: ConvexReLUProblem, z: np.ndarray, Bs: np.ndarray) -> float:
    """Objective at predictions z (bias included) and support blocks Bs."""
    norms = np.linalg.norm(Bs, axis=0)
    return float(problem.loss.value(z, problem.y)) + problem.beta * float(norms.sum())


class _Gram:
    """``Phi = [s_j D_j X N_j]_j`` (n, R) and ``Phi^T Phi``, kept between Newton steps.

    Between two steps the support and most null-space bases ``N_j`` are unchanged (a
    step changes the active constraints of a few blocks), so only the columns of the
    changed blocks are recomputed: ``O(n R r)`` flops for r new columns instead of the
    ``O(n R^2)`` of a new Gram matrix.
    """

    def __init__(self, X: np.ndarray, mask: np.ndarray) -> None:
        self.X, self.mask = X, mask
        # block j -> (basis version, first column, N_j) in the current layout
        self.blocks: dict[int, tuple[int, int, np.ndarray]] = {}
        self.Phi = np.zeros((X.shape[0], 0), order="F")
        self.G: np.ndarray | None = None  # Phi^T Phi of the last layout, when asked
        self._fresh = np.zeros(0, dtype=np.intp)
        # Columns derived from the old layout: (new start, old start, width, T or None):
        # new = old @ T (identity when None, whole runs of kept blocks at once).
        self._segs: list[tuple[int, int, int, np.ndarray | None]] = []

    def basis(
        self, keys: list[tuple[int, int]], sizes: np.ndarray, owner: np.ndarray, N: np.ndarray
    ) -> np.ndarray:
        """Phi of blocks ``keys`` ((j, basis version), in order, ``sizes`` columns each).

        ``owner`` (R,) is the block of each column and ``N`` (d, R) the bases, side by side.
        A block whose new basis lies in the span of its old one (a constraint joined its
        active set: ``N_new = N_old T``, ``T = N_old^T N_new``) keeps its Gram entries
        through T, without a pass over the n rows.
        """
        new_blocks: dict[int, tuple[int, int, np.ndarray]] = {}
        segs: list[tuple[int, int, int, np.ndarray | None]] = []
        fresh = []
        pos = 0
        for (j, version), size in zip(keys, sizes, strict=True):
            size = int(size)
            Nj = N[:, pos : pos + size]
            new_blocks[j] = (version, pos, Nj)
            prev = self.blocks.get(j)
            if prev is not None and prev[0] == version:  # kept: extend the last run
                old, last = prev[1], segs[-1] if segs else None
                if (
                    last
                    and last[3] is None
                    and last[0] + last[2] == pos
                    and last[1] + last[2] == old
                ):
                    segs[-1] = (last[0], last[1], last[2] + size, None)
                else:
                    segs.append((pos, old, size, None))
            elif prev is not None and _same_span(prev[2], Nj, T := prev[2].T @ Nj):
                segs.append((pos, prev[1], size, T))
            else:
                fresh.append(np.arange(pos, pos + size))
            pos += size
        fr = _cat_index(fresh)
        # Column-major: the derived columns are copied as contiguous runs (a row-major
        # column gather was measured 8x slower at n = 1e4).
        Phi = np.empty((self.X.shape[0], pos), order="F")
        for new, old, width, T in segs:
            src = self.Phi[:, old : old + (width if T is None else T.shape[0])]
            Phi[:, new : new + width] = src if T is None else src @ T
        Phi[:, fr] = _signed_masks(self.mask, owner[fr]) * (self.X @ N[:, fr])
        self.blocks, self.Phi = new_blocks, Phi
        self._segs, self._fresh = segs, fr
        if self.G is not None:
            self.G = self._update_gram(self.G)
        return Phi

    def _update_gram(self, G_old: np.ndarray) -> np.ndarray:
        """``Q^T G_old Q`` on the derived columns (Q: identity runs and the T blocks, so
        ``O(R^2)`` work), ``Phi^T Phi_fresh`` (``O(n R r)``) on the fresh ones."""
        segs, fr, Phi = self._segs, self._fresh, self.Phi
        R = Phi.shape[1]
        M = np.empty((G_old.shape[0], R))  # G_old Q; its fresh columns are not used
        for new, old, width, T in segs:
            src = G_old[:, old : old + (width if T is None else T.shape[0])]
            M[:, new : new + width] = src if T is None else src @ T
        G = np.empty((R, R))
        for new, old, width, T in segs:
            src = M[old : old + (width if T is None else T.shape[0])]
            G[new : new + width] = src if T is None else T.T @ src
        if fr.size:
            C = Phi.T @ Phi[:, fr]
            G[:, fr] = C
            G[fr, :] = C.T
        return G

    def squared(self) -> np.ndarray:
        """``Phi^T Phi`` of the current basis (a copy, free to modify)."""
        if self.G is None:
            self.G = self.Phi.T @ self.Phi
        return self.G.copy()


def _same_span(N_old: np.ndarray, N_new: np.ndarray, T: np.ndarray) -> bool:
    """``np.allclose(N_old @ T, N_new, atol=1e-10)`` without its per-call overhead."""
    return bool(np.all(np.abs(N_old @ T - N_new) <= 1e-10 + 1e-5 * np.abs(N_new)))


def _cat_index(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


def _cone_signs(D: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(k, n) signs ``2 D_i - 1`` of blocks ``j`` (indices into the 2P blocks, i = j % P)."""
    return np.where(D[:, j % D.shape[1]].T, 1.0, -1.0)


def _signed_masks(mask: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(n, k) columns ``+-D_i`` of blocks ``j`` (+ for v blocks j < P, - for w blocks)."""
    P = mask.shape[1]
    return mask[:, j % P] * np.where(j < P, 1.0, -1.0)


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
        # The warm start gets a share of the budget only (at small beta the gated
        # program is as slow as the relu one); its own max_iter warning is moot.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            g = solve_gated(
                problem,
                make_backend(with_auto_dtype(gated_options or {}, problem), caller="solve"),
                tol=max(tol, _GATED_TOL),
                max_iter=max(1, int(_GATED_SHARE * max_iter)),
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
    best: tuple[np.ndarray, float, _Check] | None = None  # the point of the lowest gap
    while True:
        # Polish first, then certify the better point only (one certificate per round).
        f, c = _primal(problem, B, c)
        pol = _polish_wide(problem, B, c)
        stalled = False
        if pol is not None:
            n_polish += pol[2]
            f_p, c_p = _primal(problem, pol[0], pol[1])
            # A full polish round that hardly moved: blocks that should vanish or many
            # constraints that should change (a network's warm start); a FISTA round's
            # prox steps zero blocks and move faces at once.
            stalled = pol[2] >= _NEWTON_ITER and f - f_p <= _STALL * abs(f)
            if verbose:
                print(f"[relu] polish: {pol[2]} Newton steps, objective {f_p:.10g} (was {f:.10g})")
            if f_p < f:
                B, c = pol[0], c_p
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
        if _stalled(primals, gaps):
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
            f"{chk.rel_gap:.3g} (tol={tol:.3g}): in {_STALL_ROUNDS} rounds neither the "
            f"objective nor the gap improved. That is the floating-point floor of this "
            f"problem, usually from badly scaled data (columns of X far from unit scale, "
            f"or from the hidden bias's column of ones); standardise X, raise tol, or use "
            f"solver='cvxpy'.",
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
        # the last pricing was complete when it certified tol (an early stop cannot)
        "dual_norm_bound": (chk.lam0, chk.s_max) if status == "optimal" else None,
    }
    c_out = c if problem.output_bias else None
    return ReluOutput(B[:, :P], B[:, P:], c_out, n_iter, status, info)


def _check_warm(problem: ConvexReLUProblem, warm_start: tuple[Any, Any, Any]) -> tuple[Any, ...]:
    """``warm_start`` with V, W as float64 arrays of shape (d_eff, P), or a clear error."""
    V, W = (np.asarray(a, dtype=np.float64) for a in warm_start[:2])
    if V.shape != (problem.d, problem.P) or W.shape != V.shape:
        raise ValueError(
            f"solve: warm_start V and W must have shape (d_eff, P) = "
            f"({problem.d}, {problem.P}), got {V.shape} and {W.shape}; pad new pattern "
            f"columns with zeros."
        )
    return (V, W, *warm_start[2:])


_NEGLIGIBLE = 1e-13  # a block whose predictions are below this share of the scale: zeroed


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
