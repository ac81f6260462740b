"""Two-layer ReLU CNNs through convex programs (paper section 4.1 and the program before Fig. 10).

Section 4.1 (per-patch labels ``y_k``): the filters are shared across the K patches,

    min  1/2 sum_k || sum_j (X_k u_j)_+ alpha_j - y_k ||^2 + beta/2 sum_j (||u_j||^2 + alpha_j^2),

which is eq. (2) on the stacked data ``X' = [X_1; ...; X_K]``, ``y' = [y_1; ...; y_K]``:
:func:`solve_patchwise_relu_cnn` hands it to :func:`convexnn.solve` (exact patterns for
small filters, certified globally).

Scalar output (the appendix program before Figure 10): with patterns ``D_ik = D(S_ik)`` of
neuron i on patch k (n x n diagonal),

    min_{v_i, w_i}  L( sum_i sum_k D_ik X_k (v_i - w_i), y ) + beta sum_i (||v_i|| + ||w_i||)
    s.t.  (2 D_ik - I) X_k v_i >= 0,  (2 D_ik - I) X_k w_i >= 0   for all i, k   ("relu")

(``"gated"`` drops the constraints). With the patterns as a mask ``M`` (N, K, P), the
operator is two GEMMs: ``A(V) = sum_{k,i} M * (X_flat V)`` and
``A^T(r) = X_flat^T (M * r)`` with ``X_flat`` the (N K) x d stacked patches. Its solution
gives the CNN ``f(X) = sum_i sum_k (X_k u_i)_+ alpha_i`` (``u = v / sqrt(||v||)``,
``alpha = sqrt(||v||)``, output weights tied across positions: ``alpha_ik = alpha_i``) whose
objective (sum pooling, ``beta/2 (||u_i||^2 + alpha_i^2)``) equals the program's optimum.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .._measures import relative_gap, relative_violation
from .._validation import as_generator, check_choice, check_positive_int
from ..duality import cone_dual_norms
from ..exceptions import ConvergenceWarning
from ..losses import Loss, get_loss
from ..losses.base import into_dual_domain
from ..prune import check_prune, pruned_as_asked
from ..solve import _FALLBACK_LOSSES, _FALLBACK_RATIO, _FALLBACK_SECONDS, Solution, solve
from ._common import as_patches, check_common, check_scalar_targets, kept_blocks
from ._gated_bcd import solve_gated_bcd
from ._relu_bcd import solve_relu_bcd
from .network import ConvReLUNet

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
PATTERN_METHODS = ("random", "kmeans", "network")
FORMULATIONS = ("relu", "gated")
SOLVERS = ("cvxpy", "bcd", "fista")


# -- section 4.1 ------------------------------------------------------------------------------
def stack_patches(patches: Any, Y: Any | None = None) -> tuple[Array, Array | None]:
    """``X' = [X_1; ...; X_K]`` (K N, d) and ``y' = [y_1; ...; y_K]`` from (N, K, d), (N, K)."""
    P = np.asarray(patches, dtype=np.float64)
    N, K, d = P.shape
    Xs = P.transpose(1, 0, 2).reshape(K * N, d)
    ys = None if Y is None else np.asarray(Y, dtype=np.float64).T.reshape(K * N)
    return Xs, ys


def solve_patchwise_relu_cnn(
    X: Any,
    Y: Any,
    beta: float,
    *,
    kernel_size: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    **solve_kwargs: Any,
) -> Solution:
    """Section 4.1: a ReLU CNN with per-patch labels, solved as eq. (2) on stacked patches.

    ``min 1/2 sum_k ||sum_j (X_k u_j)_+ alpha_j - y_k||^2 + beta/2 sum_j (||u_j||^2 + alpha_j^2)``

    Parameters
    ----------
    X : array (N, C, H, W) / (N, C, L) with ``kernel_size``, or patches (N, K, d)
    Y : array (N, K)
        Label ``y_k`` of every patch (output position, row-major).
    beta : float
    kernel_size, stride, padding : convolution geometry (PyTorch conventions)
    **solve_kwargs
        Passed to :func:`convexnn.solve` (``patterns``, ``hidden_bias``, ``solver``, ...).
        With ``patterns=None`` the N K stacked patches get their exact patterns when these
        are few enough (``solve``'s ``max_exact_patterns``, 5000: e.g. a handful of short
        1-D signals with filters of size 2-3), and the certificate is global; beyond that
        the patterns are sampled, and ``certificate.scope`` / ``pattern_source`` say so.

    Returns
    -------
    Solution
        ``network`` is the shared filter bank as a :class:`convexnn.TwoLayerReLU` acting
        on one patch; :func:`predict_patchwise` applies it to every patch.
    """
    caller = "solve_patchwise_relu_cnn"
    P = as_patches(X, kernel_size, stride, padding, caller=caller)
    Y_arr = np.asarray(Y, dtype=np.float64)
    if Y_arr.shape != P.shape[:2]:
        raise ValueError(
            f"{caller}: Y must hold one label per sample and patch, shape (N, K) = "
            f"{P.shape[:2]}, got {Y_arr.shape}."
        )
    Xs, ys = stack_patches(P, Y_arr)
    return solve(Xs, ys, beta, **solve_kwargs)


def predict_patchwise(network: Any, patches: Any) -> Array:
    """Per-patch outputs ``sum_j (X_k u_j)_+ alpha_j``, shape (N, K), of a TwoLayerReLU."""
    P = np.asarray(patches, dtype=np.float64)
    N, K, d = P.shape
    return np.asarray(network.predict(P.reshape(N * K, d))).reshape(N, K)


# -- pattern generators ----------------------------------------------------------------------
def _augment(P: Array, hidden_bias: bool) -> Array:
    return np.concatenate([P, np.ones((*P.shape[:2], 1))], axis=2) if hidden_bias else P


def sample_cnn_gates(
    patches: Any,
    n_gates: int,
    *,
    method: str = "random",
    hidden_bias: bool = False,
    network: ConvReLUNet | None = None,
    random_state: Any = None,
) -> Array:
    """Generators ``h_i`` of the CNN patterns ``S_ik = 1[X_k h_i >= 0]``, shape (d_eff, P).

    Parameters
    ----------
    patches : array (N, K, d)
    n_gates : int
        Number of generators (patterns per patch) for ``"random"`` / ``"kmeans"``.
    method : {"random", "kmeans", "network"}
        ``"random"``: Gaussian filters (Remark 3.2). ``"kmeans"``: the centroids of
        ``n_gates`` k-means clusters of all patches (the paper used 50), the bias entry
        ``-||c||^2 / 2`` so the hyperplane bisects origin and centroid (0 without bias:
        the hyperplane through 0). ``"network"``: the filters (and biases) of a trained
        ``network``.
    hidden_bias : bool
        Generators for ``[X_k, 1]``.
    network : ConvReLUNet
        For ``method="network"``.
    random_state : None, int or Generator
    """
    caller = "sample_cnn_gates"
    method = check_choice(method, PATTERN_METHODS, caller=caller, name="method")
    P = np.asarray(patches, dtype=np.float64)
    if P.ndim != 3:
        raise ValueError(
            f"sample_cnn_gates: patches must be (N, K, d) (samples, positions, filter size), "
            f"got shape {P.shape}; build them with extract_patches(X, kernel_size)."
        )
    d = P.shape[2]
    rng = as_generator(random_state, caller=caller)
    if method == "network":
        if not isinstance(network, ConvReLUNet):
            raise ValueError(f"{caller}: method='network' needs network=<ConvReLUNet>.")
        H = network.U
        if hidden_bias:
            b = network.b if network.b is not None else np.zeros(network.n_filters)
            H = np.vstack([H, b[None, :]])
        return np.array(H, dtype=np.float64)
    n_gates = check_positive_int(n_gates, caller=caller, name="n_gates")
    if method == "random":
        return rng.standard_normal((d + int(hidden_bias), n_gates))
    from sklearn.cluster import KMeans

    flat = P.reshape(-1, d)
    n_clusters = min(n_gates, flat.shape[0])
    seed = int(rng.integers(2**31 - 1))
    km = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(flat)
    C = km.cluster_centers_.T
    if hidden_bias:
        C = np.vstack([C, -0.5 * np.sum(C * C, axis=0)[None, :]])
    return np.array(C, dtype=np.float64)


def cnn_patterns(patches: Any, gates: Any, *, hidden_bias: bool = False) -> BoolArray:
    """Patterns ``S[n, k, i] = 1[X_k h_i >= 0]`` of patches (N, K, d), shape (N, K, P)."""
    P = _augment(np.asarray(patches, dtype=np.float64), hidden_bias)
    return np.asarray(P @ np.asarray(gates, dtype=np.float64) >= 0)


# -- the program -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConvReLUProgram:
    """The CNN convex program for scalar outputs (see module docstring).

    Attributes
    ----------
    X : array (N, K, d_eff)
        Patches (with the ones column when ``hidden_bias``).
    y : array (N,)
    beta : float
    S : array (N, K, P) of bool
        Pattern of neuron i on patch k.
    formulation : {"relu", "gated"}
    loss : Loss
    hidden_bias : bool
    """

    X: Array
    y: Array
    beta: float
    S: BoolArray
    formulation: str = "relu"
    loss: Loss = field(default_factory=lambda: get_loss("squared", caller="ConvReLUProgram"))
    hidden_bias: bool = False

    @property
    def Xf(self) -> Array:
        """Stacked patches (N K, d_eff)."""
        N, K, d = self.X.shape
        return self.X.reshape(N * K, d)

    @property
    def Mf(self) -> Array:
        """Pattern mask as floats, (N K, P)."""
        cached = self.__dict__.get("_Mf")
        if cached is None:
            cached = self.S.reshape(-1, self.S.shape[2]).astype(np.float64)
            object.__setattr__(self, "_Mf", cached)
        return cached

    def A(self, V: Array) -> Array:
        """``sum_i sum_k D_ik X_k v_i`` for V (d_eff, P); shape (N,)."""
        N, K = self.X.shape[:2]
        return (self.Mf * (self.Xf @ V)).reshape(N, K, -1).sum(axis=(1, 2))  # type: ignore[no-any-return]

    def AT(self, r: Array) -> Array:
        """Adjoint: ``[sum_k X_k^T D_ik r]_i`` as (d_eff, P)."""
        K = self.X.shape[1]
        return self.Xf.T @ (self.Mf * np.repeat(r, K)[:, None])  # type: ignore[no-any-return]

    def objective(self, V: Array, W: Array) -> float:
        reg = np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum()
        return self.loss.value(self.A(V - W), self.y) + self.beta * float(reg)

    def constraint_violation(self, V: Array, W: Array) -> float:
        """Largest violation of ``(2 D_ik - I) X_k v_i >= 0`` relative to ``max |X_k v_i|``."""
        if self.formulation == "gated":
            return 0.0
        sgn = 2.0 * self.Mf - 1.0
        worst = scale = 0.0
        for B in (V, W):
            XB = self.Xf @ B
            worst = max(worst, float(np.max(-sgn * XB, initial=0.0)))
            scale = max(scale, float(np.max(np.abs(XB), initial=0.0)))
        return relative_violation(worst, scale, self.y)  # 0 for blocks of about zero

    def lower_bound(self, z: Array) -> float:
        """Dual bound ``-L*(-t lam)`` at ``lam = -grad L(z)``, scaled to be dual feasible.

        The dual norm of pattern i is ``max_{v in K_i, ||v|| <= 1} |lam^T sum_k D_ik X_k v|``,
        which is the dual norm of pattern ``S[:, :, i]`` on the stacked patches with
        ``lam`` repeated K times: :func:`convexnn.duality.cone_dual_norms` computes it
        (``||sum_k X_k^T D_ik lam||`` for "gated"). For a loss whose subgradient is not
        unique at z (the hinge loss at its margins) ``lam`` is the dual SOCP's optimum
        over these patterns (:meth:`dual_point`), evaluated the same way.
        """
        lam, free = self.loss.dual_candidate(z, self.y)
        if free is not None and free.any():
            lam = self.dual_point()
        return self.bound_at(np.asarray(lam, dtype=np.float64))

    def bound_at(self, lam: Array) -> float:
        """``-L*(-t lam)`` for ``lam`` brought into the conjugate's domain and scaled so that
        every pattern's dual norm is at most beta: a lower bound on the program."""
        return self.bound_and_norms(lam)[0]

    def bound_and_norms(self, lam: Array, keep: BoolArray | None = None) -> tuple[float, Array]:
        """:meth:`bound_at` and the dual norms (P, 2) of every pattern and sign (column
        0 for ``+lam``, the v blocks; 1 for ``-lam``, the w blocks) at the ``lam``
        brought into the conjugate's domain (before the scaling). With ``keep`` (P, 2)
        the scaling sees only those norms: the bound of the program restricted to them."""
        lo, hi = self.loss.dual_box(self.y)
        lam = into_dual_domain(lam, lo, hi, False)
        K = self.X.shape[1]
        lam_rep = np.repeat(lam, K)
        D = self.S.reshape(-1, self.S.shape[2])
        norms = cone_dual_norms(self.Xf, D, lam_rep, formulation=self.formulation)
        s = float(np.max(norms if keep is None else norms[keep], initial=0.0))
        t_max = (1.0 - 1e-14) * self.beta / s if s > 0 else np.inf
        t = float(self.loss.best_dual_scale(lam, self.y, t_max))
        return float(self.loss.dual_value(t * lam, self.y)), norms

    def dual_point(self) -> Array:
        """The dual SOCP's maximiser ``lam`` (N,) over these patterns, by CVXPY + Clarabel.

        ``max -L*(-lam)`` s.t. ``lam`` in the conjugate's domain and, for every pattern i,
        ``||X_f^T (M_i * lam_rep + (2 M_i - 1) * mu_i)|| <= beta`` with ``mu_i >= 0`` and
        the same for ``-lam`` with ``nu_i`` ("gated": without ``mu``, ``nu``), where
        ``lam_rep`` repeats ``lam`` over each sample's K patches (section 5's dual on the
        stacked patches).
        """
        import cvxpy as cp

        N, K = self.X.shape[:2]
        Pn = self.S.shape[2]
        lam = cp.Variable(N)
        rep = sp.kron(sp.eye(N, format="csr"), np.ones((K, 1)), format="csr")  # (N K, N)
        lam_rep = cp.reshape(rep @ lam, (N * K, 1), order="F") @ np.ones((1, Pn))
        Mf, Xt = self.Mf, self.Xf.T
        lo, hi = self.loss.dual_box(self.y)
        cons = [lam[i] >= lo[i] for i in np.flatnonzero(np.isfinite(lo))]
        cons += [lam[i] <= hi[i] for i in np.flatnonzero(np.isfinite(hi))]
        if self.formulation == "gated":
            cons.append(cp.norm(Xt @ cp.multiply(Mf, lam_rep), 2, axis=0) <= self.beta)
        else:
            sgn = 2.0 * Mf - 1.0
            mu, nu = cp.Variable((N * K, Pn), nonneg=True), cp.Variable((N * K, Pn), nonneg=True)
            for sign, aux in ((1.0, mu), (-1.0, nu)):
                inner = sign * cp.multiply(Mf, lam_rep) + cp.multiply(sgn, aux)
                cons.append(cp.norm(Xt @ inner, 2, axis=0) <= self.beta)
        problem = cp.Problem(cp.Maximize(self.loss.dual_value_cvxpy(lam, self.y)), cons)
        problem.solve(solver=cp.CLARABEL)
        if lam.value is None:
            raise RuntimeError(f"ConvReLUProgram.dual_point: Clarabel failed ({problem.status}).")
        return np.asarray(lam.value, dtype=np.float64)


@dataclass(frozen=True)
class ConvCNNSolution:
    """Result of :func:`solve_relu_cnn`.

    Attributes
    ----------
    network : ConvReLUNet or None
        The recovered ReLU CNN (formulation "relu"); None for "gated".
    V, W : arrays (d_eff, P)
        Solution blocks (for "gated", W = 0 and V holds ``v_i - w_i``).
    gates : array (d_eff, P)
        Generators of the patterns (predicts the gated model on new data).
    objective : float
        "relu": objective of ``network`` (upper bound); "gated": convex objective.
    convex_objective, lower_bound, gap, relative_gap : float
        Bound and gap relative to the program over these patterns only.
    constraint_violation : float
    n_iter : int
    time : float
    solver, status, formulation : str
    """

    network: ConvReLUNet | None
    V: Array
    W: Array
    gates: Array
    objective: float
    convex_objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    constraint_violation: float
    n_iter: int
    time: float
    solver: str
    status: str
    formulation: str
    hidden_bias: bool

    def predict_convex(self, patches: Any) -> Array:
        """Convex model on new patches (N, K, d): ``sum_i sum_k D_ik X_k (v_i - w_i)``."""
        Pe = _augment(np.asarray(patches, dtype=np.float64), self.hidden_bias)
        M = (Pe @ self.gates) >= 0
        return (M * (Pe @ (self.V - self.W))).sum(axis=(1, 2))  # type: ignore[no-any-return]


def _cvxpy_solve(
    prog: ConvReLUProgram, verbose: bool, time_limit: float | None = None
) -> tuple[Array, Array, int, str]:
    import cvxpy as cp

    d, Pn = prog.Xf.shape[1], prog.S.shape[2]
    N, K = prog.X.shape[:2]
    V = cp.Variable((d, Pn))
    W = cp.Variable((d, Pn)) if prog.formulation == "relu" else None
    B = V - W if W is not None else V
    # A(B) = sum over (k, i) of M * (X B): a row-sum after reshaping by sample.
    G = cp.multiply(prog.Mf, prog.Xf @ B)
    # (N, N K) sparse: sums the K patches of a sample
    Ssum = sp.kron(sp.eye(N, format="csr"), np.ones((1, K)), format="csr")
    z = cp.sum(Ssum @ G, axis=1)
    reg = cp.sum(cp.norm(V, 2, axis=0)) + (cp.sum(cp.norm(W, 2, axis=0)) if W is not None else 0)
    cons = []
    if W is not None:
        sgn = 2.0 * prog.Mf - 1.0
        cons = [cp.multiply(sgn, prog.Xf @ V) >= 0, cp.multiply(sgn, prog.Xf @ W) >= 0]
    problem = cp.Problem(cp.Minimize(prog.loss.cvxpy_expr(z, prog.y) + prog.beta * reg), cons)
    limit = {} if time_limit is None else {"time_limit": time_limit}
    problem.solve(
        solver=cp.CLARABEL,
        verbose=verbose,
        direct_solve_method="qdldl",
        tol_gap_abs=1e-9,
        tol_gap_rel=1e-9,
        tol_feas=1e-9,
        **limit,
    )
    Vv = np.asarray(V.value, dtype=np.float64)
    Wv = np.asarray(W.value, dtype=np.float64) if W is not None else np.zeros_like(Vv)
    return Vv, Wv, int(problem.solver_stats.num_iters or 0), str(problem.status)


def _cvxpy_solve_or_raise(
    prog: ConvReLUProgram, verbose: bool, caller: str
) -> tuple[Array, Array, int, str]:
    """:func:`_cvxpy_solve`, Clarabel's failure (a raw SolverError, or no solution)
    raised as a RuntimeError that says what to try."""
    import cvxpy as cp

    advice = "a larger beta, fewer gates (n_gates) or rescaled data"
    if prog.loss.smoothness is not None:
        advice = f"solver='bcd', {advice}"
    try:
        V, W, n_iter, status = _cvxpy_solve(prog, verbose)
    except cp.SolverError as exc:
        raise RuntimeError(
            f"{caller}: solver 'cvxpy' (Clarabel) failed on the {prog.formulation} program "
            f"({exc}). To fix: try {advice}."
        ) from exc
    if not np.all(np.isfinite(V)) or not np.all(np.isfinite(W)):
        raise RuntimeError(
            f"{caller}: solver 'cvxpy' (Clarabel) returned status {status!r} with no "
            f"solution on the {prog.formulation} program. To fix: try {advice}."
        )
    return V, W, n_iter, status


def _check_smooth(loss: Loss, solver: str) -> None:
    if loss.smoothness is None:
        raise ValueError(
            f"solve_relu_cnn: solver {solver!r} needs a smooth loss, got {loss.name!r}; "
            f"use solver='cvxpy'."
        )


def _fista_gated(
    prog: ConvReLUProgram, tol: float, max_iter: int, verbose: bool = False
) -> tuple[Array, int, str]:
    """FISTA (with restart) on the gated program: a group lasso, block soft-thresholding.
    ``verbose``: the gap every 100 iterations and at the end."""
    L = _power_norm_sq(prog) * float(prog.loss.smoothness or 0.0)  # checked by the caller
    step = 1.0 / L
    d, Pn = prog.Xf.shape[1], prog.S.shape[2]
    U = np.zeros((d, Pn))
    Yk, t_k, f_old = U.copy(), 1.0, np.inf
    for it in range(1, max_iter + 1):
        G = prog.AT(prog.loss.gradient(prog.A(Yk), prog.y))
        B = Yk - step * G
        nrm = np.linalg.norm(B, axis=0)
        U_new = B * np.maximum(1.0 - step * prog.beta / np.maximum(nrm, 1e-300), 0.0)
        z = prog.A(U_new)
        f_new = prog.loss.value(z, prog.y) + prog.beta * float(np.linalg.norm(U_new, axis=0).sum())
        if f_new > f_old:
            Yk, t_k, f_old = U.copy(), 1.0, np.inf
            continue
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
        Yk = U_new + ((t_k - 1.0) / t_next) * (U_new - U)
        U, t_k, f_old = U_new, t_next, f_new
        if it % 10 == 0:
            rel = (f_new - prog.lower_bound(z)) / max(abs(f_new), 1e-300)
            if verbose and (it % 100 == 0 or rel <= tol):
                print(f"[gated cnn fista] iteration {it}: rel gap {rel:.3e}")
            if rel <= tol:
                return U, it, "optimal"
    return U, max_iter, "max_iter"


# The default's CVXPY re-solve of small gated programs that "bcd" leaves above tol, with
# convexnn.solve's policy for program (8): programs of N K P <= _FALLBACK_SIZE with a loss
# whose program is quadratic or second-order cone, under the same Clarabel time limit.
_MAX_ITER = 10_000
_ZERO_TOL = 1e-6  # blocks below this share of the largest norm leave the recovered network
_FALLBACK_SIZE = 200_000
# the relu program's default is "bcd" from N K P = 3e4: on 23 planted problems of N K P
# 1920-90000 (BENCHMARKS.md, stop 45; one run, beta = 1, 0.1, 0.01) it was as fast as
# Clarabel or faster (0.98-9.1x) on all 11 from 36000 up, certified where Clarabel
# stopped "inaccurate" twice; at 16000 and below Clarabel was faster on 10 of 12 (it
# took 0.13-0.93x bcd's time). Stop 44's grid: 1.4-14.5x from 1e5 up.
_RELU_BCD_SIZE = 30_000


def _default_solver(prog: ConvReLUProgram) -> str:
    """``solver=None``: "bcd" for a smooth loss on the gated program, and on the relu
    program from N K P = ``_RELU_BCD_SIZE``; else "cvxpy" (Clarabel)."""
    if not prog.loss.smoothness:
        return "cvxpy"
    if prog.formulation == "gated" or prog.S.size >= _RELU_BCD_SIZE:
        return "bcd"
    return "cvxpy"


def _cvxpy_fallback(
    prog: ConvReLUProgram, V: Array, W: Array, n_iter: int, status: str, solver: str, spent: float
) -> tuple[Array, Array, int, str, str]:
    """CVXPY's solution instead of the first-order one, when it applies and is better."""
    if prog.S.size > _FALLBACK_SIZE or prog.loss.name not in _FALLBACK_LOSSES:
        return V, W, n_iter, status, solver
    import cvxpy as cp

    limit = max(_FALLBACK_SECONDS, _FALLBACK_RATIO * spent)
    try:
        Vc, Wc, it, st = _cvxpy_solve(prog, False, time_limit=limit)
    except cp.SolverError:
        return V, W, n_iter, status, solver
    if st == "optimal" and prog.objective(Vc, Wc) < prog.objective(V, W):
        return Vc, Wc, n_iter + it, st, f"{solver} -> cvxpy"
    return V, W, n_iter, status, solver


def _power_norm_sq(prog: ConvReLUProgram, n_iter: int = 50) -> float:
    """``||A||^2`` (operator V -> A(V)) by power iteration on ``A A^T``, with 1% margin."""
    rng = np.random.default_rng(0)
    r = np.asarray(rng.standard_normal(prog.X.shape[0]), dtype=np.float64)
    val = 1.0
    for _ in range(n_iter):
        r_new = prog.A(prog.AT(r))
        val = float(np.linalg.norm(r_new))
        if val == 0:
            return 1.0
        r = np.asarray(r_new / val, dtype=np.float64)
    return 1.01 * val


def _recover(
    prog: ConvReLUProgram, V: Array, W: Array, zero_tol: float, **geom: Any
) -> ConvReLUNet:
    nv, nw, kv, kw = kept_blocks(V, W, zero_tol)
    cols, alphas = [], []
    for B, norms, keep, sign in ((V, nv, kv, 1.0), (W, nw, kw, -1.0)):
        cols.append(B[:, keep] / np.sqrt(norms[keep]))
        alphas.append(sign * np.sqrt(norms[keep]))
    U = np.concatenate(cols, axis=1)
    alpha = np.concatenate(alphas)
    if prog.hidden_bias:
        return ConvReLUNet(U[:-1], alpha, b=U[-1], **geom)
    return ConvReLUNet(U, alpha, **geom)


def _no_worse_than_empty(
    net: ConvReLUNet, upper: float, empty: ConvReLUNet, value: float
) -> tuple[ConvReLUNet, float]:
    """``(net, upper)``, or the network without neurons when its objective ``value`` is
    no higher.

    Where the optimum is the empty network (``y = 0``, or beta above its critical
    value), an interior-point solve leaves blocks of about 1e-14, whose network's
    objective (about 1e-13) was then all of the gap above the bound 0: relative gap 1.
    """
    return (empty, value) if value <= upper else (net, upper)


def solve_relu_cnn(
    X: Any,
    y: Any,
    beta: float,
    *,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    gates: Any = None,
    n_gates: int = 50,
    pattern_method: str = "random",
    network: ConvReLUNet | None = None,
    formulation: str = "relu",
    solver: str | None = None,
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    tol: float = 1e-7,
    max_iter: int | None = None,
    random_state: Any = None,
    verbose: bool = False,
    prune: bool | str = "auto",
) -> ConvCNNSolution:
    """Train a scalar-output two-layer ReLU CNN via the convex program before Figure 10.

    ``min L(sum_i sum_k D_ik X_k (v_i - w_i), y) + beta sum_i (||v_i|| + ||w_i||)``
    s.t. ``(2 D_ik - I) X_k v_i >= 0`` and the same for ``w_i`` (formulation "relu").

    Parameters
    ----------
    X : array (N, C, H, W) or (N, C, L)
        Images or signals.
    y : array (N,)
    beta : float
        Weight decay, > 0.
    kernel_size, stride, padding : convolution geometry (PyTorch conventions)
    gates : array (d_eff, P) or None
        Pattern generators (see :func:`sample_cnn_gates`); None: sampled with
        ``pattern_method``, ``n_gates``, ``network``.
    formulation : {"relu", "gated"}
    solver : {"cvxpy", "bcd", "fista"} or None
        None: "bcd" for "gated" with a smooth loss (working-set block coordinate descent
        with exact block steps, Anderson acceleration and Newton steps on the support,
        :mod:`convexnn.cnn._gated_bcd`); for "relu" with a smooth loss "bcd" from
        N K P >= 3e4 (N images, K patches each, P gates), else "cvxpy" (Clarabel); "cvxpy"
        for the hinge loss. "bcd" with "relu": the same scheme on the cones
        (:mod:`convexnn.cnn._relu_bcd`: exact cone-constrained block steps by a primal
        active-set method, Newton steps on the blocks' faces bent onto new faces where
        the cones cut them, a gated warm start), every iterate feasible. On planted
        problems (BENCHMARKS.md, stops 44 and 45) it was 1.4-14.5x faster than Clarabel
        from N K P = 1e5, where Clarabel often stopped "inaccurate" (gaps up to 2e-4),
        and 0.98-9.1x from 3.6e4; on smaller programs Clarabel was faster (up to 7.7x on
        tiny ones at small beta), hence the rule. "fista":
        plain FISTA on the gated program (slower; kept as the simple first-order
        reference).
    loss : str or Loss
    hidden_bias : bool
        Regularised filter biases.
    tol, max_iter : stopping rule of "bcd" and "fista": the certified relative gap over
        these patterns (for "relu": of the recovered network's own objective), and a cap
        on their iterations ("bcd": epochs over its working sets, the relu solve's gated
        warm start included; None: 10000). A run that ends above ``tol`` warns with its
        gap and does not report "optimal". With both
        ``solver`` and ``max_iter`` left None, a "bcd" run that ends above ``tol``
        (stalled: tiny beta with more free dimensions than samples) on a small program
        with a quadratic or second-order-cone loss is re-solved by CVXPY + Clarabel
        (solver "bcd -> cvxpy"), whose result is kept when Clarabel calls it optimal
        and its objective is lower.
    random_state : for sampling gates.
    verbose : bool
        Progress: CVXPY's solver log, or one line per "bcd" working-set round (relative
        gap, nonzero blocks, epochs), or the "fista" gap every 100 iterations and at the end.
    prune : bool or "auto"
        Carathéodory pruning of the recovered network ("relu";
        :func:`convexnn.prune_network`): same predictions and objective, at most N + 1
        filters. "auto" prunes when the network has more than N + 1 filters or is small
        (N * m <= 2e5), as :func:`convexnn.solve`. The reported objective and gap are the
        pruned network's; a badly conditioned pruning keeps the recovered network.

    Returns
    -------
    ConvCNNSolution
        Its gap is relative to the program over these patterns: sampled patterns give an
        upper bound on the non-convex optimum, not a certificate for it.
    """
    caller = "solve_relu_cnn"
    by_default = solver is None and max_iter is None  # a given max_iter is a cap
    max_iter = _MAX_ITER if max_iter is None else max_iter
    beta, tol, max_iter = check_common(beta, tol, max_iter, caller=caller)
    formulation = check_choice(formulation, FORMULATIONS, caller=caller, name="formulation")
    check_prune(prune, caller=caller)
    loss_obj = get_loss(loss, caller=caller)
    if solver is not None:
        solver = check_choice(solver, SOLVERS, caller=caller, name="solver")
    if solver == "fista" and formulation == "relu":
        raise ValueError(
            f"{caller}: solver 'fista' handles formulation='gated' only; use "
            f"solver='bcd' or 'cvxpy' for 'relu'."
        )
    P = as_patches(X, kernel_size, stride, padding, caller=caller)
    if loss_obj.multi_output:
        raise ValueError(
            f"{caller}: loss {loss_obj.name!r} needs several outputs; the CNN program here "
            f"has one output. Use a binary loss ('logistic', 'squared_hinge', 'hinge') "
            f"with one-vs-rest, or 'squared'."
        )
    y_arr = check_scalar_targets(y, P.shape[0], loss_obj, caller=caller)
    if gates is None:
        check_positive_int(n_gates, caller=caller, name="n_gates")
        gates = sample_cnn_gates(
            P,
            n_gates,
            method=pattern_method,
            hidden_bias=hidden_bias,
            network=network,
            random_state=random_state,
        )
    H = np.asarray(gates, dtype=np.float64)
    if not np.all(np.isfinite(H)):
        raise ValueError(f"{caller}: gates contain NaN or infinite values; pass finite gates.")
    d_eff = P.shape[2] + int(hidden_bias)
    if H.ndim != 2 or H.shape[0] != d_eff or H.shape[1] < 1:
        raise ValueError(
            f"{caller}: gates must have shape (d_eff, P) = ({d_eff}, P) with P >= 1 (filter "
            f"size{' + 1 for the bias' if hidden_bias else ''}), got {H.shape}; build them with "
            f"sample_cnn_gates."
        )
    prog = ConvReLUProgram(
        X=_augment(P, hidden_bias),
        y=y_arr,
        beta=beta,
        S=cnn_patterns(P, H, hidden_bias=hidden_bias),
        formulation=formulation,
        loss=loss_obj,
        hidden_bias=hidden_bias,
    )
    solver = solver or _default_solver(prog)
    t0 = time.perf_counter()
    if solver == "cvxpy":
        V, W, n_iter, status = _cvxpy_solve_or_raise(prog, verbose, caller)
    else:
        _check_smooth(prog.loss, solver)
        if formulation == "relu":
            V, W, n_iter, status = solve_relu_bcd(prog, tol, max_iter, _ZERO_TOL, verbose)
        else:
            first_order = solve_gated_bcd if solver == "bcd" else _fista_gated
            V, n_iter, status = first_order(prog, tol, max_iter, verbose)
            W = np.zeros_like(V)
        if by_default and status != "optimal":
            V, W, n_iter, status, solver = _cvxpy_fallback(
                prog, V, W, n_iter, status, solver, time.perf_counter() - t0
            )
    elapsed = time.perf_counter() - t0
    convex = prog.objective(V, W)
    z = prog.A(V - W)
    lower = prog.lower_bound(z)
    net = None
    upper = convex
    if formulation == "relu":
        geom = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
        net = _recover(prog, V, W, _ZERO_TOL, **geom)
        upper = net.objective(X, y_arr, beta, loss=prog.loss, patches=P)
        net, upper = pruned_as_asked(net, upper, X, y_arr, beta, loss=prog.loss, prune=prune)
        empty = _recover(prog, 0.0 * V, 0.0 * W, _ZERO_TOL, **geom)
        value = empty.objective(X, y_arr, beta, loss=prog.loss, patches=P)
        net, upper = _no_worse_than_empty(net, upper, empty, value)
    gap = upper - lower
    rel = relative_gap(upper, lower, y_arr)
    # An optimal status a little above tol is solver accuracy (CVXPY's); a solve that
    # ran out of iterations above tol is not converged, however close.
    if rel > max(10 * tol, 1e-5) or (rel > tol and status != "optimal"):
        if status == "optimal":  # the solver's own test passed, our certificate did not
            status = "inaccurate"
        warnings.warn(
            f"{caller}: solver {solver!r} ended with status {status!r} at a relative gap "
            f"{rel:.3g} (over the given patterns)."
            + (
                " Raise max_iter, or solve with solver='cvxpy' (Clarabel)."
                if solver == "bcd"
                else ""
            ),
            ConvergenceWarning,
            stacklevel=2,
        )
    return ConvCNNSolution(
        network=net,
        V=V,
        W=W,
        gates=H,
        objective=upper,
        convex_objective=convex,
        lower_bound=lower,
        gap=gap,
        relative_gap=rel,
        constraint_violation=prog.constraint_violation(V, W),
        n_iter=n_iter,
        time=elapsed,
        solver=solver,
        status=status,
        formulation=formulation,
        hidden_bias=hidden_bias,
    )
