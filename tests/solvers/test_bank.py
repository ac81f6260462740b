"""Every solver against an independent reference optimum on a bank of small problems.

The reference is eq. (8) written block by block from the paper in CVXPY and solved by
Clarabel to high accuracy. A new solver = one entry in SOLVERS_UNDER_TEST.
"""

from __future__ import annotations

import functools
import itertools
import warnings

import cvxpy as cp
import numpy as np
import pytest

from convexnn import ConvergenceWarning, enumerate_patterns, sample_patterns, solve
from convexnn.solvers import SOLVERS

# (solver name, relative objective tolerance, tolerance on the certified relative gap)
SOLVERS_UNDER_TEST = [
    ("cvxpy", 1e-6, 1e-6),
    ("cvxpy-scs", 2e-3, 5e-2),
    ("fast", 1e-5, 1e-6),
    ("group-lasso", 1e-5, 1e-6),
    ("relu-pgd", 1e-5, 1e-6),
]


def reference_optimum(X, y, beta, D, *, formulation, hidden_bias, output_bias) -> float:
    """Eq. (8) block by block: sum_i D_i X (v_i - w_i), cones (2 D_i - I) X v_i >= 0."""
    Xe = np.c_[X, np.ones(len(X))] if hidden_bias else X
    d = Xe.shape[1]
    P = D.shape[1]
    v = [cp.Variable(d) for _ in range(P)]
    w = [cp.Variable(d) for _ in range(P)]
    pred = sum(cp.multiply(D[:, i].astype(float), Xe @ (v[i] - w[i])) for i in range(P))
    if output_bias:
        pred = pred + cp.Variable()
    reg = sum(cp.norm(v[i], 2) + cp.norm(w[i], 2) for i in range(P))
    cons = []
    if formulation == "relu":
        for i in range(P):
            s = 2.0 * D[:, i] - 1.0
            cons += [cp.multiply(s, Xe @ v[i]) >= 0, cp.multiply(s, Xe @ w[i]) >= 0]
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(pred - y) + beta * reg), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(prob.value)


def _bank():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(8, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    X_rep = np.vstack([X[:5], X[:3]])  # repeated rows: a degenerate arrangement
    cases = []
    for form, hb, ob, pat in itertools.product(
        ("relu", "gated"), (True, False), (True, False), ("exact", "sampled")
    ):
        cases.append((f"{form}-hb{int(hb)}-ob{int(ob)}-{pat}", X, y, form, hb, ob, pat))
    cases.append(("relu-degenerate-exact", X_rep, y, "relu", True, False, "exact"))
    return cases


BANK = _bank()
_CASES = {c[0]: c for c in BANK}


@functools.cache
def _reference_for_case(name: str, beta: float) -> tuple[float, object]:
    """Patterns and reference optimum of one bank case, computed once for all solvers."""
    _, X, y, form, hb, ob, pat = _CASES[name]
    D = _patterns(X, pat, hb)
    p_ref = reference_optimum(X, y, beta, D, formulation=form, hidden_bias=hb, output_bias=ob)
    return p_ref, D


def _patterns(X, kind, hidden_bias):
    if kind == "exact":
        return enumerate_patterns(X, hidden_bias=hidden_bias)
    return sample_patterns(X, 6, hidden_bias=hidden_bias, random_state=0)


@pytest.mark.parametrize(("solver", "obj_tol", "gap_tol"), SOLVERS_UNDER_TEST)
@pytest.mark.parametrize(
    ("name", "X", "y", "form", "hb", "ob", "pat"), BANK, ids=[c[0] for c in BANK]
)
def test_solver_matches_reference(solver, obj_tol, gap_tol, name, X, y, form, hb, ob, pat):
    beta = 0.05
    if form not in SOLVERS[solver].formulations:
        pytest.skip(f"{solver} does not support formulation {form!r}")
    p_ref, D = _reference_for_case(name, beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = solve(
            X,
            y,
            beta,
            patterns=D,
            formulation=form,
            solver=solver,
            hidden_bias=hb,
            output_bias=ob,
        )
    assert sol.convex_objective == pytest.approx(p_ref, rel=obj_tol)
    # The certified lower bound never exceeds the reference optimum of the same program.
    assert sol.lower_bound <= p_ref * (1 + 1e-7) + 1e-12
    assert sol.constraint_violation <= (1e-6 if solver == "cvxpy" else 1e-3)
    assert sol.scope == ("global" if pat == "exact" else "patterns")
    if form == "relu":
        # The Theorem-1 network reproduces the convex predictions and objective.
        Xe = np.c_[X, np.ones(len(X))] if hb else X
        z_convex = np.sum(sol.patterns * (Xe @ (sol.V - sol.W)), axis=1) + (sol.c or 0.0)
        np.testing.assert_allclose(
            sol.network.predict(X), z_convex, atol=10 * obj_tol * (1 + np.abs(y).max())
        )
        assert sol.objective == pytest.approx(sol.convex_objective, rel=10 * obj_tol)
        assert sol.relative_gap <= gap_tol
    else:
        # Gated: the convex value is certified; the ReLU network is scored honestly.
        assert sol.objective >= sol.lower_bound - 1e-9
        assert sol.convex_objective - sol.lower_bound <= gap_tol * p_ref + 1e-9


def test_every_registered_solver_is_under_test_and_declares_what_it_takes():
    """A new solver is one entry in SOLVERS and one in SOLVERS_UNDER_TEST, and declares
    its formulations, losses and options (``solve`` refuses the others by name)."""
    assert {name for name, _, _ in SOLVERS_UNDER_TEST} == set(SOLVERS)
    for name, solver in SOLVERS.items():
        assert solver.name == name
        assert set(solver.formulations) <= {"relu", "gated"} and solver.losses
        names = solver.option_names
        assert names is None or (isinstance(names, frozenset) and "warm_start" in names)
