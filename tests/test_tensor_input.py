"""PyTorch tensors as data: accepted on any device, and a GPU keeps the gated solve there."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
from convexnn.problem import build_problem
from convexnn.solve import on_data_device
from convexnn.solvers import get_solver as _get_solver

torch = pytest.importorskip("torch")


def _data(seed: int = 0, n: int = 60, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.maximum(X @ rng.normal(size=d), 0) + 0.1 * rng.normal(size=n)


def _tensors(X: np.ndarray, y: np.ndarray) -> tuple:
    """Tensors that require grad (a training loop's): np.asarray refuses them."""
    return torch.tensor(X, requires_grad=True), torch.tensor(y, requires_grad=True)


@pytest.mark.parametrize("formulation", ["gated", "relu"])
def test_solve_takes_tensors_that_require_grad(formulation):
    X, y = _data()
    kw = dict(formulation=formulation, n_patterns=40, random_state=0, hidden_bias=True)
    ref = cnn.solve(X, y, 0.05, **kw)
    sol = cnn.solve(*_tensors(X, y), 0.05, **kw)
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-10)
    assert sol.lower_bound == pytest.approx(ref.lower_bound, rel=1e-10)
    np.testing.assert_allclose(sol.network.predict(X), ref.network.predict(X), atol=1e-8)


def test_path_certificate_and_estimator_take_tensors():
    X, y = _data(1)
    Xt, yt = _tensors(X, y)
    path = cnn.solve_path(Xt, yt, [1.0, 0.1], n_patterns=30, random_state=0)
    ref = cnn.solve_path(X, y, [1.0, 0.1], n_patterns=30, random_state=0)
    np.testing.assert_allclose(path.objectives, ref.objectives, rtol=1e-10)
    cert = cnn.certify(ref[1].network, Xt, yt, 0.1, patterns="exact")
    assert cert.lower_bound == pytest.approx(
        cnn.certify(ref[1].network, X, y, 0.1, patterns="exact").lower_bound, rel=1e-12
    )
    est = cnn.ConvexReLURegressor(beta=0.1, n_patterns=30, random_state=0)
    pred = est.fit(Xt, yt).predict(Xt)
    est_ref = cnn.ConvexReLURegressor(beta=0.1, n_patterns=30, random_state=0).fit(X, y)
    np.testing.assert_allclose(pred, est_ref.predict(X), atol=1e-8)


def get_solver(name: str):
    return _get_solver(name, caller="test")


def _problem(formulation: str):
    X, y = _data(2, n=20)
    D = np.ones((20, 2), dtype=bool)
    return build_problem(X, y, 0.1, D, formulation=formulation, loss="squared")


def test_a_tensor_on_a_gpu_keeps_the_gated_solve_on_its_device():
    """A "meta" tensor stands in for a GPU's: a device other than the CPU."""
    X_gpu = torch.empty(20, 3, device="meta")
    gated, relu = _problem("gated"), _problem("relu")
    for name in ("fast", "group-lasso"):
        got = on_data_device(X_gpu, get_solver(name), gated, {"dtype": "float32"})
        assert got == {"dtype": "float32", "backend": "torch", "device": "meta"}
    # the user's backend is kept; relu's cone steps and CVXPY stay on NumPy
    assert on_data_device(X_gpu, get_solver("fast"), gated, {"backend": "numpy"}) == {
        "backend": "numpy"
    }
    assert on_data_device(X_gpu, get_solver("fast"), relu, {}) == {}
    assert on_data_device(X_gpu, get_solver("cvxpy"), gated, {}) == {}


def test_cpu_tensors_and_arrays_run_on_numpy():
    gated = _problem("gated")
    for X in (torch.zeros(20, 3), np.zeros((20, 3))):
        assert on_data_device(X, get_solver("fast"), gated, {}) == {}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gated_solve_on_cuda_tensors_matches_numpy():
    X, y = _data(3, n=400, d=5)
    kw = dict(formulation="gated", n_patterns=100, random_state=0, hidden_bias=True)
    ref = cnn.solve(X, y, 0.05, **kw)
    sol = cnn.solve(torch.tensor(X, device="cuda"), torch.tensor(y, device="cuda"), 0.05, **kw)
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-6)


def test_readme_gpu_example_runs_on_the_cpu_device():
    """The README's options block (its "cuda" read as "cpu") names options that exist."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("### Float32, PyTorch tensors and GPUs")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert code is not None and '"cuda"' in code.group(1), "README section lost its block"
    X, y = _data(4, n=200, d=4)
    scope = {"cnn": cnn, "X": X, "y": y, "beta": 0.05}
    exec(code.group(1).replace('"cuda"', '"cpu"'), scope)
    ref = cnn.solve(X, y, 0.05, formulation="gated", patterns=scope["sol"].patterns)
    assert scope["sol"].status == "optimal"
    assert scope["sol"].convex_objective == pytest.approx(ref.convex_objective, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gated_torch_backend_keeps_every_tensor_on_its_device(dtype, monkeypatch):
    """What breaks on a GPU but not on torch's CPU device, checked on the CPU: a tensor
    made without ``device=`` (here it lands on "meta", and mixing devices raises) and an
    implicit NumPy conversion of a tensor (``np.asarray``: refused here)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("implicit NumPy conversion of a torch tensor")

    X, y = _data(5, n=300, d=5)
    kw = dict(formulation="gated", n_patterns=150, random_state=0, hidden_bias=True)
    ref = cnn.solve(X, y, 0.05, **kw)
    monkeypatch.setattr(torch.Tensor, "__array__", refuse)
    torch.set_default_device("meta")
    try:
        opts = {"backend": "torch", "device": "cpu", "dtype": dtype}
        sol = cnn.solve(X, y, 0.05, solver_options=opts, **kw)
    finally:
        torch.set_default_device(None)
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-6)


def test_vector_outputs_pass_the_tensor_on_to_each_column(monkeypatch):
    """Mode "separate" solves each column with solve, which sees the tensor (and so its
    device); the result equals NumPy's."""
    import sys

    solve_module = sys.modules["convexnn.solve"]  # the package's ``solve`` is the function
    seen: list[bool] = []
    real = solve_module.on_data_device

    def recording(X, *args):
        seen.append(torch.is_tensor(X))
        return real(X, *args)

    monkeypatch.setattr(solve_module, "on_data_device", recording)
    X, y = _data(6, n=50)
    Y = np.column_stack([y, np.maximum(X[:, 0], 0)])
    kw = dict(formulation="gated", n_patterns=30, random_state=0)
    ref = cnn.solve(X, Y, 0.05, **kw)
    assert seen == [False, False]
    sol = cnn.solve(*_tensors(X, Y), 0.05, **kw)
    assert seen[2:] == [True, True]
    assert sol.objective == pytest.approx(ref.objective, rel=1e-10)


def test_bfloat16_tensors_are_widened_exactly():
    """NumPy has no bfloat16: such data were refused with torch's "unsupported
    ScalarType"; they are widened to float64 (exactly) and solved as those numbers."""
    X, y = _data(7, n=40)
    Xb, yb = torch.tensor(X).bfloat16(), torch.tensor(y).bfloat16()
    kw = dict(formulation="gated", n_patterns=20, random_state=0, hidden_bias=True)
    sol = cnn.solve(Xb, yb, 0.05, **kw)
    ref = cnn.solve(Xb.double().numpy(), yb.double().numpy(), 0.05, **kw)
    assert sol.objective == pytest.approx(ref.objective, rel=1e-12)
    assert sol.lower_bound == pytest.approx(ref.lower_bound, rel=1e-12)
    assert ref.network.predict(Xb).dtype == np.float64


def test_patterns_as_a_torch_bool_tensor():
    """A torch.bool tensor of patterns was refused as "not boolean (dtype torch.bool)"."""
    X, y = _data(8, n=30)
    D = cnn.sample_patterns(X, 15, random_state=0)
    ref = cnn.solve(X, y, 0.05, patterns=D)
    sol = cnn.solve(X, y, 0.05, patterns=torch.tensor(np.asarray(D)))
    assert sol.objective == pytest.approx(ref.objective, rel=1e-12)
    np.testing.assert_array_equal(
        cnn.pattern_gates(X, torch.tensor(np.asarray(D))), cnn.pattern_gates(X, D)
    )


def test_weights_given_as_tensors_that_require_grad():
    """Parameters of a torch model (they require grad) in the networks, warm starts,
    network patterns and the pricing oracle: np.asarray refused them."""
    X, y = _data(9, n=30)
    rng = np.random.default_rng(9)
    U, alpha, b = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)

    def grad(a):
        return torch.tensor(a, requires_grad=True)

    net = cnn.TwoLayerReLU(grad(U), grad(alpha), b=grad(b), c=grad(np.array(0.5)))
    ref = cnn.TwoLayerReLU(U, alpha, b=b, c=0.5)
    np.testing.assert_array_equal(net.predict(X), ref.predict(X))
    gated = cnn.GatedReLU(grad(U), grad(U), grad(alpha), gate_bias=grad(b), b=grad(b))
    np.testing.assert_array_equal(gated.predict(X), cnn.GatedReLU(U, U, alpha, b, b).predict(X))
    D = cnn.sample_patterns(X, method="network", weights=grad(ref.U_eff), hidden_bias=True)
    D_ref = cnn.sample_patterns(X, method="network", weights=ref.U_eff, hidden_bias=True)
    np.testing.assert_array_equal(np.asarray(D), np.asarray(D_ref))
    lam = rng.normal(size=30)
    got = cnn.patterns.max_dual_violation(X, grad(lam))
    assert got.value == cnn.patterns.max_dual_violation(X, lam).value
    V, W, c, _ = cnn.network_to_convex(ref, X, D_ref)
    kw = dict(patterns=D_ref, hidden_bias=True, output_bias=True, solver="fast")
    sol = cnn.solve(X, y, 0.05, solver_options={"warm_start": (grad(V), grad(W), c)}, **kw)
    sol_ref = cnn.solve(X, y, 0.05, solver_options={"warm_start": (V, W, c)}, **kw)
    assert sol.objective == pytest.approx(sol_ref.objective, rel=1e-12)


@pytest.mark.parametrize("formulation", ["gated", "relu"])
def test_a_device_without_the_torch_backend_is_refused(formulation):
    """device="cuda" without backend="torch" was ignored: the solve ran on the CPU."""
    X, y = _data(10, n=30)
    kw = dict(formulation=formulation, n_patterns=10, random_state=0)
    match = r"solve: solver option device='cuda' needs backend='torch'"
    with pytest.raises(ValueError, match=match):
        cnn.solve(X, y, 0.05, solver_options={"device": "cuda"}, **kw)
    sol = cnn.solve(X, y, 0.05, solver_options={"device": "cpu"}, **kw)  # the CPU is fine
    assert sol.status == "optimal"


def test_a_bad_torch_device_names_the_option():
    X, y = _data(11, n=30)
    opts = {"backend": "torch", "device": "gpu0"}
    with pytest.raises(ValueError, match=r"solve: solver option device must be a torch device"):
        cnn.solve(X, y, 0.05, formulation="gated", n_patterns=10, random_state=0,
                  solver_options=opts)  # fmt: skip


def test_a_tensor_on_a_gpu_keeps_the_users_device_option():
    """The data's device was written over the device the user asked for."""
    X_gpu = torch.empty(20, 3, device="meta")
    got = on_data_device(X_gpu, get_solver("fast"), _problem("gated"), {"device": "cpu"})
    assert got == {"device": "cpu", "backend": "torch"}
