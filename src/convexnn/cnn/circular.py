"""Linear circular CNNs = L1 in the DFT basis (paper section 4.3, appendix A.6).

A linear CNN whose m filters ``u_j`` (length d) act by circular convolution on signals
``x`` (d,) (stride one, circular padding: the circulant ``U_j = circ(u_j)``) trains as

    min_{u, alpha}  1/2 || sum_j X U_j alpha_j - y ||^2
                    + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2),                        (13)

which equals the complex lasso

    min_{z in C^d}  1/2 || X F z - y ||^2 + beta ||z||_1,                              (14)

with ``F`` here the *unnormalised inverse* DFT matrix, ``F[a, b] = exp(+2 pi i a b / d)``:
``U alpha = ifft(fft(u) fft(alpha)) = F z`` with ``z = fft(u) fft(alpha) / d`` and, by
Parseval and AM-GM, ``min 1/2 (||u||^2 + ||alpha||^2) = ||z||_1``. (The paper leaves the
normalisation of F implicit; with the unitary DFT the penalty would read
``beta / sqrt(d)``.) ``X F z = X (d ifft(z))`` and ``(X F)^H r = fft(X^T r)`` are
computed with the FFT, never forming F. Each conjugate pair of non-zero frequencies of
the solution gives one real filter.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._measures import gap_scale, relative_gap
from .._validation import check_X, check_y
from ..exceptions import ConvergenceWarning
from ._common import check_common

Array = NDArray[np.float64]
CArray = NDArray[np.complex128]
CALLER = "solve_circular_cnn"


def _forward(X: Array, z: CArray) -> CArray:
    """``X F z`` via the FFT."""
    d = X.shape[1]
    return X @ (d * np.fft.ifft(z))  # type: ignore[no-any-return]


def _adjoint(X: Array, r: CArray) -> CArray:
    """``(X F)^H r = fft(X^T r)``."""
    return np.fft.fft(X.T @ r)  # type: ignore[no-any-return]


def dft_features(X: Any) -> CArray:
    """``X F`` formed explicitly (d x d F), for references and tests."""
    X_arr = np.asarray(X, dtype=np.float64)
    d = X_arr.shape[1]
    a = np.arange(d)
    F = np.exp(2j * np.pi * np.outer(a, a) / d)
    return X_arr @ F  # type: ignore[no-any-return]


def _soft(z: CArray, t: float) -> CArray:
    """Complex soft-thresholding: ``z max(1 - t/|z|, 0)``."""
    mag = np.abs(z)
    scale = np.maximum(1.0 - t / np.maximum(mag, 1e-300), 0.0)
    return z * scale  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CircularCNNSolution:
    """Result of :func:`solve_circular_cnn`.

    Attributes
    ----------
    z : complex array (d,)
        Solution of (14).
    U : array (d, m)
        Recovered circular filters (column j generates ``U_j = circ(u_j)``).
    alpha : array (m, d)
        Recovered output weights ``alpha_j``.
    objective : float
        Objective (13) of the recovered CNN.
    convex_objective, lower_bound, gap, relative_gap : float
        (14) at z; dual (A.6) ``1/2||y||^2 - 1/2||v - y||^2`` at a feasible v.
    n_iter : int
    time : float
    solver, status : str
    """

    z: CArray
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


def circular_conv(u: Any, alpha: Any) -> Array:
    """``circ(u) alpha`` (circular convolution), shape (d,)."""
    return np.real(np.fft.ifft(np.fft.fft(u) * np.fft.fft(alpha)))  # type: ignore[no-any-return]


def circular_cnn_predict(X: Any, U: Any, alpha: Any) -> Array:
    """``sum_j X circ(u_j) alpha_j`` for X (N, d), U (d, m), alpha (m, d); shape (N,)."""
    X_arr = np.asarray(X, dtype=np.float64)
    U_arr = np.asarray(U, dtype=np.float64)
    A = np.asarray(alpha, dtype=np.float64)
    w = np.real(np.fft.ifft(np.fft.fft(U_arr, axis=0) * np.fft.fft(A.T, axis=0), axis=0))
    return X_arr @ w.sum(axis=1)  # type: ignore[no-any-return]


def circular_cnn_objective(X: Any, y: Any, U: Any, alpha: Any, beta: float) -> float:
    """Objective (13) of a circular linear CNN.

    ``1/2||sum_j X U_j alpha_j - y||^2 + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2)``
    """
    r = circular_cnn_predict(X, U, alpha) - np.asarray(y, dtype=np.float64)
    return float(
        0.5 * r @ r + 0.5 * beta * (np.sum(np.asarray(U) ** 2) + np.sum(np.asarray(alpha) ** 2))
    )


def recover_circular_cnn(z: Any, *, rtol: float = 1e-9) -> tuple[Array, Array]:
    """Real circular filters from a conjugate-symmetric z (``z[-f] = conj(z[f])``).

    Each non-zero frequency pair {f, d - f} (or the lone DC / Nyquist frequency) gives one
    filter with ``fft(u)_f = sqrt(d |z_f|) e^{i arg z_f}``, ``fft(alpha)_f = sqrt(d |z_f|)``
    (and the conjugates at ``d - f``): ``sum_j circ(u_j) alpha_j = F z`` and
    ``1/2 sum_j (||u_j||^2 + ||alpha_j||^2) = ||z||_1``.

    Returns
    -------
    U : array (d, m)
    alpha : array (m, d)
    """
    zc = np.asarray(z, dtype=np.complex128)
    d = zc.shape[0]
    # symmetrise (exact for the solvers' output up to round-off)
    zc = 0.5 * (zc + np.conj(zc[(-np.arange(d)) % d]))
    mag = np.abs(zc)
    thresh = rtol * (mag.max() if d else 0.0)
    filters, weights = [], []
    for f in range(d // 2 + 1):
        if mag[f] <= thresh:
            continue
        uh = np.zeros(d, dtype=np.complex128)
        ah = np.zeros(d, dtype=np.complex128)
        root = np.sqrt(d * mag[f])
        uh[f] = root * np.exp(1j * np.angle(zc[f]))
        ah[f] = root
        g = (-f) % d
        if g != f:
            uh[g], ah[g] = np.conj(uh[f]), root
        else:  # DC / Nyquist: z_f real, put the sign in u
            uh[f] = root * np.sign(zc[f].real)
        filters.append(np.real(np.fft.ifft(uh)))
        weights.append(np.real(np.fft.ifft(ah)))
    if not filters:
        return np.zeros((d, 0)), np.zeros((0, d))
    return np.stack(filters, axis=1), np.stack(weights, axis=0)


def _lower_bound(X: Array, y: Array, r: CArray, beta: float) -> float:
    g = float(np.max(np.abs(_adjoint(X, r))))
    t_max = beta / g if g > 0 else np.inf
    rr = float(np.vdot(r, r).real)
    t = min(max(float(np.vdot(r, y).real) / rr, 0.0), t_max) if rr > 0 else 0.0
    return float(0.5 * y @ y - 0.5 * np.sum(np.abs(t * r - y) ** 2))


def _fista(X: Array, y: Array, beta: float, tol: float, max_iter: int) -> tuple[CArray, int, str]:
    d = X.shape[1]
    step = 1.0 / (d * float(np.linalg.norm(X, 2)) ** 2)
    z = np.zeros(d, dtype=np.complex128)
    w, t_k, f_old = z.copy(), 1.0, np.inf
    for it in range(1, max_iter + 1):
        z_new = _soft(w - step * _adjoint(X, _forward(X, w) - y), step * beta)
        r = y - _forward(X, z_new)
        f_new = 0.5 * float(np.sum(np.abs(r) ** 2)) + beta * float(np.sum(np.abs(z_new)))
        if f_new > f_old:
            w, t_k, f_old = z.copy(), 1.0, np.inf
            continue
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t_k * t_k))
        w = z_new + ((t_k - 1.0) / t_next) * (z_new - z)
        z, t_k, f_old = z_new, t_next, f_new
        if it % 10 == 0 or it == max_iter:
            if f_new - _lower_bound(X, y, r, beta) <= tol * gap_scale(f_new, y):
                return z, it, "optimal"
    return z, max_iter, "max_iter"


def _cvxpy(X: Array, y: Array, beta: float) -> tuple[CArray, int, str]:
    """Reference: (14) with a complex CVXPY variable, F formed explicitly, Clarabel."""
    import cvxpy as cp

    Xt = dft_features(X)
    z = cp.Variable(X.shape[1], complex=True)
    obj = 0.5 * cp.sum_squares(Xt @ z - y) + beta * cp.norm1(z)
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return np.asarray(z.value), int(prob.solver_stats.num_iters or 0), str(prob.status)


def solve_circular_cnn(
    X: Any,
    y: Any,
    beta: float,
    *,
    solver: str = "fista",
    tol: float = 1e-8,
    max_iter: int = 50000,
) -> CircularCNNSolution:
    """Train a linear circular CNN (13) to its global optimum via the complex lasso (14).

    ``min_z 1/2 ||X F z - y||^2 + beta ||z||_1`` (F: unnormalised inverse DFT, see the
    module docstring), then one real circular filter per conjugate pair of frequencies.

    Parameters
    ----------
    X : array (N, d)
        Signals (one channel); the filters have length d (full circular filters).
    y : array (N,)
    beta : float
        Weight decay of (13), > 0.
    solver : {"fista", "cvxpy"}
        FISTA with complex soft-thresholding and FFT operators (stops at certified
        relative gap ``tol``), or CVXPY + Clarabel with complex variables (reference).
    tol : float
    max_iter : int

    Returns
    -------
    CircularCNNSolution
    """
    beta, tol, max_iter = check_common(beta, tol, max_iter, caller=CALLER)
    X_arr = check_X(X, caller=CALLER)
    y_arr = check_y(y, X_arr.shape[0], caller=CALLER)
    t0 = time.perf_counter()
    if solver == "fista":
        z, n_iter, status = _fista(X_arr, y_arr, beta, tol, max_iter)
    elif solver == "cvxpy":
        z, n_iter, status = _cvxpy(X_arr, y_arr, beta)
    else:
        raise ValueError(f"{CALLER}: solver must be 'fista' or 'cvxpy', got {solver!r}.")
    elapsed = time.perf_counter() - t0
    r = y_arr - _forward(X_arr, z)
    convex = 0.5 * float(np.sum(np.abs(r) ** 2)) + beta * float(np.sum(np.abs(z)))
    lower = _lower_bound(X_arr, y_arr, r, beta)
    U, alpha = recover_circular_cnn(z)
    upper = circular_cnn_objective(X_arr, y_arr, U, alpha, beta)
    gap = upper - lower
    rel = relative_gap(upper, lower, y_arr)
    if rel > max(tol, 1e-6) * 10:
        warnings.warn(
            f"{CALLER}: solver {solver!r} stopped with status {status!r} at a certified "
            f"relative gap of {rel:.3g}; raise max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return CircularCNNSolution(
        z=z,
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


def circular_patches(X: Any) -> Array:
    """Circular stride-one patches of signals X (N, d): (N, K=d, d), ``patch_k[t] = x[(t+k) % d]``.

    With them the circular CNN (13) is the linear CNN (9): ``x^T circ(u) alpha =
    sum_k alpha_k <patch_k, u>``, so (12) on these patches has the optimum of (14).
    """
    X_arr = np.asarray(X, dtype=np.float64)
    d = X_arr.shape[1]
    idx = (np.arange(d)[:, None] + np.arange(d)[None, :]) % d  # [k, t]
    return X_arr[:, idx]  # type: ignore[no-any-return]
