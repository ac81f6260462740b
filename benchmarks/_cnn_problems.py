"""The CNN benchmarks' problems: a spec and its seeded data (bench_cnn_gated, bench_cnn_relu).

Import after ``_blas.pin`` (this module imports NumPy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convexnn.cnn import ConvReLUNet


@dataclass(frozen=True)
class Spec:
    name: str
    shape: tuple[int, ...]  # (N, C, H, W) or (N, C, L)
    kernel: int
    stride: int
    gates: int
    beta: float
    planted: bool  # targets from a random ReLU CNN (plus noise), else Gaussian


def make_data(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """Seeded inputs (spec.shape) and targets: Gaussian, or a random 4-filter ReLU CNN's
    outputs scaled to unit standard deviation plus 0.1 noise."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal(spec.shape)
    if not spec.planted:
        return X, rng.standard_normal(spec.shape[0])
    d = spec.shape[1] * spec.kernel ** (len(spec.shape) - 2)
    net = ConvReLUNet(
        rng.standard_normal((d, 4)),
        rng.standard_normal(4),
        rng.standard_normal(4),
        kernel_size=spec.kernel,
        stride=spec.stride,
    )
    y = net.predict(X)
    return X, y / np.std(y) + 0.1 * rng.standard_normal(spec.shape[0])
