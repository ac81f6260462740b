"""The relu Newton polish (``solvers._relu_polish``): steps, ridges, wide supports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from relu_cases import _alg2_n400, _data, _reference, count_calls

from convexnn import solve
from convexnn.patterns import sample_patterns


def test_polish_goes_on_while_productive_past_its_step_budget():
    """_productive: a polish past max_iter steps goes on while its last steps still
    lower the objective by a share of the round's decrease, never past _NEWTON_MAX."""
    from convexnn.solvers._relu_polish import _NEWTON_MAX, _PRODUCTIVE, _TAIL_WINDOW, _productive

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


def test_a_polish_far_from_the_optimum_stops_once_its_steps_no_longer_pay(monkeypatch):
    """``early_stop``: after ``_STALE_MIN`` steps, a polish whose last ``_TAIL_WINDOW``
    steps lowered the objective by less than ``_STALE`` of its decrease stops before
    ``max_iter``; without it, it goes on. On the first polish of an n = 400 solve (from
    the gated start): 20 steps against 43, and nearly the same objective."""
    from convexnn.solvers import _relu_polish as rp
    from convexnn.solvers import relu_pgd
    from convexnn.solvers._relu_certificate import _primal

    front = [100.0 * np.exp(-k) for k in range(rp._STALE_MIN)]  # its decrease up front
    steady = [100.0 - k for k in range(rp._STALE_MIN)]
    assert rp._stale(front, 100.0 * np.exp(-rp._STALE_MIN))
    assert not rp._stale(steady, 100.0 - rp._STALE_MIN)
    assert not rp._stale(front[:-1], front[-1])  # fewer than _STALE_MIN steps
    f_end = 100.0 * np.exp(-rp._STALE_MIN)
    assert not rp._another_step(rp._STALE_MIN, 50, front, f_end, early_stop=True)
    assert rp._another_step(rp._STALE_MIN, 50, front, f_end, early_stop=False)

    starts = []
    polish_wide = relu_pgd._polish_wide

    def spy(problem, B, c, early_stop=False):
        starts.append((problem, B.copy(), c))
        return polish_wide(problem, B, c, early_stop=early_stop)

    monkeypatch.setattr(relu_pgd, "_polish_wide", spy)
    X, y = _data(400, 8, seed=1)
    D = sample_patterns(X, 400, random_state=0)
    solve(X, y, 0.02 * float(np.abs(X.T @ y).max()), patterns=D, formulation="relu")
    problem, B, c = starts[0]
    f0 = _primal(problem, B, c)[0]
    early, full = rp._polish(problem, B, c, early_stop=True), rp._polish(problem, B, c)
    f_early, f_full = _primal(problem, early.B, early.c)[0], _primal(problem, full.B, full.c)[0]
    assert rp._STALE_MIN <= early.steps < full.steps <= rp._NEWTON_ITER
    assert f_full <= f_early < f0 and f_early - f_full <= 1e-2 * (f0 - f_full)


def test_the_relu_solver_stops_its_polishes_early_only_far_from_the_optimum(monkeypatch):
    """A polish gets ``early_stop`` exactly when the last certified gap was above
    ``_FAR_GAP`` (never the first one), and the solve reaches the same optimum as
    without early stops."""
    from convexnn.solvers import relu_pgd

    X, y = _data(400, 8, seed=1)
    D = sample_patterns(X, 400, random_state=0)
    beta = 0.02 * float(np.abs(X.T @ y).max())
    events: list[tuple[str, float]] = []
    polish_wide, certify = relu_pgd._polish_wide, relu_pgd._certify

    def spy_polish(problem, B, c, early_stop=False):
        events.append(("polish", float(early_stop)))
        return polish_wide(problem, B, c, early_stop=early_stop)

    def spy_certify(*args, **kwargs):
        chk = certify(*args, **kwargs)
        events.append(("gap", chk.rel_gap))
        return chk

    monkeypatch.setattr(relu_pgd, "_polish_wide", spy_polish)
    monkeypatch.setattr(relu_pgd, "_certify", spy_certify)
    sol = solve(X, y, beta, patterns=D, formulation="relu")
    assert sol.status == "optimal"
    gap = np.inf  # before the first certificate: no early stop
    flags = []
    for kind, value in events:
        if kind == "gap":
            gap = value
        else:
            flags.append(bool(value))
            assert flags[-1] == (np.isfinite(gap) and gap > relu_pgd._FAR_GAP)
    assert flags[0] is False and True in flags and flags[-1] is False
    monkeypatch.setattr(relu_pgd, "_FAR_GAP", np.inf)  # never early
    ref = solve(X, y, beta, patterns=D, formulation="relu")
    assert abs(sol.objective - ref.objective) <= 1e-9 * ref.objective


def _spy_chunks(monkeypatch, rp):
    """The sizes of the chunks ``_polish_wide`` hands to ``_polish``, as they come."""
    chunks: list[int] = []
    polish = rp._polish

    def spy(*args, **kwargs):
        if kwargs.get("free") is not None:
            chunks.append(len(kwargs["free"]))
        return polish(*args, **kwargs)

    monkeypatch.setattr(rp, "_polish", spy)
    return chunks


def test_wide_warm_start_is_polished_chunk_by_chunk(monkeypatch):
    """A support too wide for one Newton system: block-coordinate sweeps.

    The caps are lowered so that 25 neurons (R = 125 free dimensions) exceed them; the
    sweep polishes chunks of a few blocks with the others fixed, never raises the
    objective, keeps every block in its cone, and the solve ends at the reference optimum.
    """
    import convexnn.solvers._relu_polish as rp
    from convexnn import TwoLayerReLU, network_to_convex
    from convexnn.patterns.colgen import _unique_columns
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _primal

    X, y = _data(seed=5)
    n, d = X.shape
    rng = np.random.default_rng(0)
    net = TwoLayerReLU(rng.normal(size=(d, 25)), 0.3 * rng.normal(size=25), c=0.1)
    D0 = sample_patterns(X, 30, random_state=0)
    own = sample_patterns(X, method="network", weights=net.U)
    D = _unique_columns(np.hstack([D0, np.asarray(own, dtype=bool)]))
    V, W, c, _ = network_to_convex(net, X, D)
    monkeypatch.setattr(rp, "_POLISH_FLOPS", n * 40.0**2)  # R <= 40: at most 10 blocks of d = 4
    chunks = _spy_chunks(monkeypatch, rp)
    prob = build_problem(X, y, 0.1, D, formulation="relu", output_bias=True)
    B = np.hstack([V, W])
    f0 = _primal(prob, B, c)[0]
    B1, c1, steps, _ = rp._polish_wide(prob, B, c)
    assert len(chunks) >= 3 and max(chunks) <= 10 and steps > 0
    assert _primal(prob, B1, c1)[0] < f0
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


def test_a_support_wider_than_its_lower_bound_is_polished_chunk_by_chunk(monkeypatch):
    """``_free_dims`` only bounds the free dimensions from below: repeated rows count
    twice among a block's active constraints but span one direction. With the cap
    between that bound (23) and the true R (33), the whole-support polish gives up, and
    ``_polish_wide`` returned None: the solve then ran FISTA rounds of up to max_iter
    (at n = 2e4, beta = 1e-4 of its largest useful value, past 600 s; 140 s now). It
    polishes chunk by chunk instead, and lowers the objective."""
    import convexnn.solvers._relu_polish as rp
    from convexnn.problem import build_problem
    from convexnn.solvers._polish_kernels import _null_basis
    from convexnn.solvers._relu_certificate import _primal

    X, y = _data(n=60, d=4, seed=0, repeat=True)
    D = sample_patterns(X, 40, random_state=0)
    sol = solve(X, y, 0.05, patterns=D, formulation="relu", solver="relu-pgd")
    prob = build_problem(X, y, 0.05, D, formulation="relu")
    B = 0.7 * np.hstack([sol.V, sol.W])  # in the cones, on the same faces, not optimal
    sup = np.flatnonzero(B.any(axis=0))
    act, r_low = rp._free_dims(prob, B, sup)
    R = sum(_null_basis(X[act[:, k]], 4).shape[1] for k in range(sup.size))
    assert r_low.sum() < 28 < R
    monkeypatch.setattr(rp, "_POLISH_FLOPS", 60 * 28.0**2)  # the cap: R <= 28
    chunks = _spy_chunks(monkeypatch, rp)
    out = rp._polish_wide(prob, B, 0.0)
    assert out is not None and len(chunks) >= 2 and out[2] > 0
    assert _primal(prob, out[0], out[1])[0] < _primal(prob, B, 0.0)[0]
    S = np.where(D.T, 1.0, -1.0)
    XB = X @ out[0]
    assert np.min(np.hstack([S.T, S.T]) * XB) >= -1e-10 * np.abs(XB).max()


def test_a_polish_that_outgrows_its_cap_midway_keeps_its_steps(monkeypatch):
    """A whole-support polish whose free dimensions pass the cap after some steps
    (released constraints add some) stops there with ``wide=True`` at the point it
    reached, and the chunks go on from that point: they had restarted from the round's
    start, the whole polish's steps thrown away."""
    import convexnn.solvers._relu_polish as rp
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _primal

    X, y = _data(n=60, d=4, seed=1)
    D = sample_patterns(X, 40, random_state=0)
    sol = solve(X, y, 0.05, patterns=D, formulation="relu", solver="relu-pgd")
    prob = build_problem(X, y, 0.05, D, formulation="relu")
    B = 0.5 * np.hstack([sol.V, sol.W])  # in the cones, on the same faces, not optimal
    f0 = _primal(prob, B, 0.0)[0]
    # The cap: room for everything until the whole polish's third step, then R <= 6.
    calls = {"cap": 0}
    cap = rp._polish_cap

    def shrinking_cap(n):
        calls["cap"] += 1
        return cap(n) if calls["cap"] <= 3 else 6.0

    monkeypatch.setattr(rp, "_polish_cap", shrinking_cap)
    seen: list[tuple] = []  # (free, B given, result) of each call
    polish = rp._polish

    def spy(prob_, B_, c_, *args, **kwargs):
        out = polish(prob_, B_, c_, *args, **kwargs)
        seen.append((kwargs.get("free"), B_, out))
        return out

    monkeypatch.setattr(rp, "_polish", spy)
    out = rp._polish_wide(prob, B, 0.0)
    whole_free, whole_in, whole = seen[0]
    assert whole_free is None and whole_in is B and whole.wide and whole.steps == 2
    assert _primal(prob, whole.B, whole.c)[0] < f0
    assert len(seen) >= 2 and all(free is not None for free, _, _ in seen[1:])
    np.testing.assert_array_equal(seen[1][1], whole.B)  # the chunks start where it stopped
    assert out.steps == 2 + sum(r.steps for _, _, r in seen[1:])
    assert _primal(prob, out.B, out.c)[0] <= _primal(prob, whole.B, whole.c)[0]
    S = np.where(D.T, 1.0, -1.0)
    XB = X @ out.B
    assert np.min(np.hstack([S.T, S.T]) * XB) >= -1e-10 * np.abs(XB).max()


def test_the_polish_cap_bounds_the_gram_the_factorisation_and_the_bytes():
    """``_polish_cap``: one Newton system's free dimensions R keep ``n R^2`` (its Gram
    matrix) and ``R^3 / 3`` (a factorisation) within ``_POLISH_FLOPS`` and its (n, R)
    float64 matrix within ``_POLISH_BYTES``; each bound binds somewhere."""
    from convexnn.solvers._relu_polish import _POLISH_BYTES, _POLISH_FLOPS, _polish_cap

    for n in [50, 400, 4000, 10_000, 50_000, 200_000]:
        R = _polish_cap(n)
        assert n * R**2 <= _POLISH_FLOPS * (1 + 1e-12)
        assert R**3 / 3 <= _POLISH_FLOPS * (1 + 1e-12)
        assert 8 * n * R <= _POLISH_BYTES * (1 + 1e-12)
    assert _polish_cap(50) == pytest.approx(np.cbrt(3 * _POLISH_FLOPS))  # factorisation
    assert _polish_cap(10_000) == pytest.approx(np.sqrt(_POLISH_FLOPS / 10_000))  # Gram
    assert _polish_cap(200_000) == pytest.approx(_POLISH_BYTES / (8 * 200_000))  # bytes


def test_polish_without_curvature_steps_on_a_ridge():
    """Squared hinge with every margin met: the loss is flat, the Newton system has no
    curvature and its solve gave an infinite step (the block was dropped, the polish
    stalled). A ridge sized by the gradient lets it reach the optimum."""
    from convexnn.patterns import enumerate_patterns
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _primal
    from convexnn.solvers._relu_polish import _polish

    x = np.concatenate([np.linspace(1, 3, 10), -np.linspace(1, 3, 10)])
    X, y = x[:, None], np.sign(x)
    D = enumerate_patterns(X)
    kw = dict(loss="squared_hinge", output_bias=True)
    prob = build_problem(X, y, 0.5, D, formulation="relu", **kw)
    ref = solve(X, y, 0.5, patterns=D, solver="cvxpy", **kw)
    B = 3 * np.concatenate([ref.V, ref.W], axis=1)  # every margin >= 2: zero loss
    z = prob.predict(B[:, : prob.P], B[:, prob.P :], 0.0)
    assert prob.loss.value(z, y) == 0.0
    Bp, cp, steps, _ = _polish(prob, B, 0.0)
    assert steps > 1
    assert _primal(prob, Bp, cp)[0] == pytest.approx(ref.convex_objective, rel=1e-8)
    assert prob.constraint_violation(Bp[:, : prob.P], Bp[:, prob.P :]) <= 1e-12


def test_polish_drops_a_frozen_block_and_certifies():
    """A support block of norm 1e-10 that Newton steps shrink to 1e-25 leaves the polish.

    The state is the input of the 13th polish of the cold relu solve of the Alg2
    program at n = 400 (``data/alg2_n400_polish_state.npz``). Before, the polish shrank
    one block to 2e-25, where its penalty Hessian ``beta / ||b||`` (5e24) froze it, and
    spent its 50 steps releasing and re-joining one of its constraints; the certificate
    stayed at 1.3e-5 and the solve stopped "stalled" 20 rounds later. Now that block
    is dropped (``_negligible``) and the next certificate is below 1e-12.
    """
    import convexnn.solvers._relu_polish as rp
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _certify, _primal

    X, y, beta, D0 = _alg2_n400()
    prob = build_problem(X, y, beta, D0, formulation="relu", hidden_bias=True)
    state = np.load(Path(__file__).parent / "data" / "alg2_n400_polish_state.npz")
    B = np.zeros((prob.X.shape[1], 2 * D0.shape[1]))
    B[:, state["sup"]] = state["B"]
    c = float(state["c"])
    f0 = _primal(prob, B, c)[0]
    B1, c1 = rp._polish(prob, B, c)[:2]
    norms = np.linalg.norm(B1, axis=0)
    assert norms[norms > 0].min() > 1e-8 * norms.max()
    assert _primal(prob, B1, c1)[0] <= f0
    assert _certify(prob, B1, c1).rel_gap <= 1e-12
    big = int(np.argmax(norms))
    tiny = 1e-25 * B1[:, big] / norms[big]
    flags = rp._negligible(np.column_stack([tiny, B1[:, big]]), 4.0, y, y)
    np.testing.assert_array_equal(flags, [True, False])


def test_repeated_rows_cost_about_the_work_of_the_distinct_ones(monkeypatch):
    """Each row repeated k times (beta * k): the same program scaled by k. Each cone
    constraint then has k copies at zero slack: the face's multipliers are the minimum-
    norm ones (an SVD of its rows, not the padded m x m normal equations), and a release
    drops every copy of the constraint at once. Before, the polish released one copy per
    stationary point: 737 Newton steps against 285 for the distinct rows (now 313)."""
    from convexnn.solvers import relu_pgd

    info: dict = {}
    solve_relu = relu_pgd.solve_relu

    def spy(*args, **kwargs):
        out = solve_relu(*args, **kwargs)
        info.clear()
        info.update(out.info)
        return out

    monkeypatch.setattr(relu_pgd, "solve_relu", spy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.maximum(X @ np.array([1.0, -1.0]) + 0.3, 0) - 0.5 * np.maximum(X[:, 0], 0)
    y += 0.1 * rng.normal(size=60)
    k, beta = 10, 0.05
    one = solve(X, y, beta, hidden_bias=True, patterns="exact", solver="fast")
    D = one.patterns  # all 3542 patterns of the distinct rows
    steps = info["n_newton"]
    rep = solve(
        np.repeat(X, k, axis=0),
        np.repeat(y, k),
        beta * k,
        hidden_bias=True,
        patterns=np.repeat(D, k, axis=0),
        solver="fast",
    )
    assert one.status == rep.status == "optimal"
    assert rep.objective == pytest.approx(k * one.objective, rel=1e-8)
    assert info["n_newton"] <= 1.5 * steps


def test_a_row_in_its_face_row_space_never_joins_the_face(monkeypatch):
    """On integer data many rows lie in the row space of a block's face: zero on the
    whole face, so a step inside the face moves them by rounding only. Before, such a
    row blocked a step whenever that rounding crossed it (at a ratio of 0 or 1e-10) and
    joined, making the face's rows dependent and its multipliers ambiguous: the polish
    released and re-joined such rows (206 of 438 joins here; 1162 Newton steps on a
    sweep case that now takes 1123). Now every row that joins a face (a Householder
    update of its null basis, ``_null_basis_less``) lies outside its row space, and the
    solve is certified."""
    import convexnn.solvers._relu_polish as rp

    sines: list[float] = []
    less = rp._null_basis_less

    def spy(N: np.ndarray, x: np.ndarray) -> np.ndarray:
        sines.append(float(np.linalg.norm(N.T @ x) / np.linalg.norm(x)))
        return less(N, x)

    monkeypatch.setattr(rp, "_null_basis_less", spy)
    rng = np.random.default_rng(7)
    X = np.round(2 * rng.normal(size=(40, 3)))
    y = np.maximum(X @ rng.normal(size=3) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=3), 0)
    y += 0.1 * rng.normal(size=40)
    beta = 1e-3 * np.abs(y).max() * np.abs(X).max()
    sol = solve(X, y, beta, hidden_bias=True, n_patterns=100, random_state=0, solver="fast")
    assert len(sines) > 100  # constraints did join faces
    assert min(sines) > 1e-9
    assert sol.status == "optimal"
    assert sol.relative_gap <= 1e-6


def test_in_span_tells_a_face_rows_combinations_from_the_others():
    """``_in_span``: a combination of a face's rows (null basis N) is in its row space,
    a row with a component along N is not, and a face of full rank spans every row."""
    from convexnn.solvers._polish_kernels import _in_span, _null_basis

    A = np.array([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 1.0]])
    N = _null_basis(A, 4)
    assert _in_span(2.0 * A[0] - 3.0 * A[1], N)
    assert not _in_span(A[0] + 1e-6 * N[:, 0], N)
    assert _in_span(np.array([1.0, 0.0, 0.0, 0.0]), np.zeros((4, 0)))


def test_rows_tied_at_a_bend_join_without_a_newton_step_each(monkeypatch):
    """Integer data and the squared hinge: rows of a face often reach zero slack at the
    same point of a step (ties). A bend blocked at once used to end the bent search, and
    the next Newton step was blocked at ratio 0 by the tied row, joined it and stopped:
    here 21 such zero-ratio Newton steps of 369. Now a tie joins within the bend (10 of
    309), and the optimum is Clarabel's."""
    import warnings

    from convexnn.solvers import _relu_polish as rp
    from convexnn.solvers import relu_pgd

    info: dict = {}
    zero_ratio = [0]
    solve_relu, step_ratios = relu_pgd.solve_relu, rp._step_ratios

    def spy(*args, **kwargs):
        out = solve_relu(*args, **kwargs)
        info.update(out.info)
        return out

    def count(*args, **kwargs):  # called by the polish on its zero-ratio steps only
        zero_ratio[0] += 1
        return step_ratios(*args, **kwargs)

    monkeypatch.setattr(relu_pgd, "solve_relu", spy)
    monkeypatch.setattr(rp, "_step_ratios", count)
    rng = np.random.default_rng(2)
    X = np.round(2 * rng.normal(size=(40, 3)))
    y = np.where(X @ rng.normal(size=3) + 0.3 > 0, 1.0, -1.0)
    beta = 2e-3 * np.abs(X).max()
    kw = dict(loss="squared_hinge", hidden_bias=True)
    sol = solve(X, y, beta, n_patterns=100, random_state=0, solver="fast", **kw)
    assert sol.status == "optimal"
    assert zero_ratio[0] <= 14
    assert info["n_newton"] <= 340
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = solve(X, y, beta, patterns=sol.patterns, solver="cvxpy", **kw)
    # Clarabel's optimum to the bank's 1e-5 (its point can sit 1.5e-6 above the
    # certified one: NumPy 1.x's environment), and never above it by more than tol
    assert sol.convex_objective == pytest.approx(ref.convex_objective, rel=1e-5)
    assert sol.convex_objective <= ref.convex_objective + 1e-6 * abs(ref.convex_objective)


def test_ray_ratios_equal_the_blocking_rows_ratios():
    """A block on a ray of its cone (one free dimension) and its step along the ray:
    every inactive row reaches zero at ``-theta / delta`` when it shrinks, none when it
    grows. ``_ray_ratios`` gives that ratio (row unknown: -1) or inf (row 0), equal to
    :func:`_first_blocking`'s from the two products; other blocks are left unranked."""
    from convexnn.solvers._polish_kernels import _first_blocking, _null_basis
    from convexnn.solvers._relu_polish import _UNRANKED, _ray_ratios

    rng = np.random.default_rng(11)
    n, d = 80, 5
    X = rng.normal(size=(n, d))
    Bs, dBs, DT, active = [], [], [], []
    theta = np.array([2.0, 0.7, -1.5, 3.0, 1.0])
    delta = np.array([-0.5, 0.2, 0.9, -4.0, 0.3])
    for k in range(5):
        rows = rng.choice(n, size=d - 1, replace=False)  # d - 1 active rows: a ray
        N = _null_basis(X[rows], d)
        assert N.shape == (d, 1)
        DT.append(X @ N[:, 0] * theta[k] > 0)  # the cone of the ray's own pattern
        Bs.append(theta[k] * N[:, 0])
        dBs.append(delta[k] * N[:, 0])
        active.append(np.sort(rows))
    Bs, dBs, DT = np.array(Bs).T, np.array(dBs).T, np.array(DT)
    first, ratio = _first_blocking(X, DT, np.arange(5), Bs, dBs, active)
    sizes = np.array([1, 1, 1, 1, 1, 3])  # the last: a 3-face, not a ray
    fast_first, fast_ratio = _ray_ratios(np.append(theta, 1.0), np.append(delta, 1.0), sizes)
    shrink = theta * delta < 0
    assert shrink.sum() == 3 and (~shrink).sum() == 2
    np.testing.assert_allclose(fast_ratio[:5][shrink], ratio[shrink], rtol=1e-12)
    assert (fast_first[:5][shrink] == -1).all()
    assert np.isinf(ratio[~shrink]).all() and np.isinf(fast_ratio[:5][~shrink]).all()
    assert (fast_first[:5][~shrink] == first[~shrink]).all()  # row 0, as _first_blocking
    assert fast_first[5] == _UNRANKED


def test_polish_with_ray_ratios_takes_the_steps_of_full_blocking_rows(monkeypatch):
    """The polish's Newton steps with the rays' ratios from their coordinates
    (``_ray_ratios``, at the Newton steps and in the bent searches; a vanishing ray's
    row found when it blocks) reach the point of the polish that ranks every block's
    rows by the two products."""
    import convexnn.solvers._relu_polish as rp
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _primal

    X, y = _data(n=150, d=4, seed=3)
    D = sample_patterns(X, 80, random_state=0)
    # The optimum at a smaller beta: blocks on rays, many of which vanish at this one.
    sol = solve(X, y, 0.002, patterns=D, formulation="relu", solver="relu-pgd")
    prob = build_problem(X, y, 0.05, D, formulation="relu")
    B = np.hstack([sol.V, sol.W])
    B *= np.random.default_rng(0).uniform(0.2, 2.0, size=B.shape[1])
    calls = {"rays": 0, "shrinking": 0}
    fast = rp._ray_ratios

    def spy(theta, delta, sizes):
        first, ratio = fast(theta, delta, sizes)
        calls["rays"] += int((sizes == 1).sum())
        calls["shrinking"] += int((first == -1).sum())
        return first, ratio

    monkeypatch.setattr(rp, "_ray_ratios", spy)
    new = rp._polish(prob, B, 0.0)
    assert calls["rays"] > 20 and calls["shrinking"] > 5
    assert B.any(axis=0).sum() > 5 * new.B.any(axis=0).sum()  # most of them vanished

    monkeypatch.setattr(rp, "_RAYS_BY_COORDINATES", False)
    old = rp._polish(prob, B, 0.0)
    # The two ratios of a ray differ by rounding: where two blocks block at almost the
    # same step, they may take it in the other order (one step more or less).
    assert abs(new.steps - old.steps) <= 1 and old.steps > 1
    np.testing.assert_allclose(new.B, old.B, rtol=0, atol=1e-9 * np.abs(old.B).max())
    f_new, f_old = _primal(prob, new.B, new.c)[0], _primal(prob, old.B, old.c)[0]
    assert f_new == pytest.approx(f_old, rel=1e-12) and f_new < _primal(prob, B, 0.0)[0]


def test_polish_with_release_updates_reaches_the_point_of_release_svds(monkeypatch):
    """A constraint released from a face (KKT) updates the face's null basis by one QR
    (``_null_basis_more``) instead of an SVD: the polish run to its end reaches the same
    point as with SVDs (in between, rounding may order near-ties differently)."""
    import convexnn.solvers._relu_polish as rp
    from convexnn.problem import build_problem
    from convexnn.solvers._relu_certificate import _primal

    X, y = _data(n=150, d=4, seed=1)
    D = sample_patterns(X, 80, random_state=0)
    sol = solve(X, y, 0.01, patterns=D, formulation="relu", solver="relu-pgd")
    prob = build_problem(X, y, 0.001, D, formulation="relu")  # blocks grow: releases
    B = np.hstack([sol.V, sol.W])
    B *= np.random.default_rng(0).uniform(0.2, 2.0, size=B.shape[1])
    calls = count_calls(monkeypatch, rp, "_null_basis_more")
    new = rp._polish(prob, B, 0.0, max_iter=400)
    assert len(calls) > 20
    monkeypatch.setattr(rp, "_UPDATE_ON_RELEASE", False)
    old = rp._polish(prob, B, 0.0, max_iter=400)
    assert new.steps < 400 and old.steps < 400  # both ran to their end
    np.testing.assert_allclose(new.B, old.B, rtol=0, atol=1e-9 * np.abs(old.B).max())
    f_new, f_old = _primal(prob, new.B, new.c)[0], _primal(prob, old.B, old.c)[0]
    assert f_new == pytest.approx(f_old, rel=1e-12) and f_new < _primal(prob, B, 0.0)[0]
