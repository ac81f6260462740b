"""Compiled kernels (numba, optional): the NNLS inner loop and the polish's step ratios.

:meth:`convexnn._nnls._NNLSState.restore_feasibility` steps a window of problems
together in NumPy: a least-squares solve on each passive set, then a step back while a
coefficient is not positive. Those batches are small (often tens of problems of at
most ``d + 1`` rows), so NumPy's per-call overhead, not arithmetic, sets their cost: at
n = 1e4, d = 41 this loop was a third of a relu solve. :func:`restore_feasibility`
runs the same loop, problem by problem, compiled.

The relu polish asks at every Newton step for each block's first blocking constraint
along the step (``_polish_kernels._step_ratios``: a (blocks, n) matrix, then a minimum per
row); :func:`first_blocking` finds it in one pass over the two GEMM results instead of
eight NumPy passes over (blocks, n) temporaries.

The relu CNN solver's Newton steps ask the same of every block on the patches' rows
(``cnn._relu_bcd._Cuts``): :func:`cone_first_cuts` signs the two GEMM results in place
and finds each block's first cut in three passes over its row, where NumPy made about
ten passes over (blocks, N K) temporaries (compiled with NumPy's division rules, which
let its loops vectorise: 2x).

The NumPy versions stay as the references these are tested against. Without numba,
:data:`AVAILABLE` is False, :func:`kernels` returns None and they run instead. The first
call compiles (about 5 s, once: the machine code is cached beside this file).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import numpy as np

AVAILABLE = importlib.util.find_spec("numba") is not None
_TINY = float(np.finfo(np.float64).tiny)
# The kernels below, callees first; plain Python until :func:`kernels` compiles them.
_KERNELS = (
    "_cholesky",
    "_cho_solve",
    "_rows_times",
    "_refined_solve",
    "border_gram",
    "_sync_factor",
    "_factored_least_squares",
    "restore_feasibility",
    "first_blocking",
    "extreme_rows",
    "cone_first_cuts",
)
_NUMPY_ERRORS = ("cone_first_cuts",)
_compiled = False


def kernels() -> ModuleType | None:
    """This module with its kernels compiled (numba dispatchers), or None without numba.

    numba is imported here, on the first call, not with ``convexnn`` (its import costs
    about 0.1 s that the gated and CVXPY paths need not pay). Each kernel is compiled at
    its first call, or loaded from numba's cache beside this file.
    """
    global _compiled
    if not AVAILABLE:
        return None
    if not _compiled:
        import numba

        space = globals()
        for name in _KERNELS:  # callees first: a caller compiles against their dispatchers
            # NumPy's float rules (x / 0 is inf, no check) where a kernel divides only
            # under a test that rules zero out: the check kept its loop from vectorising
            if name in _NUMPY_ERRORS:
                jit = numba.njit(cache=True, nogil=True, error_model="numpy")
            else:
                jit = numba.njit(cache=True, nogil=True, error_model="python")
            space[name] = jit(space[name])
        _compiled = True
    return sys.modules[__name__]


def _cholesky(G: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Lower Cholesky factor of a small symmetric G; a pivot that rounding made
    non-positive is raised to ``1e-14 max diag`` (a nearly dependent row; as the ridge)."""
    k = G.shape[0]
    L = np.zeros((k, k))
    floor = 0.0
    for i in range(k):
        floor = max(floor, G[i, i])
    floor = 1e-14 * floor + _TINY
    for i in range(k):
        for j in range(i + 1):
            s = G[i, j]
            for q in range(j):
                s -= L[i, q] * L[j, q]
            if i == j:
                L[i, i] = np.sqrt(max(s, floor))
            else:
                L[i, j] = s / L[j, j]
    return L


def _cho_solve(L: np.ndarray, r: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``(L L^T)^{-1} r``."""
    k = L.shape[0]
    x = r.copy()
    for i in range(k):
        s = x[i]
        for q in range(i):
            s -= L[i, q] * x[q]
        x[i] = s / L[i, i]
    for i in range(k - 1, -1, -1):
        s = x[i]
        for q in range(i + 1, k):
            s -= L[q, i] * x[q]
        x[i] = s / L[i, i]
    return x


def _rows_times(A: np.ndarray, v: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``A v`` for A (k, d), v (d,)."""
    out = np.zeros(A.shape[0])
    for i in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s += A[i, j] * v[j]
        out[i] = s
    return out


def _refined_solve(
    L: np.ndarray, A: np.ndarray, g: np.ndarray, diag_max: float, refine_rel: float
) -> np.ndarray:  # pragma: no cover - compiled
    """``z = argmin ||g + A^T z||`` for the passive rows A (k, d) from the lower factor
    L of their ridged Gram matrix (largest diagonal entry ``diag_max``): the normal
    equations, then one refinement step where the residual ``A p`` exceeds
    ``refine_rel * sqrt(diag_max) * ||p||``, as the NumPy method does."""
    k, d = A.shape
    z = -_cho_solve(L, _rows_times(A, g))
    p = g.copy()
    for i in range(k):
        for j in range(d):
            p[j] += z[i] * A[i, j]
    res = _rows_times(A, p)
    worst = 0.0
    for i in range(k):
        worst = max(worst, abs(res[i]))
    if worst > refine_rel * np.sqrt(diag_max) * np.sqrt(np.sum(p * p)):
        z -= _cho_solve(L, res)
    return z


def border_gram(
    C: np.ndarray, gram: np.ndarray, valid: np.ndarray, ia: np.ndarray, slot: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Row and column ``slot[t]`` of ``gram[ia[t]]`` for the row just put in that slot:
    its products with the problem's used rows (the others are never read)."""
    d = C.shape[2]
    for t in range(ia.size):
        b, s = ia[t], slot[t]
        for q in range(valid.shape[1]):
            if valid[b, q]:
                acc = 0.0
                for j in range(d):
                    acc += C[b, q, j] * C[b, s, j]
                gram[b, q, s] = acc
                gram[b, s, q] = acc


def _sync_factor(
    b: int,
    gram: np.ndarray,
    valid: np.ndarray,
    fac: np.ndarray,
    order: np.ndarray,
    nfac: np.ndarray,
    fac_dmax: np.ndarray,
    ridge_rel: float,
) -> int:  # pragma: no cover - compiled
    """Bring problem b's Cholesky factor up to date with its passive slots; returns k.

    ``fac[b, :k, :k]`` is the lower factor of ``gram + ridge I`` on the slots
    ``order[b, :k]`` (in that order), ``ridge = ridge_rel * fac_dmax[b]`` (the largest
    diagonal entry) plus the smallest normal float, pivots floored at ``1e-14`` of the
    largest diagonal entry of the ridged matrix, as :func:`_cholesky` does. One slot
    added since (a row joined, the common case) borders the factor in ``O(k^2)``; any
    other change (a slot dropped or reloaded: ``nfac[b] = -1``; a row with a larger
    diagonal, which changes the ridge) refactors it in ``O(k^3)``.
    """
    kmax = valid.shape[1]
    k = 0
    for s in range(kmax):
        if valid[b, s]:
            k += 1
    nf = nfac[b]
    ok = 0 <= nf <= k
    if ok:
        for q in range(nf):
            if not valid[b, order[b, q]]:
                ok = False
    if ok and nf == k:
        return k
    if ok and nf == k - 1:
        new = -1
        for s in range(kmax):
            if valid[b, s]:
                seen = False
                for q in range(nf):
                    if order[b, q] == s:
                        seen = True
                if not seen:
                    new = s
        if gram[b, new, new] <= fac_dmax[b]:  # the ridge stays: border the factor
            ridge = ridge_rel * fac_dmax[b] + _TINY
            floor = 1e-14 * (fac_dmax[b] + ridge) + _TINY
            acc = gram[b, new, new] + ridge
            for q in range(nf):
                v = gram[b, order[b, q], new]
                for r in range(q):
                    v -= fac[b, q, r] * fac[b, nf, r]
                v /= fac[b, q, q]
                fac[b, nf, q] = v
                acc -= v * v
            fac[b, nf, nf] = np.sqrt(max(acc, floor))
            order[b, nf] = new
            nfac[b] = k
            return k
    dmax = 0.0
    q = 0
    for s in range(kmax):
        if valid[b, s]:
            order[b, q] = s
            dmax = max(dmax, gram[b, s, s])
            q += 1
    ridge = ridge_rel * dmax + _TINY
    G = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            G[i, j] = gram[b, order[b, i], order[b, j]]
        G[i, i] += ridge
    fac[b, :k, :k] = _cholesky(G)
    fac_dmax[b] = dmax
    nfac[b] = k
    return k


def _factored_least_squares(
    b: int,
    C: np.ndarray,
    fac: np.ndarray,
    order: np.ndarray,
    k: int,
    g: np.ndarray,
    dmax: float,
    refine_rel: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`_refined_solve` of problem b's passive rows ``C[b, order[b, :k]]`` from
    its up-to-date factor (:func:`_sync_factor`); z in factor order."""
    A = np.empty((k, C.shape[2]))
    for q in range(k):
        A[q] = C[b, order[b, q]]
    return _refined_solve(fac[b, :k, :k], A, g, dmax, refine_rel)


def restore_feasibility(
    ia: np.ndarray,
    C: np.ndarray,
    gram: np.ndarray,
    valid: np.ndarray,
    mu: np.ndarray,
    g: np.ndarray,
    running: np.ndarray,
    ridge_rel: float,
    refine_rel: float,
    fac: np.ndarray,
    order: np.ndarray,
    nfac: np.ndarray,
    fac_dmax: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Lawson-Hanson inner loop of problems ``ia``, in place (see ``_NNLSState``).

    ``C`` (B, kmax, d) holds the passive rows (zero in unused slots), ``gram``
    (B, kmax, kmax) their Gram matrices (read on used slots only), ``valid``
    (B, kmax) the slots in use, ``mu`` (B, kmax) the coefficients; each problem solves
    its least squares, keeps it when every coefficient is positive, else steps back
    to the first coefficient that reaches zero and drops the slots at zero; after
    ``kmax + 1`` tries it stops (``running`` False), as the NumPy loop does. The
    least squares use each problem's Cholesky factor ``fac``, kept across calls
    (``order``, ``nfac``, ``fac_dmax``: see :func:`_sync_factor`): a row that joined
    costs ``O(k^2)``, not the ``O(k^3)`` of a new factorisation.
    """
    kmax = valid.shape[1]
    for t in range(ia.size):
        b = ia[t]
        settled = False
        for _ in range(kmax + 1):
            k = _sync_factor(b, gram, valid, fac, order, nfac, fac_dmax, ridge_rel)
            if k == 0:  # nothing passive: mu = 0 is the least-squares solution
                mu[b, :] = 0.0
                settled = True
                break
            z = _factored_least_squares(b, C, fac, order, k, g[b], fac_dmax[b], refine_rel)
            # the first coefficient to reach zero on the segment mu -> z
            k_out, ratio = -1, np.inf
            for q in range(k):
                if z[q] <= 0.0:
                    m = mu[b, order[b, q]]
                    den = m - z[q]
                    rq = m / den if den != 0.0 else (0.0 if m == 0.0 else np.inf)
                    if rq < ratio or k_out < 0:
                        k_out, ratio = q, rq
            if k_out < 0:
                for s in range(kmax):
                    mu[b, s] = 0.0
                for q in range(k):
                    mu[b, order[b, q]] = z[q]
                settled = True
                break
            nfac[b] = -1  # slots drop: a new factor at the next try
            for q in range(k):
                s = order[b, q]
                m = mu[b, s] + ratio * (z[q] - mu[b, s])
                if q == k_out or not m > 0.0:
                    valid[b, s] = False
                    C[b, s] = 0.0
                    mu[b, s] = 0.0
                else:
                    mu[b, s] = m
        if not settled:
            running[b] = False


def first_blocking(
    slack: np.ndarray, rate: np.ndarray, DT: np.ndarray, pat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Each block's first blocking row and its step ratio (see ``_polish_kernels._step_ratios``).

    ``slack`` (k, n) = ``x_i^T b``, ``rate`` (k, n) = ``x_i^T db`` (zero on rows that
    never block), ``DT[pat[k], i]`` the sign of row i in block k's cone. Row i blocks
    block k when ``s rate < 0`` (``s = +1`` where DT), at ``max(-slack / rate, 0)``.
    Returns ``(first (k,), ratio (k,))``: the first row reaching the smallest ratio
    (row 0 and inf where none blocks), as ``argmin`` over the full matrix does.
    ``slack`` is overwritten by the ratios (a branch-free pass the compiler vectorises,
    then ``argmin``: twice as fast as one pass tracking the minimum).
    """
    k, n = slack.shape
    first = np.zeros(k, dtype=np.int64)
    best = np.full(k, np.inf)
    for b in range(k):
        row, s_b, r_b = DT[pat[b]], slack[b], rate[b]
        for i in range(n):  # branch-free, in place: vectorised
            r = r_b[i]
            crossed = (r != 0.0) & ((r < 0.0) == row[i])
            s_b[i] = max(-s_b[i] / r, 0.0) if crossed else np.inf
        first[b] = np.argmin(s_b)
        best[b] = s_b[first[b]]
    return first, best


def extreme_rows(
    XG: np.ndarray, D: np.ndarray, inv_norm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per column c, the rows of the smallest and of the largest ``s_jc XG[j, c] inv_norm[j]``
    (``s_jc = 1`` where ``D[j, c]``, else -1): the first such row, as ``argmin`` and
    ``argmax`` over the (n, m) matrix do (``duality._extreme_rows``, the reference).

    One pass over ``XG`` and ``D``, row by row (the updates are selects across the
    columns, which the compiler vectorises); NumPy took five passes over (n, m)
    temporaries.
    """
    n, m = XG.shape
    lo = np.zeros(m, dtype=np.int64)
    hi = np.zeros(m, dtype=np.int64)
    vmin = np.full(m, np.inf)
    vmax = np.full(m, -np.inf)
    for j in range(n):
        w = inv_norm[j]
        xg, dj = XG[j], D[j]
        for c in range(m):
            v = (xg[c] if dj[c] else -xg[c]) * w
            below = v < vmin[c]
            lo[c] = j if below else lo[c]
            vmin[c] = v if below else vmin[c]
            above = v > vmax[c]
            hi[c] = j if above else hi[c]
            vmax[c] = v if above else vmax[c]
    return lo, hi


def cone_first_cuts(
    Cv: np.ndarray,
    Cp: np.ndarray,
    ST: np.ndarray,
    pat: np.ndarray,
    face_ptr: np.ndarray,
    face_idx: np.ndarray,
    sign: bool,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Each block's first cutting row and its step ratio (``cnn._relu_bcd.
    _first_cuts_reference``, the reference).

    ``Cv``, ``Cp`` (m, n): block k's slacks (clipped at 0) and slopes on the n rows; with
    ``sign``, the raw products ``x_j^T v_k`` and ``x_j^T dv_k``, signed in place first
    (``s = +1`` where ``ST[pat[k], j]``, else -1; slacks clipped at 0). Row j cuts block
    k when ``Cp[k, j] < -1e-13 max_j |Cp[k, j]|`` and j is not on the face (the rows
    ``face_idx[face_ptr[k]:face_ptr[k + 1]]``), at ``Cv / -Cp``. Returns ``(row (m,),
    first (m,))``: the first row reaching the smallest ratio, row 0 and inf where none
    cuts.
    """
    m, n = Cv.shape
    row = np.zeros(m, dtype=np.int64)
    first = np.full(m, np.inf)
    neg = np.empty(n)  # minus the ratios (-inf: no cut), then argmax: the first row
    for k in range(m):
        cv, cp = Cv[k], Cp[k]
        hi = 0.0
        if sign:
            s = ST[pat[k]]
            for j in range(n):  # branch-free selects: vectorised
                sg = 1.0 if s[j] else -1.0
                a = sg * cv[j]
                cv[j] = a if a > 0.0 else 0.0
                b = sg * cp[j]
                cp[j] = b
                hi = max(hi, abs(b))
        else:
            for j in range(n):
                hi = max(hi, abs(cp[j]))
        thr = -1e-13 * hi
        lo, up = face_ptr[k], face_ptr[k + 1]
        kept = np.empty(up - lo)
        for q in range(lo, up):  # face rows never cut: out of the pass, then back
            kept[q - lo] = cp[face_idx[q]]
            cp[face_idx[q]] = 0.0
        for j in range(n):
            c = cp[j]
            neg[j] = cv[j] / c if c < thr else -np.inf
        for q in range(up - 1, lo - 1, -1):  # reversed: a repeated face row gets its value
            cp[face_idx[q]] = kept[q - lo]
        row[k] = np.argmax(neg)
        first[k] = -neg[row[k]]
    return row, first
