"""Exact pricing oracle: the most violated dual constraint over ALL patterns, streamed.

For a dual vector ``lam`` (n,) the dual constraints of eq. (15) over every activation
pattern read ``max_{||u|| <= 1} |lam^T (X u)_+| <= beta``; per pattern ``D`` the left-hand
side is the cone-restricted dual norm ``max_{u in K_D, ||u|| <= 1} +-lam^T D X u`` (see
:func:`convexnn.duality.cone_dual_norms`), and

    max_D max_{u in K_D, ||u|| <= 1} +-lam^T D X u  =  max_{||u|| <= 1} +-lam^T (X u)_+ .

The gated relaxation has ``max_D ||X^T D lam||`` instead. This module computes both
without ever storing the patterns.

Reduction. In the row space of ``X`` (rank ``r``, :class:`._arrangement._Arrangement`:
distinct hyperplanes with unit normals ``H`` (m, r)), rows that share a hyperplane are
aggregated, so that ``lam^T (X u)_+ = w^T (H u)_+ + l^T u`` with weights ``w`` (m,) and a
linear term ``l`` (r,) (``(-t)_+ = t_+ - t`` for antiparallel rows).

Rank 2 (angle sweep). The unit circle is cut into ``2 m`` arcs by the angles where a
hyperplane switches on or off. Sorting them once and summing the switches gives
``G_k = l + sum_{h active on arc k} w_h H_h``; on arc ``k`` the objective is ``G_k^T u``,
whose maximum over the closed arc is ``||G_k||`` if the direction of ``G_k`` lies in the
arc, else its value at the better end point. O(m log m).

Rank 3 (sweep of every great circle). The maximiser ``u*`` lies in the relative interior
of a face of the arrangement on the sphere: a vertex or an arc of some great circle
``{H_i^T u = 0}``, or the interior of a cell. Faces on circle ``i`` are the rank-2
problem of the other hyperplanes projected on the plane ``H_i^perp``, solved by the sweep
above, in batches of circles (NumPy, no loop per vertex). A cell ``D`` can only have an
interior maximum at ``g_D / ||g_D||`` where ``g_D = sum_{h in D} w_h H_h + l``, and only
if ``g_D`` lies in its cone ``K_D``; the sweep of circle ``i`` meets every cell along each
of its boundary arcs with ``g_D`` at hand, checks the three facets it knows (circle ``i``
and the circles at both ends of the arc: a necessary condition for ``g_D in K_D``) and
keeps ``g_D`` only if ``||g_D||`` exceeds the best value found so far. The survivors are
evaluated exactly in blocks, by decreasing ``||g_D||``, until no remaining bound beats
the best. O(m^2 log m) time, memory of one batch. The gated maximum is the largest
``||g_D||`` over the cells met.

Rank > 3: branch and bound over the sphere (:func:`_branch_and_bound`), with a valid upper
bound on every box; exact only when the bound closes within the budget.

Numerical honesty. ``Pricing.value`` is the objective evaluated directly at the returned
``u`` (an achieved value, at most the maximum). ``Pricing.upper_bound`` is the largest
candidate value found plus a rounding margin (running sums, aggregation of parallel rows,
the rank truncation): it is never below the exact maximum for rank <= 3, so a dual point
scaled by ``beta / upper_bound`` is feasible for the semi-infinite dual (4) itself. Cells
thinner than about 1e-12 rad are not resolved (as in :func:`enumerate_patterns`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    add_ones_column,
    check_bool,
    check_choice,
    check_positive_int,
    check_X,
    host_array,
)
from ._arrangement import _EPS, _HASH_SEED, _Arrangement
from .count import count_patterns_bound

__all__ = ["Pricing", "max_dual_violation", "pricing"]

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

FORMULATIONS = ("relu", "gated")
METHODS = ("auto", "sweep", "bnb")
_TWO_PI = 2.0 * np.pi
_ARC_TOL = 1e-12  # arcs shorter than this (rad) are ties between hyperplanes, not cells
_TIE_TOL = 1e-10  # |H_h^T u| below this: hyperplane h passes through the returned u
_EVAL_BLOCK = 4096  # interior candidates evaluated together
_BITMAP = 1 << 22  # slots of the membership prefilter of the interior candidates
_MERGE_MIN = 1 << 16  # buffered interior candidates before the first merge
_PENDING_MAX = 1 << 18  # interior candidates held before they are evaluated
_DEFAULT_CHUNK = 1 << 19  # sweep events per batch (arrays of about 4-12 MB)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """Most violated dual constraint over all activation patterns.

    Attributes
    ----------
    value : float
        ``"relu"``: ``max_{||u|| <= 1} |lam^T (X u)_+|`` evaluated at ``u`` (achieved, so
        at most the exact maximum, and equal to it when ``exact``). ``"gated"``:
        ``||X^T D lam||`` for the returned pattern.
    pattern : array of shape (n,) of bool
        A realizable pattern ``1[X u' >= 0]`` (``u'`` next to ``u``; zero rows True) whose
        dual norm (cone-restricted for ``"relu"``) is ``value``: the column to add in
        column generation.
    u : array of shape (d,)
        Unit maximiser in the coordinates of ``X`` (with the ones column under a hidden
        bias); for ``"gated"`` a point of the pattern's cell.
    sign : int
        +1 if the maximum is attained by ``lam``, -1 if by ``-lam``.
    exact : bool
        True when ``upper_bound - value`` is only rounding (rank <= 3 always; rank > 3
        when branch and bound closed its gap).
    upper_bound : float
        Proven upper bound on the exact maximum over ALL patterns (rounding included).
    method : str
        ``"rank0"``, ``"rank1"``, ``"sweep"`` or ``"bnb"``.
    n_cells : int
        Number of patterns the maximum ranges over: exact for rank <= 3 (rank 3: Euler's
        formula on the sphere, from the sweep), ``count_patterns_bound`` above.
    """

    value: float
    pattern: BoolArray
    u: Array
    sign: int
    exact: bool
    upper_bound: float
    method: str
    n_cells: int


def max_dual_violation(
    X: Any,
    lam: Any,
    *,
    formulation: str = "relu",
    hidden_bias: bool = False,
    chunk_size: int = _DEFAULT_CHUNK,
    method: str = "auto",
    max_boxes: int = 200_000,
    tol: float = 1e-9,
    one_sided: bool = False,
) -> Pricing:
    """Largest dual-constraint value of ``lam`` over ALL activation patterns, streamed.

    Computes, without materialising the patterns,

        relu:   max_{||u|| <= 1} |lam^T (X u)_+|
                  = max_{D, s = +-1} max_{u in K_D, ||u|| <= 1} s lam^T D X u,
        gated:  max_D ||X^T D lam||,

    with ``K_D = {u : (2 D - I) X u >= 0}`` over every pattern ``D`` of ``X``. ``lam`` is
    feasible for the semi-infinite dual (4) iff the value is at most ``beta``.

    Parameters
    ----------
    X : array of shape (n, d)
        Data (the ones column is appended here when ``hidden_bias``).
    lam : array of shape (n,)
        Dual vector (e.g. a residual).
    formulation : {"relu", "gated"}
    hidden_bias : bool
        Work on ``X_eff = [X, 1]``.
    chunk_size : int
        Sweep events processed together (memory about ``100 * chunk_size`` bytes).
    method : {"auto", "sweep", "bnb"}
        ``"auto"``: exact sweep for rank <= 3, branch and bound above. ``"bnb"`` forces
        branch and bound (any rank >= 2).
    max_boxes : int
        Budget of branch and bound (boxes evaluated).
    tol : float
        Relative gap at which branch and bound stops and reports ``exact=True``.
    one_sided : bool
        ``"relu"`` only: maximise ``lam^T (X u)_+`` itself (sign +1 only) instead of
        its absolute value.

    Returns
    -------
    Pricing
        ``value`` (achieved), ``upper_bound`` (proven), ``pattern``, ``u``, ``sign``,
        ``exact``.
    """
    caller = "max_dual_violation"
    X_arr = check_X(X, caller=caller)
    check_bool(hidden_bias, caller=caller, name="hidden_bias")
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    lam_arr = _check_lam(lam, X_eff.shape[0], caller)
    formulation = check_choice(formulation, FORMULATIONS, caller=caller, name="formulation")
    method = check_choice(method, METHODS, caller=caller, name="method")
    chunk_size = check_positive_int(chunk_size, caller=caller, name="chunk_size")
    max_boxes = check_positive_int(max_boxes, caller=caller, name="max_boxes")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"{caller}: tol must be a finite number >= 0, got {tol!r}.")
    return _price(
        X_eff, lam_arr, formulation, chunk_size, method, max_boxes, float(tol), bool(one_sided)
    )


def pricing(
    X_eff: Any, lam: Any, *, formulation: str = "relu", chunk_size: int = _DEFAULT_CHUNK
) -> tuple[float, BoolArray]:
    """Pluggable pricing step for column generation: ``(value, pattern)``, one sign.

    ``X_eff`` is the effective data (with the ones column already appended under a
    hidden bias). Returns a proven upper bound on ``max_{||u|| <= 1} lam^T (X_eff u)_+``
    (``"gated"``: ``max_D ||X_eff^T D lam||``) over ALL patterns, exact up to rounding
    for rank <= 3, and the pattern attaining the best value found (see
    :func:`max_dual_violation`); call it with ``lam`` and ``-lam`` for both signs
    (:func:`convexnn.patterns.column_generation` does). Column generation stops when
    both values are at most ``beta`` (``lam`` is then globally dual feasible) and
    otherwise adds the patterns.
    """
    result = max_dual_violation(
        X_eff, lam, formulation=formulation, chunk_size=chunk_size, one_sided=True
    )
    return result.upper_bound, result.pattern


# --------------------------------------------------------------------------------------
# Reduction to distinct hyperplanes
# --------------------------------------------------------------------------------------


@dataclass
class _Reduced:
    """``X = Z Vt`` (rank r) with rows grouped into distinct hyperplanes ``H`` (m, r)."""

    rank: int
    Vt: Array  # (r, d)
    Z: Array  # (n, r)
    H: Array  # (m, r) unit normals
    group: IntArray  # (n,) hyperplane of each row, -1 for zero rows
    flip: BoolArray  # (n,) row antiparallel to its hyperplane's normal
    row_err: Array  # (n,) ||x_j - z_j Vt|| + ||z_j - s_j ||z_j|| H_{g_j}||

    @classmethod
    def from_data(cls, X: Array) -> _Reduced:
        arr = _Arrangement.from_data(X, None)
        r = arr.rank
        _, _, Vt_full = np.linalg.svd(X, full_matrices=False)  # same SVD as _Arrangement
        Vt = Vt_full[:r]
        Z = X @ Vt.T
        err = np.linalg.norm(X - Z @ Vt, axis=1)
        if r == 0:
            return cls(0, Vt, Z, np.zeros((0, 0)), arr.group, arr.flip, err)
        nz = arr.group >= 0
        norms = np.linalg.norm(Z, axis=1)
        rep = np.zeros(int(arr.group.max()) + 1, dtype=np.intp)
        rows = np.nonzero(nz)[0]
        rep[arr.group[rows[::-1]]] = rows[::-1]  # first row of each hyperplane
        H = Z[rep] / norms[rep, None]
        H = np.where(arr.flip[rep, None], -H, H)
        s = np.where(arr.flip, -1.0, 1.0)
        approx = np.zeros_like(Z)
        approx[nz] = (s[nz] * norms[nz])[:, None] * H[arr.group[nz]]
        err += np.linalg.norm(Z - approx, axis=1)
        return cls(r, Vt, Z, H, arr.group, arr.flip, err)

    def aggregate(self, lam: Array) -> tuple[Array, Array]:
        """``w`` (m,) and ``l`` (r,) with ``lam^T (Z u)_+ ~= w^T (H u)_+ + l^T u``."""
        m = self.H.shape[0]
        nz = self.group >= 0
        a = lam[nz] * np.linalg.norm(self.Z[nz], axis=1)
        g = self.group[nz]
        flipped = self.flip[nz]
        w = np.bincount(g, weights=a, minlength=m).astype(np.float64)
        q = np.bincount(g[flipped], weights=a[flipped], minlength=m).astype(np.float64)
        return w, -(q @ self.H)

    def pattern(self, u: Array, force: tuple[int, bool] | None = None) -> BoolArray:
        """Realizable pattern (n,) of a cell whose closure contains ``u`` (reduced coords).

        ``force = (h, on)``: ``u`` lies on hyperplane ``h`` and the cell is on its side ``on``.
        """
        t = self.H @ u
        if force is not None:
            t[force[0]] = 1.0 if force[1] else -1.0
        tied = np.abs(t) <= _TIE_TOL
        if tied.any():  # step off the tied hyperplanes in a generic direction
            delta = np.random.default_rng(_HASH_SEED).standard_normal(u.size)
            delta -= (delta @ u) * u
            t = np.where(tied, self.H @ delta, t)
        on = t > 0
        out = np.ones(self.group.size, dtype=bool)
        nz = self.group >= 0
        out[nz] = on[self.group[nz]] ^ self.flip[nz]
        return out


def _check_lam(lam: Any, n: int, caller: str) -> Array:
    arr = np.asarray(host_array(lam), dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(
            f"{caller}: lam must be a vector with one entry per row of X ({n}), got shape "
            f"{np.shape(lam)}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{caller}: lam must be finite; remove NaN or infinite entries.")
    return arr


# --------------------------------------------------------------------------------------
# Dispatch and the final answer
# --------------------------------------------------------------------------------------


@dataclass
class _Best:
    """Best candidate so far: computed value, direction (reduced coords), sign."""

    value: float = 0.0
    u: Array | None = None
    sign: int = 1
    bound: float = 0.0  # largest candidate value ever computed (for the upper bound)
    force: tuple[int, bool] | None = None  # (hyperplane, side) u lies on, for the pattern
    err: float = 0.0  # rounding error bound of the candidate values
    n_cells: int = 0
    positive_only: bool = False  # only sign +1 (max of lam^T (X u)_+ itself)

    def offer(
        self, value: float, u: Array, sign: int, force: tuple[int, bool] | None = None
    ) -> None:
        if sign < 0 and self.positive_only:
            return
        self.bound = max(self.bound, value)
        if value > self.value or self.u is None:
            self.value, self.u, self.sign, self.force = value, u, sign, force


def _price(
    X: Array,
    lam: Array,
    formulation: str,
    chunk: int,
    method: str,
    max_boxes: int,
    tol: float,
    positive_only: bool = False,
) -> Pricing:
    red = _Reduced.from_data(X)
    r = red.rank
    if r == 0:
        pattern = np.ones(X.shape[0], dtype=bool)
        return Pricing(0.0, pattern, np.zeros(X.shape[1]), 1, True, 0.0, "rank0", 1)
    if method == "sweep" and r > 3:
        raise ValueError(
            f"max_dual_violation: method='sweep' is exact for rank(X_eff) <= 3 only, got "
            f"rank {r}. Use method='auto' (branch and bound, with a proven upper bound)."
        )
    w, l_vec = red.aggregate(lam)
    gated = formulation == "gated"
    exact = True
    best = _Best(positive_only=positive_only and not gated)
    if r == 1:
        name = "rank1"
        _rank1(best, red.H, w, l_vec, gated)
    elif method == "bnb" or r > 3:
        name = "bnb"
        _branch_and_bound(best, red.H, w, l_vec, gated, max_boxes, tol)
        exact = best.bound <= best.value * (1 + tol)
        best.n_cells = count_patterns_bound(red.H.shape[0], r)
    elif r == 2:
        name = "sweep"
        _sweep_rank2(best, red.H, w, l_vec, gated)
    else:
        name = "sweep"
        _sweep_rank3(best, red.H, w, l_vec, gated, chunk)
    return _finish(red, X, lam, best, gated, exact, name)


def _finish(
    red: _Reduced, X: Array, lam: Array, best: _Best, gated: bool, exact: bool, name: str
) -> Pricing:
    u_red = best.u if best.u is not None else np.eye(red.rank)[0]
    u_red = u_red / np.linalg.norm(u_red)
    pattern = red.pattern(u_red, best.force)
    u = red.Vt.T @ u_red
    if gated:
        value = float(np.linalg.norm(X.T @ (pattern * lam)))
    else:
        value = max(float(best.sign * (lam @ np.maximum(X @ u, 0.0))), 0.0)
    upper = max(best.bound + best.err + float(np.abs(lam) @ red.row_err), value)
    return Pricing(value, pattern, u, best.sign, exact, float(upper), name, best.n_cells)


def _rank1(best: _Best, H: Array, w: Array, l_vec: Array, gated: bool) -> None:
    best.n_cells = 2
    for u in (np.ones(1), -np.ones(1)):
        on = (H @ u) > 0
        g = H[on].T @ w[on] + l_vec
        if gated:
            best.offer(float(np.linalg.norm(g)), u, 1)
        else:
            val = float(g @ u)
            best.offer(val, u, 1)
            best.offer(-val, u, -1)


# --------------------------------------------------------------------------------------
# The angle sweep, batched over circles
# --------------------------------------------------------------------------------------


@dataclass
class _Sweep:
    """Sorted events of a batch of C circles, each cut by K hyperplanes (2K events).

    ``G[c, k]`` (full coordinates, q = 2 or 3) is the active sum on arc k, from event k to
    event k + 1 (the last arc wraps around); ``t0``, ``t1`` its end angles; ``rows`` and
    ``start`` the hyperplane and kind of each event.
    """

    G: Array  # (C, 2K, q)
    keys: Array  # (C, 2K, e) extra channels (exact hashes of the active set)
    G2: Array  # (C, 2K, 2) in the circle's plane
    t0: Array  # (C, 2K)
    t1: Array  # (C, 2K)
    rows: IntArray  # (C, 2K)
    start: BoolArray  # (C, 2K)
    err: float  # bound on the rounding error of any G2 value (running sums)


def _wrap(a: Array) -> Array:
    """Angles to (-pi, pi]."""
    out = np.mod(a + np.pi, _TWO_PI) - np.pi
    return np.where(out <= -np.pi, out + _TWO_PI, out)


def _run_sweep(P: Array, Dvec: Array, base: Array, B: Array, rows: IntArray, q: int) -> _Sweep:
    """Sweep C circles at once.

    Parameters
    ----------
    P : (C, K, 2)
        Hyperplane normals projected on each circle's plane (hyperplane ``h`` is on where
        ``P_h^T e(theta) > 0``).
    Dvec : (C, K, q + e)
        ``w_h H_h`` in full coordinates (first q channels), then e extra channels
        summed the same way (exact integer hashes of the active set).
    base : (C, q + e)
        The part of the sums that does not switch (the linear term).
    B : (C, q, 2)
        Columns: the plane's orthonormal basis in full coordinates.
    rows : (C, K)
        Hyperplane index of each entry.
    q : int
        Number of geometric channels.
    """
    K = P.shape[1]
    phi = np.arctan2(P[..., 1], P[..., 0])
    on = np.mod(phi - 0.5 * np.pi, _TWO_PI)  # h switches on at `on`, off at `on + pi`
    on_first = on < np.pi  # in [0, pi) h switches on first, else off first
    beta = np.where(on_first, on, on - np.pi)  # its first event in [0, pi)
    beta = np.where(beta >= np.pi, 0.0, beta)  # (rounding of values just below 2 pi)
    order = np.argsort(beta, axis=1, kind="stable")
    half = np.take_along_axis(beta, order, axis=1)
    first = np.take_along_axis(on_first, order, axis=1)
    Dvec = np.take_along_axis(Dvec, order[..., None], axis=1)
    sign = np.where(first, 1.0, -1.0)[..., None]
    # Before the first event (angle 0-) exactly the off-first hyperplanes are on;
    # pairwise summation along the contiguous last axis: error (log2 K + 16) eps sum|.|
    start = base + np.sum(np.ascontiguousarray(np.moveaxis(Dvec * (sign < 0), 1, 2)), axis=2)
    C = np.cumsum(Dvec * sign, axis=1)  # (C, K, q + e): the first half of the circle
    G = np.concatenate([C, C[:, -1:, :] - C], axis=1)  # then every event is undone
    G += start[:, None, :]
    t0 = np.concatenate([half, half + np.pi], axis=1)
    t1 = np.empty_like(t0)
    t1[:, :-1] = t0[:, 1:]
    t1[:, -1] = t0[:, 0] + _TWO_PI
    G2 = np.einsum("ckq,cqp->ckp", G[..., :q], B)
    rows_sorted = np.take_along_axis(rows, order, axis=1)
    ev_rows = np.concatenate([rows_sorted, rows_sorted], axis=1)
    ev_start = np.concatenate([first, ~first], axis=1)
    # recursive summation: |error of G_k| <= eps sum_{i <= k} |G_i| (per channel)
    err = _EPS * (2.0 * float(np.abs(G[..., :q]).sum(axis=(1, 2)).max()))
    err += _EPS * (np.log2(K + 1) + 16) * float(np.abs(Dvec[..., :q]).sum(axis=(1, 2)).max())
    return _Sweep(G[..., :q], G[..., q:], G2, t0, t1, ev_rows, ev_start, err)


def _arc_max(sw: _Sweep) -> tuple[Array, Array]:
    """Max of ``+G2_k^T e`` and of ``-G2_k^T e`` over each closed arc; two (C, 2K) arrays.

    The maximum is ``||G2_k||`` when the direction of ``+-G2_k`` lies in the arc (a cross
    product test with the end points ``e0``, ``e1``; arcs are at most pi long), else the
    value at the better end point.
    """
    g0, g1 = sw.G2[..., 0], sw.G2[..., 1]
    c0, s0 = np.cos(sw.t0), np.sin(sw.t0)
    c1, s1 = np.roll(c0, -1, axis=1), np.roll(s0, -1, axis=1)  # t1 = next t0 (mod 2 pi)
    v0, v1 = g0 * c0 + g1 * s0, g0 * c1 + g1 * s1
    x0, x1 = c0 * g1 - s0 * g0, g0 * s1 - g1 * c1  # e0 x g, g x e1
    mid = v0 + v1  # g . (e0 + e1): g is within pi/2 of the arc's midpoint
    norm = np.hypot(g0, g1)
    plus = np.where((x0 >= 0) & (x1 >= 0) & (mid >= 0), norm, np.maximum(v0, v1))
    minus = np.where((x0 <= 0) & (x1 <= 0) & (mid <= 0), norm, -np.minimum(v0, v1))
    return plus, minus


def _arc_argmax(sw: _Sweep, c: int, k: int, sign: float) -> float:
    """Angle of the maximiser of ``sign * G2^T e`` over the closed arc ``(c, k)``."""
    g = sign * sw.G2[c, k]
    t0, t1 = float(sw.t0[c, k]), float(sw.t1[c, k])
    psi = float(np.arctan2(g[1], g[0]))
    if (psi - t0) % _TWO_PI <= t1 - t0:
        return psi
    e = [g @ np.array([np.cos(t), np.sin(t)]) for t in (t0, t1)]
    return t0 if e[0] >= e[1] else t1


def _offer_arcs(best: _Best, sw: _Sweep, B: Array, gated: bool) -> None:
    """Offer the best arc of the batch (both signs) to ``best``; arcs are circle faces."""
    if gated:  # rank 2 only: arcs are the cells, of value ||G||
        norm = np.linalg.norm(sw.G, axis=2)
        norm = np.where(sw.t1 - sw.t0 > _ARC_TOL, norm, 0.0)
        c, k = np.unravel_index(int(np.argmax(norm)), norm.shape)
        mid = 0.5 * (sw.t0[c, k] + sw.t1[c, k])
        best.offer(float(norm[c, k]), B[c] @ np.array([np.cos(mid), np.sin(mid)]), 1)
        return
    for sign, val in zip((1, -1), _arc_max(sw), strict=True):
        c, k = np.unravel_index(int(np.argmax(val)), val.shape)
        if val[c, k] <= best.value and best.u is not None:
            best.bound = max(best.bound, float(val[c, k]))
            continue
        ang = _arc_argmax(sw, int(c), int(k), float(sign))
        best.offer(float(val[c, k]), B[c] @ np.array([np.cos(ang), np.sin(ang)]), sign)


def _sweep_rank2(best: _Best, H: Array, w: Array, l_vec: Array, gated: bool) -> None:
    best.n_cells = 2 * H.shape[0]
    m = H.shape[0]
    B = np.eye(2)[None]
    sw = _run_sweep(H[None], (w[:, None] * H)[None], l_vec[None], B, np.arange(m)[None], 2)
    best.err = max(best.err, sw.err)
    _offer_arcs(best, sw, B, gated)


# --------------------------------------------------------------------------------------
# Rank 3: every great circle, plus the interior candidates of the cells
# --------------------------------------------------------------------------------------


def _circle_bases(Hc: Array) -> Array:
    """Orthonormal bases (C, 3, 2) of the planes ``H_i^perp`` for unit normals Hc (C, 3)."""
    axis = np.argmin(np.abs(Hc), axis=1)
    e = np.eye(3)[axis]
    a = np.cross(Hc, e)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(Hc, a)
    return np.stack([a, b], axis=2)


class _Pending:
    """Interior candidates ``sign * g_D / ||g_D||`` of cells, keyed by exact cell hashes.

    A cell's interior candidate is valid only if ``g_D`` passes the facet test at EVERY
    visit of the sweep (each visit checks three facets; together they check all of
    them). Candidates are added when a visit passes and removed when a visit of the same
    (cell, sign) fails; the survivors are evaluated exactly, so a missed removal costs
    time, never correctness. New candidates wait in a buffer (not yet searchable by
    removals) and are merged into the sorted store when the buffer is as large as it:
    O(N log N) in total.
    """

    def __init__(self, H: Array, w: Array, l_vec: Array) -> None:
        self.H, self.w, self.l_vec = H, w, l_vec
        self.keys = np.zeros((0, 2))  # (N, 2) sorted by (key0, key1), unique
        self.g = np.zeros((0, 3))
        self.s = np.zeros(0)
        self.buffer: list[tuple[Array, Array, Array]] = []
        self.buffered = 0
        self.eval_err = (H.shape[0] + 8) * _EPS * float(np.abs(w).sum() + np.abs(l_vec).sum())
        self.bits = np.zeros(_BITMAP, dtype=bool)  # key0 mod _BITMAP of the candidates

    @staticmethod
    def slots(key0: Array) -> IntArray:
        """Prefilter slots of the first hashes (same slot for both signs)."""
        return key0.astype(np.intp) & (_BITMAP - 1)

    @property
    def size(self) -> int:
        return int(self.s.size) + self.buffered

    def _keep(self, mask: BoolArray) -> None:
        self.keys, self.g, self.s = self.keys[mask], self.g[mask], self.s[mask]

    def add(self, keys: Array, g: Array, s: Array) -> None:
        self.buffer.append((keys, g, s))
        self.buffered += s.size
        if self.buffered > max(int(self.s.size), _MERGE_MIN):
            self.merge()

    def merge(self) -> None:
        """Sort the buffer into the store, one entry per (cell, sign)."""
        if not self.buffer:
            return
        keys = np.concatenate([self.keys] + [b[0] for b in self.buffer])
        g = np.concatenate([self.g] + [b[1] for b in self.buffer])
        s = np.concatenate([self.s] + [b[2] for b in self.buffer])
        self.buffer, self.buffered = [], 0
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        self.keys, self.g, self.s = keys[order], g[order], s[order]
        new = np.ones(self.s.size, dtype=bool)
        new[1:] = np.any(self.keys[1:] != self.keys[:-1], axis=1)
        self._keep(new)
        self.bits[:] = False
        self.bits[self.slots(self.keys[:, 0])] = True

    def kill(self, keys: Array) -> None:
        """Drop the stored candidates whose (cell, sign) key is in ``keys``."""
        n = int(self.s.size)
        if not n or not keys.shape[0]:
            return
        pos = np.minimum(np.searchsorted(self.keys[:, 0], keys[:, 0]), n - 1)
        hit = (self.keys[pos, 0] == keys[:, 0]) & (self.keys[pos, 1] == keys[:, 1])
        alive = np.ones(n, dtype=bool)
        alive[pos[hit]] = False
        self._keep(alive)

    def prune(self, floor: float) -> None:
        """Drop the stored candidates whose bound ``||g||`` does not beat ``floor``."""
        if self.s.size:
            self._keep(np.linalg.norm(self.g, axis=1) > floor)

    def flush(self, best: _Best) -> None:
        """Evaluate by decreasing ``||g||`` until no bound exceeds the best value."""
        self.merge()
        g, s = self.g, self.s
        norm = np.linalg.norm(g, axis=1)
        order = np.argsort(-norm, kind="stable")
        for lo in range(0, order.size, _EVAL_BLOCK):
            idx = order[lo : lo + _EVAL_BLOCK]
            idx = idx[norm[idx] > best.value]
            if idx.size == 0:
                break
            best.err = max(best.err, self.eval_err)
            U = (g[idx] / norm[idx, None]) * s[idx, None]
            vals = s[idx] * (np.maximum(U @ self.H.T, 0.0) @ self.w + U @ self.l_vec)
            k = int(np.argmax(vals))
            best.offer(float(vals[k]), U[k], int(s[idx][k]))
        self._keep(np.zeros(s.size, dtype=bool))


def _sweep_rank3(best: _Best, H: Array, w: Array, l_vec: Array, gated: bool, chunk: int) -> None:
    """Two passes over the great circles (see the module docstring).

    Pass 1: faces on the circles (arcs, vertices), gated values, interior candidates
    added / removed by the facet tests. Pass 2 (relu only, when candidates are left):
    the same facet tests again, removing the candidates of cells that failed a test at a
    visit made before they were added. The few survivors are evaluated exactly.
    """
    pending = _Pending(H, w, l_vec)
    high = max(2, (1 << 51) // H.shape[0])  # sums of all m hashes stay below 2^51
    rho = np.random.default_rng(_HASH_SEED).integers(1, high, size=(H.shape[0], 2)).astype(float)
    edges, vertices = 0, 0.0
    for circ, sw, B in _circle_batches(H, w, l_vec, rho, chunk):
        best.err = max(best.err, sw.err)
        e, v = _euler_counts(sw)
        edges, vertices = edges + e, vertices + v
        if not gated:
            _offer_arcs(best, sw, B, gated=False)
            pending.prune(best.value)
        _cell_candidates(best, pending, sw, H, w, rho, circ, gated, add=True)
    best.n_cells = 2 + edges - round(vertices)
    pending.merge()
    pending.prune(best.value)
    if pending.size:
        for circ, sw, _ in _circle_batches(H, w, l_vec, rho, chunk):
            _cell_candidates(best, pending, sw, H, w, rho, circ, gated, add=False)
            if not pending.size:
                break
    pending.flush(best)


def _euler_counts(sw: _Sweep) -> tuple[int, float]:
    """Edges and vertices of the arrangement met on these circles (Euler: F = 2 + E - V).

    Events closer than ``_ARC_TOL`` are one vertex; a vertex where k circles meet shows
    k - 1 events on each of them, so it counts ``1 / k`` per circle.
    """
    c, k = np.nonzero(sw.t1 - sw.t0 > _ARC_TOL)  # long arcs, sorted by (circle, k)
    if c.size == 0:
        return 0, 0.0
    nxt = np.empty_like(k)
    nxt[:-1] = k[1:]
    last = np.ones(c.size, dtype=bool)
    last[:-1] = c[1:] != c[:-1]
    first = np.ones(c.size, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    nxt[last] = k[first] + sw.t0.shape[1]
    events = nxt - k  # events in the vertex that ends each long arc
    return int(c.size), float(np.sum(1.0 / (events + 1.0)))


def _circle_batches(
    H: Array, w: Array, l_vec: Array, rho: Array, chunk: int
) -> Iterator[tuple[IntArray, _Sweep, Array]]:
    """Sweeps of the great circles ``H_i^perp``, in batches of about ``chunk`` events."""
    m = H.shape[0]
    K = m - 1
    per = max(1, chunk // (2 * K))
    ar = np.arange(K)
    for lo in range(0, m, per):
        circ = np.arange(lo, min(lo + per, m))
        idx = ar[None, :] + (ar[None, :] >= circ[:, None])  # the other hyperplanes
        B = _circle_bases(H[circ])
        Ho = H[idx]  # (C, K, 3)
        P = np.einsum("ckq,cqp->ckp", Ho, B)
        Dvec = np.concatenate([w[idx][..., None] * Ho, rho[idx]], axis=2)
        base = np.zeros((circ.size, 5))
        base[:, :3] = l_vec
        yield circ, _run_sweep(P, Dvec, base, B, idx, 3), B


def _cell_candidates(
    best: _Best,
    pending: _Pending,
    sw: _Sweep,
    H: Array,
    w: Array,
    rho: Array,
    circ: IntArray,
    gated: bool,
    add: bool,
) -> None:
    """The two cells along every arc: gated values, or interior candidates to evaluate.

    A visit of cell D (one side of arc k of circle i) passes for sign s when ``s g_D`` is
    on the cell's side of circle i and of the circles at both ends of the arc (a
    necessary condition for ``s g_D in K_D``): candidates are added when it passes
    (``add``) and removed when it fails.
    """
    Hi = H[circ]  # (C, 3)
    if gated:
        valid = sw.t1 - sw.t0 > _ARC_TOL
        for side in (1.0, -1.0):  # + side: hyperplane i on, its w_i H_i added
            g = sw.G + (w[circ][:, None] * Hi)[:, None, :] if side > 0 else sw.G
            _offer_gated(best, sw, g, np.linalg.norm(g, axis=2), valid, Hi, side, circ)
        return
    Hr = H[sw.rows]  # (C, 2K, 3): hyperplane of each event
    G = sw.G
    t_i = np.einsum("ckq,cq->ck", G, Hi)
    t_0 = np.einsum("ckq,ckq->ck", G, Hr)  # event k starts arc k
    t_1 = np.einsum("ckq,ckq->ck", G, np.roll(Hr, -1, axis=1))  # event k + 1 ends it
    h_0 = Hr @ Hi[:, :, None]
    h_0 = h_0[..., 0]
    h_1 = np.roll(h_0, -1, axis=1)
    s_0 = np.where(sw.start, 1.0, -1.0)  # j0 on along the arc iff it switched on
    s_1 = np.roll(-s_0, -1, axis=1)  # j1 on along the arc iff it switches off
    w_i = w[circ][:, None]
    for side in (1.0, -1.0):  # + side: hyperplane i on, its w_i H_i added
        a = w_i if side > 0 else 0.0
        norm2 = np.einsum("ckq,ckq->ck", G, G)
        if side > 0:
            norm2 = norm2 + 2.0 * w_i * t_i + w_i**2
        norm = np.sqrt(np.maximum(norm2, 0.0))
        tests = (side * (t_i + a), s_0 * (t_0 + a * h_0), s_1 * (t_1 + a * h_1))
        slack = 1e-12 * norm
        big = norm > best.value
        plus = big & (tests[0] >= -slack) & (tests[1] >= -slack) & (tests[2] >= -slack)
        minus = big & (tests[0] <= slack) & (tests[1] <= slack) & (tests[2] <= slack)
        keys = sw.keys + rho[circ][:, None, :] if side > 0 else sw.keys
        g_add = (w_i * Hi)[:, None, :] if side > 0 else None
        maybe = big & pending.bits[pending.slots(keys[..., 0])] if pending.size else None
        for sign, ok in ((1.0, plus), (-1.0, minus)):
            offset = 0.0 if sign > 0 else float(1 << 52)  # exact: hashes are below 2^52
            if add and ok.any():
                c, k = np.nonzero(ok)
                g = G[c, k] + (g_add[c, 0] if g_add is not None else 0.0)
                kk = keys[c, k]
                kk[:, 0] += offset
                pending.add(kk, g, np.full(c.size, sign))
            if pending.size:
                if maybe is None:  # candidates were just added: their slots are new
                    maybe = big & pending.bits[pending.slots(keys[..., 0])]
                kk = keys[maybe & ~ok]
                kk[:, 0] += offset
                pending.kill(kk)


def _offer_gated(
    best: _Best,
    sw: _Sweep,
    g: Array,
    norm: Array,
    valid: BoolArray,
    Hi: Array,
    side: float,
    circ: IntArray,
) -> None:
    norm = np.where(valid, norm, 0.0)
    c, k = np.unravel_index(int(np.argmax(norm)), norm.shape)
    if norm[c, k] <= best.value:
        return
    mid = 0.5 * (sw.t0[c, k] + sw.t1[c, k])
    B = _circle_bases(Hi[c : c + 1])[0]
    on_arc = B @ np.array([np.cos(mid), np.sin(mid)])  # the arc's midpoint, on circle i
    best.offer(float(norm[c, k]), on_arc, 1, (int(circ[c]), side > 0))


# --------------------------------------------------------------------------------------
# Rank > 3: branch and bound over the sphere
# --------------------------------------------------------------------------------------


def _branch_and_bound(
    best: _Best, H: Array, w: Array, l_vec: Array, gated: bool, max_boxes: int, tol: float
) -> None:
    """Maximise over the unit sphere, parametrised by the faces of the cube ``[-1, 1]^r``.

    A box of a cube face (centre ``p``, half-width ``h`` in the r - 1 free coordinates)
    maps into the cap ``||u - c|| <= rho`` around ``c = p / ||p||``, with ``rho`` the
    largest distance from ``c`` to the normalised corners. On that cap every hyperplane
    with ``|H_h^T c| > rho`` keeps its sign; the others are bounded by
    ``(w_h)_+ (H_h^T c + rho)_+``, and the fixed part ``g^T u <= min(||g||, g^T c + rho ||g||)``
    (relu), or ``||g|| + sum |w_h|`` over the undecided ones (gated). Boxes are split in
    2^(r-1) until the best upper bound is within ``tol`` of the best value or the budget
    ``max_boxes`` is spent; the returned ``bound`` is then the largest bound of the boxes
    left (valid: they cover the sphere's unexplored part).
    """
    r = H.shape[1]
    trivial = float(np.abs(w).sum() + np.linalg.norm(l_vec))
    faces = [(a, s) for a in range(r) for s in (1.0, -1.0)]
    centres = np.zeros((len(faces), r))
    for i, (a, s) in enumerate(faces):
        centres[i, a] = s
    free = np.array([[j for j in range(r) if j != a] for a, _ in faces])
    half = 1.0
    offsets = np.array(np.meshgrid(*[[-1.0, 1.0]] * (r - 1), indexing="ij")).reshape(r - 1, -1).T
    spent = 0
    bound = trivial
    while centres.shape[0]:
        spent += centres.shape[0]
        ub = _box_bounds(H, w, l_vec, gated, centres, free, half, offsets, best)
        bound = float(ub.max(initial=0.0))
        keep = ub > best.value * (1 + tol) + 1e-300
        if not keep.any() or spent + int(keep.sum()) * offsets.shape[0] > max_boxes:
            break  # closed, or the next level would exceed the budget
        centres, free = centres[keep], free[keep]
        half *= 0.5
        kids = centres[:, None, :].repeat(offsets.shape[0], axis=1)
        rows = np.arange(centres.shape[0])[:, None]
        for t in range(r - 1):
            kids[rows, :, free[:, t : t + 1]] += half * offsets[None, :, t]
        centres = kids.reshape(-1, r)
        free = free.repeat(offsets.shape[0], axis=0)
    best.bound = max(min(bound, trivial), best.value)


def _box_bounds(
    H: Array,
    w: Array,
    l_vec: Array,
    gated: bool,
    centres: Array,
    free: IntArray,
    half: float,
    offsets: Array,
    best: _Best,
) -> Array:
    """Upper bounds (N,) on the boxes; offers their centres' values to ``best``."""
    c = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    corners = centres[:, None, :].repeat(offsets.shape[0], axis=1)
    rows = np.arange(centres.shape[0])[:, None]
    for t in range(free.shape[1]):
        corners[rows, :, free[:, t : t + 1]] += half * offsets[None, :, t]
    corners /= np.linalg.norm(corners, axis=2, keepdims=True)
    rho = np.linalg.norm(corners - c[:, None, :], axis=2).max(axis=1) * (1 + 1e-12)
    T = c @ H.T  # (N, m)
    on = T > rho[:, None]
    unsure = np.abs(T) <= rho[:, None]
    g = (on * w) @ H + l_vec
    gn = np.linalg.norm(g, axis=1)
    exact_on = T > 0
    g_c = (exact_on * w) @ H + l_vec
    if gated:
        vals = np.linalg.norm(g_c, axis=1)
        i = int(np.argmax(vals))
        best.offer(float(vals[i]), c[i], 1)
        return np.asarray(gn + (unsure * np.abs(w)).sum(axis=1))
    fc = np.einsum("nq,nq->n", g_c, c)
    ubs = []
    for sign in (1.0, -1.0):
        i = int(np.argmax(sign * fc))
        best.offer(float(sign * fc[i]), c[i], int(sign))
        lin = np.minimum(gn, sign * np.einsum("nq,nq->n", g, c) + rho * gn)
        extra = (unsure * np.maximum(sign * w, 0.0) * np.maximum(T + rho[:, None], 0.0)).sum(1)
        ubs.append(lin + extra)
    return np.asarray(np.maximum(ubs[0], ubs[1]))
