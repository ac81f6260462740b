"""Minimal networks: prune a network to at most n + 1 neurons without changing its objective.

Carathéodory, as in Mishkin & Pilanci, "Optimal sets and solution paths of ReLU
networks" (ICML 2023). Rescale neuron j by ``t_j >= 0`` as ``u_j -> sqrt(t_j) u_j``,
``b_j -> sqrt(t_j) b_j``, ``alpha_j -> sqrt(t_j) alpha_j``. By positive homogeneity its
contribution becomes ``t_j a_j`` with ``a_j = (X u_j + b_j)_+ alpha_j`` (n,), and its
weight decay ``t_j c_j`` with ``c_j = (||u_j||^2 + b_j^2 + alpha_j^2) / 2``. So

    predictions  f(X) = sum_j t_j a_j + c,        penalty = sum_j t_j c_j

are both LINEAR in ``t`` (any loss of the predictions is then unchanged). Starting
from ``t = 1``, any ``delta != 0`` in the null space of the stacked ``(n + 1) x m``
matrix ``[a_1 ... a_m; c_1 ... c_m]`` keeps both fixed along ``t = 1 + s delta``; moving
until the first ``t_j`` reaches 0 removes neuron j. This repeats while the matrix has a
null space, i.e. until ``m <= n + 1`` (at an optimum the penalty row is implied by
stationarity, and typically ``m <= n``). The objective (2) is unchanged in exact
arithmetic; it is checked to ``tol_objective`` relative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_beta, check_X, check_y
from .losses import Loss, get_loss
from .network import TwoLayerReLU

Array = NDArray[np.float64]
CALLER = "prune_network"
_STEP_TOL = 1e-11  # largest relative move of predictions / penalty accepted per step


@dataclass(frozen=True)
class PruneResult:
    """Result of :func:`prune_network`.

    Attributes
    ----------
    network : TwoLayerReLU
        The pruned network (same predictions and penalty).
    n_neurons : int
        m*: its number of neurons, the smallest found.
    n_neurons_before : int
    objective, objective_before : float
        Objective (2) after and before pruning.
    max_prediction_change : float
        ``max |f_pruned(X) - f(X)|``.
    """

    network: TwoLayerReLU
    n_neurons: int
    n_neurons_before: int
    objective: float
    objective_before: float
    max_prediction_change: float


def prune_network(
    network: TwoLayerReLU,
    X: Any,
    y: Any,
    beta: float,
    *,
    tol: float = 1e-8,
    tol_objective: float = 1e-8,
    loss: str | Loss = "squared",
) -> PruneResult:
    """Prune ``network`` to at most n + 1 neurons with the same objective (2).

    Objective (2): ``L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``. Both
    the predictions ``f(X)`` and the penalty are kept (see the module docstring), so
    the objective is unchanged for any loss; an optimal network stays optimal, with
    m* neurons (the paper's m* <= n + 1, Rosset et al. 2007).

    Parameters
    ----------
    network : TwoLayerReLU
        Any network; typically an optimal one from :func:`convexnn.solve`.
    X : array of shape (n, d)
        The training data (without the ones column).
    y : array of shape (n,)
    beta : float
        Weight decay, > 0.
    tol : float
        Relative threshold on singular values below which the stacked matrix of
        contributions and penalties is taken as rank-deficient; neurons with
        ``c_j <= tol * max c`` and zero contribution are dropped at the start.
    tol_objective : float
        Largest relative increase of the objective accepted (RuntimeError above it). A
        lower objective is kept: the network given was not exactly optimal.
    loss : str or Loss

    Returns
    -------
    PruneResult
        ``network`` with ``n_neurons`` = m* neurons.
    """
    if not isinstance(network, TwoLayerReLU):
        raise TypeError(
            f"{CALLER}: network must be a convexnn.TwoLayerReLU, got {type(network).__name__}."
        )
    X_arr = check_X(X, caller=CALLER)
    y_arr = check_y(y, X_arr.shape[0], caller=CALLER)
    beta_val = check_beta(beta, caller=CALLER)
    loss_obj = get_loss(loss, caller=CALLER)
    if X_arr.shape[1] != network.n_features:
        raise ValueError(
            f"{CALLER}: X must have network.n_features = {network.n_features} columns, got "
            f"shape {X_arr.shape}. Pass the raw features (the hidden bias is network.b)."
        )
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ValueError(f"{CALLER}: tol must be in (0, 1), got {tol!r}.")
    before = network.objective(X_arr, y_arr, beta_val, loss=loss_obj)
    A, c = _contributions(network, X_arr)
    t = _caratheodory(A, c, tol)
    pruned = _rescale(network, t)
    after = pruned.objective(X_arr, y_arr, beta_val, loss=loss_obj)
    change = float(np.max(np.abs(pruned.predict(X_arr) - network.predict(X_arr)), initial=0.0))
    if after - before > tol_objective * max(abs(before), np.finfo(float).tiny):
        raise RuntimeError(
            f"{CALLER}: pruning raised the objective from {before:.12g} to {after:.12g} "
            f"(relative {(after - before) / abs(before):.2g} > tol_objective="
            f"{tol_objective:g}); the contributions are badly conditioned. Raise "
            f"tol_objective to accept it."
        )
    return PruneResult(
        network=pruned,
        n_neurons=pruned.n_neurons,
        n_neurons_before=network.n_neurons,
        objective=after,
        objective_before=before,
        max_prediction_change=change,
    )


def _contributions(network: TwoLayerReLU, X: Array) -> tuple[Array, Array]:
    """``A`` (n, m): column j = ``(X u_j + b_j)_+ alpha_j``; ``c`` (m,): penalties."""
    A = network.hidden(X) * network.alpha
    c = 0.5 * (np.sum(network.U_eff**2, axis=0) + network.alpha**2)
    return A, c


def _caratheodory(A: Array, c: Array, tol: float) -> Array:
    """Scalings ``t >= 0`` with ``A t = A 1``, ``c^T t = c^T 1`` and few nonzeros.

    The active columns of ``M = [A; c]`` ((n + 1) rows) are reduced window by window:
    a window of at most ``2 (n + 1)`` active columns has a null space of dimension
    ``q = width - rank`` (singular values above ``tol * s_max``), and one SVD of the
    window removes up to q columns (:func:`_eliminate`: a step along a null vector
    until a scaling reaches 0, then on along the null vectors that keep it at 0). This
    ends when the active columns have full column rank. A step whose null vector is only
    numerically null is undone when it moves the predictions or the penalty by more
    than ``_STEP_TOL`` relative: the window is then factorised again, and the reduction
    stops with the network found so far when even its most nearly null vector is
    refused (as in :func:`_caratheodory_reference`).

    Cost: ``O(m n^2)`` flops for m columns. One SVD of all active columns per removed
    neuron (:func:`_caratheodory_reference`) costs ``O(m^2 n)`` per step; the gated
    CVXPY solution of an 80-point problem over 2324 exact patterns (3984 neurons) ran
    for over 25 minutes there, and takes 0.5 s here.
    """
    t = np.ones(c.size)
    scale = max(float(np.abs(A).max(initial=0.0)), float(c.max(initial=0.0)), 1e-300)
    t[(c <= tol * scale) & np.all(A == 0, axis=0)] = 0.0  # dead neurons
    M = np.vstack([A, c]) / scale
    target = M @ t
    norm = max(float(np.abs(target).max()), 1e-300)
    width = 2 * M.shape[0]
    active = np.flatnonzero(t > 0)
    while active.size > 1:
        window = active[:width]
        # All right singular vectors; U only as large as it must be (tall: economical).
        _, s, Vt = np.linalg.svd(M[:, window], full_matrices=window.size > M.shape[0])
        rank = int(np.sum(s > tol * max(float(s[0]), 1e-300))) if s.size else 0
        if rank >= window.size:  # the window is all of the active columns (width > n + 1)
            break
        drift = M @ t - target  # rounding left by earlier windows
        Z = Vt[rank:][::-1].T  # the smallest singular value first
        t_w = _eliminate(M[:, window], t[window], Z, drift, _STEP_TOL * norm)
        if not (t_w == 0).any():  # even the most nearly null vector was refused
            break
        t[window] = t_w
        active = np.flatnonzero(t > 0)
    return t


def _eliminate(Mw: Array, t_w: Array, Z: Array, drift: Array, max_change: float) -> Array:
    """Zero scalings of one window along its null vectors ``Z`` (width, q).

    Each step moves ``t_w`` along ``Z[:, 0]`` until a scaling reaches 0 (that column is
    removed); the other null vectors are made 0 there, so the removed columns stay at
    0. Z is ordered from the most nearly null vector (smallest singular value) on.
    Returns the new scalings; it stops at the first step that would move ``Mw t_w`` by
    more than ``max_change`` (with the ``drift`` already there).
    """
    ref = Mw @ t_w - drift
    while Z.shape[1]:
        delta = np.where(t_w > 0, Z[:, 0], 0.0)
        if not np.any(delta < 0):
            delta = -delta
        if not np.any(delta < 0):  # null only on removed columns
            Z = Z[:, 1:]
            continue
        neg = np.flatnonzero(delta < 0)
        ratios = t_w[neg] / -delta[neg]
        k = int(neg[np.argmin(ratios)])
        trial = np.maximum(t_w + ratios.min() * delta, 0.0)
        trial[k] = 0.0
        if np.abs(Mw @ trial - ref).max() > max_change:
            return t_w
        t_w = trial
        # The other null vectors, made 0 at k with z0 (the most nearly null: the order
        # of Z is kept, so the next step is along the next most nearly null one).
        z0, Z = Z[:, 0], Z[:, 1:]
        Z = Z - np.outer(z0, Z[k] / z0[k])
        Z[k] = 0.0
        norms = np.linalg.norm(Z, axis=0)
        Z = Z[:, norms > 0] / norms[norms > 0]
    return t_w


def _caratheodory_reference(A: Array, c: Array, tol: float) -> Array:
    """Slow, obvious :func:`_caratheodory`: one SVD of all active columns per step."""
    m = c.size
    t = np.ones(m)
    scale = max(float(np.abs(A).max(initial=0.0)), float(c.max(initial=0.0)), 1e-300)
    dead = (c <= tol * scale) & np.all(A == 0, axis=0)
    t[dead] = 0.0
    target = np.append(A @ t, c @ t) / scale
    norm = max(float(np.abs(target).max()), 1e-300)
    active = np.flatnonzero(t > 0)
    while active.size > 1:
        M = np.vstack([A[:, active], c[active]]) / scale
        _, s, Vt = np.linalg.svd(M)
        rank = int(np.sum(s > tol * max(float(s[0]), 1e-300)))
        if rank >= active.size:
            break
        trial = _step(t, active, Vt[-1])
        if np.abs(np.append(A @ trial, c @ trial) / scale - target).max() > _STEP_TOL * norm:
            break  # not null enough: stop with the network found so far
        t = trial
        active = np.flatnonzero(t > 0)
    return t


def _step(t: Array, active: NDArray[np.intp], delta: Array) -> Array:
    """Move ``t[active]`` along ``delta`` until the first scaling reaches 0."""
    if not np.any(delta < 0):
        delta = -delta
    neg = delta < 0
    ratios = t[active][neg] / -delta[neg]
    k = int(np.argmin(ratios))
    out = t.copy()
    out[active] = np.maximum(t[active] + ratios[k] * delta, 0.0)
    out[active[np.flatnonzero(neg)[k]]] = 0.0
    return out


def _rescale(network: TwoLayerReLU, t: Array) -> TwoLayerReLU:
    keep = t > 0
    root = np.sqrt(t[keep])
    b = network.b[keep] * root if network.b is not None else None
    return TwoLayerReLU(network.U[:, keep] * root, network.alpha[keep] * root, b, network.c)
