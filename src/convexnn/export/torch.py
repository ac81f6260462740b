"""PyTorch export and import of :class:`~convexnn.TwoLayerReLU`.

A network ``f(x) = sum_j (x^T u_j + b_j)_+ alpha_j + c`` is the module

    torch.nn.Sequential(Linear(d, m, bias=hidden_bias), ReLU(), Linear(m, k, bias=output_bias))

with ``weight_1 = U^T`` (m, d), ``bias_1 = b`` (m,), ``weight_2 = alpha^T`` (k, m) and
``bias_2 = c``; ``k = 1`` for a scalar network (alpha of shape (m,)), ``k = c`` outputs
for a multi-output network (alpha of shape (m, c)). A network without a hidden (output)
bias exports a Linear layer with ``bias=False``, so the exported module has exactly the
network's parameters and nothing else, and the round trip is exact.

PyTorch is optional: it is imported here, inside the functions, and a missing install
raises an ImportError that says ``pip install convexnn[torch]``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..gated_network import GatedReLU
from ..network import TwoLayerReLU
from ..solvers._kernels import torch_device

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch as torch_mod

_INSTALL_HINT = "pip install convexnn[torch]"
# |module(x) - network(x)| <= tol * (1 + |network(x)|) on the probe batch of from_torch.
_PROBE_TOL = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}


def _import_torch(caller: str) -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            f"{caller}: PyTorch is not installed ({exc}). It is an optional extra: {_INSTALL_HINT}"
        ) from None
    return torch


def to_torch(
    network: TwoLayerReLU | GatedReLU, dtype: Any = None, *, device: Any = None
) -> torch_mod.nn.Module:
    """Export a network as ``Sequential(Linear, ReLU, Linear)`` (a GatedReLU: below).

    Parameters
    ----------
    network : TwoLayerReLU or GatedReLU
        ``U`` of shape (d, m), ``alpha`` of shape (m,) or (m, k), hidden biases ``b``
        (m,) or None, output bias ``c`` (scalar, (k,)) or None. A :class:`GatedReLU`
        becomes a ``GatedReLUModule`` (:mod:`convexnn.export._torch_gated`): the same
        two Linear layers, and its gates as buffers (fixed). In float32 a sample within
        rounding of a gate's hyperplane may switch that neuron.
    dtype : torch.dtype or None
        Parameter dtype; None means ``torch.float64`` (outputs then equal
        ``network.predict`` to rounding; ``torch.float32`` to about 1e-6 relative).
    device : str, torch.device or None
        Where the parameters (and gates) live, as in ``torch.nn.Module.to``: ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ...; None means the CPU. A name torch does not parse, or
        a device this torch build cannot use, raises a ValueError.

    Returns
    -------
    torch.nn.Sequential or GatedReLUModule
        ``Linear(d, m, bias=network.b is not None)``, ``ReLU()``,
        ``Linear(m, k, bias=network.c is not None)``. Its output has shape (n, k),
        with ``k = 1`` for a scalar network (``network.predict`` gives shape (n,)).
    """
    caller = "to_torch"
    torch = _import_torch(caller)
    if not isinstance(network, (TwoLayerReLU, GatedReLU)):
        raise TypeError(
            f"{caller}: network must be a convexnn.TwoLayerReLU or GatedReLU, got "
            f"{type(network).__name__}."
        )
    device, dtype = module_device_dtype(torch, device, dtype, caller)
    alpha = np.asarray(network.alpha, dtype=np.float64)
    alpha_2d = alpha[:, None] if alpha.ndim == 1 else alpha
    k = alpha_2d.shape[1]
    first = _linear(torch, network.U.T, network.b, dtype, device)
    c = None if network.c is None else np.broadcast_to(np.asarray(network.c), (k,))
    second = _linear(torch, alpha_2d.T, c, dtype, device)
    if isinstance(network, GatedReLU):
        from ._torch_gated import GatedReLUModule

        def buffer(a: Any) -> Any:
            return torch.tensor(np.array(a, dtype=np.float64)).to(device=device, dtype=dtype)

        h = network.gate_bias
        bias = None if h is None else buffer(h)
        return GatedReLUModule(buffer(network.G.T), bias, first, second)
    return torch.nn.Sequential(first, torch.nn.ReLU(), second)


def module_device_dtype(torch: Any, device: Any, dtype: Any, caller: str) -> tuple[Any, Any]:
    """The ``device`` and ``dtype`` arguments of an export, checked.

    Parameters
    ----------
    torch : module
        The imported ``torch``.
    device : str, torch.device or None
        None means ``torch.device("cpu")``.
    dtype : torch.dtype or None
        None means ``torch.float64``.
    caller : str
        Named in the errors.

    Returns
    -------
    (torch.device, torch.dtype)

    Raises
    ------
    ValueError
        ``device`` is no torch device name, or one this torch build cannot use (no CUDA).
    TypeError
        ``dtype`` is not a floating ``torch.dtype``.
    """
    dtype = torch.float64 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"{caller}: dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}."
        )
    dev = torch_device(torch, "cpu" if device is None else device, caller, name="device")
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(
            f"{caller}: device {str(dev)!r} is not available in this PyTorch installation "
            f"({exc}); pass device='cpu', or a device that torch lists as available."
        ) from None
    return dev, dtype


def _linear(torch: Any, weight: Any, bias: Any, dtype: Any, device: Any) -> Any:
    """``Linear`` with these float64 weight (out, in) and bias (None: ``bias=False``)."""
    out_features, in_features = np.shape(weight)
    with warnings.catch_warnings():  # the zero network (m = 0): nothing to initialise
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        layer = torch.nn.Linear(
            in_features, out_features, bias=bias is not None, dtype=dtype, device=device
        )

    def tensor(a: Any) -> Any:
        return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64)

    with torch.no_grad():  # copy_ rounds float64 -> dtype once
        layer.weight.copy_(tensor(weight))
        if bias is not None:
            layer.bias.copy_(tensor(bias))
    return layer


def from_torch(module: Any) -> TwoLayerReLU | GatedReLU:
    """Import a ``Linear -> ReLU -> Linear`` PyTorch module as a :class:`TwoLayerReLU`.

    The module's leaf submodules, in registration order, must be exactly ``Linear``,
    ``ReLU``, ``Linear`` (a ``Sequential`` such as :func:`to_torch` returns, or any
    module that registers these three layers and applies them in that order). The
    imported network is checked against ``module`` itself on a random probe batch, so a
    module whose ``forward`` does something else is refused rather than mis-imported.

    Parameters
    ----------
    module : torch.nn.Module
        ``Linear(d, m)``, ``ReLU``, ``Linear(m, k)``; each Linear with or without bias.

    Returns
    -------
    TwoLayerReLU
        ``U = weight_1^T`` (d, m), ``b = bias_1`` or None, ``alpha = weight_2^T`` as shape
        (m,) when ``k = 1`` and (m, k) otherwise, ``c = bias_2`` (a float when ``k = 1``)
        or None. Parameters are copied to float64 NumPy arrays. A ``GatedReLUModule``
        (what :func:`to_torch` makes of a :class:`GatedReLU`, e.g. after training its
        weights in PyTorch) gives a :class:`GatedReLU` back.
    """
    caller = "from_torch"
    torch = _import_torch(caller)
    from ._torch_gated import GatedReLUModule

    if isinstance(module, GatedReLUModule):
        return _gated_network(module)
    first, second = _linear_relu_linear(module, torch, caller)
    if second.in_features != first.out_features:
        raise ValueError(
            f"{caller}: the second Linear takes {second.in_features} inputs but the first "
            f"has {first.out_features} outputs; expected Linear(d, m), ReLU, Linear(m, k)."
        )
    U = _to_numpy(first.weight).T
    b = None if first.bias is None else _to_numpy(first.bias)
    alpha = _to_numpy(second.weight).T
    c: Any = None if second.bias is None else _to_numpy(second.bias)
    if alpha.shape[1] == 1:
        alpha = alpha[:, 0]
        c = None if c is None else float(c[0])
    network = TwoLayerReLU(U, alpha, b=b, c=c)
    _check_probe(module, network, first.weight, torch, caller)
    return network


def _gated_network(module: Any) -> GatedReLU:
    """The :class:`GatedReLU` of a ``GatedReLUModule`` (float64 copies of its layers)."""

    def bias(layer: Any) -> Any:
        return None if layer.bias is None else _to_numpy(layer.bias)

    alpha = _to_numpy(module.output.weight).T
    c = bias(module.output)
    if alpha.shape[1] == 1:
        alpha = alpha[:, 0]
        c = None if c is None else float(c[0])
    h = None if module.gate_bias is None else _to_numpy(module.gate_bias)
    return GatedReLU(
        _to_numpy(module.gate_weight).T,
        _to_numpy(module.hidden.weight).T,
        alpha,
        gate_bias=h,
        b=bias(module.hidden),
        c=c,
    )


def _linear_relu_linear(module: Any, torch: Any, caller: str) -> tuple[Any, Any]:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"{caller}: module must be a torch.nn.Module (Linear, ReLU, Linear), got "
            f"{type(module).__name__}."
        )
    leaves = [mod for mod in module.modules() if not list(mod.children())]
    kinds = [type(mod).__name__ for mod in leaves]
    expected = (torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear)
    if len(leaves) != 3 or not all(type(m) is t for m, t in zip(leaves, expected, strict=True)):
        raise ValueError(
            f"{caller}: expected exactly the layers Linear, ReLU, Linear, got "
            f"[{', '.join(kinds)}]. Only two-layer ReLU networks can be imported."
        )
    return leaves[0], leaves[2]


def _to_numpy(param: Any) -> np.ndarray:
    return np.array(param.detach().cpu().double().numpy(), dtype=np.float64)


def _check_probe(module: Any, network: TwoLayerReLU, ref: Any, torch: Any, caller: str) -> None:
    """Refuse modules whose forward is not Linear -> ReLU -> Linear (probe batch of 8)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, network.n_features))
    expected = network.predict(X).reshape(8, -1)
    with torch.no_grad():
        out = module(torch.tensor(X, device=ref.device, dtype=ref.dtype))
    got = np.asarray(out.detach().cpu().double().numpy(), dtype=np.float64)
    if got.size != expected.size:
        raise ValueError(
            f"{caller}: the module returns {got.shape} for 8 samples, expected "
            f"{expected.shape}. Its forward must apply exactly Linear, ReLU, Linear."
        )
    got = got.reshape(expected.shape)
    # Rounding of a dot product is at most ~eps * (sum of |terms|): bound the terms.
    hidden_abs = np.abs(X) @ np.abs(network.U)
    if network.b is not None:
        hidden_abs += np.abs(network.b)
    alpha_abs = np.abs(network.alpha)
    alpha_abs = alpha_abs[:, None] if alpha_abs.ndim == 1 else alpha_abs
    scale = 1.0 + np.abs(expected) + hidden_abs @ alpha_abs
    tol = _PROBE_TOL.get(str(ref.dtype).removeprefix("torch."), 1e-4)
    err = float(np.max(np.abs(got - expected) / scale))
    if err > tol:
        raise ValueError(
            f"{caller}: the module's output differs from Linear -> ReLU -> Linear applied to "
            f"its own layers (relative difference {err:.3g} > {tol:g}). Its forward must "
            f"apply exactly these three layers, in registration order."
        )
