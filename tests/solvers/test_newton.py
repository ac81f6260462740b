"""The gated solver's Newton-CG end game (``solvers/_newton.py``).

Its pieces against references (Hessian products against differences of the gradient,
the preconditioner's blocks against a loop, CG against a dense solve), the round against
an independent CVXPY/Clarabel optimum of the same working set, and the solver with and
without it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bank import reference_optimum
from test_fast import _data  # planted ReLU targets, the fast solvers' test data

import convexnn.solvers.group_lasso as gl
from convexnn import ConvergenceWarning, build_problem, sample_patterns, solve
from convexnn.solvers import _newton
from convexnn.solvers._fista import SubProblem, fista
from convexnn.solvers._kernels import LossOps, adjoint, column_norms, forward, make_backend

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")


def _sub(X, y, beta, D, *, loss="squared", output_bias=True, backend=None):
    prob = build_problem(
        X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=output_bias, loss=loss
    )
    bk = backend or make_backend({"dtype": "float64"}, caller="test")
    sub = SubProblem(
        X=bk.asarray(prob.X),
        Ms=bk.asarray(np.asfortranarray(prob.mask.astype(float))),
        ops=LossOps(prob.loss, prob.y, bk),
        beta=beta,
        output_bias=output_bias,
        backend=bk,
    )
    return prob, sub


@pytest.fixture(scope="module")
def fista_point():
    """A FISTA-only gated solution at tol 1e-3 (n=120, d=4+1, 40 patterns) and its support."""
    X, y = _data()
    D = np.asarray(sample_patterns(X, 40, hidden_bias=True, random_state=1))
    beta = 2.0
    mp = pytest.MonkeyPatch()
    mp.setattr(gl, "_NEWTON_GAP", -1.0)
    sol = solve(
        X,
        y,
        beta,
        patterns=D,
        formulation="gated",
        solver="fast",
        hidden_bias=True,
        output_bias=True,
        tol=1e-3,
    )
    mp.undo()
    S = np.flatnonzero(np.linalg.norm(sol.V, axis=0) > 0)
    return X, y, D, beta, sol.V, float(sol.c), S


def _gradient(sub, B, c):
    z = forward(sub.X, sub.Ms, B) + c
    r = sub.ops.gradient(z)
    return adjoint(sub.X, sub.Ms, r) + sub.beta * B / column_norms(B), float(r.sum())


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_hessian_product_matches_differences_of_the_gradient(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.sign(rng.normal(size=60)) if loss == "logistic" else rng.normal(size=60)
    D = rng.random((60, 5)) < 0.5
    _, sub = _sub(X, y, 0.3, D, loss=loss)
    B, c = rng.normal(size=(4, 5)), 0.2
    P, pc = rng.normal(size=(4, 5)), -0.7
    z = forward(sub.X, sub.Ms, B) + c
    nt = column_norms(B)
    hvp = _newton._hessian_product(sub, sub.ops.curvature(z), B / nt, nt, nt > 0)
    HP, Hc = hvp(P, pc)
    e = 1e-6
    (gp, gcp), (gm, gcm) = (
        _gradient(sub, B + e * P, c + e * pc),
        _gradient(sub, B - e * P, c - e * pc),
    )
    np.testing.assert_allclose(HP, (gp - gm) / (2 * e), rtol=1e-5, atol=1e-6)
    assert Hc == pytest.approx((gcp - gcm) / (2 * e), rel=1e-5, abs=1e-6)


def test_block_grams_match_the_reference_loop(monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    D = rng.random((50, 6)) < 0.5
    _, sub = _sub(X, y, 0.3, D)
    h = rng.random(50)
    monkeypatch.setattr(_newton, "_CHUNK_ENTRIES", 7 * 16)  # 7 rows per chunk
    got = _newton._block_grams(sub.X, sub.Ms, sub.backend, h, sub.backend)
    np.testing.assert_allclose(got, _newton.block_grams_reference(sub.X, sub.Ms, h), rtol=1e-12)
    # the cache computes only the columns it has not seen, and returns the same blocks
    cache: dict = {}
    first = _newton._cached_block_grams(sub, np.ones(50), cache, np.arange(6))
    np.testing.assert_allclose(first, _newton.block_grams_reference(sub.X, sub.Ms, np.ones(50)))
    cache[3] = np.zeros((4, 4))  # a cached block is not recomputed
    again = _newton._cached_block_grams(sub, np.ones(50), cache, np.arange(6))
    assert np.all(again[3] == 0) and np.allclose(again[2], first[2])


def test_cg_solves_a_definite_system():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(12, 12))
    H = A @ A.T + 0.1 * np.eye(12)
    rhs = rng.normal(size=(3, 4))

    def hvp(P, pc):
        return (H @ P.ravel()).reshape(3, 4), 0.0

    x, _, k = _newton._cg(hvp, lambda Q, qc: (Q, qc), rhs, 0.0, 1e-10, 100, np)
    np.testing.assert_allclose(H @ x.ravel(), rhs.ravel(), atol=1e-8)
    assert 0 < k <= 100


def _point(n, K, loss, output_bias, seed=5):
    """A gated working set of K blocks (one of them dead) on n samples and its gradient:
    ``sub, (h, u, norms, live), G, gc``."""
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
def test_dense_step_solves_the_newton_system_of_the_hessian_products(output_bias):
    """The factorised step satisfies ``H P = -G`` for H as the products apply it: Huber
    (curvature 0 on the outliers), a ridge, a dead block (left at zero)."""
    sub, (h, u, safe, live), G, gc = _point(40, 6, "huber", output_bias)
    assert 0 < (h == 0).sum() < h.size
    P, pc, k = _newton._dense_step(sub, h, u, safe, live, 0.05, G, gc)
    HP, Hc = _newton._hessian_product(sub, h, u, safe, live, 0.05)(P, pc)
    np.testing.assert_allclose(HP, -G, atol=1e-10)
    assert Hc == pytest.approx(-gc, rel=1e-9, abs=1e-10)
    assert k == 1 and not P[:, 2].any() and (pc != 0.0) == output_bias


def _certified_gated(name, loss):
    """The gated solve of a saved sweep case (exact patterns), warnings as errors."""
    data = np.load(DATA / f"{name}.npz")
    X, y, beta = data["X"], data["y"], float(data["beta"])
    kw = dict(formulation="gated", loss=loss, n_patterns=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sol = solve(X, y, beta, solver="group-lasso", tol=1e-6, **kw)
    assert sol.status == "optimal" and sol.pattern_source == "exact"
    return X, y, beta, sol


def test_degenerate_huber_gated_program_is_certified():
    """Case 56 of the gated sweep (seed 1): 80 integer points in 3-D, Huber, all 2456
    patterns, 170 blocks of 3 live on 80 samples at times. CG's Newton steps took all
    250 products per step without reaching their tolerance, and the solve ended at
    max_iter at a gap of 6.1e-3 (objective 0.1293707); factorised steps (and blocks
    dropped on the way entering again) certify it."""
    sol = _certified_gated("huber_n80_degenerate", "huber")[3]
    assert sol.convex_objective < 0.1293707 * (1 - 5e-4)


def test_constant_targets_gated_program_reaches_the_reference():
    """Case 74 of the gated sweep (seed 2): 40 points in 3-D, constant targets, no
    biases, beta = 1.6e-3, all 1562 patterns, up to 650 blocks live on 40 samples. Each
    factorised step of a round far from the optimum sends one block through zero: with
    20 steps a round the solve ended at max_iter at a gap of 0.98 (CG steps: 0.81),
    4.5x (2.6x) above the optimum; with five factorised steps per step it is certified."""
    X, y, beta, sol = _certified_gated("const_n40_degenerate", "squared")
    ref = solve(X, y, beta, patterns=np.asarray(sol.patterns), formulation="gated", solver="cvxpy")
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)


@pytest.fixture(params=["dense", "cg"])
def newton_path(request, monkeypatch):
    """Newton steps by the factorised system (the small problems here) or by CG."""
    if request.param == "cg":
        monkeypatch.setattr(_newton, "_DENSE_DIM", 0)
    return request.param


def test_newton_round_reaches_the_working_set_optimum(fista_point, newton_path):
    X, y, D, beta, U, c, S = fista_point
    _, sub = _sub(X, y, beta, D[:, S])
    p_ref = reference_optimum(
        X, y, beta, D[:, S], formulation="gated", hidden_bias=True, output_bias=True
    )
    start = sub.objective(U[:, S], c)
    out = _newton.newton_round(sub, U[:, S], c, dec_tol=1e-12, max_steps=30, max_hvp=10_000)
    assert out.converged and out.n_hvp > 0 and out.objective < start
    assert out.objective == pytest.approx(p_ref, rel=1e-7)
    assert out.objective == pytest.approx(sub.objective(out.B, out.c), rel=1e-12)


def _with_extra_blocks(fista_point, k, scale):
    """The FISTA point's support plus k more patterns, their blocks started at ``scale``
    (random): the working set's subproblem, start B, c and CVXPY optimum."""
    X, y, D, beta, U, c, S = fista_point
    rng = np.random.default_rng(3)
    extra = np.setdiff1d(np.arange(D.shape[1]), S)[:k]
    cols = np.concatenate([S, extra])
    p_ref = reference_optimum(
        X, y, beta, D[:, cols], formulation="gated", hidden_bias=True, output_bias=True
    )
    _, sub = _sub(X, y, beta, D[:, cols])
    B = U[:, cols].copy()
    B[:, S.size :] = scale * rng.normal(size=(B.shape[0], extra.size))
    return sub, B, c, p_ref


def test_newton_round_drops_blocks_that_vanish_and_enters_new_ones(fista_point, newton_path):
    """Extra blocks started off zero go back to zero; priced violators start at zero and
    enter: either way the round ends at the working set's CVXPY optimum."""
    sub, B, c, p_ref = _with_extra_blocks(fista_point, 4, 1e-3)
    B[:, 0] = 0.0  # a support block that must enter again
    out = _newton.newton_round(sub, B, c, dec_tol=1e-12, max_steps=50, max_hvp=10_000)
    assert out.objective == pytest.approx(p_ref, rel=1e-6)
    assert np.linalg.norm(out.B[:, 0]) > 0  # entered
    assert out.n_dropped >= 1


@pytest.mark.parametrize("scale", [1e-3, 0.1])
def test_newton_round_drops_many_vanishing_blocks_per_step(fista_point, scale, newton_path):
    """20 spurious blocks: past the first zero, the step drops the next ones in turn.

    At 1e-3 they all vanish at the optimum of the working set; one block per Newton
    step took 23 steps and 593 Hessian products (CG), the drop path 10 and 339. At 0.1
    the Newton model also sends blocks of the optimum through zero; a converged round
    lets dropped blocks whose zero is not optimal enter again (the exact, factorised
    steps had ended at 6.402 without that against the optimum's 6.361).
    """
    sub, B, c, p_ref = _with_extra_blocks(fista_point, 20, scale)
    S = fista_point[-1]
    out = _newton.newton_round(sub, B, c, dec_tol=1e-12, max_steps=50, max_hvp=10_000)
    assert out.converged and out.n_dropped >= 18
    if scale == 1e-3:
        assert out.n_steps <= 12 and out.n_dropped > out.n_steps
        assert out.objective == pytest.approx(p_ref, rel=1e-9)
        assert not out.B[:, S.size :].any()
    else:
        assert out.objective == pytest.approx(p_ref, rel=1e-9)


def _small_beta_round(seed, n, d, P, ratio):
    """A gated working set wider than the data (all P patterns, beta = ratio * max|y| *
    max|X|), its FISTA point at a gap of 1e-2, and the working set's CVXPY optimum."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=d) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=d), 0)
    y += 0.1 * rng.normal(size=n)
    beta = ratio * float(np.abs(y).max() * np.abs(X).max())
    D = np.asarray(sample_patterns(X, P, hidden_bias=True, random_state=seed))
    prob, sub = _sub(X, y, beta, D)
    B0 = np.zeros((d + 1, D.shape[1]))
    start = fista(sub, B0, 0.0, tol=1e-2, max_iter=300, stop="gap", y_np=prob.y)
    p_ref = reference_optimum(
        X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True
    )
    return sub, np.asarray(start.B), float(start.c), p_ref


@pytest.mark.parametrize("case", [(1, 60, 3, 80, 1e-2), (2, 100, 4, 100, 1e-3)])
def test_newton_round_at_small_beta_drops_several_blocks_per_step(case):
    """More free dimensions than samples: the step drops block after block while F falls.

    Requiring each further drop to leave its block at a KKT point stopped nearly every
    path after its first block: 22 and 48 steps for 20 and 49 drops; now 15 and 38 for
    20 and 50, to the same optimum.
    """
    sub, B, c, p_ref = _small_beta_round(*case)
    out = _newton.newton_round(sub, B, c, dec_tol=1e-12, max_steps=50, max_hvp=100_000)
    assert out.converged
    assert out.objective == pytest.approx(p_ref, rel=1e-7)
    assert out.n_dropped >= 1.2 * out.n_steps


def test_a_stuck_newton_round_lets_dropped_blocks_enter_again():
    """A round whose ridge is exhausted with no decrease left (a decrement of 3e-29 under
    a ridge) lets blocks dropped on the way enter again: it had ended there, unconverged
    and 6e-6 above the working set's optimum, with blocks of the optimum dropped."""
    sub, B, c, p_ref = _small_beta_round(0, 80, 4, 80, 1e-3)
    out = _newton.newton_round(sub, B, c, dec_tol=1e-12, max_steps=50, max_hvp=100_000)
    assert out.converged
    assert out.objective == pytest.approx(p_ref, rel=1e-7)


def test_enter_lowers_the_objective_along_steepest_directions(fista_point):
    X, y, D, beta, U, c, S = fista_point
    _, sub = _sub(X, y, beta, D[:, S])
    B = U[:, S].copy()
    B[:, :3] = 0.0
    f0 = sub.objective(B, c)
    B1 = _newton._enter(sub, B, c)
    assert sub.objective(B1, c) < f0
    assert np.all(np.linalg.norm(B1[:, :3], axis=0) > 0)
    np.testing.assert_array_equal(B1[:, 3:], B[:, 3:])


def test_gated_solver_with_newton_certifies_in_fewer_iterations(monkeypatch):
    from convexnn.solvers.group_lasso import GroupLassoSolver

    X, y = _data(n=200, d=5, seed=4)
    D = np.asarray(sample_patterns(X, 60, hidden_bias=True, random_state=2))
    beta = 1.0
    p_ref = reference_optimum(
        X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True
    )
    prob = build_problem(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)

    def run():
        return GroupLassoSolver().solve(prob, tol=1e-8, max_iter=None, verbose=False, options={})

    with_newton = run()
    monkeypatch.setattr(gl, "_NEWTON_GAP", -1.0)
    fista_only = run()
    for res in (with_newton, fista_only):
        assert res.status == "optimal" and res.info["relative_gap"] <= 1e-8
        assert res.objective == pytest.approx(p_ref, rel=1e-7)
        assert res.info["lower_bound"] <= p_ref * (1 + 1e-9)
    assert with_newton.info["n_newton"] > 0 and fista_only.info["n_newton"] == 0
    assert with_newton.n_iter < fista_only.n_iter


def test_newton_round_on_torch_matches_numpy(fista_point, newton_path):
    torch = pytest.importorskip("torch")
    X, y, D, beta, U, c, S = fista_point
    _, sub = _sub(X, y, beta, D[:, S])
    tb = make_backend({"backend": "torch", "dtype": "float64"}, caller="test")
    _, sub_t = _sub(X, y, beta, D[:, S], backend=tb)
    out = _newton.newton_round(sub, U[:, S], c, dec_tol=1e-12, max_steps=30, max_hvp=10_000)
    out_t = _newton.newton_round(
        sub_t, torch.as_tensor(U[:, S]), c, dec_tol=1e-12, max_steps=30, max_hvp=10_000
    )
    assert out_t.objective == pytest.approx(out.objective, rel=1e-10)


def test_damped_hessian_product_and_preconditioner_add_the_ridge():
    """``damp`` adds ``damp * I`` to H, in the products and in the preconditioner."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    D = rng.random((30, 4)) < 0.5
    _, sub = _sub(X, rng.normal(size=30), 0.3, D)
    B, P, pc = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), 0.4
    nt = column_norms(B)
    h = sub.ops.curvature(forward(sub.X, sub.Ms, B))
    args = (sub, h, B / nt, nt, nt > 0)
    HP, Hc = _newton._hessian_product(*args)(P, pc)
    HPd, Hcd = _newton._hessian_product(*args, 2.5)(P, pc)
    np.testing.assert_allclose(HPd, HP + 2.5 * P, rtol=1e-12)
    assert Hcd == pytest.approx(Hc + 2.5 * pc, rel=1e-12)
    blocks = _newton._block_grams(sub.X, sub.Ms, sub.backend, h, sub.backend)
    pre = _newton._preconditioner(blocks, B / nt, nt, nt > 0, 0.3, float(h.sum()), np, 2.5)
    Q, qc = pre(HPd, Hcd)  # block Jacobi: each column by its own damped d x d block
    for j in range(4):
        C = blocks[j] + 0.3 / nt[j] * (np.eye(4) - np.outer(B[:, j], B[:, j]) / nt[j] ** 2)
        np.testing.assert_allclose(Q[:, j], np.linalg.solve(C + 2.5 * np.eye(4), HPd[:, j]))
    assert qc == pytest.approx(Hcd / (h.sum() + 2.5))


@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_badly_scaled_gated_program_is_certified(loss):
    """Features at 1e-2, targets at 1e3 (weights near 1e5), 19 blocks of 4 on 40 samples:
    FISTA's rate scales with the data, and the Newton model, unbounded along the radial
    directions of the loss Hessian's null space, sent blocks of the optimum through zero
    (10 dropped per round). Before: max_iter at a gap of 0.999, 1.2-2.3x CVXPY's optimum
    (huber 1.8x). Now a FISTA round hands over to Newton after _ROUND_CAP iterations,
    and a block is dropped only where the step to its zero lowers the objective."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.maximum(X @ rng.normal(size=3) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=3), 0)
    X, y = 1e-2 * X, 1e3 * (y + 0.1 * rng.normal(size=40))
    beta = 1e-3 * np.abs(y).max() * np.abs(X).max()
    kw = dict(formulation="gated", loss=loss, hidden_bias=True, n_patterns=50, random_state=0)
    with pytest.warns(UserWarning, match="sample_patterns"):  # only 19 patterns exist
        sol = solve(X, y, beta, solver="group-lasso", **kw)
    assert sol.status == "optimal"
    with pytest.warns(UserWarning, match="sample_patterns"):
        ref = solve(X, y, beta, solver="cvxpy", **kw)
    assert sol.convex_objective <= ref.convex_objective * (1 + 1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_slow_fista_rounds_hand_over_to_newton_with_new_blocks(seed):
    """Near-separable logistic data at scale 1e2: FISTA rounds ran out of their cap one
    after the other while the working set kept 10 new blocks of 20, so no Newton round
    ran (max_iter, 0.8% above CVXPY's optimum). A round that ran out of _ROUND_CAP now
    hands over to Newton whatever its share of new blocks."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 2))
    u = np.maximum(X @ rng.normal(size=2) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=2), 0)
    y, X = np.where(u > 0.1, 1.0, -1.0), 1e2 * X
    kw = dict(formulation="gated", loss="logistic", hidden_bias=True, output_bias=True)
    D = sample_patterns(X, 100, hidden_bias=True, random_state=0)
    sol = solve(X, y, 1.0, patterns=D, solver="group-lasso", **kw)
    assert sol.status == "optimal"
    ref = solve(X, y, 1.0, patterns=D, solver="cvxpy", **kw)
    assert sol.convex_objective <= ref.convex_objective * (1 + 1e-6)


@pytest.fixture(scope="module")
def wide_program():
    """n = 200, d = 8 + 1, 400 sampled patterns, beta = 5e-4 of the data's scale: about
    190 blocks of 9 live on 200 samples at the optimum. Returns (X, y, beta, D, the
    CVXPY optimum)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = np.maximum(X @ rng.normal(size=8) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=8), 0)
    y = y + 0.1 * rng.normal(size=200)
    beta = 5e-4 * np.abs(y).max() * np.abs(X).max()
    D = np.asarray(sample_patterns(X, 400, hidden_bias=True, random_state=0))
    ref = solve(X, y, beta, patterns=D, formulation="gated", hidden_bias=True, solver="cvxpy")
    return X, y, beta, D, ref.convex_objective


def test_small_beta_gated_program_wider_than_the_data_is_certified(monkeypatch, wide_program):
    """CG's Newton steps took 250 products each without reaching their tolerance on
    :func:`wide_program`, and the solve ended at max_iter 1.1% above the optimum
    (objective 0.08449, CVXPY 0.08358). Newton steps solved in sample space
    (``_woodbury``) certify it."""
    X, y, beta, D, p_ref = wide_program
    steps = []
    step = _newton._sample_space_step
    monkeypatch.setattr(_newton, "_sample_space_step", lambda *a: steps.append(1) or step(*a))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sol = solve(X, y, beta, patterns=D, formulation="gated", hidden_bias=True)
    assert sol.status == "optimal" and len(steps) > 0
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-6)


def test_a_round_whose_cg_runs_out_goes_to_sample_space(monkeypatch, wide_program):
    """Beyond _DENSE_FLOPS a wide working set first takes CG steps; once one runs out of
    _CG_MAX products, the round's (and the next rounds') steps are "wide" (CG
    preconditioned in sample space), and the solve is certified at the reference
    optimum."""
    X, y, beta, D, p_ref = wide_program
    monkeypatch.setattr(_newton, "_DENSE_FLOPS", 1e5)  # no exact step unless wide
    builds = []  # sample-space factorisations (the wide steps' preconditioners)
    factor = _newton.SampleSpaceFactor
    monkeypatch.setattr(_newton, "SampleSpaceFactor", lambda *a: builds.append(1) or factor(*a))
    rounds = []
    newton_round = gl.newton_round
    monkeypatch.setattr(
        gl, "newton_round", lambda *a, **k: rounds.append(k["wide"]) or newton_round(*a, **k)
    )
    sol = solve(X, y, beta, patterns=D, formulation="gated", hidden_bias=True)
    assert sol.status == "optimal"
    assert rounds[0] is False and True in rounds  # a later round started wide
    assert len(builds) > 0
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-6)


def test_a_narrow_working_set_whose_cg_runs_out_takes_wide_steps(monkeypatch):
    """Once a CG step ran out of products, a working set with fewer free dimensions
    than samples takes "wide" steps too (at n = 6000, 638 blocks of 9, 20 CG steps of a
    round had all run out); the solve is certified at the reference optimum."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8))
    y = np.maximum(X @ rng.normal(size=8) + 0.2, 0) + 0.1 * rng.normal(size=200)
    beta = 0.2 * np.abs(y).max() * np.abs(X).max()  # about 20 blocks of 9 live
    D = np.asarray(sample_patterns(X, 100, hidden_bias=True, random_state=0))
    kw = dict(patterns=D, formulation="gated", hidden_bias=True)
    p_ref = solve(X, y, beta, solver="cvxpy", **kw).convex_objective
    monkeypatch.setattr(_newton, "_DENSE_FLOPS", 1e5)  # no exact step unless wide
    monkeypatch.setattr(_newton, "_CG_MAX", 3)  # CG runs out at once ...
    monkeypatch.setattr(_newton, "_WIDE_PAYS", 100.0)  # ... a factorisation pays
    widths = []  # free dimensions of each sample-space factorisation
    factor = _newton.SampleSpaceFactor
    monkeypatch.setattr(
        _newton, "SampleSpaceFactor", lambda *a: widths.append(a[3].size) or factor(*a)
    )
    sol = solve(X, y, beta, solver="group-lasso", **kw)
    assert widths and max(widths) < X.shape[0]  # u: (d + 1, k), narrower than n = 200
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-6)
