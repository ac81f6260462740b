"""Every loss x {relu, gated} x biases: solve and certify against CVXPY references.

The references are written here directly from the paper's eq. (39) (A.13), with each
loss spelled out in CVXPY, independently of ``Loss.cvxpy_expr``.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import convexnn as cnn
from convexnn.baselines import train_gd
from convexnn.losses import HuberLoss
from convexnn.problem import build_problem

TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10}
LOSS_NAMES = ["squared", "logistic", "hinge", "squared_hinge", "huber"]
BETA = 0.3
pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")


def data(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = np.where(X[:, 0] * X[:, 1] + 0.3 * rng.normal(size=n) > 0, 1.0, -1.0)
    y[:2] = [1.0, -1.0]
    return X, y


def paper_loss(name: str, z, y: np.ndarray):
    """The loss of eq. (38)/(39), written out for the reference."""
    m = cp.multiply(y, z)
    return {
        "squared": lambda: 0.5 * cp.sum_squares(z - y),
        "logistic": lambda: cp.sum(cp.logistic(-m)),
        "hinge": lambda: cp.sum(cp.maximum(0, 1 - m)),
        "squared_hinge": lambda: 0.5 * cp.sum(cp.square(cp.maximum(0, 1 - m))),
        "huber": lambda: 0.5 * cp.sum(cp.huber(z - y, 1.0)),  # cvxpy's huber is 2x ours
    }[name]()


def reference_optimum(X, y, D, loss, formulation, hidden_bias, output_bias) -> float:
    """eq. (39): min loss(sum_i D_i X (v_i - w_i) + c) + beta sum ||v_i|| + ||w_i||."""
    Xe = np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X
    d, P = Xe.shape[1], D.shape[1]
    v = [cp.Variable(d) for _ in range(P)]
    w = [cp.Variable(d) for _ in range(P)]
    z = sum(np.diag(D[:, i].astype(float)) @ Xe @ (v[i] - w[i]) for i in range(P))
    if output_bias:
        z = z + cp.Variable()
    reg = sum(cp.norm(v[i]) + cp.norm(w[i]) for i in range(P))
    cons = []
    if formulation == "relu":
        for i in range(P):
            S = np.diag(2.0 * D[:, i] - 1.0)
            cons += [S @ Xe @ v[i] >= 0, S @ Xe @ w[i] >= 0]
    prob = cp.Problem(cp.Minimize(paper_loss(loss, z, y) + BETA * reg), cons)
    prob.solve(solver="CLARABEL", **TIGHT)
    return float(prob.value)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("formulation", ["relu", "gated"])
@pytest.mark.parametrize("output_bias", [False, True])
@pytest.mark.parametrize("hidden_bias", [False, True])
def test_every_loss_matches_the_paper_reference_and_certifies(
    loss, formulation, output_bias, hidden_bias
):
    X, y = data()
    D = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gated: the ReLU network is not the gated optimum
        sol = cnn.solve(
            X,
            y,
            BETA,
            patterns=D,
            loss=loss,
            formulation=formulation,
            hidden_bias=hidden_bias,
            output_bias=output_bias,
            # Clarabel's settings where the default solver is CVXPY (the hinge loss); the
            # fast solver, the default for the smooth losses, takes none of them.
            solver_options=TIGHT if loss == "hinge" else None,
        )
    ref = reference_optimum(X, y, D, loss, formulation, hidden_bias, output_bias)
    assert sol.convex_objective == pytest.approx(ref, rel=1e-6)
    # the certified lower bound is valid ...
    assert sol.lower_bound <= ref * (1 + 1e-9) + 1e-12
    # ... and tight at the optimum: within 1e-6 of the convex optimum
    assert (ref - sol.lower_bound) / ref <= 1e-6
    assert sol.scope == "global"
    if formulation == "relu":  # the recovered ReLU network attains the optimum
        assert sol.relative_gap <= 1e-6
        assert sol.objective == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("loss", ["logistic", "hinge", "squared_hinge"])
def test_certifying_a_poor_network_stays_below_the_optimum(loss):
    X, y = data(n=10, seed=3)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    ref = reference_optimum(X, y, D, loss, "relu", True, True)
    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0, 3.0):
        net = cnn.TwoLayerReLU(
            scale * rng.normal(size=(2, 5)), scale * rng.normal(size=5), b=rng.normal(size=5), c=0.2
        )
        cert = cnn.certify(net, X, y, BETA, patterns=D, loss=loss)
        assert cert.lower_bound <= ref * (1 + 1e-9)
        assert cert.upper_bound >= ref * (1 - 1e-9)
        assert np.isfinite(cert.lower_bound)


def test_hinge_certificate_of_a_gd_network_is_valid():
    X, y = data(n=10, seed=4)
    D = cnn.enumerate_patterns(X)
    ref = reference_optimum(X, y, D, "hinge", "relu", False, False)
    net = train_gd(X, y, BETA, n_neurons=6, random_state=0).network
    cert = cnn.certify(net, X, y, BETA, patterns=D, loss="hinge")
    assert cert.lower_bound <= ref * (1 + 1e-9) <= cert.upper_bound * (1 + 1e-9)


def test_hinge_candidate_with_output_bias_is_projected_into_the_domain():
    X, y = data()
    D = cnn.enumerate_patterns(X)
    problem = build_problem(X, y, BETA, D, loss="hinge", output_bias=True)
    from convexnn.duality import dual_certificate

    cert = dual_certificate(problem, np.zeros(X.shape[0]), 8.0, scope="global")
    assert abs(cert.dual_point.sum()) < 1e-12
    assert np.all(cert.dual_point * y >= 0) and np.all(cert.dual_point * y <= 1)


def test_build_problem_rejects_labels_that_do_not_fit_the_loss():
    X, y = data()
    D = cnn.enumerate_patterns(X)
    with pytest.raises(ValueError, match=r"solve: loss 'hinge' .* got continuous targets"):
        build_problem(X, np.linspace(0, 1, 8), BETA, D, loss="hinge", caller="solve")
    with pytest.raises(ValueError, match="needs both classes"):
        build_problem(X, np.ones(8), BETA, D, loss="logistic", caller="solve")
    with pytest.raises(ValueError, match="needs \\(n, c\\) outputs"):
        build_problem(X, y, BETA, D, loss="cross_entropy", caller="solve")
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        build_problem(X, y, BETA, D, loss="l1", caller="solve")
    p = build_problem(X, (y + 1) / 2, BETA, D, loss="logistic")  # {0, 1} -> {-1, +1}
    np.testing.assert_array_equal(p.y, y)


def test_huber_instance_with_its_own_delta():
    X, y = data()
    D = cnn.enumerate_patterns(X)
    sol = cnn.solve(X, 3 * y, BETA, patterns=D, loss=HuberLoss(delta=0.3))
    Vs = [cp.Variable(2) for _ in range(D.shape[1])]
    Ws = [cp.Variable(2) for _ in range(D.shape[1])]
    z = sum(np.diag(D[:, i].astype(float)) @ X @ (Vs[i] - Ws[i]) for i in range(D.shape[1]))
    cons = []
    for i in range(D.shape[1]):
        S = np.diag(2.0 * D[:, i] - 1.0)
        cons += [S @ X @ Vs[i] >= 0, S @ X @ Ws[i] >= 0]
    reg = sum(cp.norm(v) + cp.norm(w) for v, w in zip(Vs, Ws, strict=True))
    obj = 0.5 * cp.sum(cp.huber(z - 3 * y, 0.3)) + BETA * reg
    ref = cp.Problem(cp.Minimize(obj), cons).solve(solver="CLARABEL", **TIGHT)
    assert sol.objective == pytest.approx(ref, rel=1e-6)
    assert sol.lower_bound <= ref * (1 + 1e-9) and sol.relative_gap <= 1e-6


def test_hinge_bound_without_margin_polishing_is_weaker_but_valid(monkeypatch):
    import convexnn.duality as duality

    X, y = data()
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    ref = reference_optimum(X, y, D, "hinge", "relu", True, True)
    monkeypatch.setattr(duality, "_POLISH_MAX_SIZE", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = cnn.solve(
            X, y, BETA, patterns=D, loss="hinge", hidden_bias=True, output_bias=True,
            solver_options=TIGHT,
        )  # fmt: skip
    assert sol.lower_bound <= ref * (1 + 1e-9)
    assert np.isfinite(sol.lower_bound)


def test_fast_gated_logistic_certifies_when_points_are_classified_with_confidence():
    """-grad L of a confidently classified point is about 1e-23 for the logistic loss.
    The solver's dual candidate must stay in the dual box when it is made to sum to zero
    (an output bias): a shift by the rounding-level sum pushed such entries out of the
    box, the bound fell to -inf and the solver ran out of iterations far from the
    optimum (12.88 against 11.44 here)."""
    from scipy.special import expit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    f = np.maximum(X @ rng.normal(size=(5, 4)), 0) @ rng.normal(size=4)
    y = np.sign(f - np.median(f))
    D = cnn.sample_patterns(X, 60, hidden_bias=True, random_state=0)
    kw = dict(patterns=D, formulation="gated", loss="logistic", hidden_bias=True, output_bias=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnn.ConvergenceWarning)
        sol = cnn.solve(X, y, 0.2, solver="fast", tol=1e-6, **kw)
    ref = cnn.solve(X, y, 0.2, solver="cvxpy", **kw).convex_objective
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(ref, rel=1e-6)
    assert sol.lower_bound <= ref * (1 + 1e-9)
    z = build_problem(X, y, 0.2, D, **{k: v for k, v in kw.items() if k != "patterns"}).predict(
        sol.V, sol.W, sol.c
    )
    assert expit(-y * z).min() < 1e-16  # the regime of the failure


def test_solver_dual_candidate_stays_in_the_box_and_sums_to_zero():
    from convexnn.losses import get_loss
    from convexnn.solvers._kernels import dual_candidate

    loss = get_loss("logistic", caller="test")
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    z = np.array([60.0, -50.0, 0.3, 2.0, -1.0])  # two confident points, -grad ~ 1e-22
    lam = dual_candidate(loss, z, y, output_bias=True)
    lo, hi = loss.dual_box(y)
    assert np.all(lam >= lo) and np.all(lam <= hi)
    assert abs(lam.sum()) <= 1e-15
    assert np.isfinite(loss.dual_value(lam, y))
