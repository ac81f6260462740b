"""Dual norms, dual points and certificates, checked against CVXPY optima of program (8)."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
from scipy.optimize import linprog

from conftest import random_2d
from convexnn import _jit, _nnls, duality
from convexnn._nnls import _cone_norm
from convexnn.duality import (
    Certificate,
    _cone_dual_norms_reference,
    certify,
    cone_dual_norms,
    max_cone_dual_norm,
)
from convexnn.network import TwoLayerReLU
from convexnn.patterns._matrix import PatternMatrix, fingerprint
from convexnn.problem import build_problem
from convexnn.solve import solve

CLARABEL_TIGHT = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}


# -- local, obvious references ----------------------------------------------------------


def with_ones(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def brute_force_patterns(X_eff: np.ndarray) -> PatternMatrix:
    """All full-dimensional cells of {x_j^T u = 0}: LP feasibility of s_j x_j^T u >= 1."""
    n, d = X_eff.shape
    assert n <= 8
    cols = []
    for s in itertools.product([1.0, -1.0], repeat=n):
        s_arr = np.array(s)
        res = linprog(
            np.zeros(d),
            A_ub=-(s_arr[:, None] * X_eff),
            b_ub=-np.ones(n),
            bounds=[(None, None)] * d,
            method="highs",
        )
        if res.status == 0:
            cols.append(s_arr > 0)
    D = np.array(cols).T
    return PatternMatrix(D, exhaustive=True, method="exact", X_fingerprint=fingerprint(X_eff))


def convex_optimum(X_eff, y, beta, D, *, output_bias=False):
    """Optimum of program (8), written from the paper, with an optional free scalar c."""
    import cvxpy as cp

    D = np.asarray(D, dtype=float)
    d, P = X_eff.shape[1], D.shape[1]
    V, W = cp.Variable((d, P)), cp.Variable((d, P))
    z = cp.sum(cp.multiply(D, X_eff @ (V - W)), axis=1)
    c = cp.Variable() if output_bias else None
    if c is not None:
        z = z + c
    S = 2 * D - 1
    objective = 0.5 * cp.sum_squares(z - y) + beta * (
        cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
    )
    cons = [cp.multiply(S, X_eff @ V) >= 0, cp.multiply(S, X_eff @ W) >= 0]
    prob = cp.Problem(cp.Minimize(objective), cons)
    prob.solve(solver="CLARABEL", **CLARABEL_TIGHT)
    return float(prob.value), V.value, W.value, (float(c.value) if c is not None else None)


def theorem1_network(V, W, c=None) -> TwoLayerReLU:
    """u = v / sqrt||v||, alpha = sqrt||v|| (negative for w); last row is the bias b.

    Every non-zero block is kept: at beta = 1e-3 dropping the solver's ~1e-10 blocks moves
    the residual by ~1e-9, i.e. ~1e-6 of beta, which shows in the certified gap.
    """
    U, alpha = [], []
    for B, sign in ((V, 1.0), (W, -1.0)):
        norms = np.linalg.norm(B, axis=0)
        for i in np.flatnonzero(norms > 0):
            U.append(B[:, i] / np.sqrt(norms[i]))
            alpha.append(sign * np.sqrt(norms[i]))
    U_eff = np.array(U).T
    return TwoLayerReLU(U_eff[:-1], np.array(alpha), b=U_eff[-1], c=c)


# -- problems ---------------------------------------------------------------------------

TOY_X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
TOY_Y = np.array([1.0, -1, 1, 1, -1])


def _make_case(name):
    if name.startswith("toy"):
        X, y, beta = TOY_X, TOY_Y, float(name.split("-", 1)[1])
    else:
        X, y = random_2d(8, seed=3)
        beta = 0.05
    X_eff = with_ones(X)
    D = brute_force_patterns(X_eff)
    p, V, W, _ = convex_optimum(X_eff, y, beta, D)
    return {"X": X, "y": y, "beta": beta, "X_eff": X_eff, "D": D, "p": p, "V": V, "W": W}


@pytest.fixture(scope="module", params=["toy-1e-3", "toy-0.1", "random2d"])
def case(request):
    return _make_case(request.param)


@pytest.fixture(scope="module")
def rand_case():
    return _make_case("random2d")


def random_network(rng, d, m, *, scale=1.0, c=None) -> TwoLayerReLU:
    return TwoLayerReLU(
        scale * rng.normal(size=(d, m)),
        scale * rng.normal(size=m),
        b=scale * rng.normal(size=m),
        c=c,
    )


# -- the kernel -------------------------------------------------------------------------


def test_brute_force_counts_match_cover():
    assert brute_force_patterns(with_ones(TOY_X)).shape == (5, 10)
    assert brute_force_patterns(with_ones(random_2d(8, seed=3)[0])).shape == (8, 58)


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_fast_kernel_matches_cvxpy_reference(rand_case, formulation):
    rng = np.random.default_rng(1)
    X_eff = rand_case["X_eff"]
    # Exhaustive patterns plus a few arbitrary (mostly non-realisable, thin-cone) ones.
    D = np.hstack([np.asarray(rand_case["D"]), rng.random((8, 8)) < 0.5])
    lam = rng.normal(size=8)
    fast = cone_dual_norms(X_eff, D, lam, formulation=formulation)
    ref = _cone_dual_norms_reference(X_eff, D, lam, formulation=formulation)
    assert fast.shape == (D.shape[1], 2)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-6)
    if formulation == "gated":
        gated = np.linalg.norm(X_eff.T @ (D * lam[:, None]), axis=0)
        np.testing.assert_allclose(fast, np.column_stack([gated, gated]), rtol=1e-12)
    else:
        assert np.all(fast <= cone_dual_norms(X_eff, D, lam, formulation="gated") + 1e-12)


def _scipy_loop(X_eff, D, lam):
    """Per-pair scipy NNLS values, the simple path the batched solver must agree with."""
    G = X_eff.T @ (D * lam[:, None])
    return np.array(
        [[_cone_norm(X_eff, D[:, i], s * G[:, i]) for s in (1.0, -1.0)] for i in range(D.shape[1])]
    )


def degenerate_data(rng):
    """Repeated rows, a zero row and collinear rows (rank 2 in R^3)."""
    base = rng.normal(size=(6, 2))
    X = np.vstack([base, base[:2], np.zeros((1, 2)), 2.5 * base[3:4]])
    return np.hstack([X, X[:, :1] - X[:, 1:]])  # third column dependent: rank 2


@pytest.mark.parametrize("data", ["random", "degenerate"])
def test_batched_nnls_matches_scipy_and_cvxpy(data):
    rng = np.random.default_rng(11)
    X_eff = with_ones(rng.normal(size=(40, 3))) if data == "random" else degenerate_data(rng)
    n = X_eff.shape[0]
    D = np.hstack([X_eff @ rng.normal(size=(X_eff.shape[1], 300)) >= 0, rng.random((n, 50)) < 0.5])
    lam = rng.normal(size=n)
    fast = cone_dual_norms(X_eff, D, lam)
    scale = np.linalg.norm(X_eff.T @ (D * lam[:, None]), axis=0)[:, None]
    np.testing.assert_allclose(fast, _scipy_loop(X_eff, D, lam), rtol=0, atol=1e-10 * scale.max())
    sub = np.r_[0:8, 300:306]  # a few realisable and a few arbitrary patterns
    ref = _cone_dual_norms_reference(X_eff, D[:, sub], lam)
    np.testing.assert_allclose(fast[sub], ref, rtol=0, atol=1e-6)


def test_scipy_fallback_gives_the_same_values(rand_case, monkeypatch):
    rng = np.random.default_rng(12)
    D = np.hstack([np.asarray(rand_case["D"]), rng.random((8, 20)) < 0.5])
    lam = rng.normal(size=8)
    fast = cone_dual_norms(rand_case["X_eff"], D, lam)
    monkeypatch.setattr(_nnls, "_NNLS_OUTER_ITER", 0)  # batched solver gives up at once
    slow = cone_dual_norms(rand_case["X_eff"], D, lam)
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("formulation", ["relu", "gated"])
def test_pruned_max_equals_full_max(formulation):
    rng = np.random.default_rng(2)
    X_eff = with_ones(rng.normal(size=(60, 2)))
    D = np.unique(X_eff @ rng.normal(size=(3, 3000)) >= 0, axis=1)
    for _ in range(3):
        lam = rng.normal(size=60)
        full = cone_dual_norms(X_eff, D, lam, formulation=formulation).max()
        assert max_cone_dual_norm(X_eff, D, lam, formulation=formulation) == pytest.approx(
            full, rel=1e-13
        )
    assert max_cone_dual_norm(X_eff, D, np.zeros(60)) == 0.0


def test_a_solver_dual_norm_bound_is_used_only_when_it_is_tight():
    from convexnn.problem import build_problem

    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(60, 2)), rng.normal(size=60)
    X_eff = with_ones(X)
    D = np.unique(X_eff @ rng.normal(size=(3, 200)) >= 0, axis=1)
    prob = build_problem(X, y, 0.5, D, hidden_bias=True)
    z = 0.3 * y
    plain = duality.dual_certificate(prob, z, 10.0, scope="patterns")
    lam0 = y - z
    s_true = float(cone_dual_norms(prob.X, D, lam0).max())
    assert plain.dual_norm == pytest.approx(s_true, rel=1e-12)
    tight = (lam0, s_true * (1 + 1e-3))  # a valid but looser bound at the same point
    hinted = duality.dual_certificate(prob, z, 10.0, scope="patterns", dual_norm_bound=tight)
    assert hinted.dual_norm == pytest.approx(s_true * (1 + 1e-3), rel=1e-12)
    assert hinted.lower_bound <= plain.lower_bound  # a larger s_max: never a better bound
    moved = (lam0 + 1e-3 * rng.normal(size=60), s_true)  # not this candidate: ignored
    other = duality.dual_certificate(prob, z, 10.0, scope="patterns", dual_norm_bound=moved)
    assert other.dual_norm == pytest.approx(s_true, rel=1e-12)


def test_block_aligned_candidate_is_a_tighter_valid_bound(rand_case):
    """Near the optimum the plain candidate's gap is ~ sqrt(suboptimality); the one
    aligned with the solution's blocks is ~ the suboptimality, and still a bound."""
    from convexnn.problem import build_problem

    c = rand_case
    prob = build_problem(c["X"], c["y"], c["beta"], c["D"], hidden_bias=True)
    V, W = (np.where(np.linalg.norm(B, axis=0) > 1e-8, B, 0.0) for B in (c["V"], c["W"]))
    rng = np.random.default_rng(0)
    for eps in (1e-5, 1e-4):
        # each block rescaled: still in its cone, eps^2 above the optimum
        Vp, Wp = V * (1 + eps * rng.normal(size=prob.P)), W * (1 + eps * rng.normal(size=prob.P))
        z, upper = prob.predict(Vp, Wp), prob.objective(Vp, Wp)
        plain = duality.dual_certificate(prob, z, upper, scope="global")
        aligned = duality.dual_certificate(prob, z, upper, scope="global", blocks=(Vp, Wp))
        assert plain.lower_bound <= aligned.lower_bound <= c["p"] + 1e-12
        assert (plain.candidate, aligned.candidate) == ("residual", "aligned")
        assert "aligned with the solution's blocks" in str(aligned)
        assert aligned.relative_gap <= 1e-2 * plain.relative_gap
        assert aligned.relative_gap <= 1e-5
    with pytest.raises(ValueError, match=r"blocks V and W must have shape \(d_eff, P\)"):
        duality.dual_certificate(prob, z, upper, scope="global", blocks=(V[:, :3], W))


def test_certify_aligns_with_the_neurons_of_a_near_optimal_network(rand_case):
    """A network slightly off the optimum: certify's gap follows its suboptimality,
    where the plain candidate's is about its square root."""
    from convexnn.problem import build_problem

    c = rand_case
    V, W = (np.where(np.linalg.norm(B, axis=0) > 1e-8, B, 0.0) for B in (c["V"], c["W"]))
    net = theorem1_network(V, W)
    prob = build_problem(c["X"], c["y"], c["beta"], c["D"], hidden_bias=True)
    rng = np.random.default_rng(0)
    for eps in (1e-4, 1e-3):
        s = 1 + eps * rng.normal(size=net.n_neurons)  # each neuron rescaled, same pattern
        off = TwoLayerReLU(net.U * s, net.alpha * s, b=net.b * s)
        cert = certify(off, c["X"], c["y"], c["beta"], patterns=c["D"])
        plain = duality.dual_certificate(
            prob, off.predict(c["X"]), cert.upper_bound, scope="global"
        )
        assert cert.scope == "global" and cert.candidate == "aligned"
        assert plain.lower_bound < cert.lower_bound <= c["p"] + 1e-12
        assert cert.relative_gap <= 1e-2 * plain.relative_gap
        assert cert.relative_gap <= 1e-3 < plain.relative_gap


# -- certificates -----------------------------------------------------------------------


def test_theorem1_network_is_certified_globally(case):
    net = theorem1_network(case["V"], case["W"])
    cert = certify(net, case["X"], case["y"], case["beta"], patterns=case["D"])
    assert isinstance(cert, Certificate)
    assert cert.scope == "global" and cert.is_global
    assert cert.formulation == "relu" and cert.n_patterns == case["D"].shape[1]
    assert cert.relative_gap <= 1e-6
    assert cert.lower_bound <= case["p"] * (1 + 1e-7)
    assert cert.upper_bound == pytest.approx(case["p"], rel=1e-6)
    # The dual point is feasible: every dual norm is at most beta.
    norms = cone_dual_norms(case["X_eff"], case["D"], cert.dual_point)
    assert norms.max() <= case["beta"] * (1 + 1e-12)
    assert cert.dual_norm * cert.scale <= case["beta"] * (1 + 1e-12)


def test_default_patterns_are_enumerated_and_global(case):
    net = theorem1_network(case["V"], case["W"])
    cert = certify(net, case["X"], case["y"], case["beta"])
    assert cert.scope == "global"
    assert cert.n_patterns == case["D"].shape[1]
    assert cert.relative_gap <= 1e-6


def test_bounds_sandwich_the_optimum_for_any_network(case):
    rng = np.random.default_rng(4)
    X, y, beta, p = case["X"], case["y"], case["beta"], case["p"]
    opt = theorem1_network(case["V"], case["W"])
    nets = [random_network(rng, X.shape[1], m, scale=s) for m in (1, 3, 10) for s in (0.1, 1)]
    nets.append(TwoLayerReLU(np.zeros((X.shape[1], 2)), np.zeros(2), b=np.zeros(2)))
    nets.append(TwoLayerReLU(opt.U * 1.3, opt.alpha * 0.7, b=opt.b))  # a poor neighbour
    tol = 1e-9 * max(1.0, abs(p))
    for net in nets:
        cert = certify(net, X, y, beta, patterns=case["D"])
        assert cert.scope == "global"
        assert cert.lower_bound <= p + tol
        assert cert.upper_bound >= p - tol
        assert cert.gap >= cert.upper_bound - p - tol  # the gap bounds the sub-optimality
        assert cert.upper_bound == pytest.approx(net.objective(X, y, beta), rel=1e-14)


def test_gated_dual_is_valid_and_looser(case):
    net = random_network(np.random.default_rng(5), case["X"].shape[1], 4)
    args = (net, case["X"], case["y"], case["beta"])
    relu = certify(*args, patterns=case["D"])
    gated = certify(*args, patterns=case["D"], formulation="gated")
    assert gated.formulation == "gated" and gated.scope == "global"
    assert gated.dual_norm >= relu.dual_norm - 1e-12
    assert gated.lower_bound <= relu.lower_bound + 1e-12
    assert gated.lower_bound <= case["p"] + 1e-9


def test_output_bias(rand_case):
    X, y, beta, X_eff, D = (rand_case[k] for k in ("X", "y", "beta", "X_eff", "D"))
    y = y + 3.0  # an offset that the output bias is there to absorb
    p_c, V, W, c = convex_optimum(X_eff, y, beta, D, output_bias=True)
    rng = np.random.default_rng(6)
    for net in [random_network(rng, 2, 3, c=0.5), random_network(rng, 2, 1, scale=0.1, c=-1.0)]:
        cert = certify(net, X, y, beta, patterns=D)
        assert abs(cert.dual_point.sum()) <= 1e-12 * max(1.0, np.abs(cert.dual_point).sum())
        assert cert.lower_bound <= p_c + 1e-9 * max(1.0, p_c)
        assert cert.upper_bound >= p_c - 1e-9 * max(1.0, p_c)
    opt = theorem1_network(V, W, c=c)
    cert = certify(opt, X, y, beta, patterns=D)
    assert cert.scope == "global"
    assert cert.relative_gap <= 1e-6
    assert cert.lower_bound <= p_c * (1 + 1e-7)


def test_sliced_patterns_bound_the_restricted_program(rand_case):
    X, y, beta, X_eff = (rand_case[k] for k in ("X", "y", "beta", "X_eff"))
    D_sub = rand_case["D"][:, :6]
    assert not isinstance(D_sub, PatternMatrix) or not D_sub.exhaustive
    p_sub, *_ = convex_optimum(X_eff, y, beta, D_sub)
    for net in [theorem1_network(rand_case["V"], rand_case["W"])] + [
        random_network(np.random.default_rng(s), 2, 3) for s in range(3)
    ]:
        cert = certify(net, X, y, beta, patterns=D_sub)
        assert cert.scope == "patterns" and not cert.is_global
        own = np.unique(X_eff @ net.U_eff >= 0, axis=1)  # added where D_sub lacks them
        missing = ~(own[:, :, None] == D_sub[:, None, :]).all(axis=0).any(axis=1)
        assert cert.n_patterns == 6 + int(missing.sum())
        assert cert.lower_bound <= p_sub + 1e-9 * max(1.0, p_sub)
    assert f"relative to the {cert.n_patterns} patterns used only" in str(cert)
    assert "GLOBAL" not in str(cert)


def test_plain_bool_array_of_all_patterns_is_not_global(rand_case):
    net = theorem1_network(rand_case["V"], rand_case["W"])
    D_plain = np.asarray(rand_case["D"]).copy()
    cert = certify(net, rand_case["X"], rand_case["y"], rand_case["beta"], patterns=D_plain)
    assert cert.scope == "patterns"
    assert cert.relative_gap <= 1e-6


def test_fingerprint_mismatch_warns(rand_case):
    X, y, beta = rand_case["X"], rand_case["y"], rand_case["beta"]
    net = random_network(np.random.default_rng(7), 2, 3)
    wrong = brute_force_patterns(X)  # enumerated without the ones column
    with pytest.warns(UserWarning, match="enumerated for a different X.*hidden_bias"):
        cert = certify(net, X, y, beta, patterns=wrong)
    assert cert.scope == "patterns"


def test_sampling_fallback_warns_and_includes_network_patterns(rand_case):
    X, y, beta, X_eff = (rand_case[k] for k in ("X", "y", "beta", "X_eff"))
    net = random_network(np.random.default_rng(8), 2, 5)
    with pytest.warns(UserWarning, match="sampled") as record:
        cert = certify(net, X, y, beta, max_patterns=3, random_state=0)
    assert record[0].filename == __file__  # the warning points at the caller
    assert cert.scope == "patterns"
    assert "relative to the" in str(cert)
    # patterns="sampled" asks for the same thing without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = certify(net, X, y, beta, patterns="sampled", random_state=0)
    assert same.n_patterns == cert.n_patterns
    assert same.lower_bound == pytest.approx(cert.lower_bound, rel=1e-12)
    # The network's own patterns are among those used: a one-pattern network's dual
    # norm along its own pattern is included in s_max.
    own = (X_eff @ net.U_eff >= 0)[:, :1]
    lam0 = cert.dual_point / cert.scale if cert.scale > 0 else cert.dual_point
    assert cert.dual_norm >= cone_dual_norms(X_eff, own, lam0).max() * (1 - 1e-9)


def test_str_states_scope_in_words(rand_case):
    net = theorem1_network(rand_case["V"], rand_case["W"])
    cert = certify(net, rand_case["X"], rand_case["y"], rand_case["beta"], patterns=rand_case["D"])
    text = str(cert)
    assert "GLOBAL: holds for the non-convex training problem (2)" in text
    assert "lower bound" in text and "upper bound" in text
    assert "scope='global'" in repr(cert)


# -- input errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"X": np.ones((8, 3))}, ValueError, r"X must have network.n_features = 2 columns.*ones"),
        ({"X": np.ones((8, 4))}, ValueError, r"X must have network.n_features = 2 columns"),
        ({"y": np.r_[np.nan, np.zeros(7)]}, ValueError, r"y must be finite, got 1 NaN"),
        ({"y": np.zeros(5)}, ValueError, r"y must have one entry per row of X \(8\)"),
        ({"beta": 0.0}, ValueError, r"beta must be > 0"),
        ({"beta": -1.0}, ValueError, r"beta must be > 0"),
        ({"patterns": np.ones((7, 4), bool)}, ValueError, r"patterns must be .*\(8, P\)"),
        ({"patterns": np.ones(8, bool)}, ValueError, r"patterns must be .*shape \(8,\)"),
        ({"patterns": "all"}, ValueError, r"patterns must be None, 'exact', 'sampled'"),
        ({"formulation": "cone"}, ValueError, r"unknown formulation 'cone'.*'relu', 'gated'"),
        ({"loss": "hinge2"}, ValueError, r"unknown loss 'hinge2'.*'squared'"),
        ({"max_patterns": 0}, ValueError, r"max_patterns must be an integer >= 1"),
        ({"network": "net"}, TypeError, r"network must be a convexnn.TwoLayerReLU"),
    ],
)
def test_bad_inputs_are_named(change, error, match):
    X, y = random_2d(8, seed=3)
    kwargs = {"network": random_network(np.random.default_rng(0), 2, 3), "X": X, "y": y}
    kwargs["beta"] = 0.1
    kwargs.update(change)
    with pytest.raises(error, match=match):
        certify(kwargs.pop("network"), kwargs.pop("X"), kwargs.pop("y"), **kwargs)


def test_kernel_input_errors():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=re.escape("lam must be a vector with one entry")):
        cone_dual_norms(X, np.ones((4, 2), bool), np.ones(3))
    with pytest.raises(ValueError, match="patterns must be"):
        cone_dual_norms(X, np.ones((3, 2), bool), np.ones(4))
    with pytest.raises(ValueError, match="unknown formulation"):
        cone_dual_norms(X, np.ones((4, 2), bool), np.ones(4), formulation="x")


def test_compiled_extreme_rows_equal_the_numpy_argmin_and_argmax():
    """The cheap bounds' most violated rows, compiled, are NumPy's argmin / argmax of the
    signed, scaled products: the first row on ties, zero rows included, on C- and
    Fortran-ordered masks."""
    pytest.importorskip("numba")
    jit = _jit.kernels()
    rng = np.random.default_rng(11)
    X = rng.normal(size=(70, 3))
    X[5] = 0.0  # a zero row: scaled product 0
    X[30] = X[31]  # equal rows: ties
    D = X @ rng.normal(size=(3, 40)) >= 0
    D[30] = D[31]
    XG = X @ rng.normal(size=(3, 40))
    XG[:, 7] = 0.0  # a column of ties only: row 0 both ways
    inv = 1.0 / np.maximum(np.linalg.norm(X, axis=1), 1e-300)
    inv[5] = 0.0
    for mask in (D, np.asfortranarray(D), D[:, 3:29]):
        grid = XG[:, : mask.shape[1]]
        lo, hi = jit.extreme_rows(np.ascontiguousarray(grid), mask, inv)
        ref_lo, ref_hi = duality._extreme_rows(grid, mask, inv)
        np.testing.assert_array_equal(lo, ref_lo)
        np.testing.assert_array_equal(hi, ref_hi)
    lo, hi = jit.extreme_rows(np.ascontiguousarray(XG), D, inv)
    assert lo[7] == hi[7] == 0  # nothing but ties: the first row
    assert (lo[:7] != 0).any()


def test_cheap_bounds_are_the_same_with_and_without_the_compiled_rows(monkeypatch):
    """``_cheap_bounds``: the same bounds and exact flags either way, every bound above
    the pair's cone dual norm, and exact where the flag says so."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(12)
    X_eff = with_ones(rng.normal(size=(80, 3)))
    D = np.unique(X_eff @ rng.normal(size=(4, 300)) >= 0, axis=1)
    lam = rng.normal(size=80)
    G = duality._pattern_gradients(X_eff, D, lam)
    norms = np.linalg.norm(G, axis=0)
    fast = duality._cheap_bounds(X_eff, D, G, norms)
    monkeypatch.setattr(_jit, "AVAILABLE", False)
    ref = duality._cheap_bounds(X_eff, D, G, norms)
    np.testing.assert_array_equal(fast[0], ref[0])
    np.testing.assert_array_equal(fast[1], ref[1])
    exact = cone_dual_norms(X_eff, D, lam)
    assert np.all(fast[0] >= exact - 1e-10 * exact.max())
    np.testing.assert_allclose(fast[0][fast[1]], exact[fast[1]], rtol=1e-10)
    assert fast[1].any() and (~fast[1]).any()


def test_importing_convexnn_does_not_import_numba():
    """numba (about 0.1 s to import) loads with the first compiled kernel, not with the
    package: the gated and CVXPY paths never pay for it."""
    import subprocess
    import sys

    code = "import sys, convexnn; assert 'numba' not in sys.modules, 'numba imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_certify_adds_the_networks_own_patterns_to_given_ones():
    """Over random patterns the network is not a point of the program: certify adds its
    own patterns, so its gap stays >= 0 (the program over random patterns alone has a
    higher optimum than the network's objective here)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 2)), rng.standard_normal(30)
    net = solve(X, y, 0.1, hidden_bias=True).network
    D = rng.random((30, 40)) < 0.5
    cert = certify(net, X, y, 0.1, patterns=D)
    own = np.unique(with_ones(X) @ net.U_eff >= 0, axis=1)
    assert cert.n_patterns == 40 + own.shape[1]  # none of them among the random ones
    assert cert.gap >= -1e-9 * cert.upper_bound
    problem = build_problem(X, y, 0.1, D, hidden_bias=True)
    alone = duality.dual_certificate(problem, net.predict(X), cert.upper_bound, scope="patterns")
    assert alone.gap < -1.0  # what the random patterns alone would say
    again = certify(net, X, y, 0.1, patterns=np.hstack([D, own]))  # nothing to add
    assert again.n_patterns == cert.n_patterns


def test_certify_refuses_a_multi_output_network_clearly():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    net = TwoLayerReLU(rng.standard_normal((3, 4)), rng.standard_normal((4, 2)))
    for targets in (y, np.c_[y, y]):
        with pytest.raises(ValueError, match=r"a network with 2 outputs.*scalar-output"):
            certify(net, X, targets, 0.1)
