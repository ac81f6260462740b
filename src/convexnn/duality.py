"""Dual points and certificates of optimality for the convex program (8).

For the squared loss the dual of the program over patterns ``D_1, ..., D_P`` is
(eq. 4 restricted to the patterns, eq. 15 of the paper)

    max_lam  -L*(-lam; y)      ( = lam^T y - 1/2 ||lam||^2 for the squared loss )
    s.t.     max_{u in K_i, ||u|| <= 1}  s * lam^T D_i X u  <= beta
             for every pattern i and sign s in {+1, -1},
             1^T lam = 0                  (only with an unregularised output bias),

with the cones ``K_i = {u : (2 D_i - I) X u >= 0}`` (formulation ``"relu"``); the
gated relaxation has no cone and the constraint reads ``||X^T D_i lam|| <= beta``.

The left-hand side is a *dual norm*. For a closed convex cone K,
``max_{u in K, ||u|| <= 1} g^T u = ||Proj_K(g)||`` and, by Moreau's decomposition with
``K = {u : A u >= 0}``, ``A = (2 D_i - I) X``,

    Proj_K(g) = g + A^T mu*,     mu* = argmin_{mu >= 0} ||g + A^T mu||      (an NNLS),

where ``g = s X^T D_i lam``. For *any* ``mu >= 0`` the norm ``||g + A^T mu||`` is an
upper bound on the maximum (``mu^T A u >= 0`` on K), and so is ``||g||``: the values
computed here are never below the true dual norms, whatever the accuracy of the NNLS.

A certificate scales a dual candidate (the negative loss gradient at a network's
predictions: the residual ``y - f(X)`` for the squared loss) into the feasible set and
evaluates the dual objective: a lower bound. The network's eq.-(2) objective is an
upper bound; their difference bounds the network's sub-optimality (Remark 3.2).

Scope of the bound. Over an exhaustive pattern set (all the activation patterns of
the data, see :func:`convexnn.enumerate_patterns`), the constraints above are those
of the semi-infinite dual (4), so the lower bound holds for the non-convex training
problem (2) itself, at any width: a certificate of *global* optimality. Over any
other set (sampled or hand-picked patterns) it holds for the convex program
restricted to those patterns only. The gated dual over exhaustive patterns bounds the
gated program, which is at most the ReLU program = p*: still a global lower bound,
only looser (``"relu"`` is the default).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _jit
from ._measures import GAP_FLOOR, gap_floor, relative_gap, relative_gap_over
from ._nnls import _batched_nnls, _cone_norm
from ._validation import (
    add_ones_column,
    check_beta,
    check_choice,
    check_positive_int,
    check_X,
    check_y,
    host_array,
)
from .gated_network import GatedReLU, certify_gated
from .losses import Loss, get_loss
from .losses.base import into_dual_domain
from .network import TwoLayerReLU
from .patterns._matrix import pattern_scope
from .problem import FORMULATIONS, ConvexReLUProblem, check_patterns

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
SCOPES = ("global", "patterns")
N_SAMPLED_PATTERNS = 1000
_CHUNK_ELEMENTS = 1 << 20  # n * (columns per chunk) of the (n, P) temporaries
_SAFETY = 1.0 - 8.0 * np.finfo(np.float64).eps  # keeps t * s_max <= beta after rounding
_PRUNE_BLOCK = 1024  # (pattern, sign) pairs solved together by the pruned maximum


# -- the certificate --------------------------------------------------------------------

_CANDIDATES = {
    "residual": "the negative loss gradient at the predictions (the residual)",
    "aligned": "the residual aligned with the solution's blocks (each on the dual sphere)",
    "multiplier": "the solver's own multiplier",
}


@dataclass(frozen=True, eq=False, repr=False)
class Certificate:
    """A certified interval ``[lower_bound, upper_bound]`` around the optimum.

    Attributes
    ----------
    lower_bound : float
        Dual objective ``-L*(-lam; y)`` at the feasible dual point ``lam``.
    upper_bound : float
        Objective of eq. (2) of the network being certified.
    gap : float
        ``upper_bound - lower_bound``: bounds how far the network is from the optimum, in
        objective value. At least 0 up to rounding for a network whose neurons activate
        on the patterns used (:func:`certify` adds the network's own patterns to make
        sure); built by :func:`dual_certificate` for a network with other activation
        patterns, with ``scope="patterns"``, it may be negative (that network beats the
        program over the patterns used).
    relative_gap : float
        ``gap / max(|upper_bound|, 1e-12 * s)`` with ``s = ||y||^2 / 2`` (1 when y = 0):
        relative to the objective, with a floor far below any meaningful objective so
        that a (near-)zero optimum does not divide by zero
        (:func:`convexnn._measures.relative_gap`, as in ``solve``, the fast solvers,
        ``solve_multioutput``, ``solve_path`` and ``column_generation``).
    scope : {"global", "patterns"}
        ``"global"``: the patterns are exhaustive for this X, so ``lower_bound`` bounds
        the non-convex training problem (2) over networks of any width.
        ``"patterns"``: it bounds the convex program (8) restricted to the
        ``n_patterns`` patterns used, and nothing more.
    dual_point : array of shape (n,)
        ``lam = scale * lam0``; feasible for the dual over the patterns used
        (and ``sum(lam) = 0`` up to rounding when the network has an output bias).
    dual_norm : float
        ``s_max = max_{i, s} max_{u in K_i, ||u|| <= 1} s lam0^T D_i X u`` of the
        unscaled candidate ``lam0`` (an upper estimate, never below the true value).
    scale : float
        ``t* in [0, beta / s_max]`` maximising the dual objective along ``t * lam0``.
    formulation : {"relu", "gated"}
        Dual constraints used (cone-constrained or gated).
    n_patterns : int
        Number of patterns P the dual constraints range over.
    candidate : {"residual", "aligned", "multiplier"}
        The unscaled dual candidate ``lam0``: the negative loss gradient at the
        predictions (``"residual"``), that candidate aligned with the solution's blocks
        or the network's neurons (``"aligned"``, see :func:`dual_certificate`), or a
        solver's own multiplier (``"multiplier"``).
    gap_floor : float
        ``1e-12 * s``: the floor of ``relative_gap``'s denominator.
    """

    lower_bound: float
    upper_bound: float
    gap: float
    relative_gap: float
    scope: str
    dual_point: Array
    dual_norm: float
    scale: float
    formulation: str
    n_patterns: int
    candidate: str = "residual"
    gap_floor: float = GAP_FLOOR

    def relative_gap_of(self, upper: float) -> float:
        """The relative gap of another upper bound against ``lower_bound``, defined as
        ``relative_gap`` is (same floor): e.g. a gated program's own value."""
        return relative_gap_over(upper, self.lower_bound, self.gap_floor)

    @property
    def is_global(self) -> bool:
        """True when the lower bound holds for the non-convex problem (2) itself."""
        return self.scope == "global"

    def _scope_text(self) -> str:
        gated = self.formulation == "gated"
        if self.is_global:
            problem = (
                "the training problem of gated ReLU networks (any gates, any width)"
                if gated
                else "the non-convex training problem (2) at any width"
            )
            return (
                f"GLOBAL: holds for {problem} (the {self.n_patterns} patterns are all the "
                "patterns of X)"
            )
        program = "gated program" if gated else "convex program (8)"
        return (
            f"relative to the {self.n_patterns} patterns used only: bounds the {program} "
            "over these patterns, not the training problem (2)"
        )

    def __str__(self) -> str:
        return "\n".join(
            [
                f"Dual certificate (formulation={self.formulation!r}, "
                f"P={self.n_patterns} patterns)",
                f"  upper bound (network objective, eq. 2) = {self.upper_bound:.10g}",
                f"  lower bound (dual objective)           = {self.lower_bound:.10g}",
                f"  gap = {self.gap:.3g}  (relative {self.relative_gap:.3g})",
                f"  dual candidate: {_CANDIDATES.get(self.candidate, self.candidate)}",
                f"  dual norm of the candidate = {self.dual_norm:.6g}, scale = {self.scale:.6g}",
                f"  scope: {self._scope_text()}",
            ]
        )

    def __repr__(self) -> str:
        return (
            f"Certificate(lower_bound={self.lower_bound:.6g}, "
            f"upper_bound={self.upper_bound:.6g}, relative_gap={self.relative_gap:.2g}, "
            f"scope={self.scope!r}, formulation={self.formulation!r}, "
            f"n_patterns={self.n_patterns})"
        )


# -- dual norms: fast kernel ------------------------------------------------------------


def cone_dual_norms(X: Any, D: Any, lam: Any, *, formulation: str = "relu") -> Array:
    """Dual norms of ``lam`` for every pattern and both signs.

    Entry ``[i, 0]`` is ``max_{u in K_i, ||u|| <= 1} lam^T D_i X u`` and entry
    ``[i, 1]`` the same for ``-lam``, with ``K_i = {u : (2 D_i - I) X u >= 0}``
    (``"relu"``) or ``K_i = R^d`` (``"gated"``, where both equal ``||X^T D_i lam||``).
    ``lam`` is dual feasible over these patterns iff every entry is ``<= beta``.

    With ``g_i = X^T D_i lam`` (all P at once: ``G = (X * lam[:, None])^T M``, one GEMM)
    the value is ``||Proj_{K_i}(+-g_i)||``. It is ``||g_i||`` when ``+-g_i`` already lies
    in ``K_i`` (tested for all patterns at once); otherwise it is ``||g + A^T mu||`` with
    ``A = (2 D_i - I) X`` and ``mu >= 0`` from the NNLS ``min_{mu >= 0} ||g + A^T mu||``,
    solved for all remaining (pattern, sign) pairs together by a batched Lawson-Hanson
    active-set method (scipy's ``nnls`` for the rare pairs it leaves unsolved). Every
    value returned is an upper bound on the exact dual norm, and equals it up to the
    NNLS accuracy (about 1e-12 relative), so feasibility checked with it is rigorous.

    Parameters
    ----------
    X : array of shape (n, d)
        The effective data matrix (with the ones column when the network has hidden
        biases).
    D : array of shape (n, P) of bool
        Patterns, column i = diag(D_i).
    lam : array of shape (n,)
        Dual point.
    formulation : {"relu", "gated"}

    Returns
    -------
    array of shape (P, 2)
        Column 0 for ``+lam``, column 1 for ``-lam``.
    """
    X_arr, D_arr, lam_arr = _check_kernel_inputs(X, D, lam, formulation)
    G = _pattern_gradients(X_arr, D_arr, lam_arr)
    norms = np.linalg.norm(G, axis=0)
    if formulation == "gated":
        return np.column_stack([norms, norms])
    bounds, exact = _cheap_bounds(X_arr, D_arr, G, norms)
    out = np.where(exact, bounds, 0.0)
    pat, col = np.nonzero(~exact)
    out[pat, col] = _solve_cone_norms(X_arr, D_arr, G, pat, col)
    return out


def max_cone_dual_norm(X: Any, D: Any, lam: Any, *, formulation: str = "relu") -> float:
    """``max`` of :func:`cone_dual_norms` over patterns and signs, with pruning.

    Same value as ``cone_dual_norms(X, D, lam, formulation=formulation).max()`` (an
    upper bound on the exact maximum) but cheaper: every (pattern, sign) pair has a
    cheap upper bound (``||g_i||``, or the projection onto the half-space of its most
    violated constraint), so pairs are solved in blocks by decreasing bound and the
    search stops once no remaining bound exceeds the best value found.

    Parameters
    ----------
    X : array of shape (n, d)
    D : array of shape (n, P) of bool
    lam : array of shape (n,)
    formulation : {"relu", "gated"}

    Returns
    -------
    float
        0.0 when ``lam`` vanishes on every pattern.
    """
    X_arr, D_arr, lam_arr = _check_kernel_inputs(
        X, D, lam, formulation, caller="max_cone_dual_norm"
    )
    return _max_dual_norm(X_arr, D_arr, lam_arr, formulation)


def _max_dual_norm(X: Array, D: BoolArray, lam: Array, formulation: str) -> float:
    G = _pattern_gradients(X, D, lam)
    norms = np.linalg.norm(G, axis=0)
    if formulation == "gated" or norms.size == 0:
        return float(norms.max(initial=0.0))
    bounds, exact = _cheap_bounds(X, D, G, norms)
    best = float(bounds[exact].max(initial=0.0))
    pat, col = np.nonzero(~exact & (bounds > best))
    order = np.argsort(-bounds[pat, col], kind="stable")
    pat, col = pat[order], col[order]
    for start in range(0, pat.size, _PRUNE_BLOCK):
        sel = slice(start, start + _PRUNE_BLOCK)
        keep = bounds[pat[sel], col[sel]] > best
        if not keep.any():
            break  # sorted: no later bound exceeds best either
        # Pairs proven below best stop early at a bound (it cannot raise the max).
        values = _solve_cone_norms(X, D, G, pat[sel][keep], col[sel][keep], stop_below=best)
        best = max(best, float(values.max()))
    return best


def _pattern_gradients(X: Array, D: BoolArray, lam: Array) -> Array:
    """``G[:, i] = X^T D_i lam`` for all patterns, shape (d, P), as one GEMM."""
    return (X * lam[:, None]).T @ D.astype(X.dtype)


def _cheap_bounds(X: Array, D: BoolArray, G: Array, norms: Array) -> tuple[Array, BoolArray]:
    """Cheap upper bounds on all dual norms, and where they are exact.

    For ``g = +-g_i`` and ``a_j = s_ij x_j`` (``s_ij = 2 D_ij - 1``): ``exact`` when
    ``A g >= 0`` (g in ``K_i``: the value is ``||g||``). The bound is ``||g + t a_j||``
    with j the most violated constraint (``a_j^T g / ||a_j||`` smallest) and
    ``t = max(0, -a_j^T g) / ||a_j||^2``: the projection onto that half-space, valid as
    ``t e_j >= 0`` is an NNLS-feasible point. Computed directly (no cancellation).
    Columns are processed in chunks so the (n, chunk) temporaries stay small.

    Returns
    -------
    bounds : array (P, 2)
    exact : bool array (P, 2)
    """
    n, P = D.shape
    bounds = np.empty((P, 2))
    exact = np.empty((P, 2), dtype=bool)
    row_norms = np.linalg.norm(X, axis=1)
    inv_norm = np.divide(1.0, row_norms, out=np.zeros(n), where=row_norms > 0)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    jit = _jit.kernels()
    for start in range(0, P, step):
        sl = slice(start, min(start + step, P))
        XG = X @ G[:, sl]
        cols = np.arange(XG.shape[1])
        if jit is None:
            lo, hi = _extreme_rows(XG, D[:, sl], inv_norm)
        else:
            lo, hi = jit.extreme_rows(XG, D[:, sl], inv_norm)
        # sign +1: the most violated row is the smallest a_j^T g / ||a_j|| (lo); sign -1
        # (rows -a_j): the largest (hi). Where none is violated the bound is ||g||, exact.
        for c, sign, j in ((0, 1.0, lo), (1, -1.0, hi)):
            s_j = np.where(D[j, cols + start], 1.0, -1.0)
            A_j = sign * (s_j * XG[j, cols])  # a_j^T g_i
            exact[sl, c] = A_j >= 0
            t = np.maximum(-A_j, 0.0) * inv_norm[j] ** 2
            p = sign * G[:, sl] + (X[j] * (s_j * t)[:, None]).T
            bounds[sl, c] = np.minimum(np.linalg.norm(p, axis=0), norms[sl])
    return bounds, exact


def _extreme_rows(XG: Array, D: BoolArray, inv_norm: Array) -> tuple[NDArray[np.intp], ...]:
    """Per column, the rows of the smallest and the largest ``s_j XG[j] / ||x_j||``
    (``s_j = 2 D_j - 1``): the reference of :func:`convexnn._jit.extreme_rows`."""
    scaled = np.where(D, XG, -XG) * inv_norm[:, None]  # a_j^T g / ||a_j||, sign +
    return scaled.argmin(axis=0), scaled.argmax(axis=0)


def _solve_cone_norms(
    X: Array,
    D: BoolArray,
    G: Array,
    pat: NDArray[np.intp],
    col: NDArray[np.intp],
    stop_below: float = 0.0,
) -> Array:
    """Dual norms of the (pattern, sign) pairs ``(pat[k], col[k])``, shape (len(pat),).

    Batched NNLS over chunks of pairs; pairs it does not settle go to :func:`_cone_norm`.
    A pair may return an upper bound ``<= stop_below`` instead of its exact norm.
    """
    n = X.shape[0]
    values = np.empty(pat.size)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, pat.size, step):
        sl = slice(start, start + step)
        S = np.where(D[:, pat[sl]].T, 1.0, -1.0)
        g = (G[:, pat[sl]] * np.where(col[sl] == 0, 1.0, -1.0)).T
        vals, solved = _batched_nnls(X, S, g, stop_below)
        for k in np.flatnonzero(~solved):
            vals[k] = _cone_norm(X, S[k] > 0, g[k])
        values[sl] = vals
    return values


def _check_kernel_inputs(
    X: Any, D: Any, lam: Any, formulation: str, caller: str = "cone_dual_norms"
) -> tuple[Array, BoolArray, Array]:
    check_choice(formulation, FORMULATIONS, caller=caller, name="formulation")
    X_arr = np.asarray(host_array(X), dtype=np.float64)
    if X_arr.ndim != 2:
        raise ValueError(
            f"{caller}: X must be 2-D of shape (n, d) (the effective data, with the ones "
            f"column for hidden biases), got shape {X_arr.shape}."
        )
    D_arr = np.asarray(check_patterns(D, X_arr.shape[0], caller=caller), dtype=bool)
    lam_arr = np.asarray(lam, dtype=np.float64).reshape(-1)
    if lam_arr.shape != (X_arr.shape[0],):
        raise ValueError(
            f"{caller}: lam must be a vector with one entry per row of X "
            f"({X_arr.shape[0]}), got shape {np.shape(lam)}."
        )
    return X_arr, D_arr, lam_arr


# -- dual norms: slow reference ---------------------------------------------------------


def _cone_dual_norms_reference(X: Any, D: Any, lam: Any, *, formulation: str = "relu") -> Array:
    """Slow, obvious version of :func:`cone_dual_norms`: one CVXPY program per entry.

    For each pattern i and sign s solves
    ``max s lam^T D_i X u  s.t.  (2 D_i - I) X u >= 0 (relu only), ||u||_2 <= 1``
    with Clarabel. Same shapes and meaning as :func:`cone_dual_norms`; for tests.
    """
    import cvxpy as cp

    X_arr, D_arr, lam_arr = _check_kernel_inputs(X, D, lam, formulation)
    out = np.zeros((D_arr.shape[1], 2))
    for i in range(D_arr.shape[1]):
        g = X_arr.T @ (D_arr[:, i] * lam_arr)
        A = np.where(D_arr[:, i], 1.0, -1.0)[:, None] * X_arr
        for col, s in enumerate((1.0, -1.0)):
            u = cp.Variable(X_arr.shape[1])
            cons = [cp.norm(u, 2) <= 1]
            if formulation == "relu":
                cons.append(A @ u >= 0)
            prob = cp.Problem(cp.Maximize(s * g @ u), cons)
            prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12)
            out[i, col] = max(float(prob.value), 0.0)
    return out


# -- certificates -----------------------------------------------------------------------


def dual_certificate(
    problem: ConvexReLUProblem,
    z: Any,
    upper_bound: float,
    *,
    scope: str,
    lam: Any = None,
    dual_norm_bound: tuple[Array, float] | list[tuple[Array, float]] | None = None,
    blocks: tuple[Any, Any] | None = None,
) -> Certificate:
    """Certificate from predictions ``z`` on ``problem.X`` and a primal value.

    The candidate is ``lam0 = -grad L(z; y)`` (the residual ``y - z`` for the squared
    loss; a subgradient with optimised margin coordinates for hinge), projected onto
    the loss's dual box intersected with ``1^T lam0 = 0`` when the problem has an output
    bias (plain centring for the squared loss; see :func:`_dual_candidate`). With
    ``s_max`` = :func:`max_cone_dual_norm` of ``lam0`` over the problem's patterns,
    every ``t`` in ``[0, beta / s_max]`` gives a feasible dual point ``t lam0``;
    ``t* = loss.best_dual_scale(lam0, y, beta / s_max)`` and

        lower_bound = -L*(-t* lam0; y)   ( = t* lam0^T y - t*^2 ||lam0||^2 / 2, squared).

    Parameters
    ----------
    problem : ConvexReLUProblem
        Validated problem: effective X (n, d), y, beta, patterns D (n, P), loss,
        formulation and output bias.
    z : array of shape (n,)
        Predictions whose negative loss gradient is the dual candidate. Any ``z`` gives
        a valid bound; the closer to optimal, the tighter. After a convex solve, the
        convex predictions ``problem.predict(V, W, c)`` are the better candidate: the
        recovered network's predictions differ from them by the solver's constraint
        violations and dropped blocks, and the gap grows like ``||X|| ||dz|| / beta``.
        For ``"gated"`` only the gated model's own predictions give a tight bound.
    upper_bound : float
        Objective (2) of the network being certified, or any other primal value of the
        program (the gap is only meaningful for a value of the same program).
    scope : {"global", "patterns"}
        ``"global"`` only when ``problem.D`` is exhaustive for ``problem.X``.
    lam : array (n,), optional
        A solver's multiplier to use instead of ``-grad L(z)``.
    dual_norm_bound : (lam_ref (n,), s_ref), or a list of them, optional
        A rigorous upper bound ``s_ref`` on the largest dual norm at ``lam_ref`` (a
        solver's last certificate). Projections onto cones are non-expansive, so
        ``s_max <= s_ref + ||X||_F ||lam0 - lam_ref||`` (free), or, for a single
        bound, ``s_max <= s_ref + max_i ||X^T D_i (lam0 - lam_ref)||`` (one GEMM); it
        replaces the dual norms when that correction is below ``1e-9 s_ref``. A list
        (the gated solver's plain and aligned points) serves both candidates.
    blocks : (V, W) arrays of shape (d_eff, P), optional
        The convex solution whose predictions are ``z``. A second candidate is then
        tried, ``lam0`` aligned with the non-zero blocks (each block's own direction
        put on the dual sphere, :func:`~convexnn.solvers._kernels.aligned_dual_candidate`),
        and the better bound is returned. The plain candidate's gap falls like the
        square root of the solution's suboptimality, the aligned one's like the
        suboptimality itself. It costs one k x k solve (k non-zero blocks; skipped
        when too many, see ``worth_aligning``) and a second dual-norm evaluation
        (the cone norms for ``"relu"``: costly at large n).

    Returns
    -------
    Certificate
    """
    caller = "dual_certificate"
    scope = check_choice(scope, SCOPES, caller=caller, name="scope")
    z_arr = check_y(z, problem.n, caller=caller, name="z")
    D = np.asarray(problem.D, dtype=bool)
    lam0 = _dual_candidate(problem, z_arr, D, lam)
    kind = "residual" if lam is None else "multiplier"
    cert = _certificate_of(problem, D, lam0, upper_bound, scope, dual_norm_bound, kind)
    lam1 = None if blocks is None else _aligned_candidate(problem, D, blocks, lam0)
    return _better_with_aligned(problem, D, z_arr, lam1, cert, dual_norm_bound)


def _better_with_aligned(
    problem: ConvexReLUProblem,
    D: BoolArray,
    z: Array,
    lam1: Array | None,
    cert: Certificate,
    dual_norm_bound: Any = None,
) -> Certificate:
    """``cert``, or the certificate of the aligned candidate ``lam1`` when it is better."""
    if lam1 is None:
        return cert
    lam1 = _dual_candidate(problem, z, D, lam1)  # into the loss's domain again
    hint = dual_norm_bound if isinstance(dual_norm_bound, list) else None
    alt = _certificate_of(problem, D, lam1, cert.upper_bound, cert.scope, hint, "aligned")
    return alt if alt.lower_bound > cert.lower_bound else cert


def _aligned_candidate(
    problem: ConvexReLUProblem, D: BoolArray, blocks: tuple[Any, Any], lam0: Array
) -> Array | None:
    """``lam0`` aligned with the non-zero blocks of ``(V, W)``; None when not worth it."""
    from .solvers._kernels import aligned_dual_candidate, worth_aligning

    V, W = (np.asarray(b, dtype=np.float64) for b in blocks)
    if V.shape != (problem.d, problem.P) or W.shape != V.shape:
        raise ValueError(
            f"dual_certificate: blocks V and W must have shape (d_eff, P) = "
            f"({problem.d}, {problem.P}), got {V.shape} and {W.shape}."
        )
    on_v, on_w = np.linalg.norm(V, axis=0) > 0, np.linalg.norm(W, axis=0) > 0
    k = int(on_v.sum() + on_w.sum())
    if not worth_aligning(k, problem.n):
        return None
    # a w block enters the predictions with a minus sign: a signed pattern column
    M = np.concatenate([D[:, on_v], -1.0 * D[:, on_w]], axis=1).astype(np.float64)
    U = np.concatenate([V[:, on_v], W[:, on_w]], axis=1)
    lam = aligned_dual_candidate(problem.X, M, U, lam0, problem.beta, problem.output_bias)
    return np.asarray(lam, dtype=np.float64) if np.all(np.isfinite(lam)) else None


def _certificate_of(
    problem: ConvexReLUProblem,
    D: BoolArray,
    lam0: Array,
    upper_bound: float,
    scope: str,
    dual_norm_bound: Any,
    candidate: str,
) -> Certificate:
    """The certificate of the dual candidate ``lam0`` (in the loss's domain)."""
    s_max = _shifted_dual_norm_bound(problem.X, D, lam0, dual_norm_bound)
    if s_max is None:
        s_max = _max_dual_norm(problem.X, D, lam0, problem.formulation)
    t_max = _SAFETY * problem.beta / s_max if s_max > 0 else np.inf
    t = float(problem.loss.best_dual_scale(lam0, problem.y, t_max))
    lam = t * lam0
    lower = float(problem.loss.dual_value(lam, problem.y))
    upper = float(upper_bound)
    gap = upper - lower
    return Certificate(
        lower_bound=lower,
        upper_bound=upper,
        gap=gap,
        relative_gap=relative_gap(upper, lower, problem.y),
        scope=scope,
        dual_point=lam,
        dual_norm=float(s_max),
        scale=t,
        formulation=problem.formulation,
        n_patterns=problem.P,
        candidate=candidate,
        gap_floor=gap_floor(problem.y),
    )


def _shifted_dual_norm_bound(X: Array, D: BoolArray, lam0: Array, bound: Any) -> float | None:
    """An upper bound on the largest dual norm of ``lam0`` from a solver's bound(s).

    ``bound`` is ``(lam_ref, s_ref)`` or a list of them. Projections onto cones are
    non-expansive and ``||D_i|| <= 1``, so ``s_max <= s_ref + ||X||_F ||lam0 - lam_ref||``
    (no pass over the patterns): used when that shift is below ``1e-9 s_ref`` (the
    solver's own point, up to rounding). Else, for a single bound, the shift
    ``max_i ||X^T D_i (lam0 - lam_ref)||`` (one GEMM), when it is as small.
    """
    if bound is None:
        return None
    refs = [
        (np.asarray(lam_ref, dtype=np.float64), float(s_ref))
        for lam_ref, s_ref in (bound if isinstance(bound, list) else [bound])
    ]
    refs = [(lr, sr) for lr, sr in refs if lr.shape == lam0.shape and np.isfinite(sr) and sr > 0]
    fro = float(np.linalg.norm(X))
    for lam_ref, s_ref in refs:
        cheap = fro * float(np.linalg.norm(lam0 - lam_ref))
        if cheap <= 1e-9 * s_ref:
            return s_ref + cheap
    if len(refs) != 1:
        return None
    lam_ref, s_ref = refs[0]
    shift = float(np.linalg.norm(_pattern_gradients(X, D, lam0 - lam_ref), axis=0).max())
    return s_ref + shift if shift <= 1e-9 * s_ref else None


def _dual_candidate(problem: ConvexReLUProblem, z: Array, D: BoolArray, lam: Any = None) -> Array:
    """``-grad L(z)`` (a subgradient for hinge), made feasible for the loss's domain.

    A given ``lam`` (a solver's multiplier of ``z = A(V - W) + c``, e.g. CVXPY's) is
    used instead of ``-grad L(z)`` and made feasible the same way.

    Coordinates the loss leaves free (hinge: points on the margin, where the
    subdifferential is an interval) are optimised by a small SOCP, the dual restricted
    to them (:func:`_optimise_free_coordinates`). With an output bias the candidate is
    projected onto ``{lo <= lam <= hi, 1^T lam = 0}`` (the loss's dual box: e.g.
    ``lam_i y_i in [0, 1]`` for logistic and hinge; plain centring for the squared
    loss), so ``t lam`` stays in the conjugate's domain for ``t in [0, 1]``. When that
    set is empty (one class only) the candidate is 0 and the bound is ``-L*(0)``.
    """
    loss = problem.loss
    if lam is None:
        lam0, free = loss.dual_candidate(z, problem.y)
    else:
        lam0, free = check_y(lam, problem.n, caller="dual_certificate", name="lam"), None
    lo, hi = loss.dual_box(problem.y)
    if free is not None and free.any():
        lam0 = _optimise_free_coordinates(problem, D, lam0, free, lo, hi)
    return into_dual_domain(lam0, lo, hi, problem.output_bias)


_POLISH_MAX_SIZE = 60_000  # largest 2 n P (relu: cone multipliers) or P d (gated) polished


def _optimise_free_coordinates(
    problem: ConvexReLUProblem,
    D: BoolArray,
    lam0: Array,
    free: NDArray[np.bool_],
    lo: Array,
    hi: Array,
) -> Array:
    """Maximise ``-L*(-lam)`` over the free coordinates of ``lam``, the others fixed.

    The dual constraints are written with cone multipliers
    ``||s X^T D_i lam + X^T (2 D_i - I) mu_is|| <= beta``, ``mu_is >= 0`` (any ``mu``
    gives an upper bound on the cone dual norm, see the module docstring), or
    ``||X^T D_i lam|| <= beta`` for ``"gated"``; ``1^T lam = 0`` with an output bias.
    Solved with CVXPY/Clarabel when small enough (``2 n P``, gated ``P d``, at most
    60000); otherwise the plain subgradient is kept (a valid, weaker bound). The result is
    only a candidate: feasibility is re-checked and enforced by scaling afterwards.
    Returns ``lam0`` unchanged when the program is too large or the solve fails.
    """
    import cvxpy as cp

    n, P = problem.n, problem.P
    idx = np.flatnonzero(free)
    relu = problem.formulation == "relu"
    if (2 * n * P if relu else P * problem.d) > _POLISH_MAX_SIZE:
        return lam0
    X, M = problem.X, np.asarray(D, dtype=np.float64)
    fixed = np.where(free, 0.0, lam0)
    a = cp.Variable(idx.size)
    select = np.zeros((n, idx.size))
    select[idx, np.arange(idx.size)] = 1.0
    lam = fixed + select @ a
    G = X.T @ (fixed[:, None] * M) + X[idx].T @ cp.diag(a) @ M[idx]
    cons = [a >= lo[idx], a <= hi[idx]]
    if problem.output_bias:
        cons.append(cp.sum(lam) == 0)
    if relu:
        S = 2.0 * M - 1.0
        for sign in (1.0, -1.0):
            mu = cp.Variable((n, P), nonneg=True)
            cons.append(cp.norm(sign * G + X.T @ cp.multiply(S, mu), 2, axis=0) <= problem.beta)
    else:
        cons.append(cp.norm(G, 2, axis=0) <= problem.beta)
    prob = cp.Problem(cp.Maximize(problem.loss.dual_value_cvxpy(lam, problem.y)), cons)
    try:
        prob.solve(solver="CLARABEL")
    except cp.error.SolverError:  # pragma: no cover - keep the plain subgradient
        return lam0
    if a.value is None:
        return lam0
    out = lam0.copy()
    out[idx] = np.asarray(a.value, dtype=np.float64)
    return out


def certify(
    network: TwoLayerReLU | GatedReLU,
    X: Any,
    y: Any,
    beta: float,
    *,
    patterns: Any = None,
    formulation: str | None = None,
    loss: str | Loss = "squared",
    max_patterns: int = 200_000,
    random_state: Any = None,
) -> Certificate:
    """Bound how far ``network`` is from the optimum of its training problem (2).

    The upper bound is the network's own objective
    ``L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``; the lower bound is the
    dual objective at the scaled negative loss gradient (see :func:`dual_certificate`).
    Works for any network, trained by anything (Remark 3.2). When that gap is below
    0.5 (relative) and the loss is smooth, the candidate aligned with the network's
    neurons (each neuron a block of its own pattern) is tried too and the better bound
    returned: near the optimum the plain bound's gap falls like the square root of the
    network's suboptimality, the aligned one's like the suboptimality itself.

    Parameters
    ----------
    network : TwoLayerReLU or GatedReLU
        Its hidden biases ``b`` (if any) make the data ``X_eff = [X, 1]``; its output
        bias ``c`` (if not None) adds the dual constraint ``1^T lam = 0``. A
        :class:`convexnn.GatedReLU` is certified on the gated program, over the given
        patterns and its own gates' (global with exhaustive patterns: for gated networks
        of any width and any gates).
    X : array of shape (n, d)
        Data, with ``d = network.n_features`` (no ones column: the bias is ``network.b``).
    y : array of shape (n,)
    beta : float
        Weight decay of eq. (2), > 0.
    patterns : None, "exact", "sampled" or bool array of shape (n, P)
        ``"exact"``: all patterns of ``X_eff`` (:func:`convexnn.enumerate_patterns`);
        the certificate is then GLOBAL. When there are more than ``max_patterns``, they
        are not stored but streamed: the exact pricing oracle
        (:func:`convexnn.patterns.max_dual_violation`) bounds the dual norm over ALL
        patterns (exact for rank(X_eff) <= 3; a proven, possibly loose, upper bound by
        branch and bound above, with a UserWarning), so the certificate stays GLOBAL.
        None: enumerate, but when there are more than
        ``max_patterns`` it falls back, with a UserWarning, to ``"sampled"``:
        1000 Gaussian patterns plus the network's own patterns ``1[X_eff U_eff >= 0]``.
        An array: these patterns of ``X_eff``, plus the network's own where they are
        missing (so that the network is a point of the program and the gap is at least
        0); the scope is global only for a :class:`PatternMatrix` enumerated for this
        very ``X_eff``.
    formulation : {"relu", "gated"} or None
        Dual constraints. For a ReLU network ``"gated"`` gives a looser but still valid
        bound. None: ``"relu"`` for a TwoLayerReLU, ``"gated"`` for a GatedReLU (the
        only one it takes).
    loss : str or Loss
    max_patterns : int
        Largest number of patterns to enumerate.
    random_state : None, int or numpy Generator
        For sampling patterns.

    Returns
    -------
    Certificate
        ``scope == "global"``: the lower bound holds for problem (2) itself, at any
        width. ``"patterns"``: only for the convex program over the patterns used.
    """
    caller = "certify"
    if isinstance(network, GatedReLU):
        if formulation not in (None, "gated"):
            raise ValueError(
                f"{caller}: a GatedReLU network is certified on the gated program; pass "
                f"formulation='gated', got formulation={formulation!r}."
            )
        return certify_gated(
            network,
            X,
            y,
            beta,
            patterns=patterns,
            loss=loss,
            max_patterns=max_patterns,
            random_state=random_state,
        )
    if not isinstance(network, TwoLayerReLU):
        raise TypeError(
            f"{caller}: network must be a convexnn.TwoLayerReLU or GatedReLU, got "
            f"{type(network).__name__}. Build one with TwoLayerReLU(U, alpha, b, c)."
        )
    if network.is_multi_output:
        raise ValueError(
            f"{caller}: a network with {network.alpha.shape[1]} outputs (alpha of shape "
            f"{network.alpha.shape}); certify takes scalar-output networks. Certify each "
            f"output's network TwoLayerReLU(U, alpha[:, k], b, c[k]) on its column of y."
        )
    X_arr = _check_features(check_X(X, caller=caller), network, caller)
    y_arr = check_y(y, X_arr.shape[0], caller=caller)
    beta_val = check_beta(beta, caller=caller)
    formulation = check_choice(
        "relu" if formulation is None else formulation,
        FORMULATIONS,
        caller=caller,
        name="formulation",
    )
    loss_obj = get_loss(loss, caller=caller)
    y_arr = loss_obj.check_targets(y_arr, caller)
    max_patterns = check_positive_int(max_patterns, caller=caller, name="max_patterns")
    hidden_bias = network.b is not None
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    own = X_eff @ network.U_eff >= 0  # the network's own patterns
    D, scope = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, own, max_patterns, random_state, caller
    )
    if D is None:  # too many patterns to store: stream them through the pricing oracle
        return _streamed_certificate(network, X_arr, X_eff, y_arr, beta_val, formulation, loss_obj)
    # The network must be a point of the program: its own patterns join given ones (else
    # it could beat the program's optimum, and the "gap" be negative).
    D = _with_own_patterns(D, own)
    problem = ConvexReLUProblem(
        X=X_eff,
        y=y_arr,
        beta=beta_val,
        D=D,
        formulation=formulation,
        loss=loss_obj,
        hidden_bias=hidden_bias,
        output_bias=network.c is not None,
    )
    z = network.predict(X_arr)
    upper = loss_obj.value(z, y_arr) + beta_val * network.penalty()
    cert = dual_certificate(problem, z, upper, scope=scope)
    # Near the optimum, with a smooth loss (-grad L is the candidate), also try the
    # candidate aligned with the neurons: a gap like the suboptimality, not its root.
    if 0 < cert.relative_gap < _ALIGN_BELOW and loss_obj.smoothness is not None:
        D = np.asarray(problem.D, dtype=bool)
        lam1 = _aligned_to_network(problem, network, _dual_candidate(problem, z, D))
        return _better_with_aligned(problem, D, z, lam1, cert)
    return cert


# certify: the aligned candidate is tried below this relative gap (a second set of dual
# norms; on a 2-D exhaustive problem it took a plain gap of 0.19 to 1.6e-4)
_ALIGN_BELOW = 0.5


def _aligned_to_network(
    problem: ConvexReLUProblem, network: TwoLayerReLU, lam0: Array
) -> Array | None:
    """``lam0`` aligned with the network's neurons (None when not worth it).

    Neuron j is the block ``|alpha_j| u_j`` of its own pattern ``1[X_eff u_j >= 0]`` with
    the sign of ``alpha_j`` (Theorem 1 backwards), whether or not that pattern is among
    the certificate's: the alignment only picks the candidate, the scaling over the
    certificate's patterns makes it feasible.
    """
    from .solvers._kernels import aligned_dual_candidate, worth_aligning

    if network.alpha.ndim != 1:
        return None
    U = network.U_eff
    XU = problem.X @ U
    pattern = (XU >= 0).astype(np.float64)
    live = (network.alpha != 0) & (np.linalg.norm(pattern * XU, axis=0) > 0)
    if not worth_aligning(int(live.sum()), problem.n):
        return None
    M = pattern[:, live] * np.sign(network.alpha[live])
    lam = aligned_dual_candidate(problem.X, M, U[:, live], lam0, problem.beta, problem.output_bias)
    return np.asarray(lam, dtype=np.float64) if np.all(np.isfinite(lam)) else None


def _check_features(X: Array, network: TwoLayerReLU, caller: str) -> Array:
    d = network.n_features
    if X.shape[1] == d:
        return X
    hint = ""
    if network.b is not None and X.shape[1] == d + 1:
        hint = (
            " It looks like X already has a ones column: pass the raw features, the "
            "hidden bias is network.b."
        )
    raise ValueError(
        f"{caller}: X must have network.n_features = {d} columns (network.U has shape "
        f"{network.U.shape}), got X with shape {X.shape}. Pass the features the network "
        f"was trained on.{hint}"
    )


def _resolve_patterns(
    patterns: Any,
    X: Array,
    X_eff: Array,
    hidden_bias: bool,
    own: BoolArray,
    max_patterns: int,
    random_state: Any,
    caller: str,
    stacklevel: int = 4,
) -> tuple[BoolArray | None, str]:
    """Return the patterns ``D`` (n, P) for ``X_eff`` and the scope of the certificate.

    ``own`` (n, m): the network's own patterns, added to sampled ones. ``D`` is None when
    all the patterns are asked for (``"exact"``) but too many to store: the certificate
    then streams them (:func:`_streamed_certificate`). Warnings use ``stacklevel``: 4
    from :func:`certify`, 5 from its gated twin (one frame deeper).
    """
    if patterns is None or isinstance(patterns, str):
        return _named_patterns(
            patterns, X, hidden_bias, own, max_patterns, random_state, caller, stacklevel
        )
    D = check_patterns(patterns, X.shape[0], caller=caller)
    return D, pattern_scope(D, X_eff, hidden_bias=hidden_bias, caller=caller)


def _named_patterns(
    patterns: str | None,
    X: Array,
    hidden_bias: bool,
    own: BoolArray,
    max_patterns: int,
    random_state: Any,
    caller: str,
    stacklevel: int,
) -> tuple[BoolArray | None, str]:
    """``patterns`` None, "exact" or "sampled": enumerate, stream, or sample."""
    from .patterns import enumerate_patterns

    if patterns not in (None, "exact", "sampled"):
        raise ValueError(
            f"{caller}: patterns must be None, 'exact', 'sampled' or a boolean array "
            f"of shape (n, P), got the string {patterns!r}."
        )
    if patterns == "sampled":
        return _sampled_with_network(X, hidden_bias, own, random_state), "patterns"
    try:
        D = enumerate_patterns(X, hidden_bias=hidden_bias, max_patterns=max_patterns)
    except ValueError as exc:
        if patterns == "exact":
            return None, "global"  # streamed by the pricing oracle, never stored
        warnings.warn(
            f"{caller}: the patterns of X cannot be enumerated within max_patterns="
            f"{max_patterns} ({exc}) The certificate is relative to {N_SAMPLED_PATTERNS} "
            f"sampled patterns plus the network's own {own.shape[1]}, NOT global. "
            f"Raise max_patterns, or pass patterns='exact' to stream all the patterns "
            f"through the pricing oracle (ReLU networks; exact for rank(X_eff) <= 3).",
            UserWarning,
            stacklevel=stacklevel,
        )
        return _sampled_with_network(X, hidden_bias, own, random_state), "patterns"
    return D, "global"


def _streamed_certificate(
    network: TwoLayerReLU,
    X: Array,
    X_eff: Array,
    y: Array,
    beta: float,
    formulation: str,
    loss: Loss,
) -> Certificate:
    """Global certificate over ALL the patterns of ``X_eff`` without storing them.

    As :func:`dual_certificate`, with ``s_max`` the pricing oracle's proven upper bound
    on ``max_{||u|| <= 1} |lam0^T (X_eff u)_+|`` (or the gated ``max_D ||X^T D lam0||``)
    over every pattern. The problem object carries the network's own patterns only
    (used to polish free dual coordinates, e.g. hinge margins).
    """
    from .patterns.oracle import max_dual_violation

    own = np.unique(X_eff @ network.U_eff >= 0, axis=1) if network.n_neurons else None
    D = own if own is not None else np.ones((X.shape[0], 1), dtype=bool)
    problem = ConvexReLUProblem(
        X=X_eff,
        y=y,
        beta=beta,
        D=D,
        formulation=formulation,
        loss=loss,
        hidden_bias=network.b is not None,
        output_bias=network.c is not None,
    )
    z = network.predict(X)
    upper = float(loss.value(z, y) + beta * network.penalty())
    lam0 = _dual_candidate(problem, z, D)
    price = max_dual_violation(X_eff, lam0, formulation=formulation)
    if not price.exact:
        warnings.warn(
            f"certify: rank(X_eff) > 3, so the dual norm over all patterns is a proven "
            f"upper bound from branch and bound ({price.upper_bound:.6g}, best value found "
            f"{price.value:.6g}), not the exact maximum: the GLOBAL lower bound may be loose.",
            UserWarning,
            stacklevel=3,
        )
    s_max = price.upper_bound
    t_max = _SAFETY * beta / s_max if s_max > 0 else np.inf
    t = float(loss.best_dual_scale(lam0, y, t_max))
    lam = t * lam0
    lower = float(loss.dual_value(lam, y))
    return Certificate(
        lower_bound=lower,
        upper_bound=upper,
        gap=upper - lower,
        relative_gap=relative_gap(upper, lower, y),
        scope="global",
        dual_point=lam,
        dual_norm=float(s_max),
        scale=t,
        formulation=formulation,
        n_patterns=price.n_cells,
        gap_floor=gap_floor(y),
    )


def _with_own_patterns(D: BoolArray, own: BoolArray) -> BoolArray:
    """``D`` (n, P) with the columns of ``own`` (n, m) it lacks appended, once each."""

    def keys(A: BoolArray) -> NDArray[np.void]:  # one comparable item per column: its bits
        K = np.ascontiguousarray(np.packbits(np.asarray(A, dtype=bool), axis=0).T)
        return K.view(np.dtype((np.void, K.shape[1]))).ravel()

    k_own = keys(own)
    new = np.flatnonzero(~np.isin(k_own, keys(D)))
    if new.size == 0:
        return D
    first = np.sort(np.unique(k_own[new], return_index=True)[1])
    return np.hstack([np.asarray(D, dtype=bool), own[:, new[first]]])


def _sampled_with_network(
    X: Array, hidden_bias: bool, own: BoolArray, random_state: Any
) -> BoolArray:
    """Gaussian patterns plus the network's own ``own`` (n, m), deduplicated."""
    from .patterns import sample_patterns

    sampled = sample_patterns(
        X,
        N_SAMPLED_PATTERNS,
        hidden_bias=hidden_bias,
        random_state=random_state,
        unique=False,  # exactly N directions; deduplicated below with the network's own
    )
    D = np.hstack([np.asarray(sampled, dtype=bool), own])
    return np.unique(D, axis=1)
