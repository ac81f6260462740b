"""The relu fast solver (``relu-pgd``, behind ``"fast"``): cone prox and certified solves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from relu_cases import _data, _reference, count_calls

from convexnn import solve
from convexnn.exceptions import ConvergenceWarning
from convexnn.patterns import sample_patterns


@pytest.mark.parametrize(
    ("loss", "output_bias", "repeat"),
    [("squared", True, False), ("logistic", False, False), ("squared", False, True)],
)
def test_fast_relu_matches_cvxpy(loss, output_bias, repeat):
    X, y = _data(repeat=repeat)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    D = sample_patterns(X, 30, random_state=0)
    ref = _reference(X, y, 0.1, D, loss, output_bias)
    sol = solve(
        X, y, 0.1, patterns=D, formulation="relu", loss=loss, output_bias=output_bias, solver="fast"
    )
    assert sol.solver == "fast"
    assert sol.convex_objective == pytest.approx(ref, rel=1e-5)
    assert sol.relative_gap <= 1e-6
    assert sol.constraint_violation <= 1e-8


def test_warm_start_from_optimum_is_immediate():
    X, y = _data(seed=3)
    D = sample_patterns(X, 30, random_state=0)
    first = solve(X, y, 0.1, patterns=D, formulation="relu", solver="relu-pgd")
    again = solve(
        X,
        y,
        0.1,
        patterns=D,
        formulation="relu",
        solver="relu-pgd",
        solver_options={"warm_start": (first.V, first.W, first.c)},
    )
    assert again.convex_objective == pytest.approx(first.convex_objective, rel=1e-6)
    assert again.n_iter <= 0.2 * max(first.n_iter, 10)


def test_warm_start_shape_error():
    X, y = _data()
    D = sample_patterns(X, 10, random_state=0)
    with pytest.raises(ValueError, match="warm_start V and W must have shape"):
        solve(
            X,
            y,
            0.1,
            patterns=D,
            formulation="relu",
            solver="relu-pgd",
            solver_options={"warm_start": (np.zeros((2, 2)), np.zeros((2, 2)), None)},
        )


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_small_beta_certifies(loss):
    """Small beta: FISTA alone stalled (gap ~1 after max_iter); the Newton polish on the
    identified support and active constraints certifies to tol."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5))
    y = np.sin(X @ rng.normal(size=5)) + 0.1 * rng.normal(size=100)
    y = (y - y.mean()) / y.std()
    if loss == "logistic":
        y = np.where(y > 0, 1.0, -1.0)
    D = sample_patterns(X, 40, hidden_bias=True, random_state=0)
    kw = dict(patterns=D, hidden_bias=True, formulation="relu", loss=loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CLARABEL is 'inaccurate' on the logistic case
        ref = solve(X, y, 1e-2, solver="cvxpy", **kw)
    sol = solve(X, y, 1e-2, solver="relu-pgd", **kw)
    assert sol.status == "optimal"
    assert sol.relative_gap <= 1e-6
    assert sol.constraint_violation <= 1e-8
    if ref.relative_gap <= 1e-6:
        assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)
    else:  # our certified optimum is at least as good as the inaccurate reference
        assert sol.convex_objective <= ref.convex_objective * (1 + 1e-6)


def test_small_beta_polish_rounds_run_to_their_end():
    """At small beta a polish lowers the objective over 50-150 steps; cut at
    _NEWTON_ITER = 50 each round ended short of its face's optimum, and this solve took
    98 rounds (4693 Newton steps, about 12 s) instead of 22."""
    from convexnn.problem import build_problem
    from convexnn.solvers.relu_pgd import solve_relu

    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = np.maximum(X @ rng.normal(size=4), 0) - np.maximum(X @ rng.normal(size=4), 0)
    y = y + 0.1 * rng.normal(size=150)
    D = sample_patterns(X, 200, random_state=0)
    prob = build_problem(X, y, 1e-3, D, formulation="relu")
    out = solve_relu(prob, tol=1e-6, max_iter=20_000)
    assert out.status == "optimal" and out.info["relative_gap"] <= 1e-6
    assert out.info["n_outer"] <= 40  # 98 with every polish cut at _NEWTON_ITER


def test_negative_gap_is_explained_in_the_summary():
    import dataclasses

    X, y = _data(n=30, d=2)
    sol = solve(X, y, 0.1, patterns=sample_patterns(X, 6, random_state=0), solver="fast")
    assert sol.gap >= 0 and "negative gap" not in sol.summary()
    worse = dataclasses.replace(sol, gap=-1e-3, relative_gap=-1e-4)
    assert "negative gap: the returned network" in worse.summary()


def test_relu_fast_refuses_the_torch_backend_and_takes_a_dtype():
    X, y = _data(n=40, d=2)
    D = sample_patterns(X, 10, random_state=0)
    with pytest.raises(ValueError, match="runs on NumPy only, got backend='torch'"):
        solve(X, y, 0.1, patterns=D, solver="relu-pgd", solver_options={"backend": "torch"})
    a = solve(X, y, 0.1, patterns=D, solver="relu-pgd", solver_options={"dtype": "float32"})
    b = solve(X, y, 0.1, patterns=D, solver="relu-pgd", solver_options={"dtype": "float64"})
    assert a.status == b.status == "optimal" and a.relative_gap <= 1e-6
    assert a.convex_objective == pytest.approx(b.convex_objective, rel=1e-6)


@pytest.mark.filterwarnings("ignore:sample_patterns. found only")
@pytest.mark.parametrize("kind", ["collinear", "repeated_rows"])
def test_rank_deficient_X_is_solved_in_its_row_space(kind):
    """Collinear columns, or fewer distinct rows than d_eff: the relu solver works on
    X Q (Q a basis of X's row space) and maps back. Before, its Newton systems were
    singular there (a NaN in the Cholesky, or max_iter at a gap of 0.3)."""
    from convexnn.problem import build_problem
    from convexnn.solvers.relu_pgd import row_space

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    if kind == "collinear":
        X[:, 1] = 2 * X[:, 0]
    else:
        X = np.repeat(X[:4], 5, axis=0)  # 4 distinct rows, d_eff = 6
    y = np.maximum(X @ rng.normal(size=5) + 0.2, 0) + 0.1 * rng.normal(size=20)
    D = sample_patterns(X, 60, hidden_bias=True, random_state=0)
    prob = build_problem(X, y, 1e-2, D, formulation="relu", hidden_bias=True)
    reduced, Q = row_space(prob)
    assert Q is not None and reduced.d == np.linalg.matrix_rank(prob.X) < prob.d
    np.testing.assert_allclose(Q.T @ Q, np.eye(reduced.d), atol=1e-12)
    np.testing.assert_allclose(reduced.X @ Q.T, prob.X, atol=1e-10)  # nothing lost
    kw = dict(patterns=D, hidden_bias=True, formulation="relu")
    sol = solve(X, y, 1e-2, solver="relu-pgd", **kw)
    ref = solve(X, y, 1e-2, solver="cvxpy", **kw)
    assert sol.status == "optimal" and sol.relative_gap <= 1e-6
    assert sol.constraint_violation <= 1e-8
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)
    # full column rank: the problem itself
    full = build_problem(rng.normal(size=(20, 5)), y, 1e-2, D, formulation="relu")
    assert row_space(full) == (full, None)


def test_rounding_blocks_orthogonal_to_their_face_leave_the_polish():
    """Integer data with zeros: the polish met blocks of 1e-17 entries orthogonal to
    their face (theta = 0), and the penalty's Hessian beta / ||theta|| made a NaN."""
    X = np.array([[-2.0, 0.0], [1.0, 0.0], [0.0, 0.0], [2.0, 3.0], [1.0, 3.0]])
    y = np.array([-0.20423788, 0.68228998, 0.27389004, 1.59299973, 0.87291474])
    kw = dict(patterns="exact", hidden_bias=True, formulation="relu")
    sol = solve(X, y, 0.0136, solver="relu-pgd", **kw)
    ref = solve(X, y, 0.0136, solver="cvxpy", **kw)
    assert sol.status == "optimal" and sol.relative_gap <= 1e-6
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-6)


def test_negligible_blocks_are_dropped():
    """A block whose predictions are rounding (1e-18 of the data's scale) is zeroed: its
    cone projection is only accurate to the data's scale (a relative violation of 0.9
    was reported on a zero network); a block that predicts something stays."""
    from convexnn.problem import build_problem
    from convexnn.solvers.relu_pgd import _drop_negligible

    X, y = _data(n=30, d=3)
    D = sample_patterns(X, 8, random_state=0)
    prob = build_problem(X, y, 0.1, D, formulation="relu")
    B = np.zeros((3, 8))
    B[:, 1] = [7e-18, -3e-18, 1e-18]
    np.testing.assert_array_equal(_drop_negligible(prob, B), 0.0)
    B[:, 4] = [0.5, -0.2, 0.1]
    kept = _drop_negligible(prob, B)
    assert not kept[:, 1].any() and np.array_equal(kept[:, 4], B[:, 4])


def _badly_scaled(n, seed):
    """Huber regression with features at 1e-2 and targets at 1e3 (weights near 1e5)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.maximum(X @ rng.normal(size=3) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=3), 0)
    return 1e-2 * X, 1e3 * (y + 0.1 * rng.normal(size=n))


@pytest.mark.parametrize("n, seed, n_patterns", [(40, 1, 50), (40, 2, 50), (80, 4, 100)])
def test_badly_scaled_huber_is_certified(n, seed, n_patterns):
    """Three polish defects that badly scaled data exposed (before: max_iter at gaps of
    0.99-1.0 for the first two, a gap stuck at 1.3e-2 for the third):

    - Huber's linear region has no curvature, and a 1e14 Newton step raised the
      objective even when cut at its first blocking row: a Levenberg-Marquardt ridge;
    - blocks off their faces by the active-constraint tolerance: the Newton model (which
      sees ``theta = N^T b`` only) and the certificate disagreed by 1e-5 of beta, so
      the support's cone norms never reached beta: blocks are put on their faces;
    - the Newton decrement's rounding floor (7e-21 at f = 2.8e3) lay above the test
      that leads to the multipliers, so a wrong face was never released.
    """
    X, y = _badly_scaled(n, seed)
    D = sample_patterns(X, n_patterns, hidden_bias=True, random_state=0)
    kw = dict(patterns=D, hidden_bias=True, formulation="relu", loss="huber", max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve(X, y, 1e-3, solver="relu-pgd", **kw)
    assert sol.status == "optimal" and sol.relative_gap <= 1e-6
    assert sol.constraint_violation <= 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Clarabel's own answer is not certified here
        ref = solve(X, y, 1e-3, solver="cvxpy", **kw)
    assert sol.convex_objective <= ref.convex_objective * (1 + 1e-6)


def test_stalled_rule():
    """The stall test: neither the best gap halves nor the objective falls in a window
    (by more than rounding, and by more than 1/100 of the last gap)."""
    from convexnn.solvers.relu_pgd import _STALL_ROUNDS, _stalled

    w = _STALL_ROUNDS
    flat = [1.0] * (w + 1)
    assert not _stalled(flat[:w], [1e-5] * w)  # too few rounds to tell
    assert _stalled(flat, [1e-5] * (w + 1))
    assert not _stalled(flat, [1e-5] * w + [4e-6])  # the gap halved
    assert not _stalled([1.0] * w + [1.0 - 1e-6], [1e-5] * (w + 1))  # the objective fell
    assert _stalled([1.0] * w + [1.0 - 1e-13], [1e-5] * (w + 1))  # ... by rounding only
    # ... by 1e-9: at that rate a gap of 1e-5 takes 1e4 windows to close (stop 40)
    assert _stalled([1.0] * w + [1.0 - 1e-9], [1e-5] * (w + 1))
    assert not _stalled([1.0] * w + [1.0 - 1e-9], [1e-8] * w + [1e-8])  # a small gap


def test_rounds_of_full_polishes_that_creep_stall_after_a_short_window(monkeypatch):
    """Badly scaled data where every polish runs to its 500-step cap and the objective
    creeps (5e-5 relative per round at gaps near 1): the stall rule's window shrinks to
    _STALL_ROUNDS_LONG rounds (it had taken 26 rounds, 8.8 s, before CVXPY's answer)."""
    from convexnn.solvers import relu_pgd

    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2)) * np.array([1e4, 1e-2])
    y = 100 * rng.standard_normal(10)
    certificates = count_calls(monkeypatch, relu_pgd, "_certify")
    with pytest.warns(ConvergenceWarning, match="stalled .* in 5 rounds neither"):
        sol = solve(X, y, 1e-7, hidden_bias=True, solver="fast")
    assert sol.status == "stalled"
    assert len(certificates) < relu_pgd._STALL_ROUNDS  # 26 before
    assert relu_pgd._stalled([1.0] * 6, [0.9] * 6, relu_pgd._STALL_ROUNDS_LONG)


def test_a_stalled_certificate_stops_with_a_warning_and_the_best_point(monkeypatch):
    """A certificate that stops improving (simulated: every round's gap at least 1e-3,
    the objective unchanged) ends the solve after _STALL_ROUNDS rounds, not max_iter,
    with status "stalled", a warning stating the gap, and the lowest-gap point."""
    from convexnn.solvers import relu_pgd

    real = relu_pgd._certify
    gaps = [2e-3, 1e-3] + [1.5e-3] * 1000
    calls = []

    def stuck(*args, **kwargs):
        chk = real(*args, **kwargs)
        chk.primal, chk.rel_gap = 1.0, gaps[len(calls)]
        chk.partial = False  # priced in full: the stall's gap is the one reported
        calls.append(chk)
        return chk

    monkeypatch.setattr(relu_pgd, "_certify", stuck)
    X, y = _data(40, 3)
    with pytest.warns(UserWarning, match=r"stalled at 0\.001 \(tol=1e-06\)"):
        sol = solve(
            X,
            y,
            1e-2,
            formulation="relu",
            solver="relu-pgd",
            n_patterns=30,
            max_iter=10**5,
            random_state=0,
        )
    assert sol.status == "stalled"
    # the 22nd round is the first whose last 20 gaps stay above half the best before
    assert len(calls) == relu_pgd._STALL_ROUNDS + 2


def test_a_solve_ended_by_max_iter_reports_its_point_fully_priced(monkeypatch):
    """The rounds far from the optimum price part of the pairs (``partial``); a solve
    that ends without certificate prices its point in full, and reports that gap."""
    from convexnn.problem import build_problem
    from convexnn.solvers import relu_pgd
    from convexnn.solvers._relu_certificate import _certify, _ConeNormCache

    X, y = _data(n=400, d=4, seed=8)
    D = sample_patterns(X, 200, random_state=1)
    prob = build_problem(X, y, 1e-3, D, formulation="relu")
    partial = []
    real = relu_pgd._certify

    def spy(*args, **kwargs):
        chk = real(*args, **kwargs)
        partial.append(chk.partial)
        return chk

    monkeypatch.setattr(relu_pgd, "_certify", spy)
    with pytest.warns(ConvergenceWarning, match="ran out of max_iter=5"):
        out = relu_pgd.solve_relu(prob, tol=1e-12, max_iter=5)
    assert out.status == "max_iter"
    assert partial[-2] and not partial[-1]  # the last round's shortcut, then in full
    B = np.concatenate([out.V, out.W], axis=1)
    full = _certify(prob, B, out.c or 0.0, _ConeNormCache(prob.P))
    assert out.info["relative_gap"] == pytest.approx(full.rel_gap, rel=1e-10)
    _, s_max = out.info["dual_norm_bound"]  # complete: solve need not price it again
    assert s_max == pytest.approx(full.s_max, rel=1e-10)
