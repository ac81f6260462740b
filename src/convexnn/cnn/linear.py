"""Linear two-layer CNNs = nuclear-norm programs (paper section 4.2, appendices A.5, A.7).

The non-convex training problem (9) of a linear CNN with m filters ``u_j`` (d,) and
output weights ``alpha_j`` (K,) (or (K, c) for c outputs, A.7),

    min_{u, alpha}  1/2 || sum_k sum_j X_k u_j alpha_jk - y ||^2
                    + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2),                  (9)

equals the convex program

    min_Z  1/2 || sum_k X_k z_k - y ||^2 + beta ||Z||_*,   Z = [z_1 ... z_K]   (12)

(``Z = sum_j u_j alpha_j^T``; for c outputs Z is d x (K c)). The filters are recovered
from the SVD ``Z = sum_j s_j a_j b_j^T`` as ``u_j = sqrt(s_j) a_j``,
``alpha_j = sqrt(s_j) b_j``. The dual (11), ``max 1/2||y||^2 - 1/2||v - y||^2`` s.t.
``sigma_max([X_1^T v ... X_K^T v]) <= beta``, certifies the gap.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._measures import gap_scale, relative_gap
from ..exceptions import ConvergenceWarning
from ._common import as_patches, check_common, check_targets

Array = NDArray[np.float64]
CALLER = "solve_linear_cnn"


# -- operator --------------------------------------------------------------------------------
def _apply(P: Array, Z: Array) -> Array:
    """``sum_k X_k Z[:, k, :]`` for patches P (N, K, d) and Z (d, K, c) -> (N, c)."""
    N, K, d = P.shape
    return P.reshape(N, K * d) @ Z.transpose(1, 0, 2).reshape(K * d, -1)


def _adjoint(P: Array, R: Array) -> Array:
    """Adjoint of :func:`_apply`: ``[X_k^T R]_k`` as (d, K, c)."""
    N, K, d = P.shape
    G = P.reshape(N, K * d).T @ R  # (K d, c)
    return G.reshape(K, d, -1).transpose(1, 0, 2)


def _svt(Z: Array, t: float) -> tuple[Array, float]:
    """Singular-value thresholding of Z (d, K, c) viewed as d x (K c); returns (Z', ||Z'||_*)."""
    d, K, c = Z.shape
    U, s, Vt = np.linalg.svd(Z.reshape(d, K * c), full_matrices=False)
    s = np.maximum(s - t, 0.0)
    return ((U * s) @ Vt).reshape(d, K, c), float(s.sum())


def _nuc(Z: Array) -> float:
    return float(np.linalg.svd(Z.reshape(Z.shape[0], -1), compute_uv=False).sum())


# -- result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearCNNSolution:
    """Result of :func:`solve_linear_cnn`.

    Attributes
    ----------
    Z : array (d, K) or (d, K, c)
        Solution of (12), column k is ``z_k``.
    U : array (d, m)
        Recovered filters, column j is ``u_j``.
    alpha : array (m, K) or (m, K, c)
        Recovered output weights.
    objective : float
        Objective (9) of the recovered CNN (an upper bound on the optimum).
    convex_objective : float
        Objective (12) at ``Z``.
    lower_bound : float
        Dual objective (11) at a feasible scaled residual: ``lower_bound <= p*``.
    gap, relative_gap : float
    n_iter : int
    time : float
    solver, status : str
    """

    Z: Array
    U: Array
    alpha: Array
    objective: float
    convex_objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    n_iter: int
    time: float
    solver: str
    status: str

    @property
    def n_filters(self) -> int:
        """Number of filters m of the recovered CNN (rank of Z)."""
        return int(self.U.shape[1])


def linear_cnn_objective(X: Any, y: Any, U: Any, alpha: Any, beta: float) -> float:
    """Objective (9) of a linear two-layer CNN.

    ``1/2 || sum_k sum_j X_k u_j alpha_jk - y ||^2 + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2)``

    Parameters
    ----------
    X : array (N, K, d)
        Patches (see :func:`extract_patches`).
    y : array (N,) or (N, c)
    U : array (d, m)
        Filters.
    alpha : array (m, K) or (m, K, c)
    beta : float
    """
    P = np.asarray(X, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    pred = linear_cnn_predict(P, U, alpha)
    return float(
        0.5 * np.sum((pred - yv) ** 2)
        + 0.5 * beta * (np.sum(np.asarray(U) ** 2) + np.sum(np.asarray(alpha) ** 2))
    )


def linear_cnn_predict(X: Any, U: Any, alpha: Any) -> Array:
    """``sum_k sum_j X_k u_j alpha_jk`` for patches X (N, K, d); shape (N,) or (N, c)."""
    P = np.asarray(X, dtype=np.float64)
    A = np.asarray(alpha, dtype=np.float64)
    H = np.einsum("nkd,dm->nkm", P, np.asarray(U, dtype=np.float64))
    return np.einsum("nkm,mk...->n...", H, A)  # type: ignore[no-any-return]


def recover_linear_cnn(Z: Any, *, rtol: float = 1e-9) -> tuple[Array, Array]:
    """Filters and output weights from the SVD of Z (d, K) or (d, K, c).

    ``Z = sum_j s_j a_j b_j^T`` -> ``u_j = sqrt(s_j) a_j``, ``alpha_j = sqrt(s_j) b_j``
    (singular values below ``rtol * s_max`` dropped), so that ``sum_j u_j alpha_j^T = Z``
    and ``1/2 sum_j (||u_j||^2 + ||alpha_j||^2) = ||Z||_*``.

    Returns
    -------
    U : array (d, m)
    alpha : array (m, K) or (m, K, c)
    """
    Zarr = np.asarray(Z, dtype=np.float64)
    tail = Zarr.shape[1:]
    A, s, Bt = np.linalg.svd(Zarr.reshape(Zarr.shape[0], -1), full_matrices=False)
    keep = s > rtol * (s[0] if s.size else 0.0)
    root = np.sqrt(s[keep])
    U = A[:, keep] * root
    alpha = (root[:, None] * Bt[keep]).reshape(-1, *tail)
    return U, alpha


# -- solvers --------------------------------------------------------------------------------
def _lower_bound(P: Array, y: Array, R: Array, beta: float) -> float:
    """Dual (11) at ``t R`` with t maximising it inside ``sigma_max(X^T t R) <= beta``."""
    smax = float(np.linalg.norm(_adjoint(P, R).reshape(P.shape[2], -1), 2))
    t_max = beta / smax if smax > 0 else np.inf
    rr = float(np.sum(R * R))
    t = min(float(np.sum(R * y)) / rr, t_max) if rr > 0 else 0.0
    t = max(t, 0.0)
    return float(0.5 * np.sum(y * y) - 0.5 * np.sum((t * R - y) ** 2))


def _apg(P: Array, y: Array, beta: float, tol: float, max_iter: int) -> tuple[Array, int, str]:
    """Accelerated proximal gradient (FISTA with restart) with singular-value thresholding."""
    N, K, d = P.shape
    c = y.shape[1]
    L = float(np.linalg.norm(P.reshape(N, K * d), 2) ** 2)
    step = 1.0 / L
    Z = np.zeros((d, K, c))
    Yk, t_k, f_old = Z.copy(), 1.0, np.inf
    for it in range(1, max_iter + 1):
        grad = _adjoint(P, _apply(P, Yk) - y)
        Z_new, nuc = _svt(Yk - step * grad, step * beta)
        R = y - _apply(P, Z_new)
        f_new = 0.5 * float(np.sum(R * R)) + beta * nuc
        if f_new > f_old:  # adaptive restart keeps the objective monotone
            t_k, Yk = 1.0, Z.copy()
            f_old = np.inf
            continue
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
        Yk = Z_new + ((t_k - 1.0) / t_next) * (Z_new - Z)
        Z, t_k, f_old = Z_new, t_next, f_new
        if it % 10 == 0 or it == max_iter:
            lb = _lower_bound(P, y, R, beta)
            if f_new - lb <= tol * gap_scale(f_new, y):
                return Z, it, "optimal"
    return Z, max_iter, "max_iter"


def _cvxpy(P: Array, y: Array, beta: float) -> tuple[Array, int, str]:
    """Reference: (12) in CVXPY (normNuc, an SDP) solved by Clarabel."""
    import cvxpy as cp

    N, K, d = P.shape
    c = y.shape[1]
    Z = cp.Variable((d, K * c))
    # column (k, j) of Z <-> z_k for output j; flatten P to (N, K d) per output.
    pred = []
    for j in range(c):
        cols = [Z[:, k * c + j] for k in range(K)]
        pred.append(P.reshape(N, K * d) @ cp.hstack(cols))
    loss = sum(0.5 * cp.sum_squares(pred[j] - y[:, j]) for j in range(c))
    prob = cp.Problem(cp.Minimize(loss + beta * cp.normNuc(Z)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    Zv = np.asarray(Z.value, dtype=np.float64).reshape(d, K, c)
    return Zv, int(prob.solver_stats.num_iters or 0), str(prob.status)


def solve_linear_cnn(
    X: Any,
    y: Any,
    beta: float,
    *,
    kernel_size: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    solver: str = "apg",
    tol: float = 1e-8,
    max_iter: int = 20000,
) -> LinearCNNSolution:
    """Train a linear two-layer CNN to its global optimum via the nuclear-norm program (12).

    Solves ``min_Z 1/2 ||sum_k X_k z_k - y||^2 + beta ||[z_1 ... z_K]||_*`` and recovers the
    CNN of problem (9) from the SVD of Z; with ``y`` of shape (N, c) the vector-output
    version (A.7), Z of shape (d, K, c) viewed as d x (K c).

    Parameters
    ----------
    X : array (N, C, H, W) or (N, C, L) with ``kernel_size``; or patches (N, K, d) without
    y : array (N,) or (N, c)
    beta : float
        Weight decay of (9), > 0.
    kernel_size, stride, padding : int or tuple
        Convolution geometry (PyTorch conventions); None: X already holds patches.
    solver : {"apg", "cvxpy"}
        Accelerated proximal gradient with singular-value thresholding (stops at a
        certified relative gap ``tol``), or CVXPY + Clarabel (the reference, small sizes).
    tol : float
        Target relative duality gap (apg).
    max_iter : int
        Iteration cap (apg).

    Returns
    -------
    LinearCNNSolution
    """
    beta, tol, max_iter = check_common(beta, tol, max_iter, caller=CALLER)
    P = as_patches(X, kernel_size, stride, padding, caller=CALLER)
    y_arr = check_targets(y, P.shape[0], caller=CALLER)
    Y = y_arr.reshape(P.shape[0], -1)
    t0 = time.perf_counter()
    if solver == "apg":
        Z, n_iter, status = _apg(P, Y, beta, tol, max_iter)
    elif solver == "cvxpy":
        Z, n_iter, status = _cvxpy(P, Y, beta)
    else:
        raise ValueError(f"{CALLER}: solver must be 'apg' or 'cvxpy', got {solver!r}.")
    elapsed = time.perf_counter() - t0
    R = Y - _apply(P, Z)
    convex = 0.5 * float(np.sum(R * R)) + beta * _nuc(Z)
    lower = _lower_bound(P, Y, R, beta)
    Zout = Z[:, :, 0] if y_arr.ndim == 1 else Z
    U, alpha = recover_linear_cnn(Zout)
    upper = linear_cnn_objective(P, y_arr, U, alpha, beta)
    gap = upper - lower
    rel = relative_gap(upper, lower, y_arr)
    if rel > max(tol, 1e-6) * 10:
        warnings.warn(
            f"{CALLER}: solver {solver!r} stopped with status {status!r} at a certified "
            f"relative gap of {rel:.3g}; raise max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return LinearCNNSolution(
        Z=Zout,
        U=U,
        alpha=alpha,
        objective=upper,
        convex_objective=convex,
        lower_bound=lower,
        gap=gap,
        relative_gap=rel,
        n_iter=n_iter,
        time=elapsed,
        solver=solver,
        status=status,
    )
