"""Cone projections of the relu formulation (eq. 8), and the block helpers it shares.

Each (pattern, sign) pair is one block ``b`` with signed mask column ``+-D_i`` and cone
``K_i = {u : (2 D_i - I) X u >= 0}``. ``P_K(z) = z + A^T mu`` with ``A = (2 D_i - I) X``
and ``mu = argmin_{mu >= 0} ||z + A^T mu||`` (Moreau: ``-A^T mu`` is the projection on
the polar cone), solved by the batched Lawson-Hanson method of :mod:`convexnn.duality`,
warm started from the previous active constraints of each block. With it, FISTA's prox
``prox_{t ||.|| + I_K}(z) = (1 - t / ||P_K z||)_+ P_K z`` is exact
(:class:`ConeSubProblem`), and every iterate is feasible up to the NNLS accuracy (about
1e-12 relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._nnls import _NNLSState
from ._cone_stream import project_one
from ._fista import SubProblem

_ACTIVE_TOL = 1e-9  # slack <= tol * max |X b_j|: constraint taken as active


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
        st.settle_warm(np.flatnonzero(st.running))
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


def _active_rows(X: np.ndarray, D: np.ndarray, B: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(n, k) bool: the cone constraints of blocks ``j`` at zero slack (``_ACTIVE_TOL``)."""
    XB = X @ B[:, j]
    XB *= _cone_signs(D, j).T
    return XB <= _ACTIVE_TOL * np.abs(XB).max(axis=0)


def split_onto_cones(
    X: np.ndarray, S: np.ndarray, U: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Each gated block ``u_k`` (column of U, (d, k)) onto the side of its cone that it
    violates less: ``P_K(u_k)`` where ``plus[k]``, else ``P_K(-u_k)``.

    The sides are compared by squared violations ``sum_i (S_ki x_i^T u_k)_-^2`` against
    ``(.)_+^2`` (S (k, n) of +-1, the cone signs). Returns ``plus`` (k,), the projections
    (d, k) and their active sets (Lawson-Hanson's passive set: independent rows).
    """
    SXU = S * (X @ U).T
    plus = np.sum(np.minimum(SXU, 0.0) ** 2, axis=1) <= np.sum(np.maximum(SXU, 0.0) ** 2, axis=1)
    proj, active = project_cones(X, S, np.where(plus, 1.0, -1.0) * U)
    return plus, proj, active


def _cone_signs(D: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(k, n) signs ``2 D_i - 1`` of blocks ``j`` (indices into the 2P blocks, i = j % P)."""
    return np.where(D[:, j % D.shape[1]].T, 1.0, -1.0)


def _signed_masks(mask: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(n, k) columns ``+-D_i`` of blocks ``j`` (+ for v blocks j < P, - for w blocks)."""
    P = mask.shape[1]
    return mask[:, j % P] * np.where(j < P, 1.0, -1.0)
