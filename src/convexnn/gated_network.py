"""Gated ReLU networks: the model of the gated program, and gates for given patterns.

The gated program (the relu program (8) without its cone constraints, a group lasso)

    min_u  L(sum_i D_i X u_i + c, y) + beta * sum_i ||u_i||

is the training problem of a *gated* ReLU network (Fiat et al., 2019; Mishkin et al.,
2022), whose neuron i is switched on by a fixed gate ``g_i`` instead of by its own sign:

    f(x) = sum_i 1[x^T g_i + h_i >= 0] (x^T u_i + b_i) alpha_i + c.

With ``D_i = 1[X g_i + h_i >= 0]`` on the training data, its predictions there are the
gated program's, and its weight decay ``beta/2 sum_i (||(u_i, b_i)||^2 + alpha_i^2)``,
balanced, is the program's penalty ``beta sum_i ||u_i||``: the solution of the program is
this network, with the same objective. The ReLU network recovered from gated blocks by
Theorem 1 is not (its neurons switch by their own signs); on the benchmark problems it is
worse than the zero network (``solve`` then returns the zero network as ``network``).

:func:`pattern_gates` finds gates for given patterns: for each pattern the
maximum-margin gate ``g = argmin ||g||`` s.t. ``s_j x_j^T g >= ||x_j||`` (``s_j = 2 D_ij - 1``;
a hard-margin SVM through the origin), by one projection on a homogenised cone (the
batched Lawson-Hanson projections of the relu solver).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ._validation import (
    add_ones_column,
    check_beta,
    check_positive_int,
    check_X,
    check_y,
    host_array,
)
from .losses import Loss, get_loss
from .network import _check_output_layer, _TwoLayerNetwork

if TYPE_CHECKING:
    from .duality import Certificate

Array = NDArray[np.float64]


class GatedReLU(_TwoLayerNetwork):
    """A two-layer gated ReLU network: neuron j is on where its gate is.

    ``f(x) = sum_j 1[x^T g_j + h_j >= 0] (x^T u_j + b_j) alpha_j + c``.

    Parameters
    ----------
    G : array of shape (d, m)
        Gate vectors, column j gates neuron j.
    U : array of shape (d, m)
        Hidden-layer weights.
    alpha : array of shape (m,) or (m, c)
        Output weights.
    gate_bias, b : arrays of shape (m,) or None
        Gate offsets ``h`` and hidden biases ``b`` (None: none).
    c : float, array of shape (c,), or None
        Output bias (unregularised).

    Notes
    -----
    The training objective is that of eq. (2) with the gates fixed:

        L(f(X), y) + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2).

    The gates are not trained, so they carry no penalty.
    """

    def __init__(
        self,
        G: Any,
        U: Any,
        alpha: Any,
        gate_bias: Any | None = None,
        b: Any | None = None,
        c: Any | None = None,
    ) -> None:
        caller = "GatedReLU"
        G_arr = _weights(G, "G", None, caller)
        U_arr = _weights(U, "U", G_arr.shape, caller)
        m = U_arr.shape[1]
        self.alpha, self.c = _check_output_layer(alpha, c, m, caller)
        self.G, self.U = G_arr, U_arr
        self.gate_bias = _bias(gate_bias, "gate_bias", m, caller)
        self.b = _bias(b, "b", m, caller)

    def gates(self, X: Any) -> NDArray[np.bool_]:
        """The gates ``1[X G + h >= 0]``, shape (n, m): the patterns of the neurons."""
        return self._on(self._check_input(X))

    def hidden(self, X: Any) -> Array:
        """Hidden activations ``1[X G + h >= 0] * (X U + b)``, shape (n, m)."""
        X_arr = self._check_input(X)
        return np.where(self._on(X_arr), _shifted(X_arr @ self.U, self.b), 0.0)

    def _on(self, X: Array) -> NDArray[np.bool_]:
        return _shifted(X @ self.G, self.gate_bias) >= 0

    def predict(self, X: Any) -> Array:
        """Network output ``f(X)``, shape (n,), or (n, c) when alpha has shape (m, c)."""
        out = self.hidden(X) @ self.alpha
        return out if self.c is None else out + self.c

    def __repr__(self) -> str:
        return (
            f"GatedReLU(n_features={self.n_features}, n_neurons={self.n_neurons}, "
            f"hidden_bias={self.b is not None}, output_bias={self.c is not None})"
        )


def gated_network(
    U_eff: Array, gates_eff: Array, *, hidden_bias: bool, output_bias: float | None
) -> GatedReLU:
    """The balanced gated network of blocks ``u_i`` (columns of U_eff) and their gates.

    ``u = u_i / sqrt(||u_i||)``, ``alpha = sqrt(||u_i||)``: the same predictions as the
    program's, and weight decay ``beta sum_i ||u_i||``. Zero blocks are left out. With
    ``hidden_bias`` the last row of U_eff and gates_eff is the bias / gate offset.
    """
    norms = np.linalg.norm(U_eff, axis=0)
    keep = norms > 0
    U_eff, G_eff, scale = U_eff[:, keep], gates_eff[:, keep], np.sqrt(norms[keep])
    U_eff = U_eff / scale
    if hidden_bias:
        return GatedReLU(
            G_eff[:-1], U_eff[:-1], scale, gate_bias=G_eff[-1], b=U_eff[-1], c=output_bias
        )
    return GatedReLU(G_eff, U_eff, scale, c=output_bias)


def gated_network_of_blocks(
    U_eff: Array,
    D: Any,
    X_eff: Array,
    *,
    hidden_bias: bool,
    output_bias: float | None,
    caller: str,
    stacklevel: int = 3,
) -> GatedReLU:
    """The gated network of blocks ``u_i`` (columns of U_eff) gated by patterns ``D_i``.

    Each non-zero block gets the maximum-margin gate of its pattern on ``X_eff``
    (:func:`pattern_gates`); then :func:`gated_network`. A ``UserWarning`` (labelled
    ``caller``, at ``stacklevel`` frames up) says when some pattern has no such gate:
    the network's predictions then differ from the program's on some rows of X.
    """
    import warnings

    U = np.asarray(U_eff, dtype=np.float64)
    live = np.flatnonzero(np.linalg.norm(U, axis=0) > 0)
    gates = np.zeros_like(U)
    if live.size:
        D_live = np.asarray(D, dtype=bool)[:, live]
        gates[:, live] = G = pattern_gates(X_eff, D_live)
        wrong = (X_eff @ G >= 0) != D_live
        if wrong.any():
            warnings.warn(
                f"{caller}: {int(wrong.any(axis=0).sum())} of the {live.size} neurons' "
                f"patterns have no gate (they are not half-spaces of X: flipped or "
                f"given patterns); their gates differ on {int(wrong.sum())} "
                f"(sample, neuron) entries, so the gated network's predictions differ "
                f"from the program's there. Report its own objective(X, y, beta).",
                UserWarning,
                stacklevel=stacklevel,
            )
    return gated_network(U, gates, hidden_bias=hidden_bias, output_bias=output_bias)


def pattern_gates(X: Any, D: Any) -> Array:
    """Gates ``g_i`` with ``1[X g_i >= 0] = D_i``: the maximum-margin one of each pattern.

    ``g_i = argmin ||g||`` subject to ``s_j x_j^T g >= ||x_j||`` for every row (``s_j =
    2 D_ij - 1``; a zero row only needs ``D_ij = 1``). In ``(g, t)`` the scaled margins
    form the cone ``{s_j x_j^T g >= t ||x_j||, t >= 0}``; the projection of ``(0, 1)`` on
    it is ``(g_i, 1) / (1 + ||g_i||^2)`` (LDP, Lawson & Hanson ch. 23), one batched
    Lawson-Hanson projection for all patterns.

    Parameters
    ----------
    X : array of shape (n, d)
        The data the patterns are of (with the ones column for a hidden bias).
    D : array of shape (n, P) of bool

    Returns
    -------
    G : array of shape (d, P)
        Column i reproduces pattern i on X exactly where the pattern is realisable with a
        margin (every pattern drawn from a gate or enumerated as a full-dimensional cell
        is). For a pattern no such gate realises (e.g. ``x`` and ``-x`` both on), a best
        effort: that gate or the least-squares direction ``X^+ (2 D_i - 1)``, whichever
        reproduces more rows; its ``1[X g >= 0]`` differs from ``D_i`` on some rows.
    """
    from .problem import check_patterns
    from .solvers._cones import project_cones

    X_arr = check_X(X, caller="pattern_gates")
    D_arr = np.asarray(check_patterns(D, X_arr.shape[0], caller="pattern_gates"), dtype=bool)
    d = X_arr.shape[1]
    norms = np.linalg.norm(X_arr, axis=1)
    live = norms > 0
    Xn = X_arr[live] / norms[live, None]
    # Rows (x_j, -1) with sign +1 where D = 1, rows (x_j, +1) with sign -1 where D = 0
    # (a zero sign: no constraint), and t >= 0.
    ones = np.ones((Xn.shape[0], 1))
    rows = np.vstack([np.hstack([Xn, -ones]), np.hstack([Xn, ones]), np.eye(d + 1)[-1:]])
    Dl = D_arr[live].T.astype(np.float64)  # (P, n_live)
    S = np.hstack([Dl, Dl - 1.0, np.ones((Dl.shape[0], 1))])
    Z = np.zeros((d + 1, D_arr.shape[1]))
    Z[-1] = 1.0
    proj = project_cones(rows, S, Z)[0]
    t = proj[-1]
    G = proj[:-1] / np.where(t > 0, t, 1.0)
    wrong = ((X_arr @ G >= 0) != D_arr).sum(axis=0)
    bad = np.flatnonzero(wrong > 0)
    if bad.size:  # no gate with a margin: the least-squares direction if it does better
        ls = np.linalg.lstsq(X_arr, 2.0 * D_arr[:, bad] - 1.0, rcond=None)[0]
        better = ((X_arr @ ls >= 0) != D_arr[:, bad]).sum(axis=0) < wrong[bad]
        G[:, bad[better]] = ls[:, better]
    return np.ascontiguousarray(G)


def certify_gated(
    network: GatedReLU,
    X: Any,
    y: Any,
    beta: float,
    *,
    patterns: Any,
    loss: str | Loss,
    max_patterns: int,
    random_state: Any,
) -> Certificate:
    """:func:`convexnn.certify` for a gated network: bounds on the gated program.

    The network is a point of the gated program over its own patterns ``1[X G + h >=
    0]`` (neuron j is the block ``alpha_j (u_j, b_j)`` of its gate's pattern), so its
    objective is an upper bound, and the dual candidate of its predictions, scaled to
    the gated dual norms over the given patterns and its own, a lower bound. Scope
    "global" with exhaustive patterns: the bound holds for gated networks of any width
    and any gates.
    """
    from .duality import _resolve_patterns, dual_certificate
    from .problem import ConvexReLUProblem

    caller = "certify"
    max_patterns = check_positive_int(max_patterns, caller=caller, name="max_patterns")
    if network.is_multi_output:
        raise ValueError(
            f"{caller}: a gated network with {network.alpha.shape[1]} outputs; certify "
            f"takes scalar-output networks (certify each output's network)."
        )
    X_arr = network._check_input(X)
    y_arr = check_y(y, X_arr.shape[0], caller=caller)
    beta_val = check_beta(beta, caller=caller)
    loss_obj = get_loss(loss, caller=caller)
    y_arr = loss_obj.check_targets(y_arr, caller)
    hidden_bias = network.b is not None or network.gate_bias is not None
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    own = network.gates(X_arr)
    D, scope = _resolve_patterns(  # its warnings: at certify's caller, two frames up
        patterns, X_arr, X_eff, hidden_bias, own, max_patterns, random_state, caller, 5
    )
    if D is None:
        raise ValueError(
            f"{caller}: the patterns of X cannot be enumerated within max_patterns="
            f"{max_patterns}; streaming them is implemented for ReLU networks only. Raise "
            f"max_patterns, or pass patterns='sampled' or an array."
        )
    P = D.shape[1]
    both = np.hstack([np.asarray(D, dtype=bool), own])
    D_all, index = np.unique(both, axis=1, return_inverse=True)
    # The network as a point of the gated program: neuron j in its gate's column.
    blocks = alpha_blocks(network, hidden_bias)
    V = np.zeros((X_eff.shape[1], D_all.shape[1]))
    np.add.at(V.T, np.ravel(index)[P:], blocks.T)
    problem = ConvexReLUProblem(
        X=X_eff,
        y=y_arr,
        beta=beta_val,
        D=D_all,
        formulation="gated",
        loss=loss_obj,
        hidden_bias=hidden_bias,
        output_bias=network.c is not None,
    )
    z = network.predict(X_arr)
    upper = loss_obj.value(z, y_arr) + beta_val * network.penalty()
    return dual_certificate(problem, z, upper, scope=scope, blocks=(V, np.zeros_like(V)))


def alpha_blocks(network: GatedReLU, hidden_bias: bool) -> Array:
    """``alpha_j (u_j, b_j)`` of each neuron (d(+1), m): its block of the gated program."""
    U = network.U
    if hidden_bias:
        b = np.zeros(network.n_neurons) if network.b is None else network.b
        U = np.vstack([U, b[None, :]])
    return np.asarray(U * network.alpha, dtype=np.float64)


def _weights(W: Any, name: str, shape: tuple[int, ...] | None, caller: str) -> Array:
    arr = np.asarray(host_array(W), dtype=np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = "(n_features, n_neurons)" if shape is None else f"{shape} (that of G)"
        raise ValueError(f"{caller}: {name} must have shape {want}, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{caller}: {name} contains NaN or inf; pass finite weights.")
    return arr


def _bias(b: Any, name: str, m: int, caller: str) -> Array | None:
    if b is None:
        return None
    arr = np.asarray(host_array(b), dtype=np.float64)
    if arr.shape != (m,):
        raise ValueError(
            f"{caller}: {name} must have shape ({m},) (one per neuron), got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{caller}: {name} contains NaN or inf; pass finite values.")
    return arr


def _shifted(Z: Array, shift: Array | None) -> Array:
    return Z if shift is None else Z + shift
