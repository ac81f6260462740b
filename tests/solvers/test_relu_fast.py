"""The relu fast solver (``relu-pgd``, behind ``"fast"``): cone prox and certified solves."""

from __future__ import annotations

import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

from convexnn import solve
from convexnn.patterns import sample_patterns
from convexnn.solvers.relu_pgd import project_cones


def _data(n=60, d=4, seed=0, repeat=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if repeat:
        X[n // 2 :] = X[: n - n // 2]
    y = np.maximum(X @ rng.normal(size=d) + 0.3, 0) - 0.5 * np.maximum(X @ rng.normal(size=d), 0)
    return X, y + 0.05 * rng.normal(size=n)


def _cvxpy_projection(X, s, z):
    u = cp.Variable(z.size)
    cp.Problem(cp.Minimize(cp.sum_squares(u - z)), [cp.multiply(s, X @ u) >= 0]).solve(
        solver="CLARABEL"
    )
    return u.value


def test_projection_matches_cvxpy_and_warm_start():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    D = sample_patterns(X, 8, random_state=0)
    S = np.where(D.T, 1.0, -1.0)
    Z = rng.normal(size=(5, 8))
    P, active = project_cones(X, S, Z)
    for k in range(8):
        np.testing.assert_allclose(P[:, k], _cvxpy_projection(X, S[k], Z[:, k]), atol=1e-6)
    assert np.min(S.T * (X @ P)) >= -1e-10 * np.abs(X @ P).max()
    # Warm start with the active sets of a nearby point gives the same projection.
    Z2 = Z + 1e-3 * rng.normal(size=Z.shape)
    P2, _ = project_cones(X, S, Z2, active)
    P2_cold, _ = project_cones(X, S, Z2)
    np.testing.assert_allclose(P2, P2_cold, atol=1e-10)


def _reference(X, y, beta, D, loss="squared", output_bias=False):
    sol = solve(
        X,
        y,
        beta,
        patterns=D,
        formulation="relu",
        solver="cvxpy",
        loss=loss,
        output_bias=output_bias,
    )
    return sol.convex_objective


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


def test_polish_goes_on_while_productive_past_its_step_budget():
    """_productive: a polish past max_iter steps goes on while its last steps still
    lower the objective by a share of the round's decrease, never past _NEWTON_MAX."""
    from convexnn.solvers.relu_pgd import _NEWTON_MAX, _PRODUCTIVE, _TAIL_WINDOW, _productive

    steady = [100.0 - k for k in range(50)]  # the last 10 steps: 20% of the decrease
    assert _productive(steady, 50.0, max_iter=50)
    fast = [1.0 + np.exp(-k) for k in range(50)]  # converged in 10 steps: a flat tail
    assert not _productive(fast, 1.0 + np.exp(-50), max_iter=50)
    # the threshold itself: the window's share of the decrease against _PRODUCTIVE
    share = lambda h, f: (h[-_TAIL_WINDOW] - f) / (h[0] - f)  # noqa: E731
    assert share(fast, 1.0 + np.exp(-50)) < _PRODUCTIVE <= share(steady, 50.0)
    assert not _productive(steady[:30], 70.0, max_iter=50)  # within max_iter: not asked
    flat = [1.0] * 60  # no decrease at all (degenerate steps): stop
    assert not _productive(flat, 1.0, max_iter=50)
    long = [1e4 - k for k in range(_NEWTON_MAX)]
    assert not _productive(long, 1e4 - _NEWTON_MAX, max_iter=50)


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


@pytest.mark.parametrize("output_bias", [False, True])
def test_solver_certificate_equals_the_reference_kernel(output_bias):
    """_certify (pruned, warm-started cone norms) vs the plain cone_dual_norms kernel."""
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate, dual_lower_bound, gap_scale
    from convexnn.solvers.relu_pgd import _certify, _ConeNormCache

    X, y = _data(n=80, d=4, seed=3)
    D = sample_patterns(X, 40, random_state=1)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=output_bias)
    rng = np.random.default_rng(0)
    cache = _ConeNormCache(prob.P)
    for scale in (0.0, 0.1, 1.0):  # from the zero point to a rough one, warm cache
        S2 = np.vstack([np.where(D.T, 1.0, -1.0)] * 2)
        B = project_cones(prob.X, S2, scale * rng.normal(size=(prob.d, 2 * prob.P)))[0]
        chk = _certify(prob, B, 0.0, cache)
        z = prob.A(B[:, : prob.P] - B[:, prob.P :]) + (chk.c if output_bias else 0.0)
        lam = dual_candidate(prob.loss, z, y, output_bias)
        exact = cone_dual_norms(prob.X, D, lam)
        assert np.all(chk.cone >= exact - 1e-9 * exact.max())  # upper bounds everywhere
        big = exact > prob.beta  # exact wherever a block could join the working set
        np.testing.assert_allclose(chk.cone[big], exact[big], rtol=1e-8)
        lower, _ = dual_lower_bound(prob.loss, lam, y, prob.beta, exact.max())
        rel = (chk.primal - lower) / gap_scale(chk.primal, y)
        np.testing.assert_allclose(chk.rel_gap, rel, rtol=1e-8, atol=1e-12)


def test_early_stopped_pricing_is_exact_where_priced_and_its_gap_valid():
    """_certify(n_new=, tol=) far from the optimum: priced norms exact, gap an upper bound."""
    from convexnn.duality import _NNLS_WINDOW, cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate, dual_lower_bound, gap_scale
    from convexnn.solvers.relu_pgd import _certify, _ConeNormCache

    X, y = _data(n=120, d=3, seed=5)
    D = sample_patterns(X, 3 * _NNLS_WINDOW, random_state=2)
    prob = build_problem(X, y, 1e-3, D, formulation="relu")
    B = np.zeros((prob.d, 2 * prob.P))  # the zero point: almost every pair violates
    full = _certify(prob, B, 0.0, _ConeNormCache(prob.P))
    early = _certify(prob, B, 0.0, _ConeNormCache(prob.P), n_new=5, tol=1e-6)
    lam = dual_candidate(prob.loss, prob.A(B[:, : prob.P]), y, False)
    exact = cone_dual_norms(prob.X, D, lam)
    assert 0 < early.priced.sum() < full.priced.sum()  # it did stop early
    np.testing.assert_allclose(
        early.cone[early.priced], exact[early.priced], rtol=1e-8, atol=1e-10 * exact.max()
    )
    assert (early.cone[early.priced] > prob.beta).sum() >= 5
    assert np.all(early.cone >= exact - 1e-9 * exact.max())
    lower, _ = dual_lower_bound(prob.loss, lam, y, prob.beta, exact.max())
    true_gap = (early.primal - lower) / gap_scale(early.primal, y)
    assert early.rel_gap >= true_gap - 1e-12 and true_gap > 1e-6
    assert full.rel_gap == pytest.approx(true_gap, rel=1e-8)


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


def test_wide_warm_start_is_polished_chunk_by_chunk(monkeypatch):
    """A support too wide for one Newton system: block-coordinate sweeps.

    The caps are lowered so that 25 neurons (R = 125 free dimensions) exceed them; the
    sweep polishes chunks of a few blocks with the others fixed, never raises the
    objective, keeps every block in its cone, and the solve ends at the reference optimum.
    """
    import convexnn.solvers.relu_pgd as rp
    from convexnn import TwoLayerReLU, network_to_convex
    from convexnn.patterns.colgen import _unique_columns
    from convexnn.problem import build_problem

    X, y = _data(seed=5)
    n, d = X.shape
    rng = np.random.default_rng(0)
    net = TwoLayerReLU(rng.normal(size=(d, 25)), 0.3 * rng.normal(size=25), c=0.1)
    D0 = sample_patterns(X, 30, random_state=0)
    own = sample_patterns(X, method="network", weights=net.U)
    D = _unique_columns(np.hstack([D0, np.asarray(own, dtype=bool)]))
    V, W, c, _ = network_to_convex(net, X, D)
    monkeypatch.setattr(rp, "_POLISH_FLOPS", n * 40.0**2)  # R <= 40: at most 10 blocks of d = 4
    chunks: list[int] = []
    polish = rp._polish

    def spy(*args, **kwargs):
        if kwargs.get("free") is not None:
            chunks.append(len(kwargs["free"]))
        return polish(*args, **kwargs)

    monkeypatch.setattr(rp, "_polish", spy)
    prob = build_problem(X, y, 0.1, D, formulation="relu", output_bias=True)
    B = np.hstack([V, W])
    f0 = rp._primal(prob, B, c)[0]
    B1, c1, steps = rp._polish_wide(prob, B, c)
    assert len(chunks) >= 3 and max(chunks) <= 10 and steps > 0
    assert rp._primal(prob, B1, c1)[0] < f0
    S = np.where(D.T, 1.0, -1.0)
    XB = X @ B1
    assert np.min(np.hstack([S.T, S.T]) * XB) >= -1e-10 * np.abs(XB).max()

    # The solve itself does not start from so wide a warm start: from the gated one.
    narrow = np.zeros_like(B)
    two = np.flatnonzero(B.any(axis=0))[:2]
    narrow[:, two] = B[:, two]
    assert rp._too_wide(prob, B) and not rp._too_wide(prob, narrow)
    sol = solve(
        X, y, 0.1, patterns=D, formulation="relu", solver="relu-pgd", output_bias=True,
        solver_options={"warm_start": (V, W, c)},
    )  # fmt: skip
    cold = solve(X, y, 0.1, patterns=D, formulation="relu", solver="relu-pgd", output_bias=True)
    assert sol.convex_objective == pytest.approx(
        _reference(X, y, 0.1, D, output_bias=True), rel=1e-5
    )
    assert sol.relative_gap <= 1e-6
    assert sol.constraint_violation <= 1e-8
    assert sol.n_iter == cold.n_iter and sol.convex_objective == cold.convex_objective


def test_polish_gram_updates_equal_a_fresh_gram():
    """``_Gram`` keeps ``Phi`` and ``Phi^T Phi`` through basis changes without drift.

    Steps: a constraint joins a block (basis shrinks: entries derived through T), a
    constraint leaves (basis grows: fresh columns), a block enters, a block leaves, two
    blocks swap places. Each time Phi equals ``s_j D_j X N_j`` and G equals Phi^T Phi.
    """
    import convexnn.solvers.relu_pgd as rp

    rng = np.random.default_rng(7)
    n, d, P = 50, 6, 5
    X = rng.normal(size=(n, d))
    D = sample_patterns(X, P, random_state=1)
    mask = D.astype(float)
    gram = rp._Gram(X, mask)
    rows = {j: rng.choice(n, size=k, replace=False) for j, k in [(0, 1), (3, 2), (6, 0), (9, 1)]}
    version = dict.fromkeys(rows, 0)

    def check(order):
        Ns = [rp._null_basis(X[rows[j]], d) for j in order]
        sizes = np.array([N.shape[1] for N in Ns])
        owner = np.repeat(order, sizes)
        N_all = np.hstack(Ns)
        Phi = gram.basis([(j, version[j]) for j in order], sizes, owner, N_all)
        expected = rp._signed_masks(mask, owner) * (X @ N_all)
        np.testing.assert_allclose(Phi, expected, atol=1e-12)
        np.testing.assert_allclose(gram.squared(), expected.T @ expected, atol=1e-10)

    check([0, 3, 6, 9])
    rows[3] = np.append(rows[3], 11)  # a constraint joins block 3: derived through T
    version[3] += 1
    check([0, 3, 6, 9])
    assert any(seg[3] is not None for seg in gram._segs)
    rows[0] = rows[0][:0]  # block 0's constraint leaves: fresh columns
    version[0] += 1
    check([0, 3, 6, 9])
    rows[7], version[7] = np.array([4, 5]), 0  # a block enters, one leaves
    check([0, 3, 7, 9])
    check([3, 0, 7, 9])  # reordered
    rows[9] = np.append(rows[9], [20, 21])
    version[9] += 1
    rows[7] = np.append(rows[7], 30)
    version[7] += 1
    check([3, 0, 7, 9])


def test_support_norms_from_the_blocks_faces():
    """``_ConeNormCache.support_norms``: exact where it says so, an upper bound elsewhere.

    At the certified optimum every support pair's norm is settled from its block's face
    alone (exact, equal to the plain kernel); at a point off the optimum the values that
    fail the optimality test still bound the norms from above, and ``_certify`` with
    early-stopped pricing still certifies the optimum.
    """
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate
    from convexnn.solvers.relu_pgd import _certify, _ConeNormCache, _primal

    X, y = _data(n=120, d=5, seed=11)
    D = sample_patterns(X, 60, random_state=3)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    P = prob.P
    B_opt = np.concatenate([sol.V, sol.W], axis=1)
    rng = np.random.default_rng(0)
    S2 = np.vstack([np.where(D.T, 1.0, -1.0)] * 2)
    B_off = project_cones(prob.X, S2, B_opt + 0.3 * rng.normal(size=B_opt.shape))[0]
    B_off[:, ~B_opt.any(axis=0)] = 0.0
    for B, at_optimum in ((B_opt, True), (B_off, False)):
        _, _, z = _primal(prob, B, float(sol.c), with_z=True)
        lam = dual_candidate(prob.loss, z, y, True)
        G = prob.X.T @ (prob.mask * lam[:, None])
        j = np.flatnonzero(B.any(axis=0))
        vals, exact = _ConeNormCache(P).support_norms(prob.X, D, G, B, j)
        ref = cone_dual_norms(prob.X, D, lam)[j % P, j // P]
        assert j.size > 0 and np.all(vals >= ref - 1e-9 * ref.max())
        np.testing.assert_allclose(vals[exact], ref[exact], rtol=1e-8)
        if at_optimum:
            assert exact.all()
            np.testing.assert_allclose(vals, prob.beta, rtol=1e-6)  # KKT: norm = beta
        else:
            assert not exact.all()  # a face that is not the projection's: a bound
    chk = _certify(prob, B_opt, float(sol.c), _ConeNormCache(P), n_new=10, tol=1e-6)
    assert chk.rel_gap <= 1e-6


def test_null_basis_update_equals_a_fresh_basis():
    """One constraint joining a face: the Householder update spans the SVD's null space."""
    from convexnn.solvers.relu_pgd import _null_basis, _null_basis_less

    rng = np.random.default_rng(3)
    d = 9
    A = rng.normal(size=(7, d))
    N = _null_basis(A[:3], d)
    for k in range(3, 7):  # rows join one at a time, as blocked Newton steps add them
        N = _null_basis_less(N, A[k])
        fresh = _null_basis(A[: k + 1], d)
        assert N.shape == fresh.shape == (d, d - k - 1)
        np.testing.assert_allclose(N.T @ N, np.eye(d - k - 1), atol=1e-12)
        np.testing.assert_allclose(A[: k + 1] @ N, 0.0, atol=1e-12)
        np.testing.assert_allclose(N @ N.T, fresh @ fresh.T, atol=1e-12)  # same space
    # a row already in the span of the active ones leaves the basis as it is
    same = _null_basis_less(N, A[:2].sum(axis=0))
    np.testing.assert_array_equal(same, N)


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


def test_polish_without_curvature_steps_on_a_ridge():
    """Squared hinge with every margin met: the loss is flat, the Newton system has no
    curvature and its solve gave an infinite step (the block was dropped, the polish
    stalled). A ridge sized by the gradient lets it reach the optimum."""
    from convexnn.patterns import enumerate_patterns
    from convexnn.problem import build_problem
    from convexnn.solvers.relu_pgd import _polish, _primal

    x = np.concatenate([np.linspace(1, 3, 10), -np.linspace(1, 3, 10)])
    X, y = x[:, None], np.sign(x)
    D = enumerate_patterns(X)
    kw = dict(loss="squared_hinge", output_bias=True)
    prob = build_problem(X, y, 0.5, D, formulation="relu", **kw)
    ref = solve(X, y, 0.5, patterns=D, solver="cvxpy", **kw)
    B = 3 * np.concatenate([ref.V, ref.W], axis=1)  # every margin >= 2: zero loss
    z = prob.predict(B[:, : prob.P], B[:, prob.P :], 0.0)
    assert prob.loss.value(z, y) == 0.0
    Bp, cp, steps = _polish(prob, B, 0.0)
    assert steps > 1
    assert _primal(prob, Bp, cp)[0] == pytest.approx(ref.convex_objective, rel=1e-8)
    assert prob.constraint_violation(Bp[:, : prob.P], Bp[:, prob.P :]) <= 1e-12


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


def _alg2_n400():
    """The benchmark's n = 400 problem with the patterns of one Adam network (Alg2).

    ``benchmarks/bench_solvers.py``'s data (``make_bench``: planted ReLU targets, seed 0,
    hidden bias, 500 sampled gates) and the 122 hidden neurons (with biases) of its
    Alg2 row's Adam run, saved in ``data/alg2_n400_hidden.npy``.
    """
    from convexnn.patterns.colgen import _unique_columns

    rng = np.random.default_rng(0)
    n, d, P = 400, 13, 500
    X = rng.standard_normal((n, d))
    U0 = rng.standard_normal((d, 6)) / np.sqrt(d)
    y = np.maximum(X @ U0 + 0.3 * rng.standard_normal(6), 0) @ rng.standard_normal(6)
    y = y + 0.1 * rng.standard_normal(n)
    X_eff = np.hstack([X, np.ones((n, 1))])
    Dg = X_eff @ rng.standard_normal((d + 1, 4 * P)) > 0
    first = np.sort(np.unique(np.packbits(Dg, axis=0).T, axis=0, return_index=True)[1])
    D = Dg[:, first[Dg[:, first].any(axis=0)][:P]]
    beta = 1e-2 * float(np.linalg.norm((X_eff * y[:, None]).T @ D, axis=0).max())
    U = np.load(Path(__file__).parent / "data" / "alg2_n400_hidden.npy")
    D0 = _unique_columns(np.hstack([D, X_eff @ U >= 0]))
    return X, y, beta, D0


def test_polish_drops_a_frozen_block_and_certifies():
    """A support block of norm 1e-10 that Newton steps shrink to 1e-25 leaves the polish.

    The state is the input of the 13th polish of the cold relu solve of the Alg2
    program at n = 400 (``data/alg2_n400_polish_state.npz``). Before, the polish shrank
    one block to 2e-25, where its penalty Hessian ``beta / ||b||`` (5e24) froze it, and
    spent its 50 steps releasing and re-joining one of its constraints; the certificate
    stayed at 1.3e-5 and the solve stopped "stalled" 20 rounds later. Now that block
    is dropped (``_negligible``) and the next certificate is below 1e-12.
    """
    import convexnn.solvers.relu_pgd as rp
    from convexnn.problem import build_problem

    X, y, beta, D0 = _alg2_n400()
    prob = build_problem(X, y, beta, D0, formulation="relu", hidden_bias=True)
    state = np.load(Path(__file__).parent / "data" / "alg2_n400_polish_state.npz")
    B = np.zeros((prob.X.shape[1], 2 * D0.shape[1]))
    B[:, state["sup"]] = state["B"]
    c = float(state["c"])
    f0 = rp._primal(prob, B, c)[0]
    B1, c1, _ = rp._polish(prob, B, c)
    norms = np.linalg.norm(B1, axis=0)
    assert norms[norms > 0].min() > 1e-8 * norms.max()
    assert rp._primal(prob, B1, c1)[0] <= f0
    assert rp._certify(prob, B1, c1).rel_gap <= 1e-12
    big = int(np.argmax(norms))
    tiny = 1e-25 * B1[:, big] / norms[big]
    flags = rp._negligible(np.column_stack([tiny, B1[:, big]]), 4.0, y, y)
    np.testing.assert_array_equal(flags, [True, False])


def test_same_span_equals_allclose():
    """_Gram's span test (a new basis inside the old one's span) is np.allclose's."""
    from convexnn.solvers.relu_pgd import _null_basis, _null_basis_less, _same_span

    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 6))
    old = _null_basis(X[:2], 6)
    for new in (_null_basis_less(old, X[2]), _null_basis(X[3:5], 6), old[:, :3] + 1e-9):
        T = old.T @ new
        assert _same_span(old, new, T) == np.allclose(old @ T, new, atol=1e-10)
    assert _same_span(old, _null_basis_less(old, X[2]), old.T @ _null_basis_less(old, X[2]))
    assert not _same_span(old, _null_basis(X[3:5], 6), old.T @ _null_basis(X[3:5], 6))


def test_step_ratios_equal_the_reference_kernel():
    """The polish's blocking ratios without the signs equal the obvious signed ones."""
    from convexnn.solvers.relu_pgd import _step_ratios, _step_ratios_reference

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 4))
    X[10] = 0.0  # a zero row: its rate is exactly 0 and it never blocks
    DT = rng.random((6, 50)) < 0.5
    Bs, dBs = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    active = [np.array([3, 7]), np.zeros(0, dtype=np.intp), np.array([0])] * 2
    fast = _step_ratios(X, DT, Bs, dBs, active)
    ref = _step_ratios_reference(X, DT, Bs, dBs, active)
    np.testing.assert_array_equal(fast, ref)
    assert np.isinf(fast[:, 10]).all() and np.isinf(fast[0, [3, 7]]).all()
    assert (fast == 0).any() and np.isfinite(fast).any()  # infeasible rows, crossed rows


@pytest.mark.parametrize("compiled", [True, False])
def test_first_blocking_rows_equal_the_reference_argmin(monkeypatch, compiled):
    """Each block's first blocking row and ratio, compiled (numba) or not, are the
    row-wise argmin and minimum of the reference ratios (first row on ties; row 0 and
    inf where nothing blocks)."""
    from convexnn import _jit
    from convexnn.solvers.relu_pgd import _first_blocking, _step_ratios_reference

    if compiled:
        pytest.importorskip("numba")
    else:
        monkeypatch.setattr(_jit, "AVAILABLE", False)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 4))
    X[10] = 0.0
    X[20] = X[21]  # a tie: two equal rows block at the same ratio
    DT = rng.random((9, 60)) < 0.5
    pat = np.array([8, 0, 3, 3, 5, 1, 7])
    Bs, dBs = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
    dBs[:, 6] = 0.0  # a block that does not move: nothing blocks it
    active = [np.array([3, 7]), np.zeros(0, dtype=np.intp), np.array([0])] * 2 + [np.array([1])]
    first, ratio = _first_blocking(X, DT, pat, Bs, dBs, active)
    ref = _step_ratios_reference(X, DT[pat], Bs, dBs, active)
    np.testing.assert_array_equal(first, np.argmin(ref, axis=1))
    np.testing.assert_allclose(ratio, ref.min(axis=1), rtol=1e-15)
    assert np.isinf(ratio[6]) and first[6] == 0 and np.isfinite(ratio[:6]).all()


def test_certificate_bounds_carried_to_the_next_point():
    """Last round's bounds plus the drift of G bound the next point's cone norms (most
    of them below beta: no NNLS needed there), and a certificate using them still
    certifies the optimum."""
    from convexnn.duality import cone_dual_norms
    from convexnn.problem import build_problem
    from convexnn.solvers._kernels import dual_candidate
    from convexnn.solvers.relu_pgd import _certify, _ConeNormCache, _primal

    X, y = _data(n=120, d=5, seed=12)
    D = sample_patterns(X, 60, random_state=4)
    prob = build_problem(X, y, 0.05, D, formulation="relu", output_bias=True)
    sol = solve(X, y, 0.05, patterns=D, solver="relu-pgd", output_bias=True, tol=1e-10)
    B_opt = np.concatenate([sol.V, sol.W], axis=1)
    cache = _ConeNormCache(prob.P)
    assert cache.carried_bounds(np.zeros((prob.X.shape[1], prob.P))) is None  # no round yet
    _certify(prob, (1 - 1e-5) * B_opt, float(sol.c), cache)  # a round near the optimum
    _, _, z = _primal(prob, B_opt, float(sol.c), with_z=True)
    lam = dual_candidate(prob.loss, z, y, True)
    carried = cache.carried_bounds(prob.X.T @ (prob.mask * lam[:, None]))
    exact = cone_dual_norms(prob.X, D, lam)
    assert np.all(carried >= exact - 1e-9 * exact.max())
    assert np.mean(carried <= prob.beta) > 0.5  # most pairs need no NNLS at all
    chk = _certify(prob, B_opt, float(sol.c), cache)
    assert chk.rel_gap <= 1e-9 and chk.s_max >= exact.max() - 1e-9


def test_face_multipliers_equal_lstsq():
    """The polish's batched KKT multipliers equal a least-squares solve per block."""
    from convexnn.solvers.relu_pgd import _face_multipliers

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 6))
    DT = rng.random((4, 30)) < 0.5
    active = [np.array([1, 4, 9]), np.array([2]), np.zeros(0, dtype=np.intp), np.arange(5)]
    R = rng.normal(size=(6, 4))
    mus = _face_multipliers(X, DT, active, R)
    for k, rows in enumerate(active):
        A = X[rows] * np.where(DT[k, rows], 1.0, -1.0)[:, None]
        ref = np.linalg.lstsq(A.T, R[:, k], rcond=None)[0]
        assert mus[k].shape == (rows.size,)
        np.testing.assert_allclose(mus[k], ref, rtol=1e-9, atol=1e-12)


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
    """The stall test: neither the best gap halves nor the objective falls in a window."""
    from convexnn.solvers.relu_pgd import _STALL_ROUNDS, _stalled

    w = _STALL_ROUNDS
    flat = [1.0] * (w + 1)
    assert not _stalled(flat[:w], [1e-5] * w)  # too few rounds to tell
    assert _stalled(flat, [1e-5] * (w + 1))
    assert not _stalled(flat, [1e-5] * w + [4e-6])  # the gap halved
    assert not _stalled([1.0] * w + [1.0 - 1e-9], [1e-5] * (w + 1))  # the objective fell
    assert _stalled([1.0] * w + [1.0 - 1e-13], [1e-5] * (w + 1))  # ... by rounding only


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
        calls.append(chk)
        return chk

    monkeypatch.setattr(relu_pgd, "_certify", stuck)
    X, y = _data(40, 3)
    with pytest.warns(UserWarning, match=r"stalled at 0\.001 \(tol=1e-06\)"):
        sol = solve(
            X, y, 1e-2, formulation="relu", solver="relu-pgd", n_patterns=30, max_iter=10**5
        )
    assert sol.status == "stalled"
    # the 22nd round is the first whose last 20 gaps stay above half the best before
    assert len(calls) == relu_pgd._STALL_ROUNDS + 2
