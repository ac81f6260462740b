"""solver="bcd" on the relu CNN program (cone constraints): against CVXPY + Clarabel."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import convexnn as cnn
from convexnn.cnn import _relu_bcd, solve_relu_cnn
from convexnn.cnn._relu_bcd import cone_block_minimiser
from convexnn.solvers._cones import project_cones

# (name, shape, kernel, n_gates, beta, hidden_bias, loss)
BANK = [
    ("images", (16, 1, 5, 5), 3, 5, 0.5, False, "squared"),
    ("images-bias", (16, 1, 5, 5), 3, 5, 0.5, True, "squared"),
    ("signals-bias", (20, 2, 10), 3, 6, 0.1, True, "squared"),
    ("signals-logistic", (20, 1, 12), 3, 5, 0.1, False, "logistic"),
    ("images-logistic-bias", (16, 1, 5, 5), 2, 5, 0.05, True, "logistic"),
    ("images-tiny-beta", (12, 1, 5, 5), 3, 4, 1e-3, True, "squared"),
    ("repeated-samples", (16, 1, 5, 5), 3, 5, 0.2, True, "squared"),
]


def _data(case, seed):
    name, shape, *_, loss = case
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(shape)
    y = rng.standard_normal(shape[0])
    if name == "repeated-samples":  # every sample twice: duplicated patches and rows
        half = shape[0] // 2
        X[half:], y[half:] = X[:half], y[:half]
    if loss == "logistic":
        y = np.where(y >= 0, 1.0, -1.0)
    return X, y


@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
@pytest.mark.parametrize("case", BANK, ids=[c[0] for c in BANK])
def test_relu_bcd_matches_cvxpy_and_is_certified(case):
    _, _, k, P, beta, hb, loss = case
    X, y = _data(case, seed=len(case[0]))
    kw = dict(kernel_size=k, n_gates=P, random_state=3, hidden_bias=hb, loss=loss)
    ref = solve_relu_cnn(X, y, beta, solver="cvxpy", **kw)
    tol = 1e-7
    sol = solve_relu_cnn(X, y, beta, solver="bcd", tol=tol, **kw)
    assert sol.solver == "bcd" and sol.status == "optimal"
    assert abs(sol.objective - ref.objective) <= 1e-5 * abs(ref.objective)
    assert sol.constraint_violation <= 1e-8
    assert sol.relative_gap <= tol
    assert sol.lower_bound <= sol.objective
    # the reported objective is the recovered network's own, and equals the convex one
    own = sol.network.objective(X, y, beta, loss=loss)
    assert abs(own - sol.objective) <= 1e-12 * abs(own)
    assert abs(sol.convex_objective - sol.objective) <= 1e-9 * abs(own)


def test_relu_bcd_capped_by_max_iter_warns_and_is_not_optimal():
    X, y = _data(BANK[1], seed=0)
    with pytest.warns(cnn.ConvergenceWarning, match=r"status 'max_iter'.*solver='cvxpy'"):
        sol = solve_relu_cnn(X, y, 0.05, kernel_size=3, n_gates=5, random_state=0,
                             hidden_bias=True, solver="bcd", max_iter=2, tol=1e-9)  # fmt: skip
    assert sol.status == "max_iter" and sol.relative_gap > 1e-9
    assert sol.constraint_violation <= 1e-8  # every iterate is feasible
    assert sol.lower_bound <= sol.objective


def test_relu_bcd_refuses_the_hinge_loss():
    X, y = _data(BANK[0], seed=0)
    with pytest.raises(ValueError, match="solver 'bcd' needs a smooth loss, got 'hinge'"):
        solve_relu_cnn(X, np.sign(y), 0.1, kernel_size=3, n_gates=3, solver="bcd", loss="hinge")


@pytest.mark.parametrize("seed", range(6))
def test_cone_block_minimiser_matches_cvxpy(seed):
    """The block step: ``min 1/2 v^T H v - b^T v + beta ||v||`` over a polyhedral cone,
    from zero and from a feasible start, against CVXPY."""
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(seed)
    n, d = 40, 4
    X = rng.standard_normal((n, d))
    sgn = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    F = rng.standard_normal((15, d))
    H = F.T @ F if seed % 2 else F.T @ F + np.outer(F[0], F[0])  # also rank-deficient below
    if seed >= 4:
        H = np.outer(F[0], F[0]) + np.outer(F[1], F[1])
    b = 5.0 * (F.T @ rng.standard_normal(15))
    beta = 1.0
    v = cp.Variable(d)
    obj = 0.5 * cp.quad_form(v, cp.psd_wrap(H)) - b @ v + beta * cp.norm(v)
    prob = cp.Problem(cp.Minimize(obj), [cp.multiply(sgn, X @ v) >= 0])
    prob.solve(solver=cp.CLARABEL)

    def value(u):
        return 0.5 * u @ H @ u - b @ u + beta * np.linalg.norm(u)

    # from zero, from a feasible point on its face (a projection onto the cone), and from
    # rounding on a face of rank d (which holds only 0: it was returned as the minimum)
    proj, active = project_cones(X, sgn[None, :], 0.01 * b[:, None])
    assert np.any(proj)
    full = [int(j) for j in np.argsort(np.abs(X @ rng.standard_normal(d)))[:d]]
    starts = [(np.zeros(d), []), (proj[:, 0], list(active[0])), (np.full(d, 1e-17), full)]
    for start, face0 in starts:
        u, face = cone_block_minimiser(H, b, beta, X, sgn, start, face0, 50)
        assert np.min(sgn * (X @ u)) >= -1e-12 * np.abs(X @ u).max(initial=1.0)
        assert value(u) <= prob.value + 1e-7 * max(1.0, abs(prob.value))
        assert all(abs(sgn[j] * X[j] @ u) <= 1e-10 * np.linalg.norm(u) for j in face)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
def test_relu_bcd_small_beta_does_not_stall_above_the_optimum():
    """N = 40 images of 8 x 8, beta = 0.01: the stall test fired on a plateau with the
    round's stale starting gap (3x the objective), "stalled" 50% above Clarabel's
    objective; the run reaches the optimum 1100 epochs later (about 25 s)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 1, 8, 8))
    y = rng.standard_normal(40)
    kw = dict(kernel_size=3, n_gates=16, random_state=0, hidden_bias=True)
    ref = solve_relu_cnn(X, y, 0.01, solver="cvxpy", **kw)
    tol = 1e-7
    sol = solve_relu_cnn(X, y, 0.01, solver="bcd", tol=tol, **kw)
    assert sol.status == "optimal" and sol.relative_gap <= tol
    assert abs(sol.objective - ref.objective) <= 1e-5 * abs(ref.objective)
    assert sol.constraint_violation <= 1e-8


@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
def test_relu_bcd_does_not_stall_while_its_rounds_close_the_gap():
    """N = 28 images of 8 x 8, half duplicated with other targets, Huber, beta = 0.004:
    the certified gap (0.11 relative) overstates the distance to the optimum, and the
    objective's rate over the run alone stopped the solve "stalled" after two rounds.
    It stops only when rounds no longer improve the certificate, so it certifies."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((28, 1, 8, 8))
    X[14:] = X[:14]
    y = rng.standard_normal(28)
    kw = dict(kernel_size=2, n_gates=26, random_state=2, hidden_bias=True, loss="huber")
    ref = solve_relu_cnn(X, y, 0.004, solver="cvxpy", **kw)
    sol = solve_relu_cnn(X, y, 0.004, solver="bcd", tol=1e-7, max_iter=3000, **kw)
    assert sol.status == "optimal" and sol.relative_gap <= 1e-7
    assert abs(sol.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert sol.constraint_violation <= 1e-8


def test_stall_window_spans_plateaus():
    """A plateau of 25 checks after a fast descent is not a stall (the window is half
    the run, not the last 20 checks); a flat run is."""
    fast = list(np.linspace(2.0, 1.3, 40))
    trail = fast + [1.3 - 1e-4 * (k + 1) for k in range(25)]
    assert not _relu_bcd._stalled(trail, 1.2)
    assert _relu_bcd._stalled([1.0] * 100, 1e-3)
    assert not _relu_bcd._stalled([1.0] * 20, 1e-3)  # too short to judge


_FULL_SVD_BASIS = _relu_bcd.null_basis


def _reduced_svd_basis(C, d):
    """The polish's null basis: reduced SVD once the face has d rows or more."""
    if C.shape[0] == 0:
        return np.eye(d)
    _, s, Vt = np.linalg.svd(C, full_matrices=C.shape[0] < d)
    rank = int(np.sum(s > 1e-10 * s[0])) if s.size and s[0] > 0 else 0
    return np.ascontiguousarray(Vt[rank:].T)


def _rotated_basis(C, d):
    """The full-SVD basis times a seeded rotation: the same null space, other rounding."""
    N = _FULL_SVD_BASIS(C, d)
    if N.shape[1] <= 1:
        return N
    rng = np.random.default_rng(N.shape[1] * 7919 + C.shape[0])
    Q, _ = np.linalg.qr(rng.standard_normal((N.shape[1], N.shape[1])))
    return np.ascontiguousarray(N @ Q)


def _degenerate_data(kind, seed):
    """12 images of 5 x 5 (6 x 6) with repeated or dependent patches."""
    rng = np.random.default_rng(seed)
    if kind == "repeated-samples":
        return _data(BANK[-1], seed=len(BANK[-1][0]))
    if kind == "duplicates-other-labels":  # every image twice, each copy its own label
        X = rng.standard_normal((12, 1, 5, 5))
        X[6:] = X[:6]
    elif kind == "binary-pixels":  # 0/1 pixels: many identical patches
        X = (rng.random((12, 1, 5, 5)) < 0.4).astype(float)
    else:  # "blank-border": patches span 4 of 9 dimensions, dependent rows
        X = np.zeros((12, 1, 6, 6))
        X[:, :, 2:4, 2:4] = rng.standard_normal((12, 1, 2, 2))
    y = rng.standard_normal(12)
    return X, y


@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
@pytest.mark.parametrize(
    "kind", ["repeated-samples", "duplicates-other-labels", "binary-pixels", "blank-border"]
)
def test_relu_bcd_certifies_on_degenerate_data_whatever_the_rounding(kind, monkeypatch):
    """Repeated or dependent patches make the blocks' faces degenerate. A row in a face's
    row space joined the face as a blocking constraint (its step was rounding), the
    multipliers of the dependent rows were ambiguous and the active set cycled to its
    step cap: "stalled" at relative gaps 2e-3 to 0.78 in 6 to 8 of 24 seeded problems,
    which ones depending on the null basis's rounding (full or reduced SVD, a rotated
    basis) and on the BLAS threads. Every basis of the same null space must certify."""
    X, y = _degenerate_data(kind, seed=0)
    beta, hb = (0.2, True) if kind == "repeated-samples" else (0.05, False)
    kw = dict(kernel_size=3, n_gates=5, random_state=3 if hb else 0, hidden_bias=hb)
    ref = solve_relu_cnn(X, y, beta, solver="cvxpy", **kw)
    for basis in (_FULL_SVD_BASIS, _reduced_svd_basis, _rotated_basis):
        monkeypatch.setattr(_relu_bcd, "null_basis", basis)
        sol = solve_relu_cnn(X, y, beta, solver="bcd", tol=1e-7, max_iter=3000, **kw)
        assert sol.status == "optimal" and sol.relative_gap <= 1e-7, basis.__name__
        assert abs(sol.objective - ref.objective) <= 1e-5 * abs(ref.objective)
        assert sol.constraint_violation <= 1e-8


def test_blocking_skips_rows_in_the_faces_row_space():
    """A repeat of a face row, at zero slack with a rounding-sized step towards
    infeasibility, does not block (nor does a row dependent on the face's); an
    independent row does."""
    Xf = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0],
                   [0.0, 0.0, 1.0]])  # fmt: skip
    face = [0, 1]
    N = _relu_bcd.null_basis(Xf[face], 3)
    Cv = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    Cp = np.array([0.0, 0.0, -1e-3, -1e-3, -0.5])  # rounding on rows 2, 3: p = (0, 0, -0.5)
    assert _relu_bcd._blocking(Cv, Cp, face) == (2, 0.0)  # without the face's basis
    assert _relu_bcd._blocking(Cv, Cp, face, Xf, N) == (-1, 1.0)
    Cp[4] = -2.0
    assert _relu_bcd._blocking(Cv, Cp, face, Xf, N) == (4, 0.5)


@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
def test_relu_bcd_bent_newton_steps_cross_thin_cones():
    """16 images of 6 x 6, beta = 0.005: at small beta the cones are thin (the rows off
    a block's face are nearly active), and a Newton step cut by the cones, at steps of
    1e-5, joined one row per step. With the bent search (the rest of the step projected
    on the new faces, segment after segment) the solve takes 85 epochs (with one BLAS
    thread or two); it took 170 before."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((16, 1, 6, 6))
    y = rng.standard_normal(16)
    kw = dict(kernel_size=3, n_gates=6, random_state=0, hidden_bias=True)
    ref = solve_relu_cnn(X, y, 0.005, solver="cvxpy", **kw)
    sol = solve_relu_cnn(X, y, 0.005, solver="bcd", tol=1e-7, **kw)
    assert sol.status == "optimal" and sol.relative_gap <= 1e-7
    assert abs(sol.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert sol.constraint_violation <= 1e-12
    assert sol.n_iter <= 120


@pytest.mark.filterwarnings("ignore:solve_relu_cnn. solver 'cvxpy'")  # Clarabel's own gap
def test_the_relu_default_is_bcd_from_its_size_and_cvxpy_below(monkeypatch):
    """N K P = 16 x 9 x 5 = 720 here; the threshold is moved around it (the real one,
    1e5, would make the test slow). The hinge loss stays with CVXPY at any size."""
    from convexnn.cnn import relu

    case = BANK[1]
    X, y = _data(case, seed=1)
    kw = dict(kernel_size=3, n_gates=5, random_state=3, hidden_bias=True)
    monkeypatch.setattr(relu, "_RELU_BCD_SIZE", 720)
    big = solve_relu_cnn(X, y, 0.5, **kw)
    assert big.solver == "bcd" and big.status == "optimal"
    hinge = solve_relu_cnn(X, np.sign(y), 0.5, loss="hinge", **kw)
    assert hinge.solver == "cvxpy"
    monkeypatch.setattr(relu, "_RELU_BCD_SIZE", 721)
    small = solve_relu_cnn(X, y, 0.5, **kw)
    assert small.solver == "cvxpy"
    assert abs(big.objective - small.objective) <= 1e-5 * abs(small.objective)


@pytest.mark.parametrize(
    "formulation,solver,tag",
    [("relu", "bcd", "[relu cnn bcd]"), ("gated", "bcd", "[gated cnn bcd]"),
     ("gated", "fista", "[gated cnn fista]")],
)  # fmt: skip
def test_verbose_prints_the_gap_of_each_round_down_to_the_certified_one(
    formulation, solver, tag, capsys
):
    X, y = _data(BANK[1], seed=1)
    kw = dict(kernel_size=3, n_gates=5, random_state=3, hidden_bias=True)
    sol = solve_relu_cnn(X, y, 0.5, formulation=formulation, solver=solver, verbose=True, **kw)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(tag)]
    assert lines and sol.status == "optimal"
    gaps = [float(ln.split("rel gap ")[1].split(",")[0]) for ln in lines]
    assert gaps[0] > 1e-3 and gaps[-1] <= 1e-7  # the default tol: the last round certified
    quiet = solve_relu_cnn(X, y, 0.5, formulation=formulation, solver=solver, **kw)
    assert not capsys.readouterr().out and quiet.objective == sol.objective


def test_kept_cuts_of_the_bent_search_equal_the_full_first_cut(monkeypatch):
    """``_Cuts`` (first ratios kept with the move at which they were computed, one
    block's column per bend) finds the cut that a fresh ``_Cuts`` (``_first_cut``) computes
    on whole slack and slope matrices updated as the bent search did before (every slack moved,
    then clipped at 0), at every bend of a small-beta solve."""
    checked = []
    Fresh = _relu_bcd._Cuts  # what _first_cut builds, before the patch below

    class Checked(Fresh):
        def __init__(self, pats, st, supp, Cv, Cp, signed=True):
            super().__init__(pats, st, supp, Cv, Cp, signed)
            self.ref = (Cv.copy(), Cp.copy())  # signed by now

        def bend(self, k, slopes, joined):
            super().bend(k, slopes, joined)
            self.ref[1][k] = slopes
            self.ref[0][k, joined] = 0.0

        def move(self, a):
            super().move(a)
            Cv, Cp = self.ref
            Cv += a * Cp
            np.maximum(Cv, 0.0, out=Cv)

        def cut(self):
            alpha, hit = super().cut()
            ref_alpha, ref_hit = Fresh(self.pats, self.st, self.supp, *self.ref).cut()
            assert hit == ref_hit
            assert alpha == pytest.approx(ref_alpha, rel=1e-9, abs=1e-15)
            checked.append(hit is not None)
            return alpha, hit

    monkeypatch.setattr(_relu_bcd, "_Cuts", Checked)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((16, 1, 6, 6)), rng.standard_normal(16)
    kw = dict(kernel_size=3, n_gates=6, random_state=0, hidden_bias=True)
    sol = solve_relu_cnn(X, y, 0.005, solver="bcd", tol=1e-7, **kw)
    assert sol.status == "optimal"
    assert len(checked) > 100 and sum(checked) > 100  # bends, most of them cut again


@pytest.mark.parametrize("compiled", [True, False])
def test_first_cuts_signed_in_place_equal_the_reference(monkeypatch, compiled):
    """Each block's first cutting row and ratio from the raw products, signed in place
    (compiled with numba, or NumPy), equal the reference on the signed matrices: first
    row on ties, face rows (one repeated) never cut, row 0 and inf where nothing cuts."""
    from convexnn import _jit

    if compiled:
        pytest.importorskip("numba")
    else:
        monkeypatch.setattr(_jit, "AVAILABLE", False)
    rng = np.random.default_rng(4)
    n, P, d = 80, 6, 4
    Xf = rng.standard_normal((n, d))
    supp = np.array([0, 3, 5, 7, 10, 11])  # blocks (sign, pattern): patterns 0 3 5 1 4 5
    B, dV = rng.standard_normal((d, 2 * P)), rng.standard_normal((d, supp.size))
    B[:, 11] = 2.0 * B[:, 5]  # pattern 5's blocks, both in its cone below
    Mf = Xf @ B[:, :P] > 0  # each block strictly inside its cone
    dV[:, 4] = 0.0  # a block that does not move: nothing cuts it
    B[:, 7] = 0.0  # a block at zero: every slack 0, a cut at 0
    pats = SimpleNamespace(Xt=np.ascontiguousarray(Xf.T), Mf=Mf, _ST=None)
    pats.sign_rows = lambda: _relu_bcd._Patterns.sign_rows(pats)
    S = np.where(Mf.T[supp % P], 1.0, -1.0)
    Cv, Cp = np.maximum(S * (B[:, supp].T @ pats.Xt), 0.0), S * (dV.T @ pats.Xt)
    free, _ = _relu_bcd._first_cuts_reference(Cv, Cp, [[]] * supp.size)
    # the rows that would cut blocks 0 and 1 are on their faces (block 1's twice)
    faces = [[3, int(free[0])], [int(free[1])] * 2, [0], [12], [], []]
    st = SimpleNamespace(B=B, faces=dict(zip(supp.tolist(), faces, strict=True)), P=P)
    XB, XdV = _relu_bcd._products(pats, st, supp, dV)
    row, first = _relu_bcd._first_cuts(pats, st, supp, XB, XdV, signed=False)
    ref_row, ref_first = _relu_bcd._first_cuts_reference(Cv, Cp, faces)
    np.testing.assert_array_equal(XB, Cv)  # signed and clipped in place
    np.testing.assert_array_equal(XdV, Cp)
    np.testing.assert_array_equal(row, ref_row)
    np.testing.assert_array_equal(first, ref_first)
    assert row[0] != free[0] and row[1] != free[1] and row[2] == free[2]
    assert np.isinf(first[4]) and row[4] == 0 and np.isfinite(first[:4]).all()
    assert first[3] == 0.0 and (first[[0, 1, 2, 5]] > 0).all()
    # already signed, with a tie: block 2's cutting row repeated last; the first wins
    Cv[2, -1], Cp[2, -1] = Cv[2, free[2]], Cp[2, free[2]]
    row2, first2 = _relu_bcd._first_cuts(pats, st, supp, Cv.copy(), Cp.copy(), signed=True)
    np.testing.assert_array_equal(row2, ref_row)
    np.testing.assert_array_equal(first2, ref_first)
