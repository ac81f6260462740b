"""SGD / Adam baselines for the CNN objectives, in PyTorch (optional dependency).

The objectives are the convex side's own definitions, evaluated by its NumPy code after
every epoch (one source of truth):

* linear CNN (9):
  ``1/2||sum_k sum_j X_k u_j alpha_jk - y||^2 + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2)``
  (:func:`convexnn.cnn.linear_cnn_objective`);
* ReLU CNN: ``L(sum_j sum_k (X_k u_j + b_j)_+ alpha_jk, y)
  + beta/2 sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)``
  with tied (``output="sum"``) or fully connected (``output="fc"``) output weights
  (:meth:`convexnn.cnn.ConvReLUNet.objective`).

A mini-batch B of the N samples uses the unbiased estimate ``(N/|B|) L_B + beta/2 R``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import as_generator
from ..cnn.linear import linear_cnn_objective
from ..cnn.network import ConvReLUNet
from ..cnn.patches import extract_patches
from ..losses import Loss, get_loss

Array = NDArray[np.float64]


@dataclass
class CNNTrainResult:
    """Parameters found and the objective after each epoch.

    Attributes
    ----------
    params : dict of str to array
        ``U`` (d, m), ``alpha`` and (ReLU, with bias) ``b``.
    network : ConvReLUNet or None
        ReLU CNNs only.
    objective : float
        Final objective (NumPy).
    history, times : arrays (n_epochs + 1,)
        Objective and training wall time after each epoch (index 0: the
        initialisation). The time excludes the evaluation of the recorded objective,
        as in :func:`convexnn.baselines.train_torch`.
    """

    params: dict[str, Array]
    network: ConvReLUNet | None
    objective: float
    history: Array
    times: Array
    extra: dict[str, Any] = field(default_factory=dict)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in the dev env
        raise ImportError("convexnn.baselines.torch_cnn needs PyTorch: pip install torch.") from exc
    return torch


def _optimizer(torch: Any, name: str, params: list[Any], lr: float) -> Any:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"torch_cnn: optimizer must be 'sgd' or 'adam', got {name!r}.")


def _loop(
    torch: Any,
    params: list[Any],
    batch_loss: Any,
    objective: Any,
    *,
    n: int,
    optimizer: str,
    lr: float,
    batch_size: int | None,
    n_epochs: int,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    opt = _optimizer(torch, optimizer, params, lr)
    bs = n if batch_size is None else int(min(batch_size, n))
    hist, times = [objective()], [0.0]
    clock = 0.0  # training time only: the recorded objective is not charged to SGD
    for _ in range(n_epochs):
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        for start in range(0, n, bs):
            idx = torch.as_tensor(perm[start : start + bs])
            opt.zero_grad()
            batch_loss(idx, n / len(idx)).backward()
            opt.step()
        clock += time.perf_counter() - t0
        times.append(clock)
        hist.append(objective())
    return np.asarray(hist), np.asarray(times)


def train_linear_cnn(
    patches: Any,
    y: Any,
    beta: float,
    *,
    n_filters: int,
    optimizer: str = "sgd",
    lr: float = 1e-3,
    batch_size: int | None = None,
    n_epochs: int = 100,
    init_scale: float = 0.1,
    random_state: Any = None,
) -> CNNTrainResult:
    """SGD/Adam on the linear CNN objective (9).

    Parameters
    ----------
    patches : array (N, K, d)
    y : array (N,) or (N, c)
    beta : float
    n_filters : int
        m.
    optimizer : {"sgd", "adam"}
    lr : float
    batch_size : int or None
        None: full batch (gradient descent).
    n_epochs : int
    init_scale : float
        Standard deviation of the Gaussian initialisation.
    random_state : None, int or Generator

    Returns
    -------
    CNNTrainResult
        ``params["U"]`` (d, m), ``params["alpha"]`` (m, K) or (m, K, c).
    """
    torch = _torch()
    P = np.asarray(patches, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64)
    rng = as_generator(random_state, caller="train_linear_cnn")
    N, K, d = P.shape
    U = torch.tensor(init_scale * rng.standard_normal((d, n_filters)), requires_grad=True)
    A = torch.tensor(
        init_scale * rng.standard_normal((n_filters, K, *Y.shape[1:])), requires_grad=True
    )
    Pt, Yt = torch.as_tensor(P), torch.as_tensor(Y)

    def batch_loss(idx: Any, scale: float) -> Any:
        H = torch.einsum("nkd,dm->nkm", Pt[idx], U)
        pred = torch.einsum("nkm,mk...->n...", H, A)
        return scale * 0.5 * ((pred - Yt[idx]) ** 2).sum() + 0.5 * beta * (
            (U**2).sum() + (A**2).sum()
        )

    def objective() -> float:
        return linear_cnn_objective(P, Y, U.detach().numpy(), A.detach().numpy(), beta)

    hist, times = _loop(
        torch,
        [U, A],
        batch_loss,
        objective,
        n=N,
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        n_epochs=n_epochs,
        rng=rng,
    )
    params = {"U": U.detach().numpy().copy(), "alpha": A.detach().numpy().copy()}
    return CNNTrainResult(params, None, float(hist[-1]), hist, times)


def train_relu_cnn(
    X: Any,
    y: Any,
    beta: float,
    *,
    n_filters: int,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    output: str = "sum",
    hidden_bias: bool = False,
    loss: str | Loss = "squared",
    optimizer: str = "sgd",
    lr: float = 1e-3,
    batch_size: int | None = None,
    n_epochs: int = 100,
    init_scale: float = 0.1,
    random_state: Any = None,
) -> CNNTrainResult:
    """SGD/Adam on the ReLU CNN objective.

    ``L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)``.

    Parameters
    ----------
    X : array (N, C, H, W) or (N, C, L)
    y : array (N,)
        Targets, normalised by the loss (labels {0, 1} become {-1, +1} for the binary
        classification losses).
    beta : float
    n_filters : int
    kernel_size, stride, padding : convolution geometry
    output : {"sum", "fc"}
        Output weights tied across positions (``alpha`` (m,), the convex program's
        architecture) or fully connected (``alpha`` (m, K)).
    hidden_bias : bool
    loss : str or Loss
        Its ``value_xp`` is the training loss, its ``value`` the recorded objective.
    optimizer, lr, batch_size, n_epochs, init_scale, random_state : as :func:`train_linear_cnn`

    Returns
    -------
    CNNTrainResult
        With ``network`` the trained :class:`ConvReLUNet`.
    """
    torch = _torch()
    loss_obj = get_loss(loss, caller="train_relu_cnn")
    if output not in ("sum", "fc"):
        raise ValueError(f"train_relu_cnn: output must be 'sum' or 'fc', got {output!r}.")
    X_arr = np.asarray(X, dtype=np.float64)
    # labels {0, 1} become the classification losses' {-1, +1}: training and the
    # recorded objective see the same targets
    y_arr = loss_obj.check_targets(y, "train_relu_cnn")
    if y_arr.ndim != 1:
        raise ValueError(
            f"train_relu_cnn: loss {loss_obj.name!r} encodes y as shape {y_arr.shape}, but "
            "the CNN has a single output (targets of shape (N,)); use a single-output loss "
            "such as 'squared' or 'logistic'."
        )
    P = extract_patches(X_arr, kernel_size, stride, padding)
    rng = as_generator(random_state, caller="train_relu_cnn")
    N, K, d = P.shape
    m = n_filters
    U = torch.tensor(init_scale * rng.standard_normal((d, m)), requires_grad=True)
    a_shape = (m,) if output == "sum" else (m, K)
    A = torch.tensor(init_scale * rng.standard_normal(a_shape), requires_grad=True)
    b = torch.zeros(m, dtype=torch.float64, requires_grad=True)
    params = [U, A] + ([b] if hidden_bias else [])
    Pt, Yt = torch.as_tensor(P), torch.as_tensor(y_arr)

    def net() -> ConvReLUNet:
        return ConvReLUNet(
            U.detach().numpy().copy(),
            A.detach().numpy().copy(),
            b.detach().numpy().copy() if hidden_bias else None,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
        )

    def batch_loss(idx: Any, scale: float) -> Any:
        H = torch.relu(Pt[idx] @ U + (b if hidden_bias else 0.0))
        z = H.sum(dim=1) @ A if output == "sum" else torch.einsum("nkm,mk->n", H, A)
        reg = (U**2).sum() + (A**2).sum() + ((b**2).sum() if hidden_bias else 0.0)
        return scale * loss_obj.value_xp(z, Yt[idx]) + 0.5 * beta * reg

    def objective() -> float:
        return net().objective(X_arr, y_arr, beta, loss=loss_obj, patches=P)

    hist, times = _loop(
        torch,
        params,
        batch_loss,
        objective,
        n=N,
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        n_epochs=n_epochs,
        rng=rng,
    )
    final = net()
    out = {"U": final.U, "alpha": final.alpha}
    if final.b is not None:
        out["b"] = final.b
    return CNNTrainResult(out, final, float(hist[-1]), hist, times)


def train_circular_cnn(
    X: Any,
    y: Any,
    beta: float,
    *,
    n_filters: int,
    optimizer: str = "sgd",
    lr: float = 1e-3,
    batch_size: int | None = None,
    n_epochs: int = 100,
    init_scale: float = 0.1,
    random_state: Any = None,
) -> CNNTrainResult:
    """SGD/Adam on the circular linear CNN objective (13), with FFT convolutions.

    ``1/2 || sum_j X circ(u_j) alpha_j - y ||^2 + beta/2 sum_j (||u_j||^2 + ||alpha_j||^2)``,
    evaluated by :func:`convexnn.cnn.circular_cnn_objective`.

    Parameters
    ----------
    X : array (N, d)
        Signals; filters and output weights have length d.
    y : array (N,)
    beta : float
    n_filters : int
    optimizer, lr, batch_size, n_epochs, init_scale, random_state : as :func:`train_linear_cnn`

    Returns
    -------
    CNNTrainResult
        ``params["U"]`` (d, m), ``params["alpha"]`` (m, d).
    """
    from ..cnn.circular import circular_cnn_objective

    torch = _torch()
    X_arr = np.asarray(X, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    rng = as_generator(random_state, caller="train_circular_cnn")
    N, d = X_arr.shape
    U = torch.tensor(init_scale * rng.standard_normal((d, n_filters)), requires_grad=True)
    A = torch.tensor(init_scale * rng.standard_normal((n_filters, d)), requires_grad=True)
    Xt, Yt = torch.as_tensor(X_arr), torch.as_tensor(y_arr)

    def batch_loss(idx: Any, scale: float) -> Any:
        prod = torch.fft.fft(U, dim=0) * torch.fft.fft(A.T, dim=0)
        w = torch.fft.ifft(prod, dim=0).real.sum(dim=1)  # sum_j circ(u_j) alpha_j
        pred = Xt[idx] @ w
        return scale * 0.5 * ((pred - Yt[idx]) ** 2).sum() + 0.5 * beta * (
            (U**2).sum() + (A**2).sum()
        )

    def objective() -> float:
        return circular_cnn_objective(X_arr, y_arr, U.detach().numpy(), A.detach().numpy(), beta)

    hist, times = _loop(
        torch,
        [U, A],
        batch_loss,
        objective,
        n=N,
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        n_epochs=n_epochs,
        rng=rng,
    )
    params = {"U": U.detach().numpy().copy(), "alpha": A.detach().numpy().copy()}
    return CNNTrainResult(params, None, float(hist[-1]), hist, times)
