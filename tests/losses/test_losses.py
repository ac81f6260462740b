"""Each loss against finite differences, a numerical conjugate, torch and CVXPY."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from convexnn.losses import LOSSES, CrossEntropyLoss, HuberLoss, Loss, get_loss
from convexnn.losses.base import project_box_sum_zero

SCALAR = ["squared", "logistic", "hinge", "squared_hinge", "huber"]
SMOOTH = ["squared", "logistic", "squared_hinge", "huber", "cross_entropy"]


def make(name: str, seed: int = 0, n: int = 7) -> tuple[Loss, np.ndarray, np.ndarray]:
    """A loss, predictions z and valid targets y (one-hot (n, 3) for cross-entropy)."""
    rng = np.random.default_rng(seed)
    loss = get_loss(name, caller="test")
    if loss.multi_output:
        y = loss.check_targets(np.arange(n) % 3, "test")
        return loss, 2.0 * rng.normal(size=(n, 3)), y
    z = 2.0 * rng.normal(size=n)
    if loss.is_classification:
        return loss, z, np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return loss, z, rng.normal(size=n)


def interior_dual_point(loss: Loss, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random point strictly inside the domain of -L*(-lam)."""
    if loss.name == "cross_entropy":
        q = rng.dirichlet(np.ones(y.shape[1]), size=y.shape[0])
        return y - q
    lo, hi = loss.dual_box(y)
    lo, hi = np.maximum(lo, -3.0), np.minimum(hi, 3.0)
    return lo + (hi - lo) * rng.uniform(0.05, 0.95, size=y.shape)


@pytest.mark.parametrize("name", SMOOTH)
def test_gradient_matches_finite_differences(name):
    loss, z, y = make(name)
    g = loss.gradient(z, y)
    eps = 1e-6
    fd = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = eps
        fd[idx] = (loss.value(z + e, y) - loss.value(z - e, y)) / (2 * eps)
    np.testing.assert_allclose(g, fd, atol=1e-6)


@pytest.mark.parametrize("name", SMOOTH)
def test_smoothness_bounds_the_gradient_lipschitz_constant(name):
    loss, z, y = make(name)
    rng = np.random.default_rng(1)
    assert loss.smoothness is not None
    for _ in range(20):
        z2 = z + rng.normal(size=z.shape)
        num = np.linalg.norm(loss.gradient(z2, y) - loss.gradient(z, y))
        assert num <= loss.smoothness * np.linalg.norm(z2 - z) * (1 + 1e-12)


def test_hinge_has_no_gradient_and_no_smoothness():
    loss = get_loss("hinge", caller="test")
    assert loss.smoothness is None
    with pytest.raises(NotImplementedError, match="no gradient"):
        loss.gradient(np.zeros(2), np.array([1.0, -1.0]))


def numerical_dual_value(loss: Loss, lam: np.ndarray, y: np.ndarray) -> float:
    """inf_z L(z) + lam^T z (= -L*(-lam)) by 1-D minimisation, coordinate by coordinate."""
    if loss.name == "cross_entropy":  # rows couple: minimise per row with BFGS
        from scipy.optimize import minimize

        total = 0.0
        for i in range(y.shape[0]):

            def f(zr, i=i):
                return loss.value(zr[None, :], y[i : i + 1]) + lam[i] @ zr

            total += minimize(f, np.zeros(y.shape[1]), method="BFGS", tol=1e-12).fun
        return total
    total = 0.0
    for i in range(y.size):
        res = minimize_scalar(
            lambda t, i=i: loss.value(np.array([t]), y[i : i + 1]) + lam[i] * t,
            bounds=(-60.0, 60.0),
            method="bounded",
            options={"xatol": 1e-12},
        )
        total += res.fun
    return total


@pytest.mark.parametrize("name", list(LOSSES))
def test_conjugate_matches_numerical_sup(name):
    loss, _, y = make(name, n=5)
    rng = np.random.default_rng(2)
    for _ in range(3):
        lam = interior_dual_point(loss, y, rng)
        assert loss.dual_value(lam, y) == pytest.approx(
            numerical_dual_value(loss, lam, y), abs=1e-6
        )


@pytest.mark.parametrize("name", ["logistic", "hinge", "squared_hinge", "huber", "cross_entropy"])
def test_conjugate_is_minus_infinity_outside_the_domain(name):
    loss, _, y = make(name, n=4)
    lam = interior_dual_point(loss, y, np.random.default_rng(3))
    lo, _ = loss.dual_box(y)
    bad = lam.copy()
    if name == "cross_entropy":
        bad[0, 0] = y[0, 0] + 0.5  # Q = Y - Lam gets a negative entry
    else:
        bad[0] = lo[0] - 0.5  # below the box (all these boxes are bounded below)
    assert loss.dual_value(bad, y) == -np.inf
    # the numerical infimum really is unbounded there
    assert numerical_dual_value(loss, bad, y) < -20.0


@pytest.mark.parametrize("name", list(LOSSES))
def test_fenchel_young_holds_and_is_tight_at_the_gradient(name):
    loss, z, y = make(name)
    rng = np.random.default_rng(4)
    for _ in range(5):
        lam = interior_dual_point(loss, y, rng)
        assert loss.value(z, y) >= loss.dual_value(lam, y) - np.vdot(lam, z) - 1e-10
    if loss.smoothness is not None:
        lam = -loss.gradient(z, y)
        assert loss.value(z, y) == pytest.approx(
            loss.dual_value(lam, y) - np.vdot(lam, z), rel=1e-10
        )


@pytest.mark.parametrize("name", list(LOSSES))
def test_best_dual_scale_beats_a_grid(name):
    loss, z, y = make(name)
    lam0, _ = loss.dual_candidate(z, y)
    for t_max in (0.3, 1.0, 5.0):
        t = loss.best_dual_scale(lam0, y, t_max)
        assert 0.0 <= t <= t_max
        best = loss.dual_value(t * lam0, y)
        grid = [loss.dual_value(s * lam0, y) for s in np.linspace(0.0, t_max, 401)]
        assert best >= max(grid) - 1e-9


@pytest.mark.parametrize("name", list(LOSSES))
def test_value_xp_numpy_and_torch_equal_value(name):
    torch = pytest.importorskip("torch")
    loss, z, y = make(name)
    assert float(loss.value_xp(z, y)) == pytest.approx(loss.value(z, y), rel=1e-12)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = loss.value_xp(zt, torch.tensor(y, dtype=torch.float64))
    assert float(out.detach()) == pytest.approx(loss.value(z, y), rel=1e-12)
    out.backward()
    if loss.smoothness is not None:
        np.testing.assert_allclose(zt.grad.numpy(), loss.gradient(z, y), atol=1e-12)


def test_logistic_value_xp_is_stable_for_large_margins():
    torch = pytest.importorskip("torch")
    loss = get_loss("logistic", caller="test")
    z, y = np.array([800.0, -800.0]), np.array([-1.0, -1.0])
    out = loss.value_xp(torch.tensor(z), torch.tensor(y))
    assert float(out) == pytest.approx(800.0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_cvxpy_expr_equals_value(name):
    import cvxpy as cp

    loss, z, y = make(name)
    zv = cp.Variable(z.shape)
    zv.value = z
    assert float(loss.cvxpy_expr(zv, y).value) == pytest.approx(loss.value(z, y), rel=1e-10)


def test_huber_matches_its_two_pieces_and_validates_delta():
    loss = HuberLoss(delta=0.5)
    r = np.array([0.2, -0.3, 2.0, -4.0])
    expected = [0.02, 0.045, 0.5 * (2.0 - 0.25), 0.5 * (4.0 - 0.25)]
    assert loss.value(r, np.zeros(4)) == pytest.approx(sum(expected))
    assert repr(loss) == "HuberLoss(delta=0.5)"
    with pytest.raises(ValueError, match="delta must be a positive"):
        HuberLoss(delta=-1.0)


def test_get_loss_unknown_name_and_instances():
    with pytest.raises(ValueError, match="unknown loss 'hinj'; expected one of"):
        get_loss("hinj", caller="solve")
    with pytest.raises(TypeError, match="loss must be a loss name"):
        get_loss(3, caller="solve")  # type: ignore[arg-type]
    h = HuberLoss(delta=2.0)
    assert get_loss(h, caller="solve") is h
    assert set(LOSSES) == {
        "squared",
        "logistic",
        "hinge",
        "squared_hinge",
        "huber",
        "cross_entropy",
    }


@pytest.mark.parametrize("name", ["logistic", "hinge", "squared_hinge"])
def test_binary_labels_are_checked_and_normalised(name):
    loss = get_loss(name, caller="test")
    np.testing.assert_array_equal(loss.check_targets([0, 1, 1], "fit"), [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(loss.check_targets([-1, 1], "fit"), [-1.0, 1.0])
    with pytest.raises(ValueError, match=r"fit: loss .* got continuous targets"):
        loss.check_targets([0.1, 0.5, 2.0], "fit")
    with pytest.raises(ValueError, match=r"needs labels in \{-1, \+1\} or \{0, 1\}"):
        loss.check_targets([2.0, 3.0], "fit")
    with pytest.raises(ValueError, match="needs both classes in y, got only the label 1"):
        loss.check_targets([1, 1, 1], "fit")
    with pytest.raises(ValueError, match="must be finite"):
        loss.check_targets([1.0, np.nan], "fit")


def test_cross_entropy_targets():
    loss = CrossEntropyLoss()
    Y = loss.check_targets(np.array(["b", "a", "c", "a"]), "fit")
    np.testing.assert_array_equal(Y.argmax(axis=1), [1, 0, 2, 0])
    np.testing.assert_array_equal(loss.check_targets(np.eye(3), "fit"), np.eye(3))
    with pytest.raises(ValueError, match="got continuous targets"):
        loss.check_targets(np.array([0.5, 1.0, 2.0]), "fit")
    with pytest.raises(ValueError, match="at least two classes"):
        loss.check_targets(np.zeros(4), "fit")
    with pytest.raises(ValueError, match="rows are one-hot"):
        loss.check_targets(np.ones((3, 2)), "fit")


def test_box_sum_zero_projection_matches_cvxpy():
    import cvxpy as cp

    rng = np.random.default_rng(5)
    y = np.where(rng.uniform(size=9) < 0.5, 1.0, -1.0)
    y[:2] = [1.0, -1.0]
    lo, hi = get_loss("hinge", caller="t").dual_box(y)
    lam = 2.0 * rng.normal(size=9)
    x = cp.Variable(9)
    cp.Problem(cp.Minimize(cp.sum_squares(x - lam)), [x >= lo, x <= hi, cp.sum(x) == 0]).solve(
        solver="CLARABEL"
    )
    got = project_box_sum_zero(lam, lo, hi)
    assert got is not None
    np.testing.assert_allclose(got, x.value, atol=1e-7)
    assert abs(got.sum()) < 1e-12 and np.all(got >= lo) and np.all(got <= hi)
    assert project_box_sum_zero(lam, lo * 0.0, np.abs(hi)) is not None  # 0 is feasible
    assert project_box_sum_zero(lam, np.ones(9), 2 * np.ones(9)) is None  # empty set
    np.testing.assert_allclose(
        project_box_sum_zero(lam, np.full(9, -np.inf), np.full(9, np.inf)), lam - lam.mean()
    )
