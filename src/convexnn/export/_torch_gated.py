"""The PyTorch module of a :class:`~convexnn.GatedReLU` (imported only with torch)."""

from __future__ import annotations

import torch


class GatedReLUModule(torch.nn.Module):
    """``f(x) = (1[x G + h >= 0] * hidden(x)) @ output``: a gated ReLU network.

    ``hidden`` and ``output`` are ``Linear`` layers (trainable); the gates are buffers
    ``gate_weight`` (m, d) and ``gate_bias`` (m,) (None without one), not parameters:
    they are fixed, as in the gated program, so training the module moves the weights
    and keeps each neuron's region. Output shape (n, k).
    """

    gate_weight: torch.Tensor
    gate_bias: torch.Tensor | None

    def __init__(
        self,
        gate_weight: torch.Tensor,
        gate_bias: torch.Tensor | None,
        hidden: torch.nn.Linear,
        output: torch.nn.Linear,
    ) -> None:
        super().__init__()
        self.register_buffer("gate_weight", gate_weight)
        self.register_buffer("gate_bias", gate_bias)
        self.hidden = hidden
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x @ self.gate_weight.T
        if self.gate_bias is not None:
            pre = pre + self.gate_bias
        on = (pre >= 0).to(x.dtype)
        return self.output(on * self.hidden(x))  # type: ignore[no-any-return]
