"""Two-layer ReLU networks: prediction, the training objective (2), Theorem 1 recovery."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_beta, check_finite, check_X, check_y, host_array
from .losses import Loss, get_loss

Array = NDArray[np.float64]


class _TwoLayerNetwork:
    """What TwoLayerReLU and GatedReLU share: input checks, weight decay, objective (2),
    PyTorch export. Subclasses set ``U`` (d, m), ``alpha``, ``b``, ``c`` and ``predict``."""

    U: Array
    alpha: Array
    b: Array | None
    c: Any

    @property
    def n_features(self) -> int:
        """Input dimension d."""
        return int(self.U.shape[0])

    @property
    def n_neurons(self) -> int:
        """Number of hidden neurons m."""
        return int(self.U.shape[1])

    @property
    def is_multi_output(self) -> bool:
        """True when alpha has shape (m, c) (predict returns (n, c))."""
        return self.alpha.ndim == 2

    def predict(self, X: Any) -> Array:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _check_input(self, X: Any) -> Array:
        name = type(self).__name__
        X_arr = check_X(X, caller=name)
        if X_arr.shape[1] != self.n_features:
            raise ValueError(
                f"{name}: X has {X_arr.shape[1]} features but the network expects "
                f"{self.n_features} (U has shape {self.U.shape})."
            )
        return X_arr

    def penalty(self) -> float:
        """Weight decay ``1/2 * sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)`` (without beta)."""
        total = float(np.sum(self.U**2) + np.sum(self.alpha**2))
        if self.b is not None:
            total += float(np.sum(self.b**2))
        return 0.5 * total

    def objective(self, X: Any, y: Any, beta: float, *, loss: str | Loss = "squared") -> float:
        """The training objective of eq. (2): ``L(f(X), y) + beta * penalty()``.

        Parameters
        ----------
        X : array of shape (n, d)
        y : array of shape (n,), or (n, c) for a multi-output network
            Targets, checked by the loss (labels {0, 1} become {-1, +1} for the binary
            classification losses; class labels (n,) are one-hot encoded for
            ``"cross_entropy"``).
        beta : float
            Weight-decay strength, > 0.
        loss : str or Loss
            ``"squared"`` gives ``1/2 ||f(X) - y||^2`` (Frobenius norm for (n, c)).
        """
        caller = f"{type(self).__name__}.objective"
        X_arr = self._check_input(X)
        beta_val = check_beta(beta, caller=caller)
        loss_obj = get_loss(loss, caller=caller)
        y_arr = _check_targets(y, X_arr.shape[0], self.alpha, loss_obj, caller)
        return loss_obj.value(self.predict(X_arr), y_arr) + beta_val * self.penalty()

    def to_torch(self, dtype: Any = None, *, device: Any = None) -> Any:
        """The PyTorch module of this network; see :func:`convexnn.export.to_torch`.

        Parameters
        ----------
        dtype : torch.dtype or None
            Parameter dtype; None means ``torch.float64``.
        device : str, torch.device or None
            Where the module lives (``"cpu"``, ``"cuda"``, ...); None means the CPU.
        """
        from .export.torch import to_torch

        return to_torch(self, dtype=dtype, device=device)  # type: ignore[arg-type]

    @classmethod
    def from_torch(cls, module: Any) -> Any:
        """Import a module made by :meth:`to_torch` (or an equivalent one); see
        :func:`convexnn.export.from_torch`."""
        from .export.torch import from_torch

        network = from_torch(module)
        if not isinstance(network, cls):
            raise TypeError(
                f"{cls.__name__}.from_torch: the module holds a {type(network).__name__}; "
                f"import it with {type(network).__name__}.from_torch (or "
                f"convexnn.export.from_torch)."
            )
        return network


class TwoLayerReLU(_TwoLayerNetwork):
    """A two-layer ReLU network with scalar or vector output.

    ``f(x) = sum_j (x^T u_j + b_j)_+ alpha_j + c`` (``alpha_j`` a row of alpha (m, c)
    for c outputs).

    Parameters
    ----------
    U : array of shape (d, m)
        Hidden-layer weights, column j is neuron ``u_j``.
    alpha : array of shape (m,) or (m, c)
        Output weights; row j holds neuron j's weights to the c outputs.
    b : array of shape (m,) or None
        Hidden-layer biases (regularised, as the paper's ones column). None means the
        architecture has no hidden bias.
    c : float, array of shape (c,), or None
        Output bias (unregularised), a scalar for alpha of shape (m,) and a (c,) array for
        alpha of shape (m, c). None means the architecture has no output bias.

    Notes
    -----
    The training objective of the paper's eq. (2) for this network is

        1/2 ||f(X) - y||^2 + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2),

    with any other convex loss in place of the squared loss (appendix A.13).
    """

    def __init__(
        self,
        U: Any,
        alpha: Any,
        b: Any | None = None,
        c: Any | None = None,
    ) -> None:
        caller = "TwoLayerReLU"
        U_arr = np.asarray(host_array(U), dtype=np.float64)
        if U_arr.ndim != 2:
            raise ValueError(
                f"{caller}: U must be 2-D of shape (n_features, n_neurons), got shape "
                f"{U_arr.shape}."
            )
        m = U_arr.shape[1]
        alpha_arr, c_val = _check_output_layer(alpha, c, m, caller)
        check_finite(U_arr, caller=caller, name="U")
        b_arr = None
        if b is not None:
            b_arr = np.asarray(host_array(b), dtype=np.float64).reshape(-1)
            if b_arr.shape != (m,):
                raise ValueError(
                    f"{caller}: b (hidden biases) must have shape ({m},), got {np.shape(b)}."
                )
            check_finite(b_arr, caller=caller, name="b")
        self.U = U_arr
        self.alpha = alpha_arr
        self.b = b_arr
        self.c = c_val

    # -- shapes ---------------------------------------------------------------------------
    @property
    def n_outputs(self) -> int:
        """Number of outputs c (1 for a scalar network with alpha of shape (m,))."""
        return 1 if self.alpha.ndim == 1 else int(self.alpha.shape[1])

    @property
    def has_hidden_bias(self) -> bool:
        return self.b is not None

    @property
    def has_output_bias(self) -> bool:
        return self.c is not None

    @property
    def U_eff(self) -> Array:
        """Hidden weights acting on ``[X, 1]`` when there is a hidden bias, shape (d(+1), m)."""
        if self.b is None:
            return self.U
        return np.vstack([self.U, self.b[None, :]])

    # -- evaluation -----------------------------------------------------------------------
    def hidden(self, X: Any) -> Array:
        """Hidden activations ``(X U + b)_+``, shape (n, m)."""
        X_arr = self._check_input(X)
        return _hidden(X_arr, self.U, self.b)

    def predict(self, X: Any) -> Array:
        """Network output ``f(X)``, shape (n,), or (n, c) when alpha has shape (m, c)."""
        X_arr = self._check_input(X)
        return _predict(X_arr, self.U, self.alpha, self.b, self.c)

    def balanced(self) -> TwoLayerReLU:
        """The same function with the least weight decay: each neuron rescaled.

        ReLU is positively homogeneous, so ``(t u_j, t b_j, alpha_j / t)`` (``t > 0``)
        computes the same function; ``t = sqrt(||alpha_j|| / ||(u_j, b_j)||)`` makes the
        two norms equal and the neuron's penalty ``||alpha_j|| ||(u_j, b_j)||``, its
        minimum (AM-GM). A neuron with a zero side computes zero and becomes all zeros.

        Returns
        -------
        TwoLayerReLU
            Same shapes and predictions; ``penalty()`` equals
            ``sum_j ||alpha_j|| ||(u_j, b_j)||`` and is at most this network's.
        """
        U_eff = self.U_eff
        inner = np.linalg.norm(U_eff, axis=0)
        outer = np.abs(self.alpha) if self.alpha.ndim == 1 else np.linalg.norm(self.alpha, axis=1)
        live = (inner > 0) & (outer > 0)
        t = np.zeros_like(inner)
        t[live] = np.sqrt(outer[live] / inner[live])
        inv = np.divide(1.0, t, out=np.zeros_like(t), where=live)
        alpha = self.alpha * (inv if self.alpha.ndim == 1 else inv[:, None])
        b = None if self.b is None else self.b * t
        return TwoLayerReLU(self.U * t, alpha, b, self.c)

    def __repr__(self) -> str:
        return (
            f"TwoLayerReLU(n_features={self.n_features}, n_neurons={self.n_neurons}, "
            f"hidden_bias={self.has_hidden_bias}, output_bias={self.has_output_bias})"
        )


def _hidden(X: Array, U: Array, b: Array | None) -> Array:
    H = X @ U
    if b is not None:
        H += b
    return np.maximum(H, 0.0)


def _check_output_layer(alpha: Any, c: Any, m: int, caller: str) -> tuple[Array, Any]:
    """alpha as (m,) or (m, k); c as a float (scalar output) or a (k,) array."""
    alpha_arr = np.asarray(host_array(alpha), dtype=np.float64)
    c = host_array(c)  # a tensor that requires grad: np.asarray refuses it
    if alpha_arr.ndim <= 1:
        alpha_arr = alpha_arr.reshape(-1)
    if alpha_arr.ndim > 2 or alpha_arr.shape[0] != m:
        raise ValueError(
            f"{caller}: alpha must have one entry per neuron (column of U): shape ({m},) "
            f"for a scalar output, or ({m}, n_outputs), got {np.shape(alpha)}."
        )
    check_finite(alpha_arr, caller=caller, name="alpha")
    if c is None:
        return alpha_arr, None
    if alpha_arr.ndim == 1:
        if np.ndim(c) != 0 and np.shape(c) != (1,):
            raise ValueError(
                f"{caller}: c (output bias) must be a scalar for alpha of shape ({m},), got "
                f"shape {np.shape(c)}."
            )
        c_val: Any = float(np.asarray(c, dtype=np.float64).reshape(-1)[0])
    else:
        c_val = np.asarray(c, dtype=np.float64).reshape(-1)
        if c_val.shape != (alpha_arr.shape[1],):
            raise ValueError(
                f"{caller}: c (output bias) must have shape ({alpha_arr.shape[1]},) for alpha "
                f"of shape {alpha_arr.shape}, got {np.shape(c)}."
            )
    if not np.all(np.isfinite(c_val)):
        raise ValueError(f"{caller}: c (output bias) must be finite, got {c!r}.")
    return alpha_arr, c_val


def _check_targets(y: Any, n: int, alpha: Array, loss: Loss, caller: str) -> Array:
    """Targets of the shape the network predicts, normalised by the loss."""
    if alpha.ndim == 1:
        return loss.check_targets(check_y(y, n, caller=caller), caller)
    k = alpha.shape[1]
    Y = loss.check_targets(y, caller)
    if Y.ndim == 1 and k == 1:
        Y = Y[:, None]
    if Y.shape != (n, k):
        raise ValueError(
            f"{caller}: y must have shape ({n}, {k}) for a network with {k} outputs, got "
            f"{np.shape(y)} (shape {Y.shape} after the loss's encoding)."
        )
    return Y


def _predict(X: Array, U: Array, alpha: Array, b: Array | None, c: Any) -> Array:
    out = _hidden(X, U, b) @ alpha
    if c is not None:
        out = out + c
    return out


def recover_network(
    V: Array,
    W: Array,
    *,
    hidden_bias: bool,
    output_bias: float | None = None,
    zero_tol: float = 1e-6,
    merge_tol: float | None = 1e-9,
) -> TwoLayerReLU:
    """Build the ReLU network of Theorem 1 from a solution of the convex program (8).

    For every non-zero block, ``u = v_i / sqrt(||v_i||)``, ``alpha = sqrt(||v_i||)``
    and ``u = w_i / sqrt(||w_i||)``, ``alpha = -sqrt(||w_i||)``. Blocks whose norm is
    at most ``zero_tol * max_norm`` are dropped.

    Blocks of the same sign pointing in the same direction are one neuron split over
    the cells that share it (a neuron whose hyperplane passes through data points lies
    on the boundary of several cells; interior-point solvers spread it evenly over
    them). Summing such blocks changes neither the predictions nor the penalty
    (``||v_1|| + ||v_2|| = ||v_1 + v_2||`` for parallel blocks), so they are merged;
    m* is the number of neurons left.

    Parameters
    ----------
    V, W : arrays of shape (d_eff, P)
        Column i is ``v_i`` (resp. ``w_i``). With ``hidden_bias`` the last row is the
        weight on the ones column, which becomes the hidden bias ``b``.
    hidden_bias : bool
        Whether the last row of V, W is the bias row.
    output_bias : float or None
        The unregularised output bias of the convex program, if any.
    zero_tol : float
        Relative threshold below which a block counts as zero.
    merge_tol : float or None
        Blocks whose unit directions ``e_i, e_j`` satisfy ``1 - e_i^T e_j <= merge_tol``
        are merged; None keeps every block as its own neuron.
    """
    blocks, signs = _nonzero_blocks(V, W, zero_tol)
    if merge_tol is not None and blocks.shape[1] > 1:
        blocks, signs = _merge_parallel(blocks, signs, merge_tol)
    norms = np.linalg.norm(blocks, axis=0)
    U_eff = blocks / np.sqrt(norms)
    alpha = signs * np.sqrt(norms)
    if hidden_bias:
        return TwoLayerReLU(U_eff[:-1], alpha, b=U_eff[-1], c=output_bias)
    return TwoLayerReLU(U_eff, alpha, c=output_bias)


def _nonzero_blocks(V: Array, W: Array, zero_tol: float) -> tuple[Array, Array]:
    """Blocks ``[v_i..., w_j...]`` above ``zero_tol * max_norm`` and their signs (+1 / -1)."""
    norms_v = np.linalg.norm(V, axis=0)
    norms_w = np.linalg.norm(W, axis=0)
    thresh = zero_tol * max(float(norms_v.max(initial=0.0)), float(norms_w.max(initial=0.0)))
    keep_v, keep_w = norms_v > thresh, norms_w > thresh
    blocks = np.hstack([V[:, keep_v], W[:, keep_w]])
    signs = np.concatenate([np.ones(int(keep_v.sum())), -np.ones(int(keep_w.sum()))])
    return blocks, signs


def _merge_parallel(blocks: Array, signs: Array, merge_tol: float) -> tuple[Array, Array]:
    """Sum same-sign blocks with (numerically) equal directions, largest block first."""
    norms = np.linalg.norm(blocks, axis=0)
    E = blocks / norms
    unassigned = np.ones(blocks.shape[1], dtype=bool)
    merged, merged_signs = [], []
    for i in np.argsort(-norms, kind="stable"):
        if not unassigned[i]:
            continue
        group = unassigned & (signs == signs[i]) & (1.0 - E[:, i] @ E <= merge_tol)
        group[i] = True
        unassigned &= ~group
        merged.append(blocks[:, group].sum(axis=1))
        merged_signs.append(signs[i])
    return np.column_stack(merged), np.asarray(merged_signs)


def network_to_convex(
    net: TwoLayerReLU, X: Any, D: Any
) -> tuple[Array, Array, float | None, NDArray[np.bool_]]:
    """A network as a point of the relu program (8) over the patterns ``D`` (Theorem 1 back).

    Neuron j (hidden weights ``u_j`` on ``X_eff = [X, 1]`` when the network has hidden
    biases, output weight ``alpha_j``) whose pattern ``1[X_eff u_j >= 0]`` (or
    ``1[X_eff u_j > 0]``) is column i of D lies in the cone ``K_i`` and adds
    ``alpha_j u_j`` to ``v_i`` (``alpha_j > 0``) or ``|alpha_j| u_j`` to ``w_i``.
    With every neuron matched, the point reproduces the network's predictions and its
    convex objective is at most eq. (2) of the network (``|alpha| ||u|| <=
    (||u||^2 + alpha^2) / 2``), so it is a warm start that can only improve on the
    network: ``solve(..., solver_options={"warm_start": (V, W, c)})``.

    Parameters
    ----------
    net : TwoLayerReLU
        Scalar output.
    X : array of shape (n, d)
        The data (without the ones column).
    D : array of shape (n, P) of bool

    Returns
    -------
    V, W : arrays of shape (d_eff, P)
    c : float or None
        The network's output bias.
    matched : bool array of shape (m,)
        Neurons whose pattern is a column of D (the others are left out).
    """
    caller = "network_to_convex"
    if net.is_multi_output:
        raise ValueError(
            f"{caller}: only scalar-output networks are supported, got alpha "
            f"of shape {net.alpha.shape}."
        )
    X_eff = net._check_input(X)
    if net.has_hidden_bias:
        X_eff = np.hstack([X_eff, np.ones((X_eff.shape[0], 1))])
    D_arr = np.asarray(D, dtype=bool)
    if D_arr.ndim != 2 or D_arr.shape[0] != X_eff.shape[0]:
        raise ValueError(
            f"{caller}: D must have shape (n, P) = ({X_eff.shape[0]}, P), got {D_arr.shape}."
        )
    column = {D_arr[:, i].tobytes(): i for i in range(D_arr.shape[1] - 1, -1, -1)}
    U, alpha = net.U_eff, np.asarray(net.alpha, dtype=np.float64)
    Z = X_eff @ U
    V = np.zeros((U.shape[0], D_arr.shape[1]))
    W = np.zeros_like(V)
    matched = np.zeros(U.shape[1], dtype=bool)
    for j in range(U.shape[1]):
        i = column.get((Z[:, j] >= 0).tobytes(), column.get((Z[:, j] > 0).tobytes()))
        if i is None:
            continue
        matched[j] = True
        target = V if alpha[j] > 0 else W
        target[:, i] += abs(alpha[j]) * U[:, j]
    c = None if net.c is None else float(net.c)
    return V, W, c, matched
