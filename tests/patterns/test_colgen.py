"""Column generation and the pricing search, against brute force over all patterns."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
from convexnn.duality import cone_dual_norms, dual_certificate
from convexnn.patterns import column_generation, network_patterns, search_patterns
from convexnn.problem import build_problem

BETA = 1e-2


def _planted(n: int, seed: int, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=(d, 3)) + 0.3, 0) @ np.array([1.0, -1.0, 0.5])
    return X, y + 0.1 * rng.normal(size=n)


def _eff(X: np.ndarray, hidden_bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X


def _keys(D: np.ndarray) -> set[bytes]:
    return {c.tobytes() for c in np.packbits(np.asarray(D, dtype=bool), axis=0).T}


CASES = [(30, 2, False), (25, 2, True), (15, 3, True), (12, 4, False)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n,d,hidden_bias", CASES)
def test_search_finds_the_exact_relu_pricing_maximum(n, d, hidden_bias, seed):
    """max_{||u||<=1} |lam^T (X u)_+| equals brute force over all the patterns."""
    rng = np.random.default_rng(seed)
    X, lam = rng.normal(size=(n, d)), rng.normal(size=n)
    Xe = _eff(X, hidden_bias)
    exact = cone_dual_norms(Xe, cnn.enumerate_patterns(X, hidden_bias=hidden_bias), lam).max()
    values, D = search_patterns(Xe, lam, n_starts=32, random_state=seed)
    assert values[0] == pytest.approx(exact, rel=1e-9)
    assert np.all(np.diff(values) <= 0)
    norms = cone_dual_norms(Xe, D, lam).max(axis=1)
    assert np.all(values <= norms * (1 + 1e-12) + 1e-12)  # exact or lower bounds
    assert values[0] == pytest.approx(norms[0], rel=1e-12)


@pytest.mark.parametrize("n,d,hidden_bias", CASES)
def test_gated_search_returns_real_patterns_below_the_maximum(n, d, hidden_bias):
    rng = np.random.default_rng(5)
    X, lam = rng.normal(size=(n, d)), rng.normal(size=n)
    Xe = _eff(X, hidden_bias)
    D_all = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    exact = cone_dual_norms(Xe, D_all, lam, formulation="gated").max()
    values, D = search_patterns(Xe, lam, formulation="gated", random_state=0)
    assert _keys(D) <= _keys(D_all)  # realisable: gated blocks must be real cells
    assert values[0] <= exact * (1 + 1e-12)
    assert values[0] >= 0.8 * exact  # a heuristic: close, not proven exact


def _global_optimum(X, y, hidden_bias, output_bias):
    return cnn.solve(X, y, BETA, patterns="exact", hidden_bias=hidden_bias, output_bias=output_bias)


@pytest.mark.parametrize(
    "n,hidden_bias,output_bias", [(20, False, False), (12, True, False), (12, True, True)]
)
def test_column_generation_reaches_the_global_optimum(n, hidden_bias, output_bias):
    X, y = _planted(n, seed=1)
    exact = _global_optimum(X, y, hidden_bias, output_bias)
    assert exact.scope == "global"
    D0 = cnn.sample_patterns(X, 3, hidden_bias=hidden_bias, random_state=0)
    res = column_generation(
        X,
        y,
        BETA,
        initial_patterns=D0,
        solver="cvxpy",
        hidden_bias=hidden_bias,
        output_bias=output_bias,
        n_starts=16,
        random_state=0,
    )
    sol = res.solution
    assert res.converged and res.n_rounds > 1
    assert sol.scope == "patterns"  # honest: certified over its own patterns only
    assert res.patterns.shape[1] < exact.patterns.shape[1]
    # global optimum, certified by the exhaustive program's lower bound ...
    assert (sol.objective - exact.lower_bound) / sol.objective <= 1e-6
    # ... and by colgen's own dual point checked against ALL the patterns
    D_all = cnn.enumerate_patterns(X, hidden_bias=hidden_bias)
    problem = build_problem(
        X, y, BETA, D_all, hidden_bias=hidden_bias, output_bias=output_bias, caller="test"
    )
    z = np.einsum("np,np->n", _eff(X, hidden_bias) @ (sol.V - sol.W), sol.patterns)
    cert = dual_certificate(problem, z + (sol.c or 0.0), sol.objective, scope="global")
    assert cert.relative_gap <= 1e-6
    hist = res.history
    assert hist["n_patterns"][-1] == res.patterns.shape[1]
    assert hist["n_added"][-1] == 0
    assert np.all(np.diff(hist["objective"]) <= 1e-9 * hist["objective"][0])
    assert res.priced_lower_bound <= exact.objective * (1 + 1e-9)


def test_exact_pricing_oracle_plugs_in_and_gives_a_global_bound():
    X, y = _planted(16, seed=2)
    D_all = cnn.enumerate_patterns(X)
    calls = []

    def brute_force(X_eff, lam):
        calls.append(1)
        values = cone_dual_norms(X_eff, D_all, lam)[:, 0]
        i = int(np.argmax(values))
        return float(values[i]), D_all[:, i]

    exact = _global_optimum(X, y, False, False)
    res = column_generation(
        X, y, BETA, initial_patterns=D_all[:, :2], solver="cvxpy", pricing=brute_force
    )
    assert res.converged and len(calls) == 2 * res.n_rounds
    # with an exact pricing the priced bound is a global lower bound, and tight
    assert res.priced_lower_bound <= exact.objective * (1 + 1e-9)
    assert (res.solution.objective - res.priced_lower_bound) / exact.objective <= 1e-6


def test_network_patterns_are_real_patterns_of_trained_neurons():
    pytest.importorskip("torch")
    X, y = _planted(30, seed=3)
    D = network_patterns(X, y, BETA, n_neurons=6, n_runs=2, hidden_bias=True, random_state=0)
    assert 1 <= D.shape[1] <= 12 and not D.exhaustive
    assert _keys(D) <= _keys(cnn.enumerate_patterns(X, hidden_bias=True))
    flips = network_patterns(X, y, BETA, n_neurons=6, hidden_bias=True, n_flips=1, random_state=0)
    assert flips.shape[1] <= 12 and flips.method == "alg3"


def test_clear_errors():
    X, y = _planted(10, seed=0)
    with pytest.raises(ValueError, match="initial_patterns must be a boolean array"):
        column_generation(X, y, BETA, initial_patterns=np.ones((9, 2), bool), solver="cvxpy")
    with pytest.raises(TypeError, match="pricing must be None or a callable"):
        column_generation(X, y, BETA, pricing="exact", solver="cvxpy")
    with pytest.raises(ValueError, match="pricing must return a pattern of shape"):
        column_generation(
            X, y, BETA, solver="cvxpy", pricing=lambda Xe, lam: (1.0, np.ones(3, bool))
        )


@pytest.mark.filterwarnings("ignore:column_generation. stopped after max_rounds")
def test_warm_started_rounds_match_a_cold_reference_solve():
    """Gated colgen with the fast (warm-started) solver vs CVXPY on its final patterns."""
    from convexnn.solvers import SOLVERS

    if "fast" not in SOLVERS or "gated" not in SOLVERS["fast"].formulations:
        pytest.skip("the fast gated solver is not registered")
    X, y = _planted(40, seed=4, d=3)
    D0 = cnn.sample_patterns(X, 4, hidden_bias=True, random_state=0)
    res = column_generation(
        X,
        y,
        BETA,
        initial_patterns=D0,
        formulation="gated",
        hidden_bias=True,
        solver="fast",
        max_rounds=4,
        max_add=10,
        random_state=0,
    )
    assert res.n_rounds > 1
    assert np.all(
        np.diff(res.history["convex_objective"]) <= 1e-6 * res.history["convex_objective"][0]
    )
    ref = cnn.solve(
        X, y, BETA, patterns=res.patterns, formulation="gated", solver="cvxpy", hidden_bias=True
    )
    assert res.solution.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)


def test_hinge_loss_prices_with_the_certificates_dual_point():
    """The paper's classification experiments use the hinge loss (no gradient)."""
    X, y = _planted(14, seed=5)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    pricing = cnn.patterns.pricing
    res = column_generation(
        X, labels, 0.1, loss="hinge", solver="cvxpy", pricing=pricing, random_state=0
    )
    exact = cnn.solve(X, labels, 0.1, patterns="exact", loss="hinge", solver="cvxpy")
    assert res.converged
    assert res.priced_lower_bound <= exact.objective * (1 + 1e-7)
    assert (res.solution.objective - res.priced_lower_bound) / exact.objective <= 1e-5


@pytest.mark.filterwarnings("ignore:column_generation. stopped after max_rounds")
@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_priced_dual_point_is_feasible_and_gives_the_priced_bound(formulation):
    X, y = _planted(25, seed=6)
    res = column_generation(
        X,
        y,
        BETA,
        initial_patterns=cnn.sample_patterns(X, 4, random_state=0),
        formulation=formulation,
        max_rounds=1,
        random_state=0,
    )
    lam = res.priced_dual_point
    norms = cone_dual_norms(X, res.patterns, lam, formulation=formulation)
    assert norms.max() <= BETA
    assert 0.5 * y @ y - 0.5 * np.sum((y - lam) ** 2) == pytest.approx(
        res.priced_lower_bound, rel=1e-12
    )


def test_warns_with_the_gap_when_max_rounds_stops_it():
    X, y = _planted(40, seed=3, d=3)
    D0 = cnn.sample_patterns(X, 2, random_state=0)
    with pytest.warns(cnn.ConvergenceWarning, match=r"max_rounds=2 .* priced lower bound"):
        res = column_generation(
            X,
            y,
            1e-3,
            initial_patterns=D0,
            max_rounds=2,
            max_add=1,
            pricing=cnn.patterns.pricing,
            solver="cvxpy",
        )
    assert not res.converged and res.n_rounds == 2


def test_time_budget_zero_stops_after_the_first_round_and_warns():
    X, y = _planted(40, seed=3, d=3)
    D0 = cnn.sample_patterns(X, 2, random_state=0)
    kwargs = dict(initial_patterns=D0, max_add=1, pricing=cnn.patterns.pricing, solver="cvxpy")
    with pytest.warns(
        cnn.ConvergenceWarning, match=r"time_budget=0 s \(1 solves\) .*\(relative \d"
    ):
        res = column_generation(X, y, 1e-3, time_budget=0.0, **kwargs)
    assert not res.converged and res.n_rounds == 1
    # the state returned is that round's certified solve over its own patterns
    assert res.patterns.shape[1] == 2 and res.solution.gap <= 1e-6 * res.solution.objective
    assert res.priced_lower_bound <= res.solution.convex_objective


def test_time_budget_stops_when_the_clock_passes_it(monkeypatch):
    """A fake clock that moves only when the pricing is called (twice a round)."""
    import importlib
    import types

    colgen = importlib.import_module("convexnn.patterns.colgen")
    now = [0.0]
    monkeypatch.setattr(colgen, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def pricing(X_eff, lam):
        now[0] += 1.0
        return cnn.patterns.pricing(X_eff, lam)

    X, y = _planted(40, seed=3, d=3)
    D0 = cnn.sample_patterns(X, 2, random_state=0)
    with pytest.warns(cnn.ConvergenceWarning, match=r"time_budget=3 s \(2 solves\)"):
        res = column_generation(
            X, y, 1e-3, initial_patterns=D0, max_add=1, pricing=pricing, solver="cvxpy",
            time_budget=3.0,
        )  # fmt: skip
    assert not res.converged and res.n_rounds == 2 and res.time == 4.0


def test_an_infinite_time_budget_is_no_cap():
    X, y = _planted(40, seed=3, d=3)
    D0 = cnn.sample_patterns(X, 2, random_state=0)
    kwargs = dict(initial_patterns=D0, max_add=1, pricing=cnn.patterns.pricing, solver="cvxpy")
    with pytest.warns(cnn.ConvergenceWarning, match=r"stopped after max_rounds=3 solves"):
        capped = column_generation(X, y, 1e-3, max_rounds=3, time_budget=np.inf, **kwargs)
    with pytest.warns(cnn.ConvergenceWarning, match=r"stopped after max_rounds=3 solves"):
        free = column_generation(X, y, 1e-3, max_rounds=3, time_budget=None, **kwargs)
    assert capped.n_rounds == free.n_rounds == 3
    assert capped.solution.objective == pytest.approx(free.solution.objective, rel=1e-9)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "10", True])
def test_time_budget_is_checked(bad):
    X, y = _planted(10, seed=0)
    with pytest.raises(ValueError, match=r"column_generation: time_budget must be None or a"):
        column_generation(X, y, BETA, time_budget=bad)


def test_default_start_on_data_with_few_patterns_does_not_warn(recwarn):
    """d = 1 has two patterns: the 16 default initial ones cannot be found (no warning)."""
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(10, 1)), rng.normal(size=10)
    res = column_generation(X, y, 0.05, solver="cvxpy", random_state=0)
    assert res.converged and res.patterns.shape[1] == 2
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
