"""The relu polish's kernels (``solvers._polish_kernels``) against their references."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn.patterns import sample_patterns


def test_polish_gram_updates_equal_a_fresh_gram():
    """``_Gram`` keeps ``Phi`` and ``Phi^T Phi`` through basis changes without drift.

    Steps: a constraint joins a block (basis shrinks: entries derived through T), a
    constraint leaves (basis grows: fresh columns), a block enters, a block leaves, two
    blocks swap places. Each time Phi equals ``s_j D_j X N_j`` and G equals Phi^T Phi.
    """
    from convexnn.solvers._cones import _signed_masks
    from convexnn.solvers._polish_kernels import _Gram, _null_basis

    rng = np.random.default_rng(7)
    n, d, P = 50, 6, 5
    X = rng.normal(size=(n, d))
    D = sample_patterns(X, P, random_state=1)
    mask = D.astype(float)
    gram = _Gram(X, mask)
    rows = {j: rng.choice(n, size=k, replace=False) for j, k in [(0, 1), (3, 2), (6, 0), (9, 1)]}
    version = dict.fromkeys(rows, 0)

    def check(order):
        Ns = [_null_basis(X[rows[j]], d) for j in order]
        sizes = np.array([N.shape[1] for N in Ns])
        owner = np.repeat(order, sizes)
        N_all = np.hstack(Ns)
        Phi = gram.basis([(j, version[j]) for j in order], sizes, owner, N_all)
        expected = _signed_masks(mask, owner) * (X @ N_all)
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


def test_polish_gram_computes_only_the_new_column_of_a_released_constraint():
    """A constraint leaving a face appends one column to its basis (``_null_basis_more``):
    ``_Gram`` copies the block's old columns and computes that one only, and Phi and
    ``Phi^T Phi`` still equal their fresh values."""
    from convexnn.solvers._cones import _signed_masks
    from convexnn.solvers._polish_kernels import _Gram, _null_basis, _null_basis_more

    rng = np.random.default_rng(8)
    n, d, P = 60, 5, 4
    X = rng.normal(size=(n, d))
    mask = sample_patterns(X, P, random_state=2).astype(float)
    gram = _Gram(X, mask)
    rows = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
    blocks = np.array([0, 5, 2])  # 5: the second sign of pattern 1
    Ns = [_null_basis(X[r], d) for r in rows]

    def check(Ns, versions):
        sizes = np.array([N.shape[1] for N in Ns])
        owner = np.repeat(blocks, sizes)
        N_all = np.hstack(Ns)
        keys = list(zip(blocks.tolist(), versions, strict=True))
        Phi = gram.basis(keys, sizes, owner, N_all)
        expected = _signed_masks(mask, owner) * (X @ N_all)
        np.testing.assert_allclose(Phi, expected, atol=1e-12)
        np.testing.assert_allclose(gram.squared(), expected.T @ expected, atol=1e-10)
        return sizes

    check(Ns, [0, 0, 0])
    # Row 2 leaves block 0's face (2 -> 3 columns), row 6 leaves block 2's (3 -> 4).
    Ns[0] = _null_basis_more(Ns[0], X[[1, 3]], X[2])
    Ns[2] = _null_basis_more(Ns[2], X[[5]], X[6])
    sizes = check(Ns, [1, 0, 1])
    assert sizes.tolist() == [3, 4, 4]
    # One new column per changed block; every other column copied from the old layout.
    assert gram._fresh.tolist() == [2, 10]
    assert (0, 0, 2, None) in gram._segs and (7, 6, 3, None) in gram._segs


def test_null_basis_update_equals_a_fresh_basis():
    """One constraint joining a face: the Householder update spans the SVD's null space."""
    from convexnn.solvers._polish_kernels import _null_basis, _null_basis_less

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


def test_same_span_equals_allclose():
    """_Gram's span test (a new basis inside the old one's span) is np.allclose's."""
    from convexnn.solvers._polish_kernels import _null_basis, _null_basis_less, _same_span

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
    from convexnn.solvers._polish_kernels import _step_ratios, _step_ratios_reference

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
    from convexnn.solvers._polish_kernels import _first_blocking, _step_ratios_reference

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


def test_face_multipliers_equal_lstsq():
    """The polish's batched KKT multipliers equal a least-squares solve per block (the
    minimum-norm one where repeated rows make a face hold more than d rows)."""
    from convexnn.solvers._polish_kernels import _face_multipliers

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 6))
    X[20:28] = X[3]  # repeated rows: faces with more rows than d, rank-deficient
    X[28:] = X[7]
    active = [
        np.array([1, 4, 9]),
        np.array([2]),
        np.zeros(0, dtype=np.intp),
        np.arange(5),
        np.r_[3, 20:28, 7, 28, 29],  # 12 rows, rank 2
        np.r_[0:5, 20:28],  # 13 rows, rank 5
    ]
    DT = rng.random((len(active), 30)) < 0.5
    R = rng.normal(size=(6, len(active)))
    mus = _face_multipliers(X, DT, active, R)
    for k, rows in enumerate(active):
        A = X[rows] * np.where(DT[k, rows], 1.0, -1.0)[:, None]
        ref = np.linalg.lstsq(A.T, R[:, k], rcond=None)[0]
        assert mus[k].shape == (rows.size,)
        np.testing.assert_allclose(mus[k], ref, rtol=1e-9, atol=1e-12)


def test_masked_products_equal_the_signed_masks_times_the_products():
    """The basis columns ``+-D_i X N`` of v and w blocks, bit for bit."""
    from convexnn.solvers._cones import _signed_masks
    from convexnn.solvers._polish_kernels import _masked_products

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    mask = rng.random((50, 7)) > 0.5
    j = np.array([0, 3, 7, 13, 6])  # v blocks (< 7) and w blocks
    N = rng.normal(size=(4, 5))
    out = _masked_products(X, mask, j, N)
    np.testing.assert_array_equal(out, _signed_masks(mask, j) * (X @ N))
    assert (out[:, 2] * (X @ N[:, 2]) <= 0).all() and (out[:, 0] * (X @ N[:, 0]) >= 0).all()


@pytest.mark.parametrize("k", [1, 5, 11])
def test_null_basis_more_spans_the_null_space_of_the_remaining_rows(k):
    """A row leaves a face: the updated basis spans what an SVD of the rest finds."""
    from convexnn.solvers._polish_kernels import _null_basis, _null_basis_more

    rng = np.random.default_rng(k)
    d = 12
    A = rng.normal(size=(k, d))
    N = _null_basis(A, d)
    for i in range(k):
        rest = np.delete(A, i, axis=0)
        new = _null_basis_more(N, rest, A[i])
        ref = _null_basis(rest, d)
        assert new.shape == ref.shape == (d, d - k + 1)
        np.testing.assert_allclose(new.T @ new, np.eye(d - k + 1), atol=1e-12)
        np.testing.assert_allclose(new @ new.T, ref @ ref.T, atol=1e-12)
    # a row in the span of the others: nothing new
    B = np.vstack([A, A[0] + A[-1]])
    assert _null_basis_more(N, A, B[-1]) is N


def test_block_gradients_equal_the_adjoint_of_the_signed_masks():
    """The polish's gradients ``+-X^T D_i g`` from the transposed patterns (row gather)
    equal the adjoint kernel on the (n, k) signed masks."""
    from convexnn.solvers._cones import _signed_masks
    from convexnn.solvers._kernels import adjoint
    from convexnn.solvers._polish_kernels import _block_gradients

    rng = np.random.default_rng(11)
    n, d, P = 70, 4, 9
    X = rng.normal(size=(n, d))
    D = sample_patterns(X, P, random_state=3)
    g = rng.normal(size=n)
    j = np.array([0, 3, P + 3, 2 * P - 1, 5])  # both signs, one pattern twice
    expected = adjoint(X, _signed_masks(D.astype(float), j), g)
    got = _block_gradients(X, np.ascontiguousarray(D.T), j, g)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(got[:, 1] + got[:, 2]).max() <= 1e-12  # the two signs of pattern 3
