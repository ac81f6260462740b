"""Two-layer ReLU CNNs as plain objects: filters, output layer, geometry; torch export."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import check_beta
from ..losses import Loss, get_loss
from ._common import check_scalar_targets
from .patches import check_images, conv_geometry, extract_patches

Array = NDArray[np.float64]


class ConvReLUNet:
    """``f(X) = sum_j sum_k (X_k u_j + b_j)_+ alpha_jk + c``: conv -> ReLU -> linear.

    Parameters
    ----------
    U : array (d, m)
        Filters, ``d = C * prod(kernel_size)`` in :func:`extract_patches` order
        (column j is ``conv.weight[j].reshape(-1)``).
    alpha : array (m,) or (m, K)
        Output layer. ``(m,)``: weights tied across the K positions (sum pooling, the
        architecture of the paper's convex CNN program before Figure 10), penalised once:
        ``beta/2 alpha_j^2``. ``(m, K)``: a fully connected layer on the flattened
        activations, penalised ``beta/2 ||alpha_j||^2``.
    b : array (m,) or None
        Hidden biases (regularised like the weights). None: no bias.
    c : float or None
        Unregularised output bias.
    kernel_size, stride, padding : int or tuple
        Convolution geometry (PyTorch conventions) used on images / signals.
    """

    def __init__(
        self,
        U: Any,
        alpha: Any,
        b: Any | None = None,
        c: float | None = None,
        *,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
    ) -> None:
        self.U = np.asarray(U, dtype=np.float64)
        self.alpha = np.asarray(alpha, dtype=np.float64)
        if (
            self.U.ndim != 2
            or self.alpha.ndim not in (1, 2)
            or self.alpha.shape[0] != self.U.shape[1]
        ):
            raise ValueError(
                f"ConvReLUNet: U must be (d, m) and alpha (m,) or (m, K) with the same m, got "
                f"U {self.U.shape} and alpha {self.alpha.shape}."
            )
        self.b = None if b is None else np.asarray(b, dtype=np.float64).reshape(-1)
        if self.b is not None and self.b.shape != (self.U.shape[1],):
            raise ValueError(
                f"ConvReLUNet: b must hold one bias per filter, shape ({self.U.shape[1]},), "
                f"got {self.b.shape}; pass b=None for no hidden bias."
            )
        self.c = None if c is None else float(c)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    @property
    def n_filters(self) -> int:
        return int(self.U.shape[1])

    def patches(self, X: Any) -> Array:
        """Patch matrices (N, K, d) of images / signals X."""
        return extract_patches(X, self.kernel_size, self.stride, self.padding)

    def hidden(self, X: Any) -> Array:
        """ReLU activations ``(X_k u_j + b_j)_+``, shape (N, K, m)."""
        return self._hidden(self.patches(X))

    def _hidden(self, P: Array) -> Array:
        if P.shape[-1] != self.U.shape[0]:
            raise ValueError(
                f"ConvReLUNet: the patches have {P.shape[-1]} numbers (channels x kernel), "
                f"the filters U {self.U.shape[0]}; check kernel_size and the input's channels."
            )
        H = P @ self.U
        if self.b is not None:
            H = H + self.b
        return np.maximum(H, 0.0)

    def predict(self, X: Any) -> Array:
        """Outputs f(X) of images / signals X, shape (N,)."""
        return self.predict_patches(self.patches(X))

    def predict_patches(self, P: Any) -> Array:
        """Outputs f from ready patch matrices P (N, K, d) (see :meth:`patches`), shape (N,)."""
        H = self._hidden(np.asarray(P, dtype=np.float64))
        if self.alpha.ndim == 1:
            z = H.sum(axis=1) @ self.alpha
        else:
            if self.alpha.shape[1] != H.shape[1]:
                raise ValueError(
                    f"ConvReLUNet.predict: the output layer expects K={self.alpha.shape[1]} "
                    f"positions, the input gives {H.shape[1]}; use the training image size."
                )
            z = np.einsum("nkm,mk->n", H, self.alpha)
        return z + self.c if self.c is not None else z

    def penalty(self) -> float:
        """``1/2 sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)``."""
        total = np.sum(self.U**2) + np.sum(self.alpha**2)
        if self.b is not None:
            total += np.sum(self.b**2)
        return 0.5 * float(total)

    def objective(
        self,
        X: Any,
        y: Any,
        beta: float,
        *,
        loss: str | Loss = "squared",
        patches: Any | None = None,
    ) -> float:
        """``L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + ||alpha_j||^2)``.

        ``y`` (N,) is checked by the loss, as in :meth:`convexnn.TwoLayerReLU.objective`:
        labels {0, 1} become {-1, +1} for the binary classification losses. ``patches``
        (N, K, d), when given, replaces the patch extraction of X.
        """
        caller = "ConvReLUNet.objective"
        beta_val = check_beta(beta, caller=caller)
        loss_obj = get_loss(loss, caller=caller)
        z = self.predict(X) if patches is None else self.predict_patches(patches)
        y_arr = check_scalar_targets(y, z.shape[0], loss_obj, caller=caller)
        return loss_obj.value(z, y_arr) + beta_val * self.penalty()

    def to_torch(
        self, input_shape: tuple[int, ...], *, dtype: Any = None, device: Any = None
    ) -> Any:
        """Export as ``nn.Sequential(Conv, ReLU, Flatten, Linear)`` with identical outputs.

        Parameters
        ----------
        input_shape : tuple
            ``(C, H, W)`` (exports ``nn.Conv2d``) or ``(C, L)`` (``nn.Conv1d``).
        dtype : torch dtype, default torch.float64
        device : str, torch.device or None
            Where the module lives (``"cpu"``, ``"cuda"``, ...); None means the CPU. A name
            torch does not parse, or a device this torch build cannot use: ValueError.

        Returns
        -------
        torch.nn.Sequential
            Its output has shape (N, 1); ``Linear.weight[0, j K + k] = alpha_jk``.
        """
        from ..export.torch import _import_torch, module_device_dtype

        caller = "ConvReLUNet.to_torch"
        torch = _import_torch(caller)
        nn = torch.nn
        device, dtype = module_device_dtype(torch, device, dtype, caller)
        C, *spatial = (int(s) for s in input_shape)
        kernel, stride, pad, out = conv_geometry(
            tuple(spatial), self.kernel_size, self.stride, self.padding, caller=caller
        )
        if C * int(np.prod(kernel)) != self.U.shape[0]:
            raise ValueError(
                f"{caller}: input_shape {input_shape} with kernel {kernel} gives filters of "
                f"size {C * int(np.prod(kernel))}, the network has {self.U.shape[0]}."
            )
        K, m = int(np.prod(out)), self.n_filters
        if self.alpha.ndim == 2 and self.alpha.shape[1] != K:
            raise ValueError(
                f"{caller}: input_shape {input_shape} gives K={K} positions, but the output "
                f"layer alpha {self.alpha.shape} expects K={self.alpha.shape[1]}; pass the "
                f"input shape the network was trained on."
            )
        conv_cls = nn.Conv2d if len(spatial) == 2 else nn.Conv1d
        geom: dict[str, Any] = {"kernel_size": kernel, "stride": stride, "padding": pad}
        conv: Any = conv_cls(
            C,
            m,
            **geom,
            bias=self.b is not None,
            dtype=dtype,
            device=device,
        )
        lin = nn.Linear(m * K, 1, bias=self.c is not None, dtype=dtype, device=device)
        alpha = self.alpha if self.alpha.ndim == 2 else np.repeat(self.alpha[:, None], K, axis=1)
        with torch.no_grad():
            conv.weight.copy_(torch.as_tensor(self.U.T.reshape(m, C, *kernel), dtype=dtype))
            if self.b is not None:
                conv.bias.copy_(torch.as_tensor(self.b))
            lin.weight.copy_(torch.as_tensor(alpha.reshape(1, m * K)))
            if self.c is not None:
                lin.bias.fill_(self.c)
        return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), lin)

    def __repr__(self) -> str:
        return (
            f"ConvReLUNet(n_filters={self.n_filters}, d={self.U.shape[0]}, "
            f"alpha={self.alpha.shape}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding})"
        )


__all__ = ["ConvReLUNet", "check_images"]
