"""Array-API kernels shared by the fast solvers: operators, prox, loss, certificate.

Every function takes arrays of one namespace ``xp`` (NumPy, or PyTorch on CPU/CUDA
through ``array-api-compat``) and never leaves it, except for the scalar certificate
pieces, which are computed in float64 NumPy (``n`` numbers per call).

Operators of the program restricted to the pattern columns ``M`` (n, k) with the blocks
as the columns of ``U`` (d, k) (DESIGN.md, "Operator form"):

    A(U)   = sum_i D_i X u_i   = rowsum(X * (M @ U^T))            (fast)
                               = rowsum(M * (X @ U))              (reference)
    A^T(r) = [X^T D_i r]_i     = (M^T @ (X * r[:, None]))^T       (fast)
                               = X^T @ (M * r[:, None])           (reference)

The fast forms put the big mask inside the GEMM. For the adjoint, ``M^T @ (X r)`` was
measured 2-10x faster here than ``(X r)^T @ M`` (n = 1e4, d = 41, k = 250, 2 threads:
the latter makes BLAS stream the long ``n`` axis through a transposed operand). Masks
are kept in Fortran order so that slicing working-set columns is a memcpy. Each fast
kernel has its slow reference beside it and ``tests/solvers/test_fast.py`` checks that
they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_namespace, is_torch_namespace

from ..losses import Loss
from ..losses.base import into_dual_domain

_DTYPES = ("float64", "float32")


# -- backend ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """Where the iterations run: an array namespace, a device and a compute dtype."""

    xp: Any
    device: Any
    dtype: Any
    f64: Any

    @property
    def is_float32(self) -> bool:
        return bool(self.dtype == self.xp.float32)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (NumPy or native) as an array of this backend, in ``dtype`` (compute)."""
        dtype = self.dtype if dtype is None else dtype
        if is_torch_namespace(self.xp):
            import torch

            if isinstance(a, torch.Tensor):
                return a.to(device=self.device, dtype=dtype)
            return torch.as_tensor(np.asarray(a), dtype=dtype, device=self.device)
        return np.asarray(a, dtype=dtype)

    def with_dtype(self, name: str) -> Backend:
        return Backend(self.xp, self.device, getattr(self.xp, name), self.f64)


def make_backend(options: dict[str, Any], *, like: Any = None, caller: str) -> Backend:
    """Backend from solver options ``backend`` ("numpy" | "torch"), ``device``, ``dtype``.

    Without ``backend``, the namespace of ``like`` (an array) is used.
    """
    dtype = str(options.get("dtype", "float64"))
    if dtype not in _DTYPES:
        raise ValueError(
            f"{caller}: solver option dtype must be one of {_DTYPES}, got {dtype!r}; "
            f"pass solver_options={{'dtype': 'float32'}} for single-precision iterations."
        )
    name = options.get("backend")
    if name is None:
        xp = array_namespace(like) if like is not None else array_namespace(np.zeros(1))
        name = "torch" if is_torch_namespace(xp) else "numpy"
    if name == "numpy":
        check_cpu_device(options, caller=caller, solver="the NumPy backend")
        xp = array_namespace(np.zeros(1))
        return Backend(xp, "cpu", getattr(np, dtype), np.float64)
    if name == "torch":
        import torch

        xp = array_namespace(torch.zeros(1))
        device = torch_device(torch, options.get("device", "cpu"), caller)
        return Backend(xp, device, getattr(torch, dtype), torch.float64)
    raise ValueError(
        f"{caller}: solver option backend must be 'numpy' or 'torch', got {name!r}; "
        f"pass solver_options={{'backend': 'torch', 'device': 'cuda'}} for a GPU."
    )


def check_cpu_device(options: dict[str, Any], *, caller: str, solver: str) -> None:
    """Refuse a solver option ``device`` other than the CPU where ``solver`` runs on
    NumPy: a ``device="cuda"`` would otherwise be ignored and the solve run on the CPU."""
    device = options.get("device")
    if device is None or str(device) == "cpu":
        return
    raise ValueError(
        f"{caller}: solver option device={str(device)!r} needs backend='torch', but "
        f"{solver} runs on the CPU (backend={options.get('backend', 'numpy')!r}); pass "
        f"solver_options={{'backend': 'torch', 'device': {str(device)!r}}} with "
        f"formulation='gated', or drop the device option."
    )


def torch_device(
    torch: Any, device: Any, caller: str, *, name: str = "solver option device"
) -> Any:
    """``torch.device(device)``, or a ValueError naming the parameter ``name``."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"{caller}: {name} must be a torch device such as 'cpu', 'cuda' or "
            f"'cuda:0', got {device!r} ({exc})."
        ) from None


def to_numpy(a: Any) -> np.ndarray:
    """Any backend array as a float64 NumPy array (a copy off the device)."""
    if is_numpy_namespace(array_namespace(a)):
        return np.asarray(a, dtype=np.float64)
    return np.asarray(a.detach().cpu().double().numpy())


# -- operators --------------------------------------------------------------------------


def forward(X: Any, M: Any, U: Any) -> Any:
    """``A(U) = sum_i D_i X u_i`` for X (n, d), M (n, k), U (d, k); shape (n,). Fast."""
    xp = array_namespace(X)
    return xp.sum(X * (M @ U.T), axis=1)


def forward_reference(X: Any, M: Any, U: Any) -> Any:
    """Slow, obvious ``A(U)``: mask ``X @ U`` column by column, then sum."""
    xp = array_namespace(X)
    return xp.sum(M * (X @ U), axis=1)


def adjoint(X: Any, M: Any, r: Any) -> Any:
    """``A^T(r) = [X^T D_i r]_i`` for r (n,); shape (d, k). Fast."""
    return (M.T @ (X * r[:, None])).T


def adjoint_reference(X: Any, M: Any, r: Any) -> Any:
    """Slow, obvious ``A^T(r)``."""
    return X.T @ (M * r[:, None])


def take_columns(A: Any, idx: np.ndarray) -> Any:
    """Columns ``idx`` (a NumPy index array) of A (d, k), on A's backend; A if all."""
    if idx.size == A.shape[1] and np.array_equal(idx, np.arange(A.shape[1])):
        return A
    if isinstance(A, np.ndarray):
        return A.T[idx].T  # a Fortran-order mask: one memcpy per column
    import torch

    return torch.index_select(A, 1, torch.as_tensor(idx, dtype=torch.int64, device=A.device))


def column_norms(U: Any) -> Any:
    """``||u_i||_2`` for every column of U (d, k); shape (k,)."""
    xp = array_namespace(U)
    return xp.sqrt(xp.sum(U * U, axis=0))


def group_prox(U: Any, threshold: float) -> Any:
    """Block soft-thresholding ``prox_{threshold * sum_i ||.||}(U)`` column by column."""
    xp = array_namespace(U)
    norms = column_norms(U)
    scale = xp.where(norms > threshold, 1.0 - threshold / xp.where(norms > 0, norms, 1.0), 0.0)
    return U * scale[None, :]


def group_prox_reference(U: np.ndarray, threshold: float) -> np.ndarray:
    """Column by column ``max(0, 1 - t / ||u||) u`` with a Python loop (NumPy only)."""
    out = np.zeros_like(U)
    for i in range(U.shape[1]):
        nrm = float(np.linalg.norm(U[:, i]))
        if nrm > threshold:
            out[:, i] = (1.0 - threshold / nrm) * U[:, i]
    return out


def spectral_norm_sq(
    apply_gram: Any, n: int, backend: Backend, n_iter: int = 30, start: Any = None
) -> tuple[float, Any]:
    """Upper estimate of ``lambda_max(B B^T)`` by power iteration on ``r -> B B^T r``.

    ``apply_gram(r)`` applies ``B B^T`` to r (n,). The Rayleigh quotient is a lower
    estimate; it is inflated by 5% and solvers keep a safeguard (restart, then a larger
    constant) when a step increases the objective. ``start``: the first vector (by
    default a seeded Gaussian one), e.g. the last vector of a nearby operator's run
    (a working set that gained or lost a few blocks), so that a few products do.
    Returns the estimate and the last vector.
    """
    xp = backend.xp
    if start is None or float(xp.sum(start * start)) == 0.0:
        start = backend.asarray(np.random.default_rng(0).normal(size=n))
    r, lam = start, 0.0
    for _ in range(n_iter):
        nrm = float(xp.sqrt(xp.sum(r * r)))
        if nrm == 0.0:
            return 0.0, start
        r = r / nrm
        q = apply_gram(r)
        lam_new = float(xp.sum(r * q))
        r = q
        if abs(lam_new - lam) <= 1e-3 * abs(lam_new):
            lam = lam_new
            break
        lam = lam_new
    return 1.05 * lam, r


# -- loss on the backend ----------------------------------------------------------------


class LossOps:
    """Loss value and gradient on backend arrays.

    The squared loss runs natively in ``xp``; other losses go through their NumPy
    methods (one transfer of n numbers per call), so any :class:`Loss` works.
    """

    def __init__(self, loss: Loss, y: Any, backend: Backend) -> None:
        self.loss = loss
        self.backend = backend
        self.y = backend.asarray(y)
        self.y_np = to_numpy(y)
        self.native = loss.name == "squared" or is_numpy_namespace(backend.xp)

    def value(self, z: Any) -> float:
        if self.loss.name == "squared":
            diff = z - self.y
            return 0.5 * float(self.backend.xp.sum(diff * diff))
        return float(self.loss.value(to_numpy(z), self.y_np))

    def gradient(self, z: Any) -> Any:
        if self.loss.name == "squared":
            return z - self.y
        if is_numpy_namespace(self.backend.xp):
            return np.asarray(self.loss.gradient(np.asarray(z, np.float64), self.y_np), z.dtype)
        g = self.loss.gradient(to_numpy(z), self.y_np)
        return self.backend.asarray(g, dtype=z.dtype)

    def curvature(self, z: Any) -> Any:
        """Diagonal of the loss Hessian at z (exact for the squared loss, else central
        differences of the gradient, clipped at 0: a generalised Hessian for the
        piecewise-smooth losses such as Huber)."""
        if self.loss.name == "squared":
            return self.backend.xp.ones_like(z)
        h = loss_curvature(self.loss, to_numpy(z), self.y_np)
        return self.backend.asarray(h, dtype=z.dtype)


def loss_curvature(loss: Loss, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Diagonal of the loss Hessian at z (NumPy): exact for the squared loss, else
    central differences of the gradient, clipped at 0."""
    if loss.name == "squared":
        return np.ones_like(z)
    e = 1e-6 * np.maximum(1.0, np.abs(z))
    h = (loss.gradient(z + e, y) - loss.gradient(z - e, y)) / (2.0 * e)
    return np.maximum(h, 0.0)


# -- certificate pieces (float64) -------------------------------------------------------


def dual_candidate(loss: Loss, z: np.ndarray, y: np.ndarray, output_bias: bool) -> np.ndarray:
    """``lam0 = -grad L(z; y)`` in the loss's dual box, summing to zero with an output
    bias (float64 NumPy), as :func:`convexnn.duality.dual_certificate` makes it.

    With an output bias ``lam0`` is projected onto ``{lo <= lam <= hi, 1^T lam = 0}``
    (plain centring for the squared loss; after :func:`best_bias` the sum is at
    rounding level). Removing that rounding-level sum by a shift instead pushed the
    entries of confidently classified points (logistic: ``lam_i y_i`` about 1e-17)
    out of the box, where the bound is ``-inf`` and the solver could not certify.
    """
    lam0 = -np.asarray(loss.gradient(z, y), dtype=np.float64)
    lo, hi = loss.dual_box(y)
    return into_dual_domain(lam0, lo, hi, output_bias)


def best_bias(loss: Loss, z: np.ndarray, y: np.ndarray, c: float) -> float:
    """Output bias ``c`` minimising ``L(z + c, y)`` (a root of ``sum grad L(z + c)``).

    Exact for the squared loss; bisection otherwise (the sum is non-decreasing in c).
    """
    if loss.name == "squared":
        return float(np.mean(y - z))

    def slope(t: float) -> float:
        return float(np.sum(loss.gradient(z + t, y)))

    lo, hi, step = c, c, 1.0
    while slope(lo) > 0:
        lo, step = lo - step, 2 * step
    step = 1.0
    while slope(hi) < 0:
        hi, step = hi + step, 2 * step
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def aligned_dual_candidate(
    X: Any, M: Any, U: Any, lam0: Any, beta: float, output_bias: bool
) -> Any:
    """``lam0`` corrected so that every block's own direction sits on the dual sphere.

    The blocks are the non-zero columns of U (d, k) with pattern columns M (n, k). With
    ``z_i = D_i X u_i / ||u_i||`` the columns of Z (n, k), and ``Z_c`` = Z centred when
    the problem has an output bias (so that ``1^T lam = 1^T lam0``), returns

        lam = lam0 - Z_c w,    (Z_c^T Z_c) w = Z^T lam0 - beta,

    the least-norm change in ``span Z_c`` after which ``u_i^T X^T D_i lam = beta ||u_i||``
    for every block (w from a tiny ridge when Z_c is rank deficient).

    Why: at the optimum ``X^T D_i lam* = beta u_i / ||u_i||`` on the support. The plain
    candidate ``lam0 = -grad L(z)`` misses that along ``u_i`` by ``O(||z - z*||)``, and
    the uniform scaling that makes it feasible then costs a gap of the same order: the
    square root of the primal suboptimality. For the squared loss the gap of any ``lam``
    is ``beta sum_i ||u_i|| - z^T lam + ||lam - lam0||^2 / 2``; the correction zeroes the
    first part, which leaves a gap of the order of the suboptimality itself. Any ``lam``
    gives a valid bound once scaled (:func:`dual_lower_bound`); callers keep the better.
    Returns ``lam0`` unchanged when there is no block.
    """
    xp = array_namespace(X)
    k = U.shape[1]
    if k == 0:
        return lam0
    Uh = U / column_norms(U)[None, :]
    Z = M * (X @ Uh)  # (n, k)
    rhs = xp.sum(Z * lam0[:, None], axis=0) - beta
    Zc = Z - xp.mean(Z, axis=0)[None, :] if output_bias else Z
    K = Zc.T @ Zc
    ridge = 1e-10 * float(xp.sum(Zc * Zc)) / k + 1e-300  # 1e-10 of the mean diagonal
    K = K + ridge * xp.eye(k, dtype=K.dtype, device=device(K))
    w = xp.linalg.solve(K, rhs[:, None])[:, 0]
    return lam0 - Zc @ w


_MAX_ALIGNED = 2500  # most blocks of an aligned candidate (a k x k solve) ...
_MAX_ALIGNED_ENTRIES = 25_000_000  # ... and of entries of its (n, k) matrix Z (200 MB)


def worth_aligning(k: int, n: int) -> bool:
    """Whether to build the aligned candidate on k blocks of n samples.

    ``Z_c^T Z_c`` costs ``n k^2``, about ``k / (4 d)`` gated FISTA iterations. Beyond
    ``n`` blocks the k x k system is rank deficient (Z has n rows), beyond
    ``_MAX_ALIGNED`` its solve is no longer small beside one round, and Z (n, k) must
    fit in ``_MAX_ALIGNED_ENTRIES``.
    """
    return 0 < k <= min(n, _MAX_ALIGNED) and n * k <= _MAX_ALIGNED_ENTRIES


def aligned_dual_candidate_reference(
    X: np.ndarray, M: np.ndarray, U: np.ndarray, lam0: np.ndarray, beta: float, output_bias: bool
) -> np.ndarray:
    """Slow :func:`aligned_dual_candidate`: block by block, with ``lstsq`` (NumPy only)."""
    k = U.shape[1]
    if k == 0:
        return lam0
    cols, rhs = [], np.empty(k)
    for i in range(k):
        zi = M[:, i] * (X @ (U[:, i] / np.linalg.norm(U[:, i])))
        rhs[i] = zi @ lam0 - beta
        cols.append(zi - zi.mean() if output_bias else zi)
    Zc = np.stack(cols, axis=1)
    w = np.linalg.lstsq(Zc.T @ Zc, rhs, rcond=None)[0]
    return lam0 - Zc @ w


_SAFETY = 1.0 - 8.0 * np.finfo(np.float64).eps


def dual_lower_bound(
    loss: Loss, lam0: np.ndarray, y: np.ndarray, beta: float, s_max: float
) -> tuple[float, float]:
    """``(lower bound, scale t)`` of the dual point ``t lam0`` with ``t <= beta / s_max``."""
    t_max = _SAFETY * beta / s_max if s_max > 0 else np.inf
    t = float(loss.best_dual_scale(lam0, y, t_max))
    return float(loss.dual_value(t * lam0, y)), t
