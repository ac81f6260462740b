"""Shared fixtures: small problems whose optimum CVXPY computes."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def toy_1d() -> tuple[np.ndarray, np.ndarray]:
    """The paper's section-6 data: X = [-2, -1, 0, 1, 2]^T, y = [1, -1, 1, 1, -1]."""
    return np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]]), np.array([1.0, -1, 1, 1, -1])


def random_2d(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 2-D inputs with targets from a planted 3-neuron ReLU network plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    U = rng.normal(size=(2, 3))
    y = np.maximum(X @ U + 0.3, 0) @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=n)
    return X, y


@pytest.fixture
def data_2d() -> tuple[np.ndarray, np.ndarray]:
    return random_2d(20, seed=0)
