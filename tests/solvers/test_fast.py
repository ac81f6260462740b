"""The fast solvers: kernels against their references, accuracy, dtype, backend, warm starts.

Every accuracy check compares with an independent CVXPY/Clarabel optimum of the same
program (``reference_optimum`` of the bank, written block by block from the paper).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_bank import reference_optimum

from convexnn import ConvergenceWarning, build_problem, sample_patterns, solve
from convexnn.solve import default_solver
from convexnn.solvers._kernels import (
    adjoint,
    adjoint_reference,
    aligned_dual_candidate,
    aligned_dual_candidate_reference,
    forward,
    forward_reference,
    group_prox,
    group_prox_reference,
)

# Gated solutions: solve() certifies the recovered ReLU network against the gated bound
# and warns; the convex gap is checked explicitly below.
pytestmark = pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")


def _data(n: int = 120, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=(d, 3)) + 0.2, 0) @ np.array([1.0, -1.0, 0.5])
    return X, y + 0.1 * rng.normal(size=n)


@pytest.fixture(scope="module")
def medium():
    """n=120, d=4 (+bias), 40 sampled patterns; beta gives a sparse solution."""
    X, y = _data()
    D = np.asarray(sample_patterns(X, 40, hidden_bias=True, random_state=1))
    beta = 2.0
    p_ref = reference_optimum(
        X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True
    )
    return X, y, D, beta, p_ref


def _solve(X, y, beta, D, **kw):
    kw.setdefault("hidden_bias", True)
    kw.setdefault("output_bias", True)
    return solve(X, y, beta, patterns=D, formulation="gated", solver="fast", **kw)


# -- kernels ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_match_references(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)).astype(dtype)
    M = np.asfortranarray(rng.random((50, 9)) < 0.5).astype(dtype)
    U = rng.normal(size=(6, 9)).astype(dtype)
    r = rng.normal(size=50).astype(dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(forward(X, M, U), forward_reference(X, M, U), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(adjoint(X, M, r), adjoint_reference(X, M, r), rtol=rtol, atol=rtol)
    U[:, 2] *= 1e-3  # one column below the threshold
    np.testing.assert_allclose(
        group_prox(U.astype(np.float64), 0.5), group_prox_reference(U.astype(np.float64), 0.5)
    )
    # the adjoint really is the adjoint: <A U, r> = <U, A^T r>
    lhs = float(forward_reference(X, M, U) @ r)
    assert lhs == pytest.approx(float(np.sum(U * adjoint_reference(X, M, r))), rel=10 * rtol)


def test_kernels_on_torch_match_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X, M = rng.normal(size=(30, 4)), (rng.random((30, 5)) < 0.5).astype(float)
    U, r = rng.normal(size=(4, 5)), rng.normal(size=30)
    Xt, Mt, Ut, rt = (torch.as_tensor(a) for a in (X, M, U, r))
    np.testing.assert_allclose(forward(Xt, Mt, Ut).numpy(), forward_reference(X, M, U))
    np.testing.assert_allclose(adjoint(Xt, Mt, rt).numpy(), adjoint_reference(X, M, r))
    np.testing.assert_allclose(group_prox(Ut, 0.7).numpy(), group_prox_reference(U, 0.7))


@pytest.mark.parametrize("output_bias", [False, True])
def test_aligned_dual_candidate_puts_every_block_on_the_sphere(output_bias):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5))
    M = np.asfortranarray(rng.random((40, 6)) < 0.5).astype(float)
    U = rng.normal(size=(5, 6))
    lam0 = rng.normal(size=40)
    lam0 -= lam0.mean() if output_bias else 0.0
    lam = aligned_dual_candidate(X, M, U, lam0, 0.8, output_bias)
    ref = aligned_dual_candidate_reference(X, M, U, lam0, 0.8, output_bias)
    np.testing.assert_allclose(lam, ref, rtol=1e-7, atol=1e-9)
    # u_i^T X^T D_i lam = beta ||u_i|| for every block; the sum is kept with a bias
    along = np.sum(U * adjoint_reference(X, M, lam), axis=0) / np.linalg.norm(U, axis=0)
    np.testing.assert_allclose(along, 0.8, rtol=1e-7)
    assert abs(lam.sum() - lam0.sum()) <= 1e-9 * (1.0 if output_bias else np.inf)
    assert aligned_dual_candidate(X, M[:, :0], U[:, :0], lam0, 0.8, output_bias) is lam0


def test_alignment_is_skipped_where_it_would_cost_too_much():
    from convexnn.solvers._kernels import worth_aligning

    assert worth_aligning(275, 10_000)  # the n = 1e4 benchmark's support
    assert not worth_aligning(0, 100)  # no block
    assert not worth_aligning(101, 100)  # more blocks than samples: rank deficient
    assert not worth_aligning(3000, 10_000)  # a k x k solve too large for one round
    assert not worth_aligning(500, 100_000)  # Z (n, k) over 200 MB


def test_aligned_dual_candidate_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X, M = rng.normal(size=(30, 4)), (rng.random((30, 5)) < 0.5).astype(float)
    U, lam0 = rng.normal(size=(4, 5)), rng.normal(size=30)
    args = [torch.as_tensor(a) for a in (X, M, U, lam0)]
    out = aligned_dual_candidate(*args, 0.5, True).numpy()
    np.testing.assert_allclose(out, aligned_dual_candidate(X, M, U, lam0, 0.5, True))


def test_aligned_certificate_lets_the_gated_solver_stop_sooner(medium, monkeypatch):
    """The plain bound's gap falls like sqrt(suboptimality), the aligned one's like the
    suboptimality: with it the solver certifies the same tol in far fewer iterations."""
    import convexnn.solvers.group_lasso as gl

    monkeypatch.setattr(gl, "_NEWTON_GAP", -1.0)  # FISTA rounds only: alignment alone
    X, y, D, beta, p_ref = medium
    for tol in (1e-6, 1e-8):
        aligned = _solve(X, y, beta, D, tol=tol)
        with monkeypatch.context() as m:
            m.setattr(gl, "worth_aligning", lambda k, n: False)
            plain = _solve(X, y, beta, D, tol=tol)
        for sol in (aligned, plain):
            assert sol.status == "optimal"
            assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= tol
            assert sol.lower_bound <= p_ref * (1 + 1e-7)
        assert aligned.n_iter <= 0.8 * plain.n_iter
        assert aligned.certificate.candidate == "aligned"  # what solve reports


def test_certify_screens_with_the_norms_of_its_own_dual_point(medium):
    from convexnn.solvers._kernels import make_backend
    from convexnn.solvers.group_lasso import _Alive, _certify, _prepare

    X, y, D, beta, _ = medium
    problem = build_problem(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)
    backend = make_backend({}, caller="test")
    data = _prepare(problem, backend)
    sol = _solve(X, y, beta, D, tol=1e-3)
    chk = _certify(data, problem, backend, sol.V, sol.c, _Alive.every(data))
    assert chk.rel_gap < chk.plain_gap  # the aligned point certified
    z = problem.predict(sol.V, sol.W, chk.c)
    lam0 = y - z - np.mean(y - z)  # -grad of the squared loss, centred (output bias)
    gnorm = np.linalg.norm(adjoint(data.X64, data.M64, lam0), axis=0)
    np.testing.assert_allclose(chk.gnorm, gnorm, rtol=1e-9)  # pricing: -grad L
    # screening: the norms of the aligned candidate (the slow reference kernel's)
    on = np.linalg.norm(sol.V, axis=0) > 0
    lam = aligned_dual_candidate_reference(
        data.X64, data.M64[:, on], sol.V[:, on], lam0, beta, output_bias=True
    )
    assert np.max(np.abs(lam - lam0)) > 1e-3 * np.max(np.abs(lam0))
    dual_norms = np.linalg.norm(adjoint(data.X64, data.M64, lam), axis=0)
    np.testing.assert_allclose(chk.dual_norms, dual_norms, rtol=1e-7)


def test_float32_priced_check_estimates_and_float64_recheck_certifies(medium):
    """A float32-priced check estimates the float64 one's norms and gaps; re-pricing its
    candidates in float64 (``estimate=``) is the float64 check itself."""
    from convexnn.solvers._kernels import make_backend
    from convexnn.solvers.group_lasso import _Alive, _certify, _prepare

    X, y, D, beta, _ = medium
    problem = build_problem(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)
    backend = make_backend({"dtype": "float32"}, caller="test")
    data = _prepare(problem, backend)
    assert data.Mc.dtype == np.float32
    sol = _solve(X, y, beta, D, tol=1e-3)
    exact = _certify(data, problem, backend, sol.V, sol.c, _Alive.every(data))
    low = _certify(data, problem, backend, sol.V, sol.c, _Alive.every(data), low=True)
    assert exact.exact and not low.exact and len(low.bounds) == 2  # aligned tried
    np.testing.assert_allclose(low.gnorm, exact.gnorm, rtol=1e-5)
    np.testing.assert_allclose(low.dual_norms, exact.dual_norms, rtol=1e-5)
    assert low.rel_gap == pytest.approx(exact.rel_gap, rel=1e-3)
    assert np.max(np.abs(low.gnorm - exact.gnorm)) > 0  # really priced in float32
    again = _certify(data, problem, backend, sol.V, sol.c, _Alive.every(data), estimate=low)
    assert again.exact
    for name in ("primal", "lower", "rel_gap", "plain_gap", "t", "c"):
        assert getattr(again, name) == pytest.approx(getattr(exact, name), rel=1e-12)
    np.testing.assert_allclose(again.dual_norms, exact.dual_norms, rtol=1e-12)


def test_float32_pricing_stops_and_screens_on_float64_checks_only(monkeypatch):
    """Every check between rounds is priced in float32 unless something rigorous hangs on
    it: the stop, a screening (the estimate predicts one), the last iteration."""
    import convexnn.solvers.group_lasso as gl

    checks, screens = [], []
    certify, screen = gl._certify, gl._screen

    def spy_certify(*args, **kw):
        chk = certify(*args, **kw)
        checks.append((chk.exact, chk.rel_gap, kw.get("estimate") is not None))
        return chk

    def spy_screen(data, problem, U, chk, alive):
        out = screen(data, problem, U, chk, alive)
        screens.append((chk.exact, out[2]))
        return out

    # 300 patterns of which 50 are active at the optimum: gap-safe screening drops 116
    X, y = _data(300, 4, seed=2)
    D = np.asarray(sample_patterns(X, 300, hidden_bias=True, random_state=1))
    beta, tol = 5.0, 1e-7
    p_ref = _solve(X, y, beta, D, tol=1e-10, solver_options={"dtype": "float64"})
    monkeypatch.setattr(gl, "_certify", spy_certify)
    monkeypatch.setattr(gl, "_screen", spy_screen)
    sol = _solve(X, y, beta, D, tol=tol, solver_options={"dtype": "float32"})
    assert sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(p_ref.convex_objective, rel=2 * tol)
    assert sum(not exact for exact, _, _ in checks) >= 3  # most checks were estimates
    assert checks[-1][0] and checks[-1][1] <= tol  # the stop: a float64 check
    assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= tol
    for (exact, gap, _), nxt in zip(checks, [*checks[1:], (True, 0.0, False)], strict=True):
        if not exact and not nxt[2]:  # an estimate that was not re-checked in float64
            assert gap > max(gl._EXACT_TOL * tol, gl._EXACT_GAP)
    assert all(exact for exact, _ in screens)
    assert sum(dropped for _, dropped in screens) > 0  # the screening still happened


def test_power_iteration_warm_started_from_its_last_vector():
    from convexnn.solvers._kernels import make_backend, spectral_norm_sq

    rng = np.random.default_rng(4)
    A = rng.normal(size=(60, 25))
    calls = []

    def gram(r):
        calls.append(1)
        return A @ (A.T @ r)

    true = float(np.linalg.eigvalsh(A @ A.T)[-1])
    cold, top = spectral_norm_sq(gram, 60, make_backend({}, caller="test"))
    n_cold = len(calls)
    assert true <= cold <= 1.05 * true * (1 + 1e-3)
    calls.clear()  # a nearby operator (one more column) from the last vector: fewer steps
    A = np.concatenate([A, rng.normal(size=(60, 1))], axis=1)
    warm, _ = spectral_norm_sq(gram, 60, make_backend({}, caller="test"), start=top)
    true = float(np.linalg.eigvalsh(A @ A.T)[-1])
    assert true <= warm <= 1.05 * true * (1 + 1e-3)
    assert len(calls) < n_cold


# -- accuracy -----------------------------------------------------------------------------


def test_gated_matches_cvxpy_and_certifies(medium):
    X, y, D, beta, p_ref = medium
    sol = _solve(X, y, beta, D)
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-5)
    assert sol.lower_bound <= p_ref * (1 + 1e-9)
    # the float64 certificate of the convex value reaches tol
    assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= 1e-6
    assert sol.status == "optimal"
    assert 0 < np.count_nonzero(np.linalg.norm(sol.V, axis=0)) < D.shape[1]  # sparse


def test_float32_iterations_still_certify_in_float64(medium):
    X, y, D, beta, p_ref = medium
    sol = _solve(X, y, beta, D, solver_options={"dtype": "float32"})
    assert sol.V.dtype == np.float64
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-5)
    assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= 1e-6


def test_float32_iterations_really_run_in_float32(medium):
    """Plain float32 FISTA keeps float32 iterates (a float64 scalar must not promote
    them); the solver's mixed-precision rounds certify in float64."""
    from convexnn.problem import build_problem
    from convexnn.solvers._fista import SubProblem, fista
    from convexnn.solvers._kernels import LossOps, make_backend
    from convexnn.solvers.group_lasso import GroupLassoSolver

    X, y, D, beta, p_ref = medium
    prob = build_problem(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)
    out = GroupLassoSolver().solve(
        prob, tol=1e-6, max_iter=None, verbose=False, options={"dtype": "float32"}
    )
    assert out.info["n_iter_float32"] > 0 and out.status == "optimal"
    assert out.objective == pytest.approx(p_ref, rel=1e-5)
    b32 = make_backend({"dtype": "float32"}, caller="test")
    sub = SubProblem(
        X=prob.X.astype(np.float32),
        Ms=prob.mask.astype(np.float32),
        ops=LossOps(prob.loss, y, b32),
        beta=beta,
        output_bias=False,
        backend=b32,
    )
    B0 = np.zeros((prob.d, prob.P), dtype=np.float32)
    res = fista(sub, B0, 0.0, tol=1e-12, max_iter=30, stop="gap", y_np=y)
    assert res.B.dtype == np.float32


def test_refined_operators_reach_float64_accuracy():
    """Float32 GEMMs on corrections from a float64 anchor: the error is float32's
    epsilon times the correction, orders of magnitude below a plain float32 product."""
    from convexnn.losses import get_loss
    from convexnn.solvers._fista import SubProblem, refine
    from convexnn.solvers._kernels import LossOps, make_backend

    rng = np.random.default_rng(3)
    n, d, K = 400, 6, 30
    X = rng.normal(size=(n, d))
    M = np.asfortranarray((rng.random((n, K)) < 0.5).astype(float))
    y = rng.normal(size=n)
    b64, b32 = make_backend({}, caller="t"), make_backend({"dtype": "float32"}, caller="t")
    sub = SubProblem(X, M, LossOps(get_loss("squared", caller="t"), y, b64), 1.0, True, b64)
    B0 = rng.normal(size=(d, K))
    refine(sub, X.astype(np.float32), M.astype(np.float32), b32, B0, 0.3)
    assert sub.low is not None and sub.low.Ms.dtype == np.float32
    B = B0 + 1e-4 * rng.normal(size=(d, K))
    g = sub.low.g0 + 1e-4 * rng.normal(size=n)
    z_ref, G_ref = forward_reference(X, M, B), adjoint_reference(X, M, g)
    z32 = forward(X.astype(np.float32), M.astype(np.float32), B.astype(np.float32))
    G32 = adjoint(X.astype(np.float32), M.astype(np.float32), g.astype(np.float32))
    err = np.linalg.norm(sub.forward(B) - z_ref) / np.linalg.norm(z_ref)
    err32 = np.linalg.norm(z32 - z_ref) / np.linalg.norm(z_ref)
    assert err < 1e-10 and err32 > 1e-8 and err < 1e-3 * err32
    errG = np.linalg.norm(sub.adjoint(g) - G_ref) / np.linalg.norm(G_ref)
    errG32 = np.linalg.norm(G32 - G_ref) / np.linalg.norm(G_ref)
    assert errG < 1e-10 and errG32 > 1e-8 and errG < 1e-3 * errG32
    assert sub.forward(B).dtype == np.float64 and sub.adjoint(g).dtype == np.float64


@pytest.mark.parametrize("output_bias", [True, False])
@pytest.mark.parametrize("refined", [False, True])
def test_fista_gap_checks_from_tracked_predictions_match_the_reference(
    output_bias, refined, monkeypatch
):
    """FISTA's gap checks use A(B) and A^T grad L at B carried over from the gradients
    at the extrapolated points (no GEMM): each must equal the direct computation, and
    the run must be the run that checks directly."""
    import convexnn.solvers._fista as fi
    from convexnn.losses import get_loss
    from convexnn.solvers._kernels import LossOps, make_backend

    rng = np.random.default_rng(4)
    n, d, K = 300, 5, 25
    X = rng.normal(size=(n, d))
    M = np.asfortranarray((X @ rng.normal(size=(d, K)) > 0).astype(float))
    y = np.maximum(X @ rng.normal(size=(d, 3)), 0).sum(axis=1) + 0.1 * rng.normal(size=n)
    b64, b32 = make_backend({}, caller="t"), make_backend({"dtype": "float32"}, caller="t")

    def make_sub():
        ops = LossOps(get_loss("squared", caller="t"), y, b64)
        return fi.SubProblem(X, M, ops, 3.0, output_bias, b64)

    def run(**kw):
        sub = make_sub()
        B0 = np.zeros((d, K))
        if refined:
            fi.refine(sub, X.astype(np.float32), M.astype(np.float32), b32, B0, 0.0)
        tol = 1e-4 if refined else 1e-6  # float32 corrections from B0 = 0: far from 1e-6
        return fi.fista(sub, B0, 0.0, tol=tol, max_iter=3000, stop="gap", y_np=y, **kw)

    checks, restarts = [], []
    tracked_gap, tracked_restart = fi._AtB.gap_and_primal, fi._AtB.restart

    def spy_gap(self, B, c, y_np):
        out = tracked_gap(self, B, c, y_np)
        ref = fi._gap_and_primal(self.sub, B, c, y_np)
        exact = forward_reference(X, M, B) + c
        # float32 corrections (from the anchor B0 = 0): both are float32-accurate
        rtol = 1e-5 if refined else 1e-11
        assert np.linalg.norm(self.z - exact) <= rtol * np.linalg.norm(exact)
        checks.append((out, ref))
        return out

    def spy_restart(self):
        out = tracked_restart(self)
        g = self.sub.ops.gradient(self.z)
        G = adjoint_reference(X, M, g)
        assert np.linalg.norm(out[0] - G) <= 1e-5 * np.linalg.norm(G)
        restarts.append(out)
        return out

    monkeypatch.setattr(fi._AtB, "gap_and_primal", spy_gap)
    monkeypatch.setattr(fi._AtB, "restart", spy_restart)
    tracked = run(check_every=5)
    assert len(checks) >= 5
    rel = 1e-6 if refined else 1e-10
    for (gap, primal), (gap_ref, primal_ref) in checks:
        assert primal == pytest.approx(primal_ref, rel=rel)
        if refined:  # relative gaps, both with float32 rounding of the full z and G
            # (1.5e-5 apart with NumPy 1.26's OpenBLAS 0.3.23, under 1e-5 with NumPy 2's)
            assert gap == pytest.approx(gap_ref, abs=5e-5)
        else:
            assert gap == pytest.approx(gap_ref, rel=1e-7)
    with monkeypatch.context() as m:
        m.setattr(fi._AtB, "start", classmethod(lambda cls, sub: None))
        direct = run(check_every=5)
    assert tracked.converged and direct.converged
    if not refined:  # the same run: the check of B_k comes with the gradient at Y_{k+1}
        assert tracked.n_iter == direct.n_iter + 1
        np.testing.assert_allclose(tracked.B, direct.B, rtol=1e-8, atol=1e-10)
    else:  # float32 rounding may move a check's verdict (gaps near tol, 5e-5 apart)
        # by a few checks: 341 against 355 iterations with scipy 1.17's OpenBLAS 0.3.31.
        # Both runs stop at points whose float64 gap is within that of tol.
        for res in (tracked, direct):
            gap, _ = fi._gap_and_primal(make_sub(), res.B, res.c, y)  # float64
            assert gap <= 1e-4 + 5e-5
        assert abs(tracked.n_iter - direct.n_iter - 1) <= 0.1 * direct.n_iter


def test_float32_gemms_reach_a_gap_plain_float32_cannot(medium):
    """Mixed precision takes the gap far below float32's floor (about 1e-5 for plain
    float32 iterations) with float32 GEMMs in nearly every iteration."""
    from convexnn.problem import build_problem
    from convexnn.solvers.group_lasso import GroupLassoSolver

    X, y, D, beta, p_ref = medium
    prob = build_problem(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)
    run = GroupLassoSolver().solve
    out = run(prob, tol=1e-8, max_iter=None, verbose=False, options={"dtype": "float32"})
    ref = run(prob, tol=1e-8, max_iter=None, verbose=False, options={"dtype": "float64"})
    assert out.status == "optimal" and out.info["relative_gap"] <= 1e-8
    assert out.info["n_iter_float32"] >= 0.9 * out.n_iter > 0
    assert out.objective == pytest.approx(ref.objective, rel=1e-8)
    assert out.objective == pytest.approx(p_ref, rel=1e-5)


def test_auto_dtype_picks_float32_for_large_problems():
    from convexnn.problem import build_problem
    from convexnn.solvers.group_lasso import with_auto_dtype

    rng = np.random.default_rng(0)
    D = rng.random((20, 3)) < 0.5
    small = build_problem(rng.normal(size=(20, 2)), rng.normal(size=20), 0.1, D)
    assert with_auto_dtype({}, small)["dtype"] == "float64"
    assert with_auto_dtype({"dtype": "float32"}, small)["dtype"] == "float32"

    class Big:
        n, P = 4000, 1000

    assert with_auto_dtype({}, Big())["dtype"] == "float32"  # type: ignore[arg-type]
    assert with_auto_dtype({"dtype": "float64"}, Big())["dtype"] == "float64"  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_backend_matches_numpy(medium, dtype):
    pytest.importorskip("torch")
    X, y, D, beta, p_ref = medium
    # CPU only: no GPU in the test environment.
    opts = {"backend": "torch", "device": "cpu", "dtype": dtype}
    sol = _solve(X, y, beta, D, solver_options=opts)
    assert isinstance(sol.V, np.ndarray) and sol.V.dtype == np.float64
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-5)
    assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= 1e-6


def test_warm_start_from_the_optimum_stops_at_once(medium):
    X, y, D, beta, p_ref = medium
    cold = _solve(X, y, beta, D)
    warm = _solve(X, y, beta, D, solver_options={"warm_start": (cold.V, cold.W, cold.c)})
    assert warm.n_iter <= 20 < cold.n_iter
    assert warm.convex_objective == pytest.approx(p_ref, rel=1e-5)
    with pytest.raises(ValueError, match="warm_start V and W must have shape"):
        _solve(X, y, beta, D, solver_options={"warm_start": (cold.V[:, :3], cold.W, 0.0)})


def test_max_iter_warns_with_the_gap_reached(medium):
    X, y, D, beta, _ = medium
    with pytest.warns(ConvergenceWarning, match=r"relative gap of [0-9.e+-]+ \(tol=1e-06\)"):
        sol = _solve(X, y, beta, D, max_iter=3)
    assert sol.status == "max_iter"
    assert sol.n_iter <= 3


def test_degenerate_repeated_rows_without_biases():
    X, y = _data(40, 3, seed=3)
    X, y = np.vstack([X, X[:10]]), np.concatenate([y, y[:10]])
    D = np.asarray(sample_patterns(X, 15, random_state=0))
    p_ref = reference_optimum(
        X, y, 0.3, D, formulation="gated", hidden_bias=False, output_bias=False
    )
    sol = _solve(X, y, 0.3, D, hidden_bias=False, output_bias=False)
    assert sol.convex_objective == pytest.approx(p_ref, rel=1e-5)


# -- selection and refusals -----------------------------------------------------------------


def test_default_solver_is_fast_where_it_applies():
    X, y = _data(10, 2)
    D = np.asarray(sample_patterns(X, 3, random_state=0))
    assert default_solver(build_problem(X, y, 0.1, D, formulation="gated")) == "fast"
    assert default_solver(build_problem(X, y, 0.1, D, formulation="relu")) == "fast"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert solve(X, y, 0.1, patterns=D, formulation="gated").solver == "fast"
    # the relu default reaches the reference optimum
    ref = solve(X, y, 0.1, patterns=D, formulation="relu", solver="cvxpy")
    sol = solve(X, y, 0.1, patterns=D, formulation="relu")
    assert sol.solver == "fast"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)


def test_fast_refuses_bad_options():
    X, y = _data(10, 2)
    D = np.asarray(sample_patterns(X, 3, random_state=0))
    with pytest.raises(ValueError, match="dtype must be one of"):
        _solve(X, y, 0.1, D, solver_options={"dtype": "float16"})
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'torch'"):
        _solve(X, y, 0.1, D, solver_options={"backend": "jax"})


@pytest.mark.parametrize("loss", ["logistic", "squared_hinge", "huber"])
def test_other_smooth_losses_match_cvxpy(loss):
    X, y = _data(60, 3, seed=2)
    if loss != "huber":
        y = np.where(y > np.median(y), 1.0, -1.0)
    D = np.asarray(sample_patterns(X, 12, hidden_bias=True, random_state=0))
    kw = dict(patterns=D, formulation="gated", hidden_bias=True, output_bias=True, loss=loss)
    ref = solve(X, y, 0.2, solver="cvxpy", **kw)
    sol = solve(X, y, 0.2, **kw)
    assert sol.solver == "fast"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)
    assert sol.convex_objective - sol.lower_bound <= 1e-6 * sol.convex_objective


def test_hinge_falls_back_to_cvxpy():
    X, y = _data(10, 2)
    D = np.asarray(sample_patterns(X, 3, random_state=0))
    y = np.sign(y)
    problem = build_problem(X, y, 0.1, D, formulation="gated", loss="hinge")
    assert default_solver(problem) == "cvxpy"


def test_solver_result_reports_gap_and_working_set(medium):
    from convexnn.problem import build_problem as bp
    from convexnn.solvers import SOLVERS

    X, y, D, beta, p_ref = medium
    problem = bp(X, y, beta, D, formulation="gated", hidden_bias=True, output_bias=True)
    res = SOLVERS["fast"].solve(problem, tol=1e-7, max_iter=None, verbose=False, options={})
    assert res.status == "optimal" and res.n_iter > 0 and res.time > 0
    assert res.info["relative_gap"] <= 1e-7
    assert res.info["lower_bound"] <= p_ref * (1 + 1e-9)
    assert res.info["primal"] == pytest.approx(p_ref, rel=1e-6)
    assert res.info["n_active"] == np.count_nonzero(np.linalg.norm(res.V, axis=0))
