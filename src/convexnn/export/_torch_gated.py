"""The PyTorch module of a :class:`~convexnn.GatedReLU` (imported only with torch)."""

from __future__ import annotations

import torch


class GatedReLUModule(torch.nn.Module):
    """``f(x) = (1[gate(x) >= 0] * hidden(x)) @ output``: a gated ReLU network.

    ``gate``, ``hidden`` and ``output`` are ``Linear`` layers; the gate's parameters do
    not require gradients (the gates are fixed, as in the gated program), so training
    the module moves the weights and keeps each neuron's region. Output shape (n, k).
    """

    def __init__(
        self, gate: torch.nn.Linear, hidden: torch.nn.Linear, output: torch.nn.Linear
    ) -> None:
        super().__init__()
        self.gate = gate.requires_grad_(False)
        self.hidden = hidden
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = (self.gate(x) >= 0).to(x.dtype)
        return self.output(on * self.hidden(x))  # type: ignore[no-any-return]
