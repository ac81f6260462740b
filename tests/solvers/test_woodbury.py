"""The gated Newton step in sample space (``solvers/_woodbury.py``) against its
reference, the step of the formed and factorised system (``_newton._dense_step``), and
the rule that picks between them."""

from __future__ import annotations

import numpy as np
import pytest
from test_newton import _point, _sub

from convexnn.solvers import _newton
from convexnn.solvers._kernels import adjoint, column_norms, forward


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
    products (``wide``), within _WIDE_FLOPS: wider than the data, or narrower where a
    factorisation costs at most _WIDE_PAYS failed CG steps (at n = 6000 a round of 5742
    free dimensions had 20 CG steps run out)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    _, sub = _sub(X, rng.normal(size=400), 0.1, rng.random((400, 5)) < 0.5)  # d = 9
    kind = _newton._exact_step_kind
    assert kind(sub, 10) == "dense"  # m = 91
    assert kind(sub, 100) == "sample"  # m = 901 > n
    assert kind(sub, 207) == "sample"  # 3.6e9 flops dense, 1.3e8 here
    assert kind(sub, 0) is None
    monkeypatch.setattr(_newton, "_DENSE_FLOPS", 1e6)
    assert kind(sub, 207) is None and kind(sub, 207, wide=True) == "wide"
    assert kind(sub, 30) is None and kind(sub, 30, wide=True) == "wide"  # m = 271 <= n
    monkeypatch.setattr(_newton, "_WIDE_PAYS", 0.01)  # ... if the factorisation pays
    assert kind(sub, 30, wide=True) is None and kind(sub, 207, wide=True) == "wide"
    monkeypatch.setattr(_newton, "_WIDE_FLOPS", 1e6)
    assert kind(sub, 207, wide=True) is None


def test_wide_factor_preconditions_cg_on_later_hessians():
    """A wide step's preconditioner: exact on the Hessian it was built from (CG takes one
    product), and on a later step's Hessian (moved blocks, one block dropped) CG still
    reaches the factorised step, in fewer products than with block Jacobi."""
    sub, (h, u, nt, live), G, gc = _point(20, 30, "squared", True)
    damp = 0.05
    factor = _newton._WideFactor(sub, h, u, nt, live, damp)
    hvp = _newton._hessian_product(sub, h, u, nt, live, damp)
    P, pc, k = _newton._cg(hvp, factor.preconditioner(live), -G, -gc, 1e-8, 50, np, 1)
    P_ref, pc_ref, _ = _newton._dense_step(sub, h, u, nt, live, damp, G, gc)
    assert k == 1
    np.testing.assert_allclose(P, P_ref, rtol=1e-8, atol=1e-8 * np.abs(P_ref).max())
    assert pc == pytest.approx(pc_ref, rel=1e-8)
    # a later step: every block moved, block 5 dropped (inside the factor's blocks)
    rng = np.random.default_rng(7)
    B = u * nt + 0.3 * rng.normal(size=u.shape) * live
    B[:, 5] = 0.0
    nt2 = column_norms(B)
    live2 = nt2 > 0
    safe2 = np.where(live2, nt2, 1.0)
    u2 = B / safe2
    z = forward(sub.X, sub.Ms, B) + 0.1
    h2, r = sub.ops.curvature(z), sub.ops.gradient(z)
    G2 = (adjoint(sub.X, sub.Ms, r) + 0.3 * u2) * live2
    gc2 = float(r.sum())
    assert _newton._WideFactor.current(factor, sub, h2, u2, safe2, live2, damp) is factor
    hvp2 = _newton._hessian_product(sub, h2, u2, safe2, live2, damp)
    P2, pc2, k2 = _newton._cg(hvp2, factor.preconditioner(live2), -G2, -gc2, 1e-10, 200, np, 1)
    P2_ref, pc2_ref, _ = _newton._dense_step(sub, h2, u2, safe2, live2, damp, G2, gc2)
    np.testing.assert_allclose(P2, P2_ref, rtol=1e-6, atol=1e-6 * np.abs(P2_ref).max())
    assert not P2[:, 5].any() and pc2 == pytest.approx(pc2_ref, rel=1e-6)
    blocks = _newton._block_grams(sub.X, sub.Ms, sub.backend, h2, sub.backend)
    jacobi = _newton._preconditioner(blocks, u2, safe2, live2, 0.3, float(h2.sum()), np, damp)
    k_jacobi = _newton._cg(hvp2, jacobi, -G2, -gc2, 1e-10, 200, np, 1)[2]
    assert k2 < k_jacobi
    # rebuilt once stale, or where a block outside it is live
    factor.stale = True
    assert _newton._WideFactor.current(factor, sub, h2, u2, safe2, live2, damp) is not factor
    factor.stale = False
    wider = _newton._WideFactor(sub, h2, u2, safe2, live2, damp)
    assert _newton._WideFactor.current(wider, sub, h, u, nt, live, damp) is not wider
