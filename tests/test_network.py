"""TwoLayerReLU: prediction, objective (2), and Theorem-1 recovery."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn import TwoLayerReLU, network_to_convex, recover_network
from convexnn.problem import build_problem


def test_predict_and_objective_by_hand():
    X = np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]])
    U = np.array([[1.0, -1.0], [0.5, 2.0]])
    b = np.array([0.1, -0.2])
    alpha = np.array([2.0, -1.0])
    net = TwoLayerReLU(U, alpha, b=b, c=0.3)
    pre = X @ U + b
    expected = np.maximum(pre, 0) @ alpha + 0.3
    np.testing.assert_allclose(net.predict(X), expected)
    y = np.array([1.0, 0.0, -1.0])
    beta = 0.7
    obj = 0.5 * np.sum((expected - y) ** 2) + beta / 2 * (
        np.sum(U**2) + np.sum(b**2) + np.sum(alpha**2)
    )
    assert np.isclose(net.objective(X, y, beta), obj)


def test_recovery_reproduces_convex_predictions_and_objective():
    """On cone-feasible blocks, the Theorem-1 network equals the convex model exactly."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(15, 2))
    Xe = np.c_[X, np.ones(15)]
    U0 = rng.normal(size=(3, 6))
    D = Xe @ U0 >= 0
    # Blocks inside their cones: v_i = s * u_i for the generating direction u_i.
    scales_v = rng.random(6)
    scales_w = rng.random(6) * (rng.random(6) < 0.5)
    V, W = U0 * scales_v, U0 * scales_w
    y = rng.normal(size=15)
    prob = build_problem(X, y, 0.4, D, hidden_bias=True)
    assert prob.constraint_violation(V, W) == 0.0
    net = recover_network(V, W, hidden_bias=True)
    np.testing.assert_allclose(net.predict(X), prob.predict(V, W), atol=1e-12)
    assert np.isclose(net.objective(X, y, 0.4), prob.objective(V, W), rtol=1e-12)
    assert net.n_neurons == 6 + int(np.count_nonzero(scales_w))


def test_recovery_drops_zero_blocks():
    V = np.zeros((2, 4))
    V[:, 1] = [3.0, 4.0]
    W = np.zeros((2, 4))
    W[:, 3] = [0.0, -1.0]
    net = recover_network(V, W, hidden_bias=False)
    assert net.n_neurons == 2
    np.testing.assert_allclose(net.alpha, [np.sqrt(5.0), -1.0])
    np.testing.assert_allclose(net.U[:, 0], [3 / np.sqrt(5), 4 / np.sqrt(5)])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.ones(3), np.ones(3)), {}, r"U must be 2-D"),
        ((np.ones((2, 3)), np.ones(2)), {}, r"alpha must have one entry per neuron.*\(3,\)"),
        ((np.ones((2, 3)), np.ones(3)), {"b": np.ones(2)}, r"b \(hidden biases\) must have shape"),
        ((np.full((2, 3), np.nan), np.ones(3)), {}, r"U must be finite"),
        ((np.ones((2, 3)), np.ones(3)), {"c": np.inf}, r"c \(output bias\) must be finite"),
    ],
)
def test_bad_construction(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoLayerReLU(*args, **kwargs)


def test_bad_predict_width():
    net = TwoLayerReLU(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"X has 3 features but the network expects 2"):
        net.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"beta must be > 0"):
        net.objective(np.ones((4, 2)), np.ones(4), beta=-1)


def test_parallel_blocks_on_a_shared_boundary_merge_into_one_neuron():
    """A neuron through a data point is feasible in two cells; its halves merge exactly."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    u = np.array([0.0, 1.0])  # x_1^T u = x_3^T u = 0: on the boundary of several cells
    D = np.array([[True, False], [True, True], [False, False]])
    V = np.column_stack([0.6 * u, 0.4 * u])
    W = np.zeros((2, 2))
    y = np.array([0.0, 1.0, 0.0])
    prob = build_problem(X, y, 0.1, D)
    assert prob.constraint_violation(V, W) == 0.0
    split = recover_network(V, W, hidden_bias=False, merge_tol=None)
    merged = recover_network(V, W, hidden_bias=False)
    assert (split.n_neurons, merged.n_neurons) == (2, 1)
    np.testing.assert_allclose(merged.predict(X), prob.predict(V, W), atol=1e-15)
    assert np.isclose(merged.objective(X, y, 0.1), prob.objective(V, W), rtol=1e-14)
    assert np.isclose(merged.objective(X, y, 0.1), split.objective(X, y, 0.1), rtol=1e-14)


def test_blocks_of_opposite_sign_never_merge():
    V = np.array([[1.0], [0.0]])
    W = np.array([[2.0], [0.0]])
    assert recover_network(V, W, hidden_bias=False).n_neurons == 2


@pytest.mark.parametrize("hidden_bias", [False, True])
def test_network_to_convex_reproduces_the_network_and_bounds_its_objective(hidden_bias):
    from convexnn.patterns import sample_patterns
    from convexnn.problem import build_problem

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=50)
    b = rng.normal(size=6) if hidden_bias else None
    net = TwoLayerReLU(rng.normal(size=(3, 6)), rng.normal(size=6), b=b, c=0.3)
    U_eff = net.U_eff
    own = sample_patterns(X, method="network", weights=U_eff, hidden_bias=hidden_bias)
    extra = sample_patterns(X, 5, hidden_bias=hidden_bias, random_state=1)
    D = np.hstack([np.asarray(extra), np.asarray(own)])
    V, W, c, matched = network_to_convex(net, X, D)
    assert matched.all() and c == 0.3
    prob = build_problem(
        X, y, 0.1, D, formulation="relu", hidden_bias=hidden_bias, output_bias=True
    )
    np.testing.assert_allclose(prob.predict(V, W, c), net.predict(X), atol=1e-12)
    assert prob.constraint_violation(V, W) <= 1e-12
    assert prob.objective(V, W, c) <= net.objective(X, y, 0.1) + 1e-12
    # A neuron whose pattern is missing is left out and reported.
    V2, W2, _, matched2 = network_to_convex(net, X, np.asarray(extra))
    assert not matched2.all()
    assert np.count_nonzero(np.linalg.norm(np.hstack([V2, W2]), axis=0)) <= matched2.sum()


def test_network_to_convex_refuses_bad_input() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2))
    D = X @ rng.standard_normal((2, 4)) > 0
    net = TwoLayerReLU(rng.standard_normal((2, 3)), rng.standard_normal(3))
    with pytest.raises(ValueError, match=r"network_to_convex: D must have shape \(n, P\)"):
        network_to_convex(net, X, D[:5])
    multi = TwoLayerReLU(rng.standard_normal((2, 3)), rng.standard_normal((3, 2)))
    with pytest.raises(ValueError, match="network_to_convex: only scalar-output networks"):
        network_to_convex(multi, X, D)


@pytest.mark.parametrize("vector_output", [False, True])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_balanced_keeps_the_function_at_the_least_weight_decay(vector_output, hidden_bias):
    """Same predictions; penalty = sum_j ||alpha_j|| ||(u_j, b_j)||, below every rescaling."""
    rng = np.random.default_rng(4)
    n, d, m = 30, 3, 6
    X = rng.normal(size=(n, d))
    U = rng.normal(size=(d, m)) * rng.uniform(0.1, 10.0, size=m)
    alpha = rng.normal(size=(m, 2) if vector_output else m)
    alpha[1] = 0.0  # a dead neuron (zero output weights) ...
    U[:, 2] = 0.0  # ... and one with zero hidden weights
    b = rng.normal(size=m) if hidden_bias else None
    if b is not None:
        b[2] = 0.0
    c = np.array([0.5, -1.0]) if vector_output else 0.5
    net = TwoLayerReLU(U, alpha, b=b, c=c)
    bal = net.balanced()
    np.testing.assert_allclose(bal.predict(X), net.predict(X), rtol=1e-12, atol=1e-12)
    outer = np.abs(alpha) if alpha.ndim == 1 else np.linalg.norm(alpha, axis=1)
    expected = float(outer @ np.linalg.norm(net.U_eff, axis=0))
    assert bal.penalty() == pytest.approx(expected, rel=1e-12)
    assert bal.penalty() < net.penalty()
    for t in (0.5, 2.0):  # any other rescaling of a live neuron costs more
        scale = np.ones(m)
        scale[0] = t
        other = TwoLayerReLU(
            bal.U * scale,
            bal.alpha / (scale if alpha.ndim == 1 else scale[:, None]),
            b=None if b is None else bal.b * scale,
            c=c,
        )
        assert other.penalty() > bal.penalty()
    assert not bal.U[:, [1, 2]].any() and not bal.alpha[[1, 2]].any()
    assert bal.balanced().penalty() == pytest.approx(bal.penalty(), rel=1e-14)
