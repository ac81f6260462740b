"""End-to-end: exact optimum, global certificate, and gradient descent never below it."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import convexnn as cnn
from conftest import random_2d
from convexnn.baselines import train_gd
from convexnn.solvers import build_cvxpy_problem


def _reference_value(sol, X, y, beta, hidden_bias, formulation="relu"):
    """The optimum of the same program, straight from CVXPY (no convexnn post-processing)."""
    prob = cnn.build_problem(
        X, y, beta, sol.patterns, hidden_bias=hidden_bias, formulation=formulation
    )
    cvx, *_ = build_cvxpy_problem(prob)
    cvx.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(cvx.value)


@pytest.mark.parametrize("beta", [1e-3, 1e-2, 0.1])
def test_paper_toy_is_certified_globally(toy_1d, beta):
    X, y = toy_1d
    sol = cnn.solve(X, y, beta, hidden_bias=True)
    assert sol.pattern_source == "exact"
    assert sol.patterns.shape == (5, 10)
    assert sol.scope == "global"
    assert sol.relative_gap <= 1e-6
    p_star = _reference_value(sol, X, y, beta, True)
    assert sol.objective == pytest.approx(p_star, rel=1e-6)
    assert sol.network.objective(X, y, beta) == pytest.approx(sol.objective, rel=1e-12)
    assert sol.n_neurons >= 1


@pytest.mark.parametrize(("n", "seed"), [(20, 0), (35, 1), (50, 2)])
def test_random_2d_with_bias_is_certified_globally(n, seed):
    X, y = random_2d(n, seed)
    sol = cnn.solve(X, y, 0.05, hidden_bias=True, patterns="exact")
    assert sol.scope == "global"
    assert sol.patterns.shape[1] == cnn.count_patterns_bound(n, 3)
    assert sol.relative_gap <= 1e-6
    assert sol.objective == pytest.approx(sol.convex_objective, rel=1e-6)


@pytest.mark.parametrize("m", [8, 15, 50])
def test_gradient_descent_never_beats_certified_bound(toy_1d, m):
    X, y = toy_1d
    beta = 1e-2
    sol = cnn.solve(X, y, beta, hidden_bias=True)
    finals = [
        train_gd(X, y, beta, m, hidden_bias=True, max_iter=1500, random_state=s).objective
        for s in range(20)
    ]
    assert min(finals) >= sol.lower_bound * (1 - 1e-6)
    # GD is a real competitor: its best run is within a few percent of the optimum.
    assert min(finals) <= 1.5 * sol.objective


def test_gradient_descent_2d_never_beats_certified_bound(data_2d):
    X, y = data_2d
    beta = 0.05
    sol = cnn.solve(X, y, beta, hidden_bias=True)
    assert sol.scope == "global"
    for seed in range(20):
        gd = train_gd(X, y, beta, 15, hidden_bias=True, max_iter=800, random_state=seed)
        assert gd.objective >= sol.lower_bound * (1 - 1e-6)


def test_certify_poor_network_bounds_its_suboptimality(data_2d):
    X, y = data_2d
    beta = 0.05
    sol = cnn.solve(X, y, beta, hidden_bias=True)
    poor = train_gd(X, y, beta, 10, hidden_bias=True, max_iter=5, random_state=0).network
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    cert = cnn.certify(poor, X, y, beta, patterns=D)
    assert cert.scope == "global"
    true_subopt = poor.objective(X, y, beta) - sol.objective
    assert true_subopt > 0
    assert cert.gap >= true_subopt - 1e-9
    assert cert.lower_bound <= sol.objective * (1 + 1e-7)


def test_gated_optimum_below_relu_optimum(data_2d):
    X, y = data_2d
    D = cnn.sample_patterns(X, 30, hidden_bias=True, random_state=0)
    relu = cnn.solve(X, y, 0.05, patterns=D, hidden_bias=True, formulation="relu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cnn.ConvergenceWarning)
        gated = cnn.solve(X, y, 0.05, patterns=D, hidden_bias=True, formulation="gated")
    assert gated.convex_objective <= relu.convex_objective * (1 + 1e-7)
    assert relu.scope == gated.scope == "patterns"


def test_sampled_patterns_are_reported_as_such(data_2d):
    X, y = data_2d
    sol = cnn.solve(X, y, 0.05, hidden_bias=True, patterns="sampled", n_patterns=15, random_state=0)
    assert sol.pattern_source == "sampled"
    assert sol.scope == "patterns"
    assert "relative to the" in sol.summary()


def test_auto_patterns_sample_when_too_many():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = rng.normal(size=40)
    sol = cnn.solve(X, y, 1.0, n_patterns=20, max_exact_patterns=100, random_state=0)
    assert sol.pattern_source == "sampled"
    assert sol.scope == "patterns"


def test_output_bias(data_2d):
    X, y = data_2d
    y = y + 5.0
    with_bias = cnn.solve(X, y, 0.05, hidden_bias=True, output_bias=True)
    without = cnn.solve(X, y, 0.05, hidden_bias=True)
    assert with_bias.network.c is not None
    assert with_bias.objective < without.objective
    assert with_bias.relative_gap <= 1e-6
    assert abs(with_bias.certificate.dual_point.sum()) <= 1e-8 * np.abs(y).sum()


def test_exhaustive_patterns_for_other_X_warn(toy_1d):
    X, y = toy_1d
    D_wrong = cnn.enumerate_patterns(np.c_[X, X**2], hidden_bias=False)
    with pytest.warns(UserWarning, match="enumerated for a different X"):
        sol = cnn.solve(X, y, 0.1, patterns=D_wrong, hidden_bias=True)
    assert sol.scope == "patterns"


def test_summary_and_repr(toy_1d):
    X, y = toy_1d
    sol = cnn.solve(X, y, 0.1, hidden_bias=True)
    assert "GLOBAL" in sol.summary()
    assert "scope='global'" in repr(sol)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"solver": "adam"}, ValueError, r"unknown solver 'adam'; expected one of 'cvxpy'"),
        ({"formulation": "cnn"}, ValueError, r"unknown formulation 'cnn'"),
        ({"loss": "cubic"}, ValueError, r"unknown loss 'cubic'"),
        ({"patterns": "all"}, ValueError, r"patterns must be None, 'exact', 'sampled'"),
        ({"patterns": np.ones((4, 3), bool)}, ValueError, r"shape \(n_samples, P\) = \(5, P\)"),
        ({"patterns": "sampled", "n_patterns": 0}, ValueError, r"n_patterns must be an integer"),
        # a misspelt option of the fast solvers, and Clarabel's settings without CVXPY:
        # both had been ignored without a word
        (
            {"solver_options": {"dtyp": "float32"}},
            ValueError,
            r"solver 'fast' \(the default solver for this problem\) takes the solver_options "
            r"\['backend', 'device', 'dtype', 'warm_start'\], got \['dtyp'\]",
        ),
        (
            {"solver": "relu-pgd", "solver_options": {"tol_gap_abs": 1e-12}},
            ValueError,
            r"solver 'relu-pgd' takes .* got \['tol_gap_abs'\]; .* need solver='cvxpy'",
        ),
        # the fast solvers' options given to CVXPY: Clarabel's raw TypeError before
        (
            {"solver": "cvxpy", "solver_options": {"dtype": "float32"}},
            ValueError,
            r"solve: solver_options \['dtype'\] go to CVXPY's CLARABEL backend, which "
            r"refused them .*need solver='fast'",
        ),
        (
            {"solver": "cvxpy-scs", "solver_options": {"device": "cpu"}},
            ValueError,
            r"solver_options \['device'\] go to CVXPY's SCS backend",
        ),
    ],
)
def test_bad_input(toy_1d, kwargs, exc, match):
    X, y = toy_1d
    with pytest.raises(exc, match=match):
        cnn.solve(X, y, 0.1, hidden_bias=True, **kwargs)


@pytest.mark.parametrize(
    ("X", "y", "beta", "match"),
    [
        (np.arange(5.0), np.ones(5), 0.1, r"X must be 2-D"),
        (np.ones((5, 1)), np.ones(4), 0.1, r"y must have one entry per row of X \(5\), got 4"),
        (np.ones((5, 1)), np.ones(5), -1.0, r"solve: beta must be > 0, got -1\.0"),
        (np.full((5, 1), np.nan), np.ones(5), 0.1, r"X must be finite"),
    ],
)
def test_bad_data(X, y, beta, match):
    with pytest.raises(ValueError, match=match):
        cnn.solve(X, y, beta)


def test_huge_beta_gives_the_zero_network_certified(data_2d):
    X, y = data_2d
    sol = cnn.solve(X, y, 1e6, hidden_bias=True)
    assert sol.n_neurons == 0
    assert sol.objective == pytest.approx(0.5 * y @ y, rel=1e-12)
    assert sol.scope == "global"
    assert sol.relative_gap <= 1e-9


@pytest.mark.parametrize(
    ("X", "y"),
    [
        (np.zeros((5, 2)), np.ones(5)),  # rank 0: one pattern, nothing to learn
        (np.array([[1.0, 2.0]]), np.array([3.0])),  # one sample
        (np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10)),  # zero targets
    ],
    ids=["zero-X", "one-sample", "zero-y"],
)
def test_degenerate_data_is_solved_and_certified(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no division warnings
        sol = cnn.solve(X, y, 0.1, hidden_bias=True, output_bias=True)
    assert sol.scope == "global"
    assert sol.lower_bound <= sol.objective + 1e-12
    assert sol.relative_gap <= 1e-6


def test_count_bound_rank_zero():
    assert cnn.count_patterns_bound(5, 0) == 1
    assert cnn.enumerate_patterns(np.zeros((5, 2))).shape == (5, 1)


def test_pruning_keeps_objective_and_predictions_and_bounds_width(data_2d):
    X, y = data_2d
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    kept = cnn.solve(X, y, 1e-3, patterns=D, hidden_bias=True, solver="cvxpy", prune=False)
    pruned = cnn.solve(X, y, 1e-3, patterns=D, hidden_bias=True, solver="cvxpy", prune=True)
    assert pruned.n_neurons <= min(kept.n_neurons, X.shape[0] + 1)
    assert pruned.objective == pytest.approx(kept.objective, rel=1e-8)
    np.testing.assert_allclose(
        pruned.network.predict(X), kept.network.predict(X), rtol=1e-7, atol=1e-9
    )
    assert pruned.scope == "global" and pruned.relative_gap <= 1e-6


def test_bad_prune_option_is_refused(toy_1d):
    with pytest.raises(ValueError, match="prune must be True, False or 'auto'"):
        cnn.solve(*toy_1d, 0.1, prune="yes")


def test_gated_solve_does_not_blame_the_solver_for_the_relu_network(data_2d):
    X, y = data_2d
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnn.ConvergenceWarning)
        sol = cnn.solve(X, y, 0.05, formulation="gated", hidden_bias=True)
    # The gated model is a relaxation: its optimum lower-bounds the ReLU network's objective.
    assert sol.lower_bound <= sol.convex_objective <= sol.objective + 1e-9


def test_two_dimensional_targets_go_through_the_multi_output_path(data_2d):
    X, y = data_2d
    Y = np.column_stack([y, -y])
    sol = cnn.solve(X, Y, 0.1, hidden_bias=True)
    assert sol.network.predict(X).shape == Y.shape
    single = cnn.solve(X, y, 0.1, hidden_bias=True, solver="cvxpy")
    # Separate mode: the first output is the scalar network of the first column.
    assert sol.solutions[0].objective == pytest.approx(single.objective, rel=1e-6)


def test_hinge_certificate_uses_the_solver_multiplier_when_the_polish_is_too_big(monkeypatch):
    # Above _POLISH_MAX_SIZE the margin-point SOCP is skipped, and -grad L(z) alone gives
    # a bound far too low; CVXPY's multiplier of z = A(V - W) + c closes it.
    import convexnn.duality as duality

    monkeypatch.setattr(duality, "_POLISH_MAX_SIZE", 0)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    kw = dict(loss="hinge", hidden_bias=True, patterns="exact", solver="cvxpy")
    sol = cnn.solve(X, y, 1e-2, **kw)
    assert sol.scope == "global"
    assert 0 <= sol.relative_gap <= 1e-4
    assert sol.certificate.candidate == "multiplier"
    # certify() has only -grad L(z) of the same network: its bound is much weaker here.
    plain = cnn.certify(sol.network, X, y, 1e-2, loss="hinge", patterns=sol.patterns)
    assert plain.relative_gap > 10 * max(sol.relative_gap, 1e-6)


def _small_regression(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.maximum(X @ rng.normal(size=2), 0) + 0.1 * rng.normal(size=n)


def test_default_solver_falls_back_to_cvxpy_on_small_programs(monkeypatch):
    """The default (solver=None) re-solves a small program that the fast solver left
    above tol (here: its default max_iter made 1) with CVXPY, keeps the lower objective,
    says so in ``solver`` and does not re-emit the fast solver's warnings."""
    from convexnn.solvers import relu_pgd

    X, y = _small_regression()
    monkeypatch.setattr(relu_pgd, "DEFAULT_MAX_ITER", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnn.ConvergenceWarning)
        sol = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0)
    ref = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0, solver="cvxpy")
    assert sol.solver == "fast -> cvxpy" and sol.status == "optimal"
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-7)
    assert sol.relative_gap <= 1e-6


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_a_given_max_iter_is_a_cap_without_the_cvxpy_re_solve(formulation):
    X, y = _small_regression()
    with pytest.warns(cnn.ConvergenceWarning, match="max_iter=1"):
        sol = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0, max_iter=1,
                        formulation=formulation)  # fmt: skip
    assert sol.solver == "fast" and sol.status == "max_iter" and sol.n_iter <= 1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"tol": 0.0}, "tol must be a positive finite number"),
        ({"tol": -1.0}, "tol must be a positive finite number"),
        ({"tol": float("nan")}, "tol must be a positive finite number"),
        ({"tol": "1e-6"}, "tol must be a positive number"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1, got 0"),
        ({"max_iter": 2.5}, "max_iter must be an integer >= 1, got 2.5"),
    ],
)
def test_bad_tol_or_max_iter_is_refused(kw, match):
    X, y = _small_regression()
    with pytest.raises((ValueError, TypeError), match=match):
        cnn.solve(X, y, 0.1, n_patterns=5, random_state=0, **kw)
    with pytest.raises((ValueError, TypeError), match=match):
        cnn.solve_path(X, y, [0.1, 0.05], n_patterns=5, random_state=0, **kw)
    with pytest.raises((ValueError, TypeError), match=match):
        cnn.solve(X, np.c_[y, y], 0.1, n_patterns=5, random_state=0, **kw)  # multi-output


@pytest.mark.parametrize(
    "kw",
    [
        {"solver": "fast"},  # asked for by name
        {"loss": "logistic"},  # an exponential-cone program: no fallback
    ],
)
def test_no_cvxpy_fallback_when_named_or_on_exponential_cones(kw, monkeypatch):
    from convexnn.solvers import relu_pgd

    monkeypatch.setattr(relu_pgd, "DEFAULT_MAX_ITER", 1)  # (a given max_iter: no fallback)
    X, y = _small_regression()
    if kw.get("loss") == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    with pytest.warns(cnn.ConvergenceWarning, match="max_iter"):
        sol = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0, **kw)
    assert sol.solver == "fast" and sol.status == "max_iter"


def test_no_cvxpy_fallback_on_large_programs(monkeypatch):
    import importlib

    monkeypatch.setattr(
        importlib.import_module("convexnn.solve"), "_FALLBACK_SIZE", 10
    )  # n * P = 600 is "large"
    monkeypatch.setattr(importlib.import_module("convexnn.solvers.relu_pgd"), "DEFAULT_MAX_ITER", 1)
    X, y = _small_regression()
    with pytest.warns(cnn.ConvergenceWarning, match="max_iter"):
        sol = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0)
    assert sol.solver == "fast" and sol.status == "max_iter"


def test_cvxpy_fallback_keeps_the_fast_result_unless_clarabel_is_optimal(monkeypatch):
    """A Clarabel result short of "optimal" (e.g. at its time limit) is not taken, even
    with a lower objective: it may violate the cones; the fast result and its warnings
    stand. The fallback passes Clarabel a time limit."""
    import dataclasses

    from convexnn.solvers.cvxpy_ref import CvxpySolver

    real = CvxpySolver.solve
    seen = {}

    def inaccurate(self, problem, **kw):
        seen.update(kw["options"])
        res = real(self, problem, **kw)
        return dataclasses.replace(res, status="inaccurate", objective=res.objective - 1.0)

    from convexnn.solvers import relu_pgd

    monkeypatch.setattr(CvxpySolver, "solve", inaccurate)
    monkeypatch.setattr(relu_pgd, "DEFAULT_MAX_ITER", 1)  # (a given max_iter: no fallback)
    X, y = _small_regression()
    with pytest.warns(cnn.ConvergenceWarning, match="max_iter") as record:
        sol = cnn.solve(X, y, 0.1, n_patterns=20, random_state=0)
    assert sol.solver == "fast" and sol.status == "max_iter"
    assert seen["time_limit"] >= 5.0
    # the fast solver's held-back warnings point at the caller's line, as solve's own
    assert {w.filename for w in record} == {__file__}


def test_status_is_not_optimal_when_the_certificate_misses_tol():
    """Clarabel stops on its own tolerances (absolute in effect at tiny objectives): on
    this hinge problem its point certifies only 5e-3. The status says so."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 2)), np.sign(rng.standard_normal(10))
    kw = dict(loss="hinge", hidden_bias=True, output_bias=True)
    with pytest.warns(cnn.ConvergenceWarning, match="status 'inaccurate' at a certified"):
        sol = cnn.solve(X, y, 1e-6, **kw)
    assert sol.solver == "cvxpy" and sol.status == "inaccurate" and sol.relative_gap > 1e-6
    tight = cnn.solve(X, y, 1e-6, **kw, tol=1e-2)
    assert tight.status == "optimal"


def test_bias_options_must_be_bools():
    X, y = np.random.default_rng(0).standard_normal((10, 2)), np.arange(10.0)
    with pytest.raises(TypeError, match=r"hidden_bias must be True or False \(a bool\), got 'no'"):
        cnn.solve(X, y, 0.1, hidden_bias="no", patterns="sampled", n_patterns=5)
    with pytest.raises(TypeError, match=r"output_bias must be True or False \(a bool\), got 'no'"):
        cnn.solve(X, y, 0.1, output_bias="no")
    assert cnn.solve(X, y, 0.1, hidden_bias=np.True_).network.b is not None


def test_string_labels_get_an_encoding_hint():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(TypeError, match="encode two classes as -1/\\+1"):
        cnn.solve(X, np.where(X[:, 0] > 0, "a", "b"), 0.1, loss="logistic")


def test_scs_capped_by_max_iter_says_so():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 3)), rng.standard_normal(60)
    kw = dict(hidden_bias=True, patterns="sampled", n_patterns=50, random_state=0)
    for cap in (1, 2, 3, 5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = cnn.solve(X, y, 0.05, solver="cvxpy-scs", max_iter=cap, **kw)
        except RuntimeError as exc:
            assert f"max_iter={cap}" in str(exc) and "raise max_iter" in str(exc)
            assert "solver='cvxpy-scs'" not in str(exc)
        else:
            assert sol.status != "optimal"


def test_a_negative_global_gap_is_called_rounding():
    import dataclasses

    sol = cnn.solve(np.zeros((5, 2)), np.arange(5.0), 0.1, hidden_bias=True)
    assert sol.scope == "global" and abs(sol.relative_gap) <= 1e-12
    neg = dataclasses.replace(sol, gap=-1e-15, relative_gap=-2e-16)
    assert "rounding" in neg.summary() and "outside these patterns" not in neg.summary()
    sampled = dataclasses.replace(neg, scope="patterns")
    assert "outside these patterns and beats their optimum" in sampled.summary()


def _zero_optimum_cases():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 3))
    y = rng.normal(size=40)
    return {
        "y=0": (X, np.zeros(40), 0.1, {}),
        "beta above beta_max": (X, y, 1e3, {"hidden_bias": True}),
        "constant y, output bias": (X, np.full(40, 3.0), 0.1, {"output_bias": True}),
    }


@pytest.mark.parametrize("case", ["y=0", "beta above beta_max", "constant y, output bias"])
@pytest.mark.parametrize("formulation", ["relu", "gated"])
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
def test_zero_optimum_reads_gap_and_violation_zero(case, formulation, solver):
    """The zero network is the exact optimum: no relative gap or cone violation of O(1)
    from dividing by a zero objective or zero blocks (CVXPY read a violation of 0.3-1.0,
    and the gated summary a relative gap of 1), and no warning."""
    X, y, beta, kw = _zero_optimum_cases()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error", cnn.ConvergenceWarning)
        sol = cnn.solve(X, y, beta, formulation=formulation, solver=solver, **kw)
    assert sol.status == "optimal" and sol.network.n_neurons == 0
    assert abs(sol.relative_gap) <= 1e-9 and abs(sol.certificate.relative_gap) <= 1e-9
    assert sol.constraint_violation == 0.0
    if formulation == "gated":  # the solver is judged on its program's own gap (tol)
        assert abs(sol.certificate.relative_gap_of(sol.convex_objective)) <= 1e-6
    printed = re.findall(r"relative (\S+?)\)", sol.summary())
    assert len(printed) == (2 if formulation == "gated" else 1)
    assert all(abs(float(value)) <= 1e-6 for value in printed), sol.summary()
