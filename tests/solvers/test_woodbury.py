"""The gated Newton step in sample space (``solvers/_woodbury.py``) against its
reference, the step of the formed and factorised system (``_newton._dense_step``), and
the rule that picks between them."""

from __future__ import annotations

import numpy as np
import pytest
from test_newton import _sub

from convexnn.solvers import _newton
from convexnn.solvers._kernels import adjoint, column_norms, forward


def _point(n, K, loss, output_bias, seed=5):
    """A gated working set of K blocks (one of them dead) on n samples and its gradient."""
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, 3)), 3.0 * rng.normal(size=n)
    y = np.sign(y) if loss == "logistic" else y
    _, sub = _sub(X, y, 0.3, rng.random((n, K)) < 0.5, loss=loss, output_bias=output_bias)
    B, c = rng.normal(size=(4, K)), 0.1
    B[:, 2] = 0.0
    z = forward(sub.X, sub.Ms, B) + (c if output_bias else 0.0)
    nt = column_norms(B)
    live = nt > 0
    safe = np.where(live, nt, 1.0)
    h, r = sub.ops.curvature(z), sub.ops.gradient(z)
    G = (adjoint(sub.X, sub.Ms, r) + 0.3 * B / safe) * live
    gc = float(r.sum()) if output_bias else 0.0
    return sub, (h, B / safe, safe, live), G, gc


@pytest.mark.parametrize("output_bias", [True, False])
@pytest.mark.parametrize(
    "n, K, loss, damp",
    [
        (40, 6, "huber", 0.0),  # curvature 0 on the outliers
        (40, 6, "huber", 0.05),
        (30, 12, "logistic", 0.0),  # 44 free dimensions on 30 samples
        (20, 30, "squared", 0.05),  # 116 on 20: definite only through the ridge
    ],
)
def test_sample_space_step_is_the_dense_step(n, K, loss, damp, output_bias):
    sub, args, G, gc = _point(n, K, loss, output_bias)
    P, pc, _ = _newton._dense_step(sub, *args, damp, G, gc)
    Q, qc, k = _newton._sample_space_step(sub, *args, damp, G, gc)
    np.testing.assert_allclose(Q, P, rtol=1e-9, atol=1e-9 * np.abs(P).max())
    assert qc == pytest.approx(pc, rel=1e-9, abs=1e-12) and (qc != 0.0) == output_bias
    assert k == 1 and not Q[:, 2].any()
    HQ, Hc = _newton._hessian_product(sub, *args, damp)(Q, qc)  # and it solves H Q = -G
    np.testing.assert_allclose(HQ, -G, atol=1e-7 * np.abs(G).max())
    assert Hc == pytest.approx(-gc, abs=1e-7 * np.abs(G).max())


def test_exact_step_kind_weighs_the_flops(monkeypatch):
    """Factorised (m, m) systems while small; sample space where it is cheaper (wide
    working sets on few samples); CG for large ones, except, once a CG step ran out of
    products (``wide``), a working set wider than the data within _WIDE_FLOPS."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    _, sub = _sub(X, rng.normal(size=400), 0.1, rng.random((400, 5)) < 0.5)  # d = 9
    kind = _newton._exact_step_kind
    assert kind(sub, 10) == "dense"  # m = 91
    assert kind(sub, 100) == "sample"  # m = 901 > n
    assert kind(sub, 207) == "sample"  # 3.6e9 flops dense, 1.3e8 here
    assert kind(sub, 0) is None
    monkeypatch.setattr(_newton, "_DENSE_FLOPS", 1e6)
    assert kind(sub, 207) is None and kind(sub, 207, wide=True) == "sample"
    assert kind(sub, 30, wide=True) is None  # m = 271 <= n: CG
    monkeypatch.setattr(_newton, "_WIDE_FLOPS", 1e6)
    assert kind(sub, 207, wide=True) is None
