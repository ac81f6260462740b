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

A filter j of a two-layer ReLU CNN (:class:`convexnn.ConvReLUNet`) is such a neuron:
its contribution ``a_j = sum_k (X_k u_j + b_j)_+ alpha_jk`` over the K patch matrices
and its weight decay ``c_j = (||u_j||^2 + b_j^2 + ||alpha_j||^2) / 2`` (alpha_j tied, a
scalar, or a row of K weights) scale by ``t_j`` as well, so the same kernel prunes it
to at most n + 1 filters, n being the number of images. What differs between the two
network classes (their inputs, ``a_j``, ``c_j``, the rescaled network) is one
:class:`_Units` each, in ``_UNITS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from ._validation import check_beta, check_X, check_y
from .cnn._common import as_patches, check_scalar_targets
from .cnn.network import ConvReLUNet
from .losses import Loss, get_loss
from .network import TwoLayerReLU

Array = NDArray[np.float64]
Network: TypeAlias = TwoLayerReLU | ConvReLUNet
_Net = TypeVar("_Net", TwoLayerReLU, ConvReLUNet)
CALLER = "prune_network"
_STEP_TOL = 1e-11  # largest relative move of predictions / penalty accepted per step
_PRUNE_CHOICES = (True, False, "auto")
_AUTO_MAX_SIZE = 200_000  # "auto" skips networks of <= n + 1 neurons with n m above this


@dataclass(frozen=True)
class PruneResult:
    """Result of :func:`prune_network`.

    Attributes
    ----------
    network : TwoLayerReLU or ConvReLUNet
        The pruned network (same predictions and penalty), of the class given.
    n_neurons : int
        m*: its number of neurons (filters of a ConvReLUNet), the smallest found.
    n_neurons_before : int
    objective, objective_before : float
        Objective (2) after and before pruning.
    max_prediction_change : float
        ``max |f_pruned(X) - f(X)|``.
    """

    network: Network
    n_neurons: int
    n_neurons_before: int
    objective: float
    objective_before: float
    max_prediction_change: float


@dataclass(frozen=True)
class _Units:
    """How pruning sees the hidden units (neurons, filters) of one network class.

    ``inputs(net, X, y, loss) -> (data, y)``: X checked and prepared for the other
    functions (the dense X, or the CNN's patches (N, K, d)), y checked and encoded by
    the loss. ``terms(net, data) -> (A, c)``: contributions (n, m) and penalties (m,).
    ``predict(net, data)``, ``rescale(net, t)``: the network with unit j scaled by
    ``sqrt(t_j)`` and the units with ``t_j = 0`` removed. ``size(net)``: m.
    """

    inputs: Callable[[Any, Any, Any, Loss], tuple[Any, Array]]
    terms: Callable[[Any, Any], tuple[Array, Array]]
    predict: Callable[[Any, Any], Array]
    rescale: Callable[[Any, Array], Any]
    size: Callable[[Any], int]


def prune_network(
    network: Network,
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
    m* neurons (the paper's m* <= n + 1, Rosset et al. 2007). A CNN's filters are its
    neurons: ``sum_j sum_k (X_k u_j + b_j)_+ alpha_jk`` with weight decay
    ``beta/2 sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)``, as
    :meth:`convexnn.ConvReLUNet.objective`.

    Parameters
    ----------
    network : TwoLayerReLU or ConvReLUNet
        Any network; typically an optimal one from :func:`convexnn.solve` or
        :func:`convexnn.solve_relu_cnn`.
    X : array
        The training data: (n, d) without the ones column for a TwoLayerReLU; images
        (n, C, H, W) or signals (n, C, L) for a ConvReLUNet (its patches (n, K, d) when
        its ``kernel_size`` is None).
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
        ``network`` with ``n_neurons`` = m* neurons (filters).
    """
    units = _units_of(network)
    loss_obj = get_loss(loss, caller=CALLER)
    data, y_arr = units.inputs(network, X, y, loss_obj)
    beta_val = check_beta(beta, caller=CALLER)
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise ValueError(f"{CALLER}: tol must be in (0, 1), got {tol!r}.")
    z_before = units.predict(network, data)
    before = loss_obj.value(z_before, y_arr) + beta_val * network.penalty()
    A, c = units.terms(network, data)
    pruned = units.rescale(network, _caratheodory(A, c, tol))
    z_after = units.predict(pruned, data)
    after = loss_obj.value(z_after, y_arr) + beta_val * pruned.penalty()
    if after - before > tol_objective * max(abs(before), np.finfo(float).tiny):
        raise RuntimeError(
            f"{CALLER}: pruning raised the objective from {before:.12g} to {after:.12g} "
            f"(relative {(after - before) / abs(before):.2g} > tol_objective="
            f"{tol_objective:g}); the contributions are badly conditioned. Raise "
            f"tol_objective to accept it."
        )
    return PruneResult(
        network=pruned,
        n_neurons=units.size(pruned),
        n_neurons_before=units.size(network),
        objective=float(after),
        objective_before=float(before),
        max_prediction_change=float(np.max(np.abs(z_after - z_before), initial=0.0)),
    )


def check_prune(prune: Any, *, caller: str) -> None:
    """The ``prune`` option of the solvers: True, False or "auto"."""
    if prune not in _PRUNE_CHOICES:
        raise ValueError(f"{caller}: prune must be True, False or 'auto', got {prune!r}.")


def pruned_as_asked(
    network: _Net, upper: float, X: Any, y: Any, beta: float, *, loss: Loss, prune: bool | str
) -> tuple[_Net, float]:
    """The solvers' ``prune`` option: ``(network, upper)`` pruned when asked or cheap.

    True prunes; "auto" prunes unless the network already has at most n + 1 units and
    ``n m > 2e5``. The pruned network is kept when it has fewer units, with its own
    objective as ``upper`` (:func:`prune_network` refuses one more than 1e-8 relative
    above the input's; the certificate is then computed at it). A RuntimeError (badly
    conditioned contributions) keeps the unpruned network.
    """
    units = _units_of(network)
    m, n = units.size(network), int(np.shape(X)[0])
    if m <= 1 or prune is False or (prune == "auto" and m <= n + 1 and n * m > _AUTO_MAX_SIZE):
        return network, upper
    try:
        res = prune_network(network, X, y, beta, loss=loss)
    except RuntimeError:
        return network, upper
    if res.n_neurons < m:
        return cast(_Net, res.network), res.objective  # of the class given
    return network, upper


# -- the hidden units of each network class -------------------------------------------------
def _dense_inputs(net: TwoLayerReLU, X: Any, y: Any, loss: Loss) -> tuple[Array, Array]:
    X_arr = check_X(X, caller=CALLER)
    if X_arr.shape[1] != net.n_features:
        raise ValueError(
            f"{CALLER}: X must have network.n_features = {net.n_features} columns, got "
            f"shape {X_arr.shape}. Pass the raw features (the hidden bias is network.b)."
        )
    return X_arr, loss.check_targets(check_y(y, X_arr.shape[0], caller=CALLER), CALLER)


def _contributions(network: TwoLayerReLU, X: Array) -> tuple[Array, Array]:
    """``A`` (n, m): column j = ``(X u_j + b_j)_+ alpha_j``; ``c`` (m,): penalties."""
    A = network.hidden(X) * network.alpha
    c = 0.5 * (np.sum(network.U_eff**2, axis=0) + network.alpha**2)
    return A, c


def _rescale(network: TwoLayerReLU, t: Array) -> TwoLayerReLU:
    keep = t > 0
    root = np.sqrt(t[keep])
    b = network.b[keep] * root if network.b is not None else None
    return TwoLayerReLU(network.U[:, keep] * root, network.alpha[keep] * root, b, network.c)


def _conv_inputs(net: ConvReLUNet, X: Any, y: Any, loss: Loss) -> tuple[Array, Array]:
    """The patches (N, K, d) of images X (or X itself: patches, when ``kernel_size`` is
    None), checked against the filters and the output layer, and y (N,)."""
    P = as_patches(X, net.kernel_size, net.stride, net.padding, caller=CALLER)
    if P.shape[2] != net.U.shape[0]:
        raise ValueError(
            f"{CALLER}: X gives patches of {P.shape[2]} numbers (channels x kernel), the "
            f"network's filters U have {net.U.shape[0]}; pass the images it was trained on "
            f"(check the channels and kernel_size)."
        )
    if net.alpha.ndim == 2 and net.alpha.shape[1] != P.shape[1]:
        raise ValueError(
            f"{CALLER}: X gives K={P.shape[1]} positions, the network's output layer "
            f"alpha {net.alpha.shape} expects K={net.alpha.shape[1]}; pass images of the "
            f"training size."
        )
    return P, check_scalar_targets(y, P.shape[0], loss, caller=CALLER)


def _conv_contributions(net: ConvReLUNet, P: Array) -> tuple[Array, Array]:
    """``A`` (N, m): column j = ``sum_k (X_k u_j + b_j)_+ alpha_jk``; ``c`` (m,): the
    penalties ``(||u_j||^2 + b_j^2 + ||alpha_j||^2) / 2`` of :meth:`ConvReLUNet.penalty`."""
    H = net._hidden(P)  # (N, K, m)
    alpha = net.alpha
    A = H.sum(axis=1) * alpha if alpha.ndim == 1 else np.einsum("nkm,mk->nm", H, alpha)
    sq = np.sum(net.U**2, axis=0) + np.sum(alpha.reshape(net.n_filters, -1) ** 2, axis=1)
    if net.b is not None:
        sq = sq + net.b**2
    return A, 0.5 * sq


def _conv_rescale(net: ConvReLUNet, t: Array) -> ConvReLUNet:
    keep = t > 0
    root = np.sqrt(t[keep])
    alpha = net.alpha[keep] * root.reshape((-1,) + (1,) * (net.alpha.ndim - 1))
    b = net.b[keep] * root if net.b is not None else None
    geometry = {"kernel_size": net.kernel_size, "stride": net.stride, "padding": net.padding}
    return ConvReLUNet(net.U[:, keep] * root, alpha, b, net.c, **geometry)


_UNITS: dict[type, _Units] = {
    TwoLayerReLU: _Units(
        inputs=_dense_inputs,
        terms=_contributions,
        predict=lambda net, X: net.predict(X),
        rescale=_rescale,
        size=lambda net: net.n_neurons,
    ),
    ConvReLUNet: _Units(
        inputs=_conv_inputs,
        terms=_conv_contributions,
        predict=lambda net, P: net.predict_patches(P),
        rescale=_conv_rescale,
        size=lambda net: net.n_filters,
    ),
}


def _units_of(network: Any) -> _Units:
    for cls, units in _UNITS.items():
        if isinstance(network, cls):
            return units
    raise TypeError(
        f"{CALLER}: network must be a convexnn.TwoLayerReLU or a convexnn.ConvReLUNet, got "
        f"{type(network).__name__}."
    )


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
