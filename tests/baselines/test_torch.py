"""PyTorch baselines train exactly eq. (2) and never beat a global certificate."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import convexnn as cnn  # noqa: E402
from convexnn.baselines import train_torch  # noqa: E402
from convexnn.baselines.gd import _objective_and_grads  # noqa: E402
from convexnn.baselines.torch import _batch_objective  # noqa: E402
from convexnn.losses import get_loss  # noqa: E402

BETA = 1e-2


def _data(n: int = 30, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=(d, 2)), 0) @ np.array([1.0, -1.0]) + 0.1
    return X, y


def _net(d: int, m: int, seed: int, hidden_bias: bool, output_bias: bool) -> cnn.TwoLayerReLU:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=m) if hidden_bias else None
    c = 0.3 if output_bias else None
    return cnn.TwoLayerReLU(rng.normal(size=(d, m)), rng.normal(size=m), b=b, c=c)


@pytest.mark.parametrize("optimizer,batch_size", [("adam", None), ("sgd", 7), ("gd", None)])
@pytest.mark.parametrize("biases", [(False, False), (True, True)])
def test_recorded_objective_is_our_eq2(optimizer, batch_size, biases):
    X, y = _data()
    res = train_torch(
        X, y, BETA, n_neurons=5, optimizer=optimizer, lr=1e-3, batch_size=batch_size,
        max_epochs=20, hidden_bias=biases[0], output_bias=biases[1], random_state=1,
        record_every=3,
    )  # fmt: skip
    assert res.objective == res.network.objective(X, y, BETA)
    assert res.history["objective"][-1] == res.objective
    assert res.best_objective == res.best_network.objective(X, y, BETA)
    assert res.best_objective == res.history["objective"].min()
    # the balanced network: same predictions, least weight decay
    bal = res.best_balanced_network
    assert res.best_balanced_objective == pytest.approx(bal.objective(X, y, BETA), rel=1e-12)
    assert res.best_balanced_objective == res.history["balanced_objective"].min()
    assert np.all(res.history["balanced_objective"] <= res.history["objective"])
    np.testing.assert_allclose(bal.penalty(), bal.balanced().penalty(), rtol=1e-12)
    assert res.history["epoch"].tolist() == [0, 3, 6, 9, 12, 15, 18, 20]
    assert np.all(np.diff(res.history["time"]) >= 0)
    assert res.network.has_hidden_bias == biases[0]
    assert res.network.has_output_bias == biases[1]


def test_one_gd_step_is_the_numpy_gradient_of_eq2():
    """One full-batch step moves every weight by -lr * grad of eq. (2) (NumPy formula)."""
    X, y = _data()
    init = _net(3, 4, seed=2, hidden_bias=True, output_bias=True)
    lr = 1e-3
    res = train_torch(
        X, y, BETA, n_neurons=4, optimizer="gd", lr=lr, max_epochs=1, hidden_bias=True,
        output_bias=True, init=init,
    )  # fmt: skip
    Xe = np.hstack([X, np.ones((X.shape[0], 1))])
    obj0, gU, ga, gc = _objective_and_grads(Xe, y, BETA, init.U_eff, init.alpha, init.c)
    assert res.history["objective"][0] == pytest.approx(obj0, rel=1e-13)
    np.testing.assert_allclose(res.network.U_eff, init.U_eff - lr * gU, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.network.alpha, init.alpha - lr * ga, rtol=1e-12, atol=1e-14)
    assert res.network.c == pytest.approx(init.c - lr * gc, rel=1e-12)


def test_minibatch_objective_is_unbiased():
    """Averaged over a partition into equal batches it equals the full objective."""
    X, y = _data(n=30)
    net = _net(3, 4, seed=3, hidden_bias=False, output_bias=True)
    params = {
        "U": torch.as_tensor(net.U_eff),
        "alpha": torch.as_tensor(net.alpha),
        "c": torch.tensor(net.c, dtype=torch.float64),
    }
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    loss = get_loss("squared", caller="test")
    parts = [
        float(_batch_objective(params, Xt[i : i + 6], yt[i : i + 6], 30, BETA, loss))
        for i in range(0, 30, 6)
    ]
    assert np.mean(parts) == pytest.approx(net.objective(X, y, BETA), rel=1e-12)


def test_gd_with_small_lr_decreases_the_objective():
    X, y = _data()
    res = train_torch(X, y, BETA, n_neurons=6, optimizer="gd", lr=1e-3, max_epochs=200,
                      hidden_bias=True, random_state=0)  # fmt: skip
    hist = res.history["objective"]
    assert np.all(np.diff(hist) <= 1e-12 * hist[0])
    assert hist[-1] < 0.9 * hist[0]


def test_never_below_the_global_certificate_on_the_paper_1d_example(toy_1d):
    """Paper section 6: no trained network beats the certified global lower bound."""
    X, y = toy_1d
    sol = cnn.solve(X, y, BETA, patterns="exact", hidden_bias=True)
    assert sol.scope == "global" and sol.relative_gap < 1e-6
    lower = sol.lower_bound
    for m in (8, 15, 50):
        for seed in range(3):
            res = train_torch(X, y, BETA, n_neurons=m, lr=1e-2, max_epochs=1500,
                              hidden_bias=True, random_state=seed, record_every=50)  # fmt: skip
            assert res.history["objective"].min() >= lower - 1e-12 * abs(lower)
            cert = cnn.certify(res.network, X, y, BETA, patterns="exact")
            assert cert.scope == "global"
            assert cert.lower_bound <= sol.objective * (1 + 1e-9)
            assert res.objective >= cert.lower_bound


def test_reproducible_and_float32():
    X, y = _data()
    kw = dict(n_neurons=5, lr=1e-2, max_epochs=30, batch_size=10, optimizer="sgd")
    a = train_torch(X, y, BETA, random_state=3, **kw)
    b = train_torch(X, y, BETA, random_state=3, **kw)
    np.testing.assert_array_equal(a.history["objective"], b.history["objective"])
    c = train_torch(X, y, BETA, random_state=3, dtype="float32", **kw)
    assert c.network.U.dtype == np.float64
    assert c.objective == c.network.objective(X, y, BETA)
    np.testing.assert_allclose(c.history["objective"], a.history["objective"], rtol=1e-4)


def test_time_budget_stops_early():
    X, y = _data(n=200)
    res = train_torch(X, y, BETA, n_neurons=5, optimizer="sgd", batch_size=1, lr=1e-4,
                      max_epochs=10_000, time_budget=0.05, random_state=0)  # fmt: skip
    assert res.n_epochs < 10_000
    assert res.time >= 0.05
    assert res.history["epoch"][-1] == res.n_epochs


@pytest.mark.parametrize("batch_size,epochs", [(None, 1.0), (50, 0.25)])
def test_time_budget_zero_runs_exactly_one_step(batch_size, epochs):
    """The rule ``column_generation`` follows too: checked after each step, so 0 is one."""
    X, y = _data(n=200)
    opt = "gd" if batch_size is None else "sgd"
    res = train_torch(X, y, BETA, n_neurons=5, optimizer=opt, batch_size=batch_size,
                      max_epochs=100, time_budget=0, random_state=0)  # fmt: skip
    assert res.n_epochs == epochs
    assert res.history["epoch"][-1] == epochs


def test_divergence_is_reported_with_a_finite_network():
    X, y = _data()
    res = train_torch(X, y, BETA, n_neurons=5, optimizer="gd", lr=1e3, max_epochs=200,
                      random_state=0)  # fmt: skip
    assert res.diverged
    assert np.isfinite(res.objective)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"optimizer": "gd", "batch_size": 4}, "full-batch"),
        ({"lr": -1.0}, "lr must be a positive"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"time_budget": -1.0}, "time_budget must be None or a number of seconds >= 0"),
        ({"time_budget": float("nan")}, "time_budget"),
        ({"time_budget": True}, "time_budget"),
        ({"init": _net(2, 5, 0, False, False)}, "init has 2 features"),
        ({"init": _net(3, 5, 0, True, False)}, "hidden bias"),
        (
            {"init": cnn.TwoLayerReLU(np.ones((3, 5)), np.ones((5, 2)))},
            r"init has 2 outputs \(alpha of shape \(5, 2\)\), but train_torch trains scalar",
        ),
        ({"loss": "cross_entropy"}, "loss 'cross_entropy' needs one output per class"),
    ],
)
def test_clear_errors(kwargs, match):
    X, y = _data()
    with pytest.raises((ValueError, TypeError), match=match):
        train_torch(X, y, BETA, n_neurons=5, **kwargs)


def test_missing_torch_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    X, y = _data()
    with pytest.raises(ImportError, match=r"pip install convexnn\[torch\]"):
        train_torch(X, y, BETA, n_neurons=2)


def test_labels_01_train_the_recorded_objective():
    """Labels {0, 1} are the loss's {-1, +1}: training minimises the recorded objective.

    Before, the training loss saw the raw 0s (log 2 for every such sample, no gradient)
    while the recorded objective saw -1s, so the recorded curve could rise.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y01 = (X[:, 0] > 0).astype(float)
    kw = dict(n_neurons=5, loss="logistic", lr=1e-2, max_epochs=300, random_state=0)
    a = train_torch(X, y01, 0.1, **kw)
    b = train_torch(X, 2 * y01 - 1, 0.1, **kw)
    np.testing.assert_array_equal(a.history["objective"], b.history["objective"])
    assert a.objective == a.network.objective(X, y01, 0.1, loss="logistic")
    assert a.objective < 0.5 * a.history["objective"][0]


def test_multi_output_loss_is_refused_clearly():
    X, _ = _data()
    labels = np.arange(30) % 3
    with pytest.raises(ValueError, match="loss 'cross_entropy' needs one output per class"):
        train_torch(X, labels, BETA, n_neurons=4, loss="cross_entropy")


def test_numpy_scalars_are_numbers():
    """lr=np.float32(1e-3) was refused as "not a positive finite number"."""
    X, y = _data()
    kw = dict(n_neurons=4, max_epochs=3, random_state=0)
    res = train_torch(X, y, BETA, lr=np.float32(0.25), time_budget=np.float32(60), **kw)
    ref = train_torch(X, y, BETA, lr=0.25, **kw)
    np.testing.assert_array_equal(res.network.U, ref.network.U)
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        train_torch(X, y, BETA, lr=np.True_, **kw)
