"""Exact pattern enumeration against a brute-force LP reference and known counts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from convexnn._validation import add_ones_column
from convexnn.patterns import (
    PatternMatrix,
    count_cells,
    count_patterns_bound,
    enumerate_patterns,
    fingerprint,
    pattern_count_bound,
)
from convexnn.patterns._reference import brute_force_patterns, is_realizable


def column_set(D: np.ndarray) -> set[bytes]:
    return {np.asarray(c, dtype=bool).tobytes() for c in np.asarray(D).T}


def assert_matches_brute_force(X: np.ndarray, hidden_bias: bool = False) -> PatternMatrix:
    D = enumerate_patterns(X, hidden_bias=hidden_bias)
    B = brute_force_patterns(X, hidden_bias=hidden_bias)
    assert column_set(D) == column_set(B)
    # Same canonical (lexicographic) column order as the reference: equal as arrays.
    np.testing.assert_array_equal(np.asarray(D), B)
    assert count_cells(X, hidden_bias=hidden_bias) == D.shape[1]
    return D


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- against brute force ------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_general_position_matches_brute_force(r: int) -> None:
    X = rng(r).standard_normal((8, r))
    D = assert_matches_brute_force(X)
    assert D.shape[1] == count_patterns_bound(8, r)


def test_repeated_antiparallel_scaled_and_zero_rows() -> None:
    X = rng(1).standard_normal((5, 3))
    X = np.vstack([X, X[:2], -X[1:3], 2.5 * X[3:4], np.zeros((2, 3))])
    D = assert_matches_brute_force(X)
    assert np.all(D[-2:])  # zero rows are active in every pattern
    np.testing.assert_array_equal(D[5], D[0])  # repeated row
    np.testing.assert_array_equal(D[7], ~D[1])  # antiparallel row


def test_zero_row_first() -> None:
    X = np.vstack([np.zeros((1, 2)), rng(2).standard_normal((5, 2))])
    assert_matches_brute_force(X)


def test_collinear_points_with_hidden_bias() -> None:
    t = np.linspace(-1.0, 1.0, 5)
    line = np.column_stack([t, 2.0 * t + 0.3])  # five collinear points
    X = np.vstack([line, rng(3).standard_normal((3, 2))])
    assert_matches_brute_force(X, hidden_bias=True)


def test_grid_with_hidden_bias_inexact_coordinates() -> None:
    grid = np.array([[i, j] for i in range(3) for j in range(3)], dtype=float) / 3.0
    assert_matches_brute_force(grid, hidden_bias=True)


def test_rank_deficient_data() -> None:
    X = rng(4).standard_normal((8, 2)) @ rng(5).standard_normal((2, 5))  # d = 5, rank 2
    D = assert_matches_brute_force(X)
    assert D.shape[1] == count_patterns_bound(8, 2)


def test_rank_deficient_rank3_in_5d() -> None:
    X = rng(6).standard_normal((7, 3)) @ rng(7).standard_normal((3, 5))
    D = assert_matches_brute_force(X)
    assert D.shape[1] == count_patterns_bound(7, 3)


def test_degenerate_rank4() -> None:
    X = rng(8).integers(-2, 3, size=(7, 4)) * 0.1  # many dependent triples, inexact floats
    assert_matches_brute_force(X)


def test_paper_toy_1d_with_hidden_bias() -> None:
    X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    D = assert_matches_brute_force(X, hidden_bias=True)
    assert D.shape == (5, 10)


def test_every_column_realizable_medium() -> None:
    X = rng(9).standard_normal((12, 3))
    D = np.asarray(enumerate_patterns(X))
    assert D.shape[1] == count_patterns_bound(12, 3)
    assert all(is_realizable(X, D[:, i]) for i in range(D.shape[1]))


# -- known counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "r"), [(50, 2), (1000, 2), (100, 3), (50, 3), (30, 4), (15, 5), (3, 3), (4, 5)]
)
def test_count_equals_cover_bound_in_general_position(n: int, r: int) -> None:
    X = rng(n + r).standard_normal((n, r))
    D = enumerate_patterns(X)
    assert D.shape == (n, count_patterns_bound(n, r))
    assert count_cells(X) == D.shape[1]
    assert len(column_set(D)) == D.shape[1]  # no duplicate columns


def test_rank3_n100_count() -> None:
    X = rng(0).standard_normal((100, 3))
    assert enumerate_patterns(X).shape[1] == 9902


def test_hidden_bias_on_2d_data_is_rank3() -> None:
    X = rng(10).standard_normal((40, 2))
    D = enumerate_patterns(X, hidden_bias=True)
    assert D.shape == (40, count_patterns_bound(40, 3))


@pytest.mark.parametrize(("d", "expected"), [(1, 4), (2, 14), (3, 104), (4, 1882)])
def test_hypercube_threshold_functions(d: int, expected: int) -> None:
    # Patterns of the vertices of {0, 1}^d with a bias = linear threshold functions of d
    # variables (OEIS A000609): a heavily degenerate arrangement with known counts.
    cube = np.array(np.meshgrid(*[[0.0, 1.0]] * d)).reshape(d, -1).T
    assert count_cells(cube, hidden_bias=True) == expected
    assert enumerate_patterns(cube, hidden_bias=True).shape == (2**d, expected)


def test_rank2_count_cells_large_n_is_exact() -> None:
    X = rng(11).standard_normal((20_000, 2))
    X[1] = -3.0 * X[0]  # one antiparallel pair: one line fewer
    assert count_cells(X) == 2 * (20_000 - 1)


# -- invariances and output format --------------------------------------------------------


def test_invariant_to_scaling_and_rotation_of_features() -> None:
    X = rng(12).standard_normal((15, 3))
    Q, _ = np.linalg.qr(rng(13).standard_normal((3, 3)))
    D = np.asarray(enumerate_patterns(X))
    np.testing.assert_array_equal(np.asarray(enumerate_patterns(3.7 * X)), D)
    np.testing.assert_array_equal(np.asarray(enumerate_patterns(X @ Q)), D)


@pytest.mark.parametrize("scale", [1e-5, 1e-7, 1e6])
def test_tiny_or_huge_features_beside_the_bias_column_keep_their_patterns(scale: float) -> None:
    """[s X, 1] has the patterns of [X, 1] (u_x -> u_x / s). Features of 1e-5 / 1e-7
    beside the ones column gave 44 / 0 of the 84 patterns; 2-D data at 1e-6 gave 52, more
    than the general-position bound 44; columns of 1e-7 beside one of 1 gave 106 > 74."""
    X = rng(5).standard_normal((7, 3))
    D = np.asarray(enumerate_patterns(X, hidden_bias=True))
    assert D.shape[1] == 84
    np.testing.assert_array_equal(np.asarray(enumerate_patterns(scale * X, hidden_bias=True)), D)
    assert count_cells(scale * X, hidden_bias=True) == 84
    X2 = rng(6).standard_normal((7, 2))
    assert enumerate_patterns(1e-6 * X2, hidden_bias=True).shape[1] == count_patterns_bound(7, 3)
    X3 = rng(5).standard_normal((9, 3))
    D3 = np.asarray(enumerate_patterns(X3 * [1e-7, 1e-7, 1.0]))
    np.testing.assert_array_equal(D3, np.asarray(enumerate_patterns(X3)))
    assert D3.shape[1] == count_patterns_bound(9, 3)


def degenerate_data(n: int, d: int, seed: int) -> np.ndarray:
    X = rng(seed).standard_normal((n, d))
    X[0] = 0.0  # a zero row first
    X[5:9] = X[1:5]  # repeated rows
    X[9:12] = -2.0 * X[1:4]  # antiparallel rows
    return X


@pytest.mark.parametrize("d", [2, 3])
def test_columns_sorted_lexicographically_and_distinct(d: int) -> None:
    X = degenerate_data(300 if d == 2 else 40, d, seed=14)
    D = np.asarray(enumerate_patterns(X))
    keys = [np.packbits(c).tobytes() for c in D.T]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys) == count_cells(X)
    assert D.dtype == bool and D.flags.c_contiguous
    assert np.all(D[0])


def test_rank2_fast_path_matches_generic_path() -> None:
    from convexnn.patterns._vertex import _patterns_of_rows

    X = degenerate_data(200, 2, seed=15)
    D = enumerate_patterns(X)
    assert column_set(D) == column_set(_patterns_of_rows(X))
    assert D.shape[1] == 2 * (200 - 1 - 4 - 3)  # distinct lines: not the zero, copies


@pytest.mark.parametrize("hidden_bias", [False, True])
def test_metadata(hidden_bias: bool) -> None:
    X = rng(15).standard_normal((10, 2))
    D = enumerate_patterns(X, hidden_bias=hidden_bias)
    assert isinstance(D, PatternMatrix)
    assert D.exhaustive and D.method == "exact"
    X_eff = add_ones_column(X) if hidden_bias else X
    assert D.X_fingerprint == fingerprint(X_eff)
    D2 = pickle.loads(pickle.dumps(D))
    assert D2.exhaustive and D2.X_fingerprint == D.X_fingerprint


def test_all_zero_data_has_one_pattern() -> None:
    D = enumerate_patterns(np.zeros((4, 3)))
    np.testing.assert_array_equal(np.asarray(D), np.ones((4, 1), dtype=bool))
    assert count_cells(np.zeros((4, 3))) == 1


def test_rank_tol_drops_small_direction() -> None:
    X = rng(16).standard_normal((10, 2))
    X = np.column_stack([X, 1e-5 * rng(17).standard_normal(10)])  # thin third direction
    assert enumerate_patterns(X).shape[1] == count_patterns_bound(10, 3)
    assert enumerate_patterns(X, rank_tol=1e-3).shape[1] == count_patterns_bound(10, 2)


# -- errors -----------------------------------------------------------------------------------


def test_max_patterns_error_before_work() -> None:
    X = rng(18).standard_normal((500, 6))
    with pytest.raises(ValueError, match=r"rank 6 and n = 500 .*more than max_patterns=2000000"):
        enumerate_patterns(X)
    with pytest.raises(ValueError, match=r"sample_patterns\(X, n_patterns\)"):
        enumerate_patterns(rng(19).standard_normal((30, 3)), max_patterns=100)


def test_dense_size_error_points_to_count_cells() -> None:
    X = rng(20).standard_normal((100_000, 2))
    with pytest.raises(ValueError, match=r"GB\).*count_cells\(X\)"):
        enumerate_patterns(X)
    assert count_cells(X) == 200_000


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_patterns": 0}, ValueError, "max_patterns must be an integer >= 1"),
        ({"max_patterns": 2.5}, TypeError, "max_patterns must be an integer"),
        ({"rank_tol": -1.0}, ValueError, "rank_tol must be None or a finite number"),
        ({"rank_tol": "big"}, ValueError, "rank_tol"),
        ({"hidden_bias": "yes"}, TypeError, "hidden_bias must be True or False"),
    ],
)
def test_bad_options(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        enumerate_patterns(np.ones((3, 2)), **kwargs)


def test_bad_data() -> None:
    X = np.ones((3, 2))
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match="enumerate_patterns: X must be finite"):
        enumerate_patterns(X)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        enumerate_patterns(np.arange(3.0))
    with pytest.raises(ValueError, match="count_cells: X must be finite"):
        count_cells(X)


def test_count_cells_max_patterns_refuses_before_counting() -> None:
    # 150 x 8 Gaussian: the unguarded count grew past 5 GB; the bound is checked first
    X = np.random.default_rng(0).normal(size=(150, 8))
    bound = pattern_count_bound(X)
    assert bound == count_patterns_bound(150, 8)
    with pytest.raises(ValueError, match=r"count_cells: .* more than max_patterns=1000"):
        count_cells(X, max_patterns=1000)
    small = np.random.default_rng(1).normal(size=(12, 3))
    exact = count_cells(small)
    assert count_cells(small, max_patterns=pattern_count_bound(small)) == exact
    assert pattern_count_bound(small, hidden_bias=True) >= count_cells(small, hidden_bias=True)
    # rank 2 is always counted (O(n log n)), whatever the limit
    line = np.random.default_rng(2).normal(size=(50, 2))
    assert count_cells(line, max_patterns=1) == 100
    assert pattern_count_bound(np.zeros((3, 2))) == 1
