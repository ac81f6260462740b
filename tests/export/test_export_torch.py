"""PyTorch export / import: exact outputs, exact round trip, certifying a torch-trained net."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
from convexnn.export import from_torch, to_torch

torch = pytest.importorskip("torch")


def _network(hidden_bias: bool, output_bias: bool, seed: int = 0) -> cnn.TwoLayerReLU:
    rng = np.random.default_rng(seed)
    d, m = 4, 7
    b = rng.standard_normal(m) if hidden_bias else None
    c = float(rng.standard_normal()) if output_bias else None
    return cnn.TwoLayerReLU(rng.standard_normal((d, m)), rng.standard_normal(m), b=b, c=c)


def _torch_out(module: torch.nn.Module, X: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    with torch.no_grad():
        return module(torch.tensor(X, dtype=dtype)).double().numpy()


@pytest.mark.parametrize("hidden_bias", [False, True])
@pytest.mark.parametrize("output_bias", [False, True])
def test_export_matches_predict(hidden_bias: bool, output_bias: bool) -> None:
    net = _network(hidden_bias, output_bias)
    X = np.random.default_rng(1).standard_normal((50, net.n_features))
    module = net.to_torch()
    layers = list(module)
    assert [type(layer) for layer in layers] == [
        torch.nn.Linear,
        torch.nn.ReLU,
        torch.nn.Linear,
    ]
    assert (layers[0].bias is not None) == hidden_bias
    assert (layers[2].bias is not None) == output_bias
    assert layers[0].weight.dtype == torch.float64
    expected = net.predict(X)
    out64 = _torch_out(module, X, torch.float64)
    assert out64.shape == (50, 1)
    np.testing.assert_allclose(out64[:, 0], expected, rtol=0, atol=1e-10)
    out32 = _torch_out(net.to_torch(torch.float32), X, torch.float32)
    np.testing.assert_allclose(out32[:, 0], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hidden_bias", [False, True])
@pytest.mark.parametrize("output_bias", [False, True])
def test_round_trip_is_exact(hidden_bias: bool, output_bias: bool) -> None:
    net = _network(hidden_bias, output_bias, seed=3)
    back = cnn.TwoLayerReLU.from_torch(to_torch(net))
    np.testing.assert_array_equal(back.U, net.U)
    np.testing.assert_array_equal(back.alpha, net.alpha)
    assert back.alpha.shape == net.alpha.shape
    if hidden_bias:
        np.testing.assert_array_equal(back.b, net.b)
    else:
        assert back.b is None
    assert back.c == net.c


def test_multi_output_export() -> None:
    rng = np.random.default_rng(5)
    try:
        net = cnn.TwoLayerReLU(
            rng.standard_normal((3, 6)),
            rng.standard_normal((6, 2)),
            b=rng.standard_normal(6),
            c=rng.standard_normal(2),
        )
    except (ValueError, TypeError) as exc:
        pytest.skip(f"TwoLayerReLU does not take alpha of shape (m, c) yet: {exc}")
    module = to_torch(net)
    assert module[2].out_features == 2
    X = rng.standard_normal((20, 3))
    np.testing.assert_allclose(
        _torch_out(module, X, torch.float64), net.predict(X).reshape(20, 2), atol=1e-10
    )
    back = from_torch(module)
    np.testing.assert_array_equal(back.alpha, net.alpha)
    np.testing.assert_array_equal(np.asarray(back.c), np.asarray(net.c))


def test_from_torch_accepts_custom_module() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(3, 5)
            self.act = torch.nn.ReLU()
            self.fc2 = torch.nn.Linear(5, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.act(self.fc1(x)))

    module = Net().double()
    net = from_torch(module)
    assert net.c is None and net.b is not None and net.n_neurons == 5
    X = np.random.default_rng(0).standard_normal((10, 3))
    np.testing.assert_allclose(net.predict(X), _torch_out(module, X, torch.float64)[:, 0])


def test_from_torch_rejects_other_architectures() -> None:
    deep = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 3), torch.nn.ReLU()
    )
    with pytest.raises(ValueError, match=r"from_torch: expected exactly the layers Linear, ReLU"):
        from_torch(deep)
    tanh = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"got \[Linear, Tanh, Linear\]"):
        from_torch(tanh)
    with pytest.raises(TypeError, match=r"from_torch: module must be a torch\.nn\.Module"):
        from_torch("not a module")

    class Skip(torch.nn.Module):  # registers Linear-ReLU-Linear but adds a skip connection
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(2, 3)
            self.r = torch.nn.ReLU()
            self.b = torch.nn.Linear(3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.r(self.a(x))) + x.sum(dim=1, keepdim=True)

    with pytest.raises(ValueError, match="the module's output differs"):
        from_torch(Skip().double())


def test_to_torch_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match=r"to_torch: network must be a convexnn\.TwoLayerReLU"):
        to_torch("net")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"to_torch: dtype must be a floating torch\.dtype"):
        to_torch(_network(True, True), dtype=torch.int64)


def test_torch_trained_network_is_certified() -> None:
    """A few Adam steps on eq. (2) in torch, imported and certified over all patterns."""
    rng = np.random.default_rng(0)
    n, beta = 25, 0.05
    X = rng.standard_normal((n, 2))
    y = np.maximum(X @ np.array([1.0, -0.5]) + 0.2, 0.0) - 0.5 * np.maximum(X[:, 1], 0.0)
    gen = torch.Generator().manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    module = module.double()
    with torch.no_grad():  # initialise reproducibly without touching the global seed
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    first, last = module[0], module[2]
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(50):
        opt.zero_grad()
        penalty = (
            first.weight.square().sum() + first.bias.square().sum() + last.weight.square().sum()
        )
        obj = 0.5 * (module(Xt)[:, 0] - yt).square().sum() + 0.5 * beta * penalty
        obj.backward()
        opt.step()

    net = cnn.TwoLayerReLU.from_torch(module)
    assert net.b is not None and net.c is not None
    cert = cnn.certify(net, X, y, beta, patterns="exact")
    assert cert.scope == "global"
    torch_obj = 0.5 * float(np.sum((net.predict(X) - y) ** 2)) + beta * net.penalty()
    assert cert.upper_bound == pytest.approx(torch_obj, rel=1e-12)
    assert cert.gap > 0
    assert cert.upper_bound >= cert.lower_bound
    # The bound is a true lower bound: the global optimum (independent CVXPY solve) is above it.
    sol = cnn.solve(
        X, y, beta, patterns="exact", hidden_bias=True, output_bias=True, solver="cvxpy"
    )
    assert cert.lower_bound <= sol.objective * (1 + 1e-7)
    assert sol.objective <= cert.upper_bound


def test_zero_network_round_trip() -> None:
    """The optimum for a large beta has no neuron: export and import it all the same."""
    net = cnn.TwoLayerReLU(np.zeros((3, 0)), np.zeros(0), b=np.zeros(0), c=1.5)
    module = net.to_torch()
    X = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(_torch_out(module, X, torch.float64)[:, 0], np.full(4, 1.5))
    back = from_torch(module)
    assert back.n_neurons == 0 and back.c == 1.5


def test_estimator_network_exports() -> None:
    """A fitted one-vs-rest classifier's network_ (3 outputs) runs in torch unchanged."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(45, n_features=2, centers=3, random_state=0)
    clf = cnn.ConvexReLUClassifier(loss="squared", n_patterns=6, random_state=0).fit(X, y)
    module = clf.network_.to_torch()
    np.testing.assert_allclose(
        _torch_out(module, X, torch.float64), clf.decision_function(X), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("biases", [False, True])
def test_gated_network_exports_with_frozen_gates(biases: bool) -> None:
    """The module computes the gated network; training it moves U and alpha, not the
    gates (the gated program's gates are fixed)."""
    rng = np.random.default_rng(1)
    d, m = 3, 5
    extra = {"gate_bias": rng.normal(size=m), "b": rng.normal(size=m), "c": 0.4} if biases else {}
    net = cnn.GatedReLU(
        rng.normal(size=(d, m)), rng.normal(size=(d, m)), rng.normal(size=m), **extra
    )
    X = rng.normal(size=(30, d))
    module = net.to_torch()
    np.testing.assert_allclose(
        _torch_out(module, X, torch.float64)[:, 0], net.predict(X), atol=1e-12
    )
    names = {name for name, _ in module.named_parameters()}
    assert names and not any(name.startswith("gate") for name in names)  # buffers
    gate_before = module.gate_weight.clone()
    opt = torch.optim.SGD(module.requires_grad_().parameters(), lr=0.1)
    module(torch.tensor(X)).sum().backward()
    opt.step()
    assert module.hidden.weight.grad is not None
    assert torch.equal(module.gate_weight, gate_before)


def test_gated_estimator_network_exports() -> None:
    from sklearn.datasets import make_blobs

    X, y = make_blobs(45, n_features=2, centers=3, random_state=0)
    clf = cnn.ConvexReLUClassifier(
        loss="squared", formulation="gated", n_patterns=6, random_state=0
    )
    module = clf.fit(X, y).network_.to_torch()
    np.testing.assert_allclose(
        _torch_out(module, X, torch.float64), clf.decision_function(X), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("gate_bias", [None, "zeros", "normal"])
def test_gated_round_trip_keeps_whether_the_gates_have_a_bias(gate_bias: str | None) -> None:
    """A gate bias of zeros comes back as zeros, none as None (certify reads a hidden
    bias from it: the patterns of [X, 1] or of X)."""
    rng = np.random.default_rng(3)
    h = {None: None, "zeros": np.zeros(4), "normal": rng.normal(size=4)}[gate_bias]
    net = cnn.GatedReLU(rng.normal(size=(2, 4)), rng.normal(size=(2, 4)), np.ones(4), gate_bias=h)
    module = net.to_torch()
    back = cnn.GatedReLU.from_torch(module)
    if h is None:
        assert module.gate_bias is None and back.gate_bias is None
    else:
        np.testing.assert_array_equal(back.gate_bias, h)
    X = rng.normal(size=(25, 2))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_gated_round_trip_and_a_torch_trained_gated_network_is_certified() -> None:
    """Export, train the weights in torch (gates fixed), import, certify: the bound holds
    (<= the gated optimum over the patterns and the network's own, by CVXPY)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    y = np.maximum(X @ np.array([1.0, -0.5]) + 0.2, 0.0) + 0.05 * rng.normal(size=40)
    net = cnn.GatedReLU(rng.normal(size=(2, 6)), 0.1 * rng.normal(size=(2, 6)), np.ones(6),
                        gate_bias=rng.normal(size=6), b=np.zeros(6), c=0.0)  # fmt: skip
    back = cnn.GatedReLU.from_torch(net.to_torch())
    for name in ("G", "U", "alpha", "gate_bias", "b"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    module = net.to_torch()
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=0.05)
    Xt, yt, beta = torch.tensor(X), torch.tensor(y), 0.1
    for _ in range(200):
        opt.zero_grad()
        pen = sum(
            (p**2).sum() for n, p in module.named_parameters() if "weight" in n and "gate" not in n
        )
        pen = pen + (module.hidden.bias**2).sum()
        loss = 0.5 * ((module(Xt)[:, 0] - yt) ** 2).sum() + 0.5 * beta * pen
        loss.backward()
        opt.step()
    trained = cnn.GatedReLU.from_torch(module)
    np.testing.assert_array_equal(trained.G, net.G)  # the gates did not move
    assert trained.objective(X, y, beta) < net.objective(X, y, beta)
    cert = cnn.certify(trained, X, y, beta, patterns="exact")
    assert cert.scope == "global" and cert.upper_bound == pytest.approx(
        trained.objective(X, y, beta)
    )
    best = cnn.solve(X, y, beta, patterns="exact", formulation="gated", hidden_bias=True,
                     output_bias=True, solver="cvxpy")  # fmt: skip
    assert cert.lower_bound <= best.convex_objective * (1 + 1e-6) <= cert.upper_bound * (1 + 2e-6)
    with pytest.raises(TypeError, match=r"GatedReLU\.from_torch"):
        cnn.TwoLayerReLU.from_torch(module)
    with pytest.raises(TypeError, match="holds a TwoLayerReLU"):
        cnn.GatedReLU.from_torch(_network(True, True).to_torch())


def _conv_net(fc: bool, seed: int = 0) -> tuple:
    from convexnn.cnn import ConvReLUNet, extract_patches

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((5, 2, 6, 5))
    K = extract_patches(X, 3, 2, 1).shape[1]
    alpha = rng.standard_normal((4, K)) if fc else rng.standard_normal(4)
    net = ConvReLUNet(rng.standard_normal((18, 4)), alpha, rng.standard_normal(4), 0.3,
                      kernel_size=3, stride=2, padding=1)  # fmt: skip
    return net, X


def test_conv_net_export_errors_name_the_problem() -> None:
    """A fully connected output layer on another image size gave NumPy's "cannot
    reshape array"; a dtype that is no torch dtype, torch's own errors."""
    net, X = _conv_net(fc=True)
    with pytest.raises(ValueError, match=r"ConvReLUNet.to_torch: input_shape \(2, 9, 5\) gives K="):
        net.to_torch((2, 9, 5))
    for bad in ("float32", torch.int64):
        with pytest.raises(TypeError, match=r"ConvReLUNet.to_torch: dtype must be a floating"):
            net.to_torch(X.shape[1:], dtype=bad)


@pytest.mark.parametrize("kind", ["relu", "gated"])
@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_to_torch_device_and_dtype(kind: str, dtype: str | None) -> None:
    """``device`` and ``dtype`` as in torch: the module's parameters and buffers are
    there, and its outputs equal the NumPy predictions (to float32 rounding)."""
    rng = np.random.default_rng(5)
    if kind == "relu":
        net: cnn.TwoLayerReLU | cnn.GatedReLU = _network(True, True, seed=5)
    else:
        net = cnn.GatedReLU(rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=6),
                            gate_bias=rng.normal(size=6), b=rng.normal(size=6), c=0.5)  # fmt: skip
    want = torch.float64 if dtype is None else getattr(torch, dtype)
    tdtype = None if dtype is None else want
    X = rng.standard_normal((40, 4))
    for module in (net.to_torch(tdtype, device="cpu"), to_torch(net, dtype=tdtype, device="cpu")):
        tensors = list(module.parameters()) + list(module.buffers())
        assert tensors and all(t.dtype == want and t.device.type == "cpu" for t in tensors)
        atol = 1e-10 if want == torch.float64 else 1e-4
        np.testing.assert_allclose(_torch_out(module, X, want)[:, 0], net.predict(X), atol=atol)
    module = net.to_torch(device=torch.device("cpu"))
    assert all(p.dtype == torch.float64 for p in module.parameters())


def test_to_torch_refuses_a_bad_device() -> None:
    """A device torch cannot parse, or one it cannot use, is a ValueError naming device."""
    net = _network(True, True)
    with pytest.raises(ValueError, match=r"to_torch: device must be a torch device such as"):
        net.to_torch(device="gpu0")
    with pytest.raises(ValueError, match=r"to_torch: device must be a torch device"):
        to_torch(net, device=3.5)
    conv, _ = _conv_net(fc=False)
    with pytest.raises(ValueError, match=r"ConvReLUNet.to_torch: device must be a torch"):
        conv.to_torch((2, 6, 5), device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"to_torch: device 'cuda' is not available"):
            net.to_torch(device="cuda")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_net_to_torch_device_and_dtype(dtype: str) -> None:
    from convexnn.cnn import extract_patches

    net, X = _conv_net(fc=True)
    want = getattr(torch, dtype)
    module = net.to_torch(X.shape[1:], dtype=want, device="cpu")
    assert all(p.dtype == want and p.device.type == "cpu" for p in module.parameters())
    with torch.no_grad():
        out = module(torch.tensor(X, dtype=want)).double().numpy().ravel()
    expected = net.predict_patches(extract_patches(X, 3, 2, 1))
    np.testing.assert_allclose(out, expected, atol=1e-10 if dtype == "float64" else 1e-4)
