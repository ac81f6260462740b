"""The CNN baselines train the recorded objective and time training only."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from convexnn.baselines import torch_cnn


class _FakeClock:
    """``perf_counter`` that advances 1 per call; the objective advances it 1000."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


def test_times_exclude_the_recorded_objective(monkeypatch):
    """Before, every epoch's time included the previous epochs' objective evaluations."""
    clock = _FakeClock()
    real = torch_cnn.linear_cnn_objective

    def slow_objective(*args):
        clock.now += 1000.0
        return real(*args)

    monkeypatch.setattr(torch_cnn, "time", clock)
    monkeypatch.setattr(torch_cnn, "linear_cnn_objective", slow_objective)
    rng = np.random.default_rng(0)
    patches, y = rng.normal(size=(12, 3, 4)), rng.normal(size=12)
    res = torch_cnn.train_linear_cnn(patches, y, 0.1, n_filters=2, n_epochs=3, random_state=0)
    assert res.times[0] == 0.0 and np.all(np.diff(res.times) > 0)
    assert res.times[-1] < 1000.0, res.times


def test_relu_cnn_labels_01_train_the_recorded_objective():
    """Labels {0, 1} are the logistic loss's {-1, +1} for training and the record alike."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 1, 5, 5))
    y01 = (X[:, 0, 2, 2] > 0).astype(float)
    kw = dict(n_filters=3, kernel_size=3, loss="logistic", optimizer="adam", lr=1e-2,
              n_epochs=40, random_state=0)  # fmt: skip
    a = torch_cnn.train_relu_cnn(X, y01, 0.1, **kw)
    b = torch_cnn.train_relu_cnn(X, 2 * y01 - 1, 0.1, **kw)
    np.testing.assert_array_equal(a.history, b.history)
    assert a.history[-1] < a.history[0]


def test_relu_cnn_refuses_a_multi_output_loss():
    X = np.random.default_rng(2).normal(size=(9, 1, 4, 4))
    with pytest.raises(ValueError, match="train_relu_cnn: loss 'cross_entropy' encodes y"):
        torch_cnn.train_relu_cnn(X, np.arange(9) % 3, 0.1, n_filters=2, kernel_size=2,
                                 loss="cross_entropy")  # fmt: skip
