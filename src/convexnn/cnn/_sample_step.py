"""The gated CNN's damped Newton step in sample space: for supports wider than the data.

On a support of m groups with designs ``Phi_k`` (N, d) and blocks ``b_k`` the Newton
system of ``L(sum_k Phi_k b_k) + beta sum_k ||b_k||``, damped by ``delta_k`` per group, is

    (Phi^T diag(h) Phi + blockdiag(w_k (I - u_k u_k^T) + delta_k I)) p = -g,

``u_k = b_k / ||b_k||``, ``w_k = beta / ||b_k||``, ``h`` the loss curvature. With
``m d`` unknowns above N (planted CNN targets, small beta: 96 groups of 49 on 1000
images) the dense solve costs ``N (m d)^2 + (m d)^3 / 3`` flops and conjugate gradients
need hundreds of products. As in :mod:`convexnn.solvers._woodbury` (the fully connected
gated solver's step), split each group's step into its radial and tangential parts,
``p_k = rho_k u_k + tau_k`` with ``tau_k`` orthogonal to ``u_k``:

    [ V^T V + diag(delta)   V^T W       ] [rho]   [-g_r]
    [ W^T V                 W^T W + D_t ] [tau] = [-g_t],

``V`` (N, m) the columns ``h^{1/2} o Phi_k u_k``, ``W_k = h^{1/2} o Phi_k (I - u_k u_k^T)``
and ``D_t = w_k + delta_k`` on group k's tangent space. Eliminating ``tau`` (Woodbury),
with ``c_k = 1 / (w_k + delta_k)``:

    K = I_N + W D_t^{-1} W^T = I + h^{1/2} h^{1/2 T} o (sum_k c_k (Phi_k Phi_k^T - y_k y_k^T)),
    (V^T K^{-1} V + diag(delta)) rho = -g_r + V^T K^{-1} a,     a = W D_t^{-1} g_t,
    tau = D_t^{-1} (-g_t + W^T K^{-1} (a - V rho)),

``y_k = Phi_k u_k``. Forming K costs ``N^2 m d`` flops (one syrk), its factorisation
``N^3 / 3``: at the case above 4.7e9 + 3.3e8 flops against 2.2e10 + 3.5e10 densely.
:func:`sample_space_step_reference` solves the same system densely.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.linalg.blas import dsyrk

Array = NDArray[np.float64]


def sample_space_flops(N: int, m: int, d: int) -> float:
    """Flops of :func:`sample_space_step` on m groups of d on N samples."""
    return float(N) * N * m * d + N**3 / 3 + 2.0 * N * N * m + N * m * m + m**3 / 3


def dense_flops(N: int, m: int, d: int) -> float:
    """Flops of the same step solved densely (the Hessian formed and factorised)."""
    md = float(m * d)
    return N * md * md + md**3 / 3


def sample_space_step(
    Phi: Array, h: Array, U: Array, w: Array, grad: Array, delta: Array
) -> Array | None:
    """``-(H + blockdiag(delta_k I))^{-1} grad`` through an N x N factorisation.

    Parameters
    ----------
    Phi : (N, m d) array
        The support's designs, group-major (``Phi_k`` = columns ``k d`` to ``(k+1) d``).
    h : (N,) array
        The loss curvature, non-negative.
    U : (d, m) array
        The unit directions ``u_k`` of the blocks.
    w : (m,) array
        The penalty's tangential curvatures ``beta / ||b_k||`` (positive).
    grad : (m d,) array
        The gradient, group-major.
    delta : (m,) array
        The damping per group (positive).

    Returns
    -------
    (m d,) array, or None when a factorisation fails.
    """
    N = Phi.shape[0]
    d, m = U.shape
    sq = np.sqrt(np.maximum(h, 0.0))
    c = 1.0 / (w + delta)
    Y = np.einsum("nkd,dk->nk", Phi.reshape(N, m, d), U)  # y_k = Phi_k u_k
    scaled = Phi * np.repeat(np.sqrt(c), d)[None, :]
    K = np.asarray(dsyrk(1.0, np.asfortranarray(scaled.T), trans=1, lower=0))
    K -= np.asarray(dsyrk(1.0, np.asfortranarray((Y * np.sqrt(c)).T), trans=1, lower=0))
    K *= sq[:, None]
    K *= sq[None, :]
    K[np.diag_indices_from(K)] += 1.0
    try:
        R = scipy.linalg.cholesky(K, lower=False, overwrite_a=True, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    G = grad.reshape(m, d)
    g_r = np.einsum("kd,dk->k", G, U)
    g_t = G - g_r[:, None] * U.T
    V = sq[:, None] * Y
    a = sq * (Phi @ (c[:, None] * g_t).ravel())
    Z = scipy.linalg.solve_triangular(R, np.column_stack([V, a]), trans="T", check_finite=False)
    Zv, za = Z[:, :m], Z[:, m]
    S = Zv.T @ Zv
    S[np.diag_indices_from(S)] += delta
    try:
        rho = scipy.linalg.solve(S, -g_r + Zv.T @ za, assume_a="pos", check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    r = scipy.linalg.solve_triangular(R, za - Zv @ rho, check_finite=False)  # K^-1 (a - V rho)
    Q = (Phi.T @ (sq * r)).reshape(m, d)
    Q -= np.einsum("kd,dk->k", Q, U)[:, None] * U.T  # W^T: the tangential part
    tau = c[:, None] * (Q - g_t)
    step = rho[:, None] * U.T + tau
    if not np.all(np.isfinite(step)):
        return None
    return step.ravel()  # type: ignore[no-any-return]


def sample_space_step_reference(
    Phi: Array, h: Array, U: Array, w: Array, grad: Array, delta: Array
) -> Array:
    """Slow :func:`sample_space_step`: the (m d) x (m d) system formed and solved."""
    d, m = U.shape
    H = Phi.T @ (h[:, None] * Phi)
    for k in range(m):
        sl = slice(k * d, (k + 1) * d)
        H[sl, sl] += w[k] * (np.eye(d) - np.outer(U[:, k], U[:, k])) + delta[k] * np.eye(d)
    return -np.linalg.solve(H, grad)  # type: ignore[no-any-return]
