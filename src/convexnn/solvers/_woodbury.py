"""The gated Newton step solved in sample space: for working sets wide against the data.

At small beta the gated optimum can hold more free dimensions than samples: n = 400,
d = 8 + 1, 1000 sampled patterns, beta = 0.027 has 207 blocks of 9 live at its optimum
(1863 free dimensions on 400 samples). Conjugate gradients then cannot reach their
tolerance (5000 Hessian products a round), and the solve ended at max_iter 1.8x above
the optimum; factorised steps of the (m, m) system (m = k d) certify it, but cost
``n m^2 + m^3 / 3`` (3.6e9) flops each, 22 s in all. The same step costs
``O(n^2 k + n^3 + k^3)`` in the coordinates of each block's direction:

With ``u_j = b_j / ||b_j||``, write a step ``p_j = rho_j u_j + tau_j`` (``tau_j``
orthogonal to ``u_j``). The penalty's Hessian is zero on the radial part and
``beta / ||b_j||`` on the tangential one, so with a ridge ``delta`` the Newton system
``H p = -g`` is

    [ V^T V + delta I      V^T W          ] [rho]   [-g_r]
    [ W^T V                W^T W + D_t    ] [tau] = [-g_t],

``V`` (n, k) the columns ``h^{1/2} m_j (X u_j)`` (and ``h^{1/2}`` for the output
bias), ``W`` the tangential columns ``h^{1/2} m_j X N_j``, ``D_t = beta / ||b_j|| +
delta`` per block. Eliminating ``tau`` (Woodbury) leaves two small systems:

    K = I_n + W D_t^{-1} W^T
      = I + h^{1/2} h^{1/2 T} o [ (X X^T) o (M C M^T) - Y C Y^T ],   C = diag(1 / D_t),
    (V^T K^{-1} V + delta I) rho = -g_r + V^T K^{-1} a,   a = W D_t^{-1} g_t,
    tau = D_t^{-1} (-g_t + W^T K^{-1} (a - V rho)),

``M`` (n, k) the masks, ``Y = M o (X U)`` and ``o`` the elementwise product (the sum
over each block's ``I - u_j u_j^T`` splits into a Hadamard product and a rank-k term).
Forming ``K`` costs ``2 n^2 k`` flops and its factorisation ``n^3 / 3``; at the case
above, 1.7e8 flops per step instead of 3.6e9. :func:`convexnn.solvers._newton._dense_step`
is its reference (the same system, formed in the blocks' coordinates).
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.blas import dsyrk

from .._threads import one_blas_thread
from ._kernels import adjoint, forward

_SMALL_N = 512  # sample spaces up to this size are factorised on one BLAS thread


def sample_space_flops(n: int, k: int) -> float:
    """Flops of a :class:`SampleSpaceFactor` of ``k`` live blocks on ``n`` samples."""
    return 3.0 * n * n * k + n**3 / 3 + n * k * k / 2 + k**3 / 3


def _gram_upper(A: np.ndarray) -> np.ndarray:
    """The upper triangle of ``A^T A`` (BLAS syrk: half a GEMM's flops); the strict
    lower triangle is not meaningful."""
    return np.asarray(dsyrk(1.0, np.asfortranarray(A), trans=1, lower=0))


def _upper_factor_of_K(
    X: np.ndarray, Ms: np.ndarray, Y: np.ndarray, ct: np.ndarray, sq: np.ndarray
) -> np.ndarray:
    """``U`` upper triangular with ``U^T U = K = I + h^{1/2} h^{1/2 T} o [(X X^T) o
    (M C M^T) - Y C Y^T]`` (``C = diag(ct)``), formed on its upper triangle only."""
    rc = np.sqrt(ct)
    K = (X @ X.T) * _gram_upper((Ms * rc).T) - _gram_upper((Y * rc).T)
    K *= sq[:, None]
    K *= sq[None, :]
    K[np.diag_indices_from(K)] += 1.0
    return np.asarray(cholesky(K, lower=False, overwrite_a=True, check_finite=False))


class SampleSpaceFactor:
    """``(H + damp I)^{-1}`` of the live blocks, factorised in sample space (see the
    module docstring): built once (``O(n^2 k + n^3)`` flops), then applied to any
    right-hand side in ``O(n^2 + n k + d k)`` (:meth:`solve`): the exact Newton step,
    and the preconditioner of CG on the Hessians of the next steps
    (:func:`convexnn.solvers._newton.newton_round`).

    Parameters
    ----------
    X : (n, d) array
    Ms : (n, k) array
        The live blocks' masks (``m_j``, the columns of ``A_j = diag(m_j) X``).
    h : (n,) array
        The loss curvature (non-negative).
    u, nt : (d, k) and (k,) arrays
        The blocks' directions and norms (positive).
    beta, damp : float
        The penalty and the Levenberg-Marquardt ridge.
    output_bias : bool
        Whether the output bias is a variable.
    """

    def __init__(
        self,
        X: np.ndarray,
        Ms: np.ndarray,
        h: np.ndarray,
        u: np.ndarray,
        nt: np.ndarray,
        beta: float,
        damp: float,
        output_bias: bool,
    ) -> None:
        self.X, self.Ms, self.u, self.k = X, Ms, u, u.shape[1]
        self.output_bias = output_bias
        n = X.shape[0]
        self.sq = sq = np.sqrt(np.maximum(h, 0.0))
        # _dense_step's ridge: 1e-12 of H's largest diagonal entry, on every coordinate
        diag = (X * X).T @ (Ms * h[:, None]) + (beta / nt)[None, :] * (1.0 - u * u)
        top = max(float(diag.max()), float(h.sum()) if output_bias else 0.0, 1e-300)
        ridge = damp + 1e-12 * top
        self.ct = ct = 1.0 / (beta / nt + ridge)  # D_t^{-1}, per block
        Y = Ms * (X @ u)  # (n, k): each block's predictions along its direction
        V = np.hstack([sq[:, None] * Y, sq[:, None]]) if output_bias else sq[:, None] * Y
        self.limit = n <= _SMALL_N
        with self._threads():  # small factorisations run faster on one thread
            self.U = _upper_factor_of_K(X, Ms, Y, ct, sq)
            self.Z = Z = solve_triangular(self.U, V, trans="T", check_finite=False)  # U^-T V
            S = _gram_upper(Z)  # V^T K^{-1} V, upper triangle
            S[np.diag_indices_from(S)] += ridge
            try:
                self.S: tuple[np.ndarray, bool] | np.ndarray = (
                    cholesky(S, check_finite=False),
                    False,
                )
            except np.linalg.LinAlgError:
                self.S = np.linalg.pinv(np.triu(S) + np.triu(S, 1).T, rcond=1e-12)

    def _threads(self) -> contextlib.AbstractContextManager[object]:
        return one_blas_thread() if self.limit else contextlib.nullcontext()

    def solve(self, Q: np.ndarray, qc: float) -> tuple[np.ndarray, float]:
        """``(H + damp I)^{-1} (Q, qc)``: Q (d, k), qc the output bias' entry (ignored
        without one)."""
        X, Ms, u, k, sq, ct = self.X, self.Ms, self.u, self.k, self.sq, self.ct
        q_r = np.sum(u * Q, axis=0)
        q_t = Q - u * q_r[None, :]
        if self.output_bias:
            q_r = np.append(q_r, qc)
        with self._threads():
            a = sq * forward(X, Ms, q_t * ct)  # W D_t^{-1} q_t
            Za = solve_triangular(self.U, a, trans="T", check_finite=False)
            rhs = q_r - self.Z.T @ Za
            rho = cho_solve(self.S, rhs) if isinstance(self.S, tuple) else self.S @ rhs  # radial
            t = solve_triangular(self.U, self.Z @ rho + Za, check_finite=False)
        w = sq * t  # h^{1/2} K^{-1} (V rho + a)
        WTw = adjoint(X, Ms, w)  # (d, k): X^T m_j w ...
        WTw -= u * np.sum(u * WTw, axis=0)[None, :]  # ... projected off u_j
        P = u * rho[None, :k] + ct[None, :] * (q_t - WTw)
        return P, float(rho[k]) if self.output_bias else 0.0
