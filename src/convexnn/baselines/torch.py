"""PyTorch baselines: Adam, SGD and full-batch gradient descent on eq. (2).

The objective trained is exactly the one the convex side certifies,

    L(f(X), y) + beta/2 (||U_eff||_F^2 + ||alpha||^2),
    f(X) = (X_eff U_eff)_+ alpha + c,

with ``L = loss.value_xp`` (the single definition in :mod:`convexnn.losses`),
``X_eff = [X, 1]`` and the hidden bias as the last row of ``U_eff`` when
``hidden_bias`` (regularised, as in :class:`convexnn.TwoLayerReLU`), and ``c`` a free
(unregularised) output bias. A mini-batch ``B`` uses the unbiased estimate
``(n / |B|) L(f(X_B), y_B) + beta/2 (...)`` of the full objective.

Every objective recorded in the history is the full-data objective in float64 of the
network at that moment, computed by :meth:`convexnn.TwoLayerReLU.objective`, so the
curves compare directly with the convex optimum and its certified lower bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    add_ones_column,
    as_generator,
    check_beta,
    check_bool,
    check_choice,
    check_positive_int,
    check_time_budget,
    check_X,
    check_y,
)
from ..losses import Loss, get_loss
from ..network import TwoLayerReLU

Array = NDArray[np.float64]
CALLER = "train_torch"
OPTIMIZERS = ("adam", "sgd", "gd")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class TorchTrainResult:
    """Outcome of :func:`train_torch`.

    Attributes
    ----------
    network : TwoLayerReLU
        The network after the last step (float64 NumPy weights). If training diverged
        (non-finite weights), the last recorded finite network.
    objective : float
        Eq. (2) of ``network`` on the full data, ``network.objective(X, y, beta)``.
    best_objective : float
        Smallest recorded full-data objective.
    best_network : TwoLayerReLU
        The network that reached ``best_objective``.
    history : dict of str to array
        ``"epoch"`` (epochs done, may be fractional when a time budget stops an epoch),
        ``"time"`` (training seconds, excluding the time spent recording),
        ``"objective"`` (full-data eq. (2), float64) and ``"balanced_objective"`` (eq. (2)
        of the same network rescaled neuron by neuron, :meth:`TwoLayerReLU.balanced`:
        the same predictions at the least weight decay), one entry per record; the first
        entry is the initial network (epoch 0, time 0).
    best_balanced_objective : float
        Smallest recorded ``"balanced_objective"``. Weight decay balances the layers
        only at a stationary point, so early in training (few epochs) this can be far
        below ``best_objective``: compare a rival network with this one.
    best_balanced_network : TwoLayerReLU
        The balanced network that reached ``best_balanced_objective``.
    n_epochs : float
        Epochs done (fractional when the time budget stopped mid-epoch).
    time : float
        Training wall time in seconds (excluding recording).
    diverged : bool
        True when the weights became non-finite and training stopped.
    """

    network: TwoLayerReLU
    objective: float
    best_objective: float
    best_network: TwoLayerReLU
    history: dict[str, Array]
    n_epochs: float
    time: float
    best_balanced_objective: float
    best_balanced_network: TwoLayerReLU
    diverged: bool = False


def train_torch(
    X: Any,
    y: Any,
    beta: float,
    *,
    n_neurons: int,
    loss: str | Loss = "squared",
    optimizer: str = "adam",
    lr: float = 1e-3,
    batch_size: int | None = None,
    max_epochs: int = 1000,
    time_budget: float | None = None,
    hidden_bias: bool = False,
    output_bias: bool = False,
    random_state: Any = None,
    record_every: int = 1,
    init: TwoLayerReLU | None = None,
    dtype: str = "float64",
) -> TorchTrainResult:
    """Train a two-layer ReLU network on eq. (2) with PyTorch (Adam, SGD or GD).

    Minimises

        L(f(X), y) + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2),
        f(X) = (X U + b)_+ alpha + c,

    the objective of :meth:`convexnn.TwoLayerReLU.objective` (``b`` only with
    ``hidden_bias``, ``c`` only with ``output_bias``, unregularised).

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
        Targets, normalised by the loss as :meth:`convexnn.TwoLayerReLU.objective`
        does (labels {0, 1} become {-1, +1} for the binary classification losses), so
        that training and the recorded objective see the same targets.
    beta : float
        Weight decay of eq. (2), > 0.
    n_neurons : int
        Width m.
    loss : str or Loss
        Any single-output loss of :func:`convexnn.losses.get_loss` with a ``value_xp``.
    optimizer : {"adam", "sgd", "gd"}
        ``"gd"`` is full-batch SGD (``batch_size`` must be None).
    lr : float
        Learning rate, > 0.
    batch_size : int or None
        Mini-batch size; None uses the full batch. Each epoch visits a fresh random
        permutation of the samples.
    max_epochs : int
        Epochs (passes over the data).
    time_budget : float or None
        Stop once the training time (seconds, excluding recording) reaches this,
        checked after every step, so at least one step runs (``0``: exactly one);
        ``inf`` is no cap. The same rule as ``column_generation``'s.
    hidden_bias, output_bias : bool
        Regularised hidden biases / unregularised output bias, as in :func:`convexnn.solve`.
    random_state : None, int or numpy Generator
        Seeds a ``torch.Generator`` for the initialisation and the batch order (no
        global seed is touched).
    record_every : int
        Record the full-data objective every this many epochs (and always at the end).
    init : TwoLayerReLU or None
        Initial network (width ``n_neurons``, same biases). None draws
        ``U_eff ~ N(0, 1/d_eff)``, ``alpha ~ N(0, 1/m)`` and ``c = mean(y)``.
    dtype : {"float64", "float32"}
        Compute dtype of training; recorded objectives are always float64.

    Returns
    -------
    TorchTrainResult
    """
    torch = _import_torch()
    X_arr, y_arr, beta, loss_obj, opts = _check_inputs(
        X,
        y,
        beta,
        n_neurons,
        loss,
        optimizer,
        lr,
        batch_size,
        max_epochs,
        time_budget,
        record_every,
        init,
        dtype,
        hidden_bias,
        output_bias,
    )
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    gen = torch.Generator().manual_seed(_seed(random_state))
    params = _init_params(torch, gen, X_eff, y_arr, opts, init, tdtype)
    trainer = _Trainer(torch, X_arr, X_eff, y_arr, beta, loss_obj, params, opts, gen, tdtype)
    return trainer.run()


# -- setup ------------------------------------------------------------------------------


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{CALLER}: PyTorch is not installed ({exc}). Install the optional extra with "
            "`pip install convexnn[torch]`."
        ) from None
    return torch


def _seed(random_state: Any) -> int:
    return int(as_generator(random_state, caller=CALLER).integers(0, 2**62))


def _check_inputs(
    X: Any,
    y: Any,
    beta: Any,
    n_neurons: Any,
    loss: Any,
    optimizer: Any,
    lr: Any,
    batch_size: Any,
    max_epochs: Any,
    time_budget: Any,
    record_every: Any,
    init: Any,
    dtype: Any,
    hidden_bias: Any,
    output_bias: Any,
) -> tuple[Array, Array, float, Loss, dict[str, Any]]:
    X_arr = check_X(X, caller=CALLER)
    n = X_arr.shape[0]
    y_arr = check_y(y, n, caller=CALLER)
    beta_val = check_beta(beta, caller=CALLER)
    loss_obj = get_loss(loss, caller=CALLER)
    if loss_obj.multi_output:
        raise ValueError(
            f"{CALLER}: loss {loss_obj.name!r} needs one output per class, but train_torch "
            f"trains scalar-output networks (alpha of shape (m,)). Use loss='logistic' for "
            f"two classes, or solve(X, y, beta, loss={loss_obj.name!r}) for the convex optimum."
        )
    # The targets the recorded objective (TwoLayerReLU.objective) sees: e.g. labels
    # {0, 1} become {-1, +1} under the classification losses. Training on the raw
    # labels would minimise another objective than the one recorded.
    y_arr = loss_obj.check_targets(y_arr, CALLER)
    if y_arr.ndim != 1:
        raise ValueError(
            f"{CALLER}: loss {loss_obj.name!r} encodes y as shape {y_arr.shape}, but "
            "train_torch trains a single-output network (targets of shape (n,)); use a "
            "loss with one output per sample, e.g. 'squared' or 'logistic'."
        )
    opt = check_choice(optimizer, OPTIMIZERS, caller=CALLER, name="optimizer")
    check_choice(dtype, DTYPES, caller=CALLER, name="dtype")
    for name, flag in (("hidden_bias", hidden_bias), ("output_bias", output_bias)):
        check_bool(flag, caller=CALLER, name=name)
    if not (_is_real(lr) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"{CALLER}: lr must be a positive finite number, got {lr!r}.")
    if batch_size is not None:
        if opt == "gd":
            raise ValueError(
                f"{CALLER}: optimizer='gd' is full-batch gradient descent, got "
                f"batch_size={batch_size!r}; pass batch_size=None or optimizer='sgd'."
            )
        batch_size = min(check_positive_int(batch_size, caller=CALLER, name="batch_size"), n)
    opts = {
        "m": check_positive_int(n_neurons, caller=CALLER, name="n_neurons"),
        "optimizer": opt,
        "lr": float(lr),
        "batch_size": batch_size,
        "max_epochs": check_positive_int(max_epochs, caller=CALLER, name="max_epochs"),
        "time_budget": check_time_budget(time_budget, caller=CALLER),
        "record_every": check_positive_int(record_every, caller=CALLER, name="record_every"),
        "hidden_bias": bool(hidden_bias),
        "output_bias": bool(output_bias),
    }
    if init is not None:
        _check_init(init, X_arr.shape[1], opts)
    return X_arr, y_arr, beta_val, loss_obj, opts


def _is_real(value: Any) -> bool:
    """A real Python or NumPy number (``np.float32(1e-3)`` too), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_init(init: Any, d: int, opts: dict[str, Any]) -> None:
    if not isinstance(init, TwoLayerReLU):
        raise TypeError(
            f"{CALLER}: init must be None or a convexnn.TwoLayerReLU, got {type(init).__name__}."
        )
    if init.is_multi_output:
        raise ValueError(
            f"{CALLER}: init has {init.n_outputs} outputs (alpha of shape "
            f"{init.alpha.shape}), but train_torch trains scalar-output networks; pass a "
            f"network with alpha of shape ({opts['m']},)."
        )
    if init.n_features != d or init.n_neurons != opts["m"]:
        raise ValueError(
            f"{CALLER}: init has {init.n_features} features and {init.n_neurons} neurons; "
            f"expected {d} features (columns of X) and n_neurons={opts['m']}."
        )
    if init.has_hidden_bias != opts["hidden_bias"] or init.has_output_bias != opts["output_bias"]:
        raise ValueError(
            f"{CALLER}: init has hidden bias {init.has_hidden_bias} and output bias "
            f"{init.has_output_bias}, but hidden_bias={opts['hidden_bias']} and "
            f"output_bias={opts['output_bias']} were asked; make them agree."
        )


def _init_params(
    torch: Any,
    gen: Any,
    X_eff: Array,
    y: Array,
    opts: dict[str, Any],
    init: TwoLayerReLU | None,
    tdtype: Any,
) -> dict[str, Any]:
    """Leaf tensors ``U`` (d_eff, m), ``alpha`` (m,) and, with an output bias, ``c`` ()."""
    d_eff, m = X_eff.shape[1], opts["m"]
    if init is not None:
        U0 = torch.as_tensor(init.U_eff, dtype=tdtype).clone()
        a0 = torch.as_tensor(init.alpha, dtype=tdtype).clone()
        c0 = float(init.c) if init.c is not None else 0.0
    else:
        U0 = torch.randn(d_eff, m, generator=gen, dtype=tdtype) / np.sqrt(d_eff)
        a0 = torch.randn(m, generator=gen, dtype=tdtype) / np.sqrt(m)
        c0 = float(np.mean(y))
    params = {"U": U0.requires_grad_(True), "alpha": a0.requires_grad_(True)}
    if opts["output_bias"]:
        params["c"] = torch.tensor(c0, dtype=tdtype, requires_grad=True)
    return params


# -- the objective ------------------------------------------------------------------------


def _batch_objective(
    params: dict[str, Any], Xb: Any, yb: Any, n: int, beta: float, loss: Loss
) -> Any:
    """Unbiased estimate of eq. (2) on a batch: ``(n/|B|) L(f(X_B), y_B) + beta/2 (...)``.

    On the full batch (``|B| = n``) it is eq. (2) itself.
    """
    U, alpha = params["U"], params["alpha"]
    z = (Xb @ U).clamp_min(0.0) @ alpha
    if "c" in params:
        z = z + params["c"]
    data = loss.value_xp(z, yb)
    if Xb.shape[0] != n:
        data = data * (n / Xb.shape[0])
    return data + 0.5 * beta * ((U * U).sum() + (alpha * alpha).sum())


def _to_network(params: dict[str, Any], hidden_bias: bool) -> TwoLayerReLU | None:
    """The float64 NumPy network of the current parameters (None if not finite)."""
    U = params["U"].detach().cpu().double().numpy().copy()
    alpha = params["alpha"].detach().cpu().double().numpy().copy()
    c = float(params["c"].detach().cpu().double()) if "c" in params else None
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(alpha))) or (
        c is not None and not np.isfinite(c)
    ):
        return None
    if hidden_bias:
        return TwoLayerReLU(U[:-1], alpha, b=U[-1], c=c)
    return TwoLayerReLU(U, alpha, c=c)


# -- the loop -----------------------------------------------------------------------------


class _Trainer:
    """Runs the epochs, keeps the training clock and the full-data history."""

    def __init__(
        self,
        torch: Any,
        X: Array,
        X_eff: Array,
        y: Array,
        beta: float,
        loss: Loss,
        params: dict[str, Any],
        opts: dict[str, Any],
        gen: Any,
        tdtype: Any,
    ) -> None:
        self.torch, self.X, self.y, self.beta, self.loss = torch, X, y, beta, loss
        self.params, self.opts, self.gen = params, opts, gen
        self.Xt = torch.as_tensor(X_eff, dtype=tdtype)
        self.yt = torch.as_tensor(y, dtype=tdtype)
        self.n = X.shape[0]
        groups = list(params.values())
        if opts["optimizer"] == "adam":
            self.opt = torch.optim.Adam(groups, lr=opts["lr"])
        else:
            self.opt = torch.optim.SGD(groups, lr=opts["lr"])
        keys = ("epoch", "time", "objective", "balanced_objective")
        self.history: dict[str, list[float]] = {k: [] for k in keys}
        self.clock = 0.0
        self.network: TwoLayerReLU | None = None
        self.objective = np.inf
        self.best: tuple[float, TwoLayerReLU] | None = None
        self.best_balanced: tuple[float, TwoLayerReLU] | None = None

    def _record(self, epoch: float) -> bool:
        """Record the full-data objective; False when the weights are not finite."""
        net = _to_network(self.params, self.opts["hidden_bias"])
        if net is None:
            return False
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            obj = net.objective(self.X, self.y, self.beta, loss=self.loss)
        if not np.isfinite(obj):
            return False
        self.network, self.objective = net, obj
        if self.best is None or obj < self.best[0]:
            self.best = (obj, net)
        bal = net.balanced()  # same predictions: only the penalty changes
        bal_obj = obj - self.beta * (net.penalty() - bal.penalty())
        if self.best_balanced is None or bal_obj < self.best_balanced[0]:
            self.best_balanced = (bal_obj, bal)
        self.history["epoch"].append(epoch)
        self.history["time"].append(self.clock)
        self.history["objective"].append(obj)
        self.history["balanced_objective"].append(bal_obj)
        return True

    def _step(self, Xb: Any, yb: Any) -> None:
        self.opt.zero_grad(set_to_none=True)
        obj = _batch_objective(self.params, Xb, yb, self.n, self.beta, self.loss)
        obj.backward()
        self.opt.step()

    def _epoch(self) -> float:
        """One pass; returns the fraction of the epoch done (< 1 if the budget ran out)."""
        bs = self.opts["batch_size"]
        if bs is None or bs >= self.n:
            start = time.perf_counter()
            self._step(self.Xt, self.yt)
            self.clock += time.perf_counter() - start
            return 1.0
        order = self.torch.randperm(self.n, generator=self.gen)
        budget = self.opts["time_budget"]
        for k, lo in enumerate(range(0, self.n, bs)):
            start = time.perf_counter()
            idx = order[lo : lo + bs]
            self._step(self.Xt[idx], self.yt[idx])
            self.clock += time.perf_counter() - start
            if budget is not None and self.clock >= budget:
                return min(1.0, (k + 1) * bs / self.n)
        return 1.0

    def run(self) -> TorchTrainResult:
        self._record(0.0)
        epochs, diverged = 0.0, False
        budget, every = self.opts["time_budget"], self.opts["record_every"]
        recorded_at = 0.0
        for k in range(1, self.opts["max_epochs"] + 1):
            epochs = k - 1 + self._epoch()
            out_of_time = budget is not None and self.clock >= budget
            if k % every == 0 or out_of_time or k == self.opts["max_epochs"]:
                recorded_at = epochs
                if not self._record(epochs):
                    diverged = True
                    break
            if out_of_time:
                break
        if not diverged and recorded_at != epochs:
            diverged = not self._record(epochs)
        assert self.network is not None and self.best is not None
        assert self.best_balanced is not None
        return TorchTrainResult(
            network=self.network,
            objective=float(self.objective),
            best_objective=float(self.best[0]),
            best_network=self.best[1],
            history={k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()},
            n_epochs=float(epochs),
            time=float(self.clock),
            best_balanced_objective=float(self.best_balanced[0]),
            best_balanced_network=self.best_balanced[1],
            diverged=diverged,
        )


__all__ = ["TorchTrainResult", "train_torch"]
