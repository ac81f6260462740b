"""solve_path: one warm-started path equals independent single solves."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn import ConvergenceWarning, PathResult, sample_patterns, solve, solve_path


def _data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 3))
    y = np.maximum(X @ rng.normal(size=(3, 2)), 0) @ np.array([1.0, -0.7])
    return X, y + 0.05 * rng.normal(size=100)


@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")  # gated: network vs gated bound
def test_path_equals_independent_solves():
    X, y = _data()
    D = np.asarray(sample_patterns(X, 30, hidden_bias=True, random_state=0))
    betas = [0.5, 4.0, 1.5]  # any order: results come back in this order
    kw = dict(patterns=D, formulation="gated", hidden_bias=True, output_bias=True)
    path = solve_path(X, y, betas, **kw)
    assert isinstance(path, PathResult) and len(path) == 3
    np.testing.assert_array_equal(path.betas, betas)
    for beta, sol in zip(betas, path, strict=True):
        single = solve(X, y, beta, solver="cvxpy", **kw)
        assert sol.convex_objective == pytest.approx(single.convex_objective, rel=1e-5)
        assert (sol.convex_objective - sol.lower_bound) / sol.convex_objective <= 1e-6
        assert sol.solver == "fast"
    # larger beta: sparser solution, larger objective
    assert path[1].convex_objective > path[2].convex_objective > path[0].convex_objective
    assert path.objectives.shape == (3,) and np.all(path.relative_gaps < np.inf)


@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")
def test_path_warm_starts_save_iterations():
    X, y = _data()
    D = np.asarray(sample_patterns(X, 30, hidden_bias=True, random_state=0))
    betas = np.geomspace(4.0, 0.5, 6)
    kw = dict(patterns=D, formulation="gated", hidden_bias=True)
    path = solve_path(X, y, betas, **kw)
    cold = sum(solve(X, y, b, **kw).n_iter for b in betas)
    assert sum(s.n_iter for s in path) < cold


@pytest.mark.parametrize("betas", [[], [1.0, -1.0], [[1.0, 2.0]]])
def test_path_refuses_bad_betas(betas):
    X, y = _data()
    with pytest.raises(ValueError, match="solve_path"):
        solve_path(X, y, betas, formulation="gated")


def test_path_refuses_options_its_solver_does_not_take():
    X, y = _data()
    X, y = X[:20], y[:20]
    with pytest.raises(ValueError, match=r"solve_path: solver 'fast' .* got \['max_iters'\]"):
        solve_path(X, y, [0.1, 0.05], solver_options={"max_iters": 10})
    # CVXPY passes its settings on to Clarabel
    path = solve_path(X, y, [0.1], solver="cvxpy", solver_options={"tol_gap_abs": 1e-10})
    assert path[0].solver == "cvxpy"


@pytest.mark.parametrize("betas", ["abc", ["abc", 1.0], [True, False], [0.1, None]])
def test_path_names_betas_for_non_numbers(betas):
    X, y = _data()
    with pytest.raises(TypeError, match=r"^solve_path: betas(\[\d\])? must be"):
        solve_path(X[:10], y[:10], betas)


def test_path_names_itself_for_pattern_errors():
    X, y = _data()
    with pytest.raises(ValueError, match=r"^solve_path: n_patterns must be an integer >= 1"):
        solve_path(X[:10], y[:10], [0.1], patterns="sampled", n_patterns=0)
    with pytest.raises(ValueError, match=r"^solve_path: patterns must be a boolean array"):
        solve_path(X[:10], y[:10], [0.1], patterns=np.ones((5, 3), bool))


@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")
def test_path_point_equals_solve_where_the_fast_solver_needs_cvxpy():
    """Badly scaled data, tiny beta: solve re-solves with CVXPY, and so does the path."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2)) * np.array([1e4, 1e-2])
    y = 100 * rng.standard_normal(10)
    for betas in ([1e-7], [1.0, 1e-7]):
        point = solve_path(X, y, betas, hidden_bias=True)[-1]
        single = solve(X, y, 1e-7, hidden_bias=True)
        assert point.solver == single.solver == "fast -> cvxpy"
        assert point.objective == pytest.approx(single.objective, rel=1e-6)
        assert point.scope == single.scope == "global"


def test_path_warnings_name_the_point_that_failed():
    X, y = _data()
    X, y = X[:15], y[:15]
    with pytest.warns(ConvergenceWarning) as record:
        path = solve_path(X, y, [1.0, 0.1], max_iter=1)
    assert [s.status for s in path] == ["max_iter", "max_iter"]
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    for k, beta in enumerate(["1", "0.1"]):
        ours = [m for m in messages if m.startswith(f"solve_path: betas[{k}] = {beta}: ")]
        assert any("certified relative gap" in m for m in ours)
    assert all(m.startswith("solve_path: betas[") for m in messages)
    assert all(w.filename == __file__ for w in record)


def test_vector_output_path_equals_separate_solves_over_its_patterns():
    """Targets (n, c): each point is solve_multioutput's "separate" solution over the
    path's one pattern set (the path had refused vector outputs)."""
    from convexnn import MultiOutputSolution, solve_multioutput

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    Y = np.c_[np.maximum(X[:, 0], 0), X[:, 1] - X[:, 2]]
    betas = [0.5, 0.05, 0.2]
    path = solve_path(X, Y, betas, hidden_bias=True, n_patterns=40, random_state=0)
    assert len(path) == 3 and all(isinstance(p, MultiOutputSolution) for p in path)
    for beta, point in zip(betas, path, strict=True):
        single = solve_multioutput(X, Y, beta, patterns=point.patterns, hidden_bias=True)
        assert point.objective == pytest.approx(single.objective, rel=1e-6)
        assert point.lower_bound == pytest.approx(single.lower_bound, rel=1e-6)
        assert point.status == "optimal" and point.relative_gap <= 1e-6
        assert point.scope == "patterns" and point.pattern_source == "sampled"
        assert point.network.predict(X).shape == Y.shape
        np.testing.assert_array_equal(point.patterns, path[0].patterns)  # one pattern set
    np.testing.assert_allclose(path.objectives, [p.objective for p in path])


def test_cross_entropy_path_solves_the_joint_program_at_each_beta():
    from convexnn import solve_multioutput

    rng = np.random.default_rng(1)
    X, labels = rng.normal(size=(15, 2)), np.arange(15) % 3
    path = solve_path(X, labels, [0.3, 0.1], loss="cross_entropy", n_patterns=10, random_state=0)
    for beta, point in zip([0.3, 0.1], path, strict=True):
        single = solve_multioutput(X, labels, beta, loss="cross_entropy", patterns=point.patterns)
        assert point.objective == pytest.approx(single.objective, rel=1e-6)
        assert point.lower_bound <= point.objective
    assert path[0].scope == "global"  # 2-D data, 15 points: all patterns enumerated


def test_vector_output_path_warnings_name_the_output_and_the_point():
    X, y = _data()
    Y = np.c_[y[:15], -y[:15]]
    with pytest.warns(ConvergenceWarning) as record:
        solve_path(X[:15], Y, [1.0, 0.1], max_iter=1)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert any(m.startswith("solve_path: output 1, betas[1] = 0.1: ") for m in messages)
    assert all(w.filename == __file__ for w in record)


def test_a_stalled_warm_started_point_is_solved_cold_too_and_the_better_kept(monkeypatch):
    """A warm start can stall above a cold solve's objective (badly scaled data: 47.2569
    against 47.2550): such a point also gets the cold solve, and keeps the better."""
    import dataclasses

    import convexnn.path as path_module

    real = path_module._solve_point
    calls = []

    def stalling_when_warm(*args):
        sol, res, caught = real(*args)
        warm = "warm_start" in args[-1]
        calls.append(warm)
        if warm:  # the warm-started attempt stalls 1% above
            sol = dataclasses.replace(sol, status="stalled", objective=1.01 * sol.objective)
        return sol, res, caught

    monkeypatch.setattr(path_module, "_solve_point", stalling_when_warm)
    X, y = _data()
    path = solve_path(X, y, [1.0, 0.1], n_patterns=50, random_state=0)
    assert calls == [False, True, False]  # the second point: warm, then cold
    single = solve(X, y, 0.1, patterns=path[1].patterns)
    assert path[1].objective == pytest.approx(single.objective, rel=1e-9)
    assert path[1].status == "optimal"


@pytest.mark.slow
def test_a_badly_scaled_path_point_is_no_worse_than_its_independent_solve():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2)) * np.array([1e4, 1e-2])
    y = rng.standard_normal(10) * 100
    with pytest.warns(ConvergenceWarning):
        path = solve_path(X, y, [1.0, 1e-3], hidden_bias=True)
    with pytest.warns(ConvergenceWarning):
        single = solve(X, y, 1e-3, hidden_bias=True)
    assert path[1].objective <= single.objective * (1 + 1e-9)


def test_path_refuses_3d_targets_without_claiming_vector_outputs_are_unsupported():
    X, _ = _data()
    with pytest.raises(ValueError, match=r"solve_path: y must have shape \(n_samples,\) or "):
        solve_path(X, np.zeros((100, 2, 2)), [1.0])


@pytest.mark.filterwarnings("ignore::convexnn.ConvergenceWarning")
def test_gated_cold_retry_judges_the_gated_program_not_the_network_built_from_it(monkeypatch):
    """A stalled warm gated point whose ReLU network (another model) happens to score
    lower had been kept over an optimal cold solve of the gated program."""
    import dataclasses

    import convexnn.path as path_module

    real = path_module._solve_point

    def stalled_when_warm(*args):
        sol, res, caught = real(*args)
        if "warm_start" in args[-1]:  # program 1% worse, its network 50% better
            sol = dataclasses.replace(
                sol,
                status="stalled",
                convex_objective=1.01 * sol.convex_objective,
                objective=0.5 * sol.objective,
            )
        return sol, res, caught

    monkeypatch.setattr(path_module, "_solve_point", stalled_when_warm)
    X, y = _data()
    D = np.asarray(sample_patterns(X, 30, random_state=0))
    path = solve_path(X, y, [1.0, 0.1], patterns=D, formulation="gated")
    single = solve(X, y, 0.1, patterns=D, formulation="gated")
    assert path[1].status == "optimal"
    assert path[1].convex_objective == pytest.approx(single.convex_objective, rel=1e-9)
