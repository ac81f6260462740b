"""The neural gauge: primal = dual, the limit beta -> 0, interpolation, Figure-1 geometry."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import convexnn as cnn
from convexnn.demo import paper_1d
from convexnn.gauge import gauge_ball_boundary, polar_boundary, rectified_ellipsoid


def _data_2d(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=n)


@pytest.mark.parametrize("formulation", ["relu", "gated"])
@pytest.mark.parametrize(
    ("data", "hidden_bias", "output_bias"),
    [("1d", True, False), ("1d", True, True), ("2d", False, False), ("2d", True, False)],
)
def test_primal_equals_dual_and_interpolates(data, hidden_bias, output_bias, formulation):
    X, y = paper_1d() if data == "1d" else _data_2d()
    g = cnn.neural_gauge(
        X, y, hidden_bias=hidden_bias, output_bias=output_bias, formulation=formulation
    )
    assert g.value == pytest.approx(g.dual_value, rel=1e-6)
    # The dual point lies in the polar set: max_u |z^T (X u)_+| <= 1, checked by the
    # exact oracle over ALL u (for gated: the gated dual norm over all patterns).
    X_eff = np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X
    oracle = cnn.patterns.max_dual_violation(X_eff, g.dual, formulation=formulation)
    assert oracle.upper_bound <= 1 + 1e-6
    if formulation == "relu":
        assert g.interpolation_error <= 1e-6 * max(1.0, np.abs(y).max())
        # The recovered network's norm sum_j |alpha_j| ||u_j|| is the gauge.
        net = g.network
        norms = np.linalg.norm(net.U_eff, axis=0) * np.abs(net.alpha)
        assert norms.sum() == pytest.approx(g.value, rel=1e-6)
    else:  # the gated model interpolates y (network, of its blocks, need not)
        assert g.gated_network is not None
        np.testing.assert_allclose(
            g.gated_network.predict(X), y, atol=1e-6 * max(1.0, np.abs(y).max())
        )


def test_gated_gauge_is_below_relu_gauge():
    X, y = _data_2d(seed=1)
    relu = cnn.neural_gauge(X, y, hidden_bias=True)
    gated = cnn.neural_gauge(X, y, hidden_bias=True, formulation="gated")
    assert gated.value <= relu.value * (1 + 1e-7)


def test_beta_limit_approaches_the_gauge_monotonically():
    """beta^-1 p*(beta) increases to the gauge as beta decreases (p* <= beta * gauge)."""
    X, y = paper_1d()
    g = cnn.neural_gauge(X, y, hidden_bias=True)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    betas = [1.0, 1e-1, 1e-2, 1e-3, 1e-4]
    ratios = [cnn.solve(X, y, b, patterns=D, hidden_bias=True).convex_objective / b for b in betas]
    assert all(a <= b * (1 + 1e-6) for a, b in itertools.pairwise(ratios))  # increasing
    assert all(r <= g.value * (1 + 1e-6) for r in ratios)  # below the gauge
    assert ratios[-1] == pytest.approx(g.value, rel=1e-3)  # close at the smallest beta
    assert g.value - ratios[-1] < (g.value - ratios[-2]) / 5  # and converging


def test_non_interpolable_targets_raise():
    X = np.array([[1.0], [1.0], [2.0]])
    y = np.array([1.0, -1.0, 0.0])  # equal inputs, different targets
    with pytest.raises(ValueError, match="cannot be interpolated"):
        cnn.neural_gauge(X, y, hidden_bias=True)


# -- Figure 1 geometry (n = 2 samples, so the sets live in the plane) -------------------


X_FIG = np.array([[1.0], [-0.5]])  # two samples, one feature, with a hidden bias


def test_rectified_ellipsoid_points_are_relu_images():
    pts = rectified_ellipsoid(X_FIG, hidden_bias=True, n_points=100)
    assert pts.shape == (100, 2)
    assert np.all(pts >= 0)
    inner = rectified_ellipsoid(
        X_FIG, hidden_bias=True, n_points=200, boundary=False, random_state=0
    )
    # every point of Q_X has ||q|| <= ||X_eff||_2 (u in the unit ball)
    assert np.linalg.norm(inner, axis=1).max() <= np.linalg.norm(np.c_[X_FIG, [1, 1]], 2) + 1e-12


def test_gauge_ball_and_polar_are_dual():
    """Support points of conv(Q u -Q) and polar boundary points satisfy z^T q = 1."""
    ball = gauge_ball_boundary(X_FIG, hidden_bias=True, n_directions=64)
    polar = polar_boundary(X_FIG, hidden_bias=True, n_directions=64)
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    E = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    # h(e) = e^T (support point) and polar point = e / h(e): so <polar_k, ball_k> = 1.
    np.testing.assert_allclose(np.einsum("kn,kn->k", polar, ball), 1.0, rtol=1e-9)
    # Independent check of h(e) by dense sampling of Q_X u -Q_X.
    Q = rectified_ellipsoid(X_FIG, hidden_bias=True, n_points=20000)
    h_sampled = np.abs(E @ Q.T).max(axis=1)
    h_exact = np.einsum("kn,kn->k", E, ball)
    assert np.all(h_sampled <= h_exact * (1 + 1e-12))  # the oracle is the maximum
    np.testing.assert_allclose(h_exact, h_sampled, rtol=1e-4)  # up to the sampling grid
    # Every sampled point of Q_X u -Q_X is inside the polar's polar: |z^T q| <= 1.
    assert np.abs(polar @ Q.T).max() <= 1 + 1e-9


def test_geometry_errors():
    with pytest.raises(ValueError, match="need n = 2"):
        polar_boundary(np.ones((3, 1)), hidden_bias=True)
    with pytest.raises(ValueError, match=r"directions must be a \(k, n\)"):
        gauge_ball_boundary(X_FIG, directions=np.ones((3, 5)))


# -- what the result claims -------------------------------------------------------------


def _data_8(seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 2)), rng.standard_normal(8)


def test_sampled_patterns_are_not_the_gauge_and_say_so():
    X, y = _data_8()
    exact = cnn.neural_gauge(X, y, hidden_bias=True)
    g = cnn.neural_gauge(X, y, hidden_bias=True, patterns="sampled", n_patterns=12, random_state=0)
    assert exact.scope == "global" and g.scope == "patterns"
    # the sampled optimum (and its dual value) lie above the gauge: an upper bound on it,
    # and the dual value is no lower bound on the gauge
    assert g.value > exact.value * (1 + 1e-3)
    assert g.dual_value == pytest.approx(g.value, rel=1e-6)
    assert g.dual_value > exact.value
    assert "scope='patterns'" in repr(g) and "not the gauge" in repr(g)
    assert "scope='global'" in repr(exact)
    text = g.summary()
    assert "upper bound on the gauge" in text and "NOT a lower bound on the gauge" in text
    assert "GLOBAL" in exact.summary()


def test_fallback_to_sampling_warns_at_the_caller():
    X, y = _data_8()
    with pytest.warns(UserWarning, match="neural_gauge: the patterns of X cannot be enumerated"):
        g = cnn.neural_gauge(
            X, y, hidden_bias=True, max_exact_patterns=10, n_patterns=12, random_state=0
        )
    assert g.scope == "patterns" and g.pattern_source == "sampled"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cnn.neural_gauge(
            X, y, hidden_bias=True, max_exact_patterns=10, n_patterns=12, random_state=0
        )
    assert [w.filename for w in caught] == [__file__]


def test_gated_result_says_which_model_interpolates():
    X, y = _data_8()
    g = cnn.neural_gauge(X, y, formulation="gated")
    assert g.scope == "global"
    # interpolation_error is that of the ReLU network of the gated blocks: measured,
    # and not small; the gated network is the model that interpolates y.
    assert g.interpolation_error == pytest.approx(np.abs(g.network.predict(X) - y).max())
    assert g.interpolation_error > 0.1
    assert isinstance(g.gated_network, cnn.GatedReLU)
    np.testing.assert_allclose(g.gated_network.predict(X), y, atol=1e-6)
    assert "not interpolating" in g.summary()
    assert cnn.neural_gauge(X, y).gated_network is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"patterns": np.ones((5, 3), bool)}, ValueError, r"patterns must be .*\(8, P\)"),
        ({"patterns": np.full((8, 3), np.nan)}, TypeError, "patterns must be boolean"),
        ({"patterns": np.full((8, 3), 0.5)}, TypeError, "patterns must be boolean"),
        ({"patterns": "sampled", "n_patterns": 0}, ValueError, "n_patterns must be"),
    ],
)
def test_bad_patterns_are_refused(kwargs, error, match):
    X, y = _data_8()
    with pytest.raises(error, match="^neural_gauge: " + match):
        cnn.neural_gauge(X, y, **kwargs)
