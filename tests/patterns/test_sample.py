"""Sampled activation patterns: Gaussian, network (Alg1/Alg2) and Alg3 flips."""

from __future__ import annotations

import numpy as np
import pytest

from convexnn._validation import add_ones_column
from convexnn.patterns import PatternMatrix, enumerate_patterns, fingerprint, sample_patterns


def column_set(D: np.ndarray) -> set[bytes]:
    return {np.asarray(c, dtype=bool).tobytes() for c in np.asarray(D).T}


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((30, 3))


# -- gaussian ---------------------------------------------------------------------------------


def test_gaussian_shape_uniqueness_metadata(X: np.ndarray) -> None:
    D = sample_patterns(X, 50, random_state=0)
    assert isinstance(D, PatternMatrix)
    assert D.shape == (30, 50) and D.dtype == bool
    assert len(column_set(D)) == 50
    assert not D.exhaustive and D.method == "gaussian"
    assert D.X_fingerprint == fingerprint(X)


def test_gaussian_patterns_are_realizable(X: np.ndarray) -> None:
    D = sample_patterns(X, 40, hidden_bias=True, random_state=1)
    assert D.X_fingerprint == fingerprint(add_ones_column(X))
    assert column_set(D) <= column_set(enumerate_patterns(X, hidden_bias=True))


def test_gaussian_is_deterministic_given_random_state(X: np.ndarray) -> None:
    a = sample_patterns(X, 20, random_state=7)
    b = sample_patterns(X, 20, random_state=np.random.default_rng(7))
    c = sample_patterns(X, 20, random_state=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_gaussian_matches_direct_draw_without_dedupe(X: np.ndarray) -> None:
    D = sample_patterns(X, 5, random_state=3, unique=False)
    U = np.random.default_rng(3).standard_normal((3, 5))
    np.testing.assert_array_equal(np.asarray(D), X @ U >= 0)


def test_gaussian_stops_at_cap_and_warns() -> None:
    X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])  # only 10 patterns with a bias
    with pytest.warns(UserWarning, match="found only 10 distinct patterns"):
        D = sample_patterns(X, 50, hidden_bias=True, random_state=0)
    assert column_set(D) == column_set(enumerate_patterns(X, hidden_bias=True))


# -- network (Alg1 / Alg2) --------------------------------------------------------------------


def test_network_reproduces_given_weights(X: np.ndarray) -> None:
    W = np.random.default_rng(4).standard_normal((4, 6))
    W[:, 5] = 2.0 * W[:, 0]  # same pattern twice
    D = sample_patterns(X, method="network", weights=W, hidden_bias=True, unique=False)
    np.testing.assert_array_equal(np.asarray(D), add_ones_column(X) @ W >= 0)
    assert D.method == "network"
    Du = sample_patterns(X, None, method="network", weights=W, hidden_bias=True)
    np.testing.assert_array_equal(np.asarray(Du), np.asarray(D)[:, :5])


def test_network_caps_at_n_patterns(X: np.ndarray) -> None:
    W = np.random.default_rng(5).standard_normal((3, 10))
    D = sample_patterns(X, 4, method="network", weights=W)
    np.testing.assert_array_equal(np.asarray(D), (X @ W >= 0)[:, :4])
    with pytest.warns(UserWarning, match="fewer than n_patterns=20"):
        sample_patterns(X, 20, method="network", weights=W)


# -- alg3 -------------------------------------------------------------------------------------


def test_alg3_includes_flipped_patterns(X: np.ndarray) -> None:
    W = np.random.default_rng(6).standard_normal((3, 4))
    D = np.asarray(sample_patterns(X, method="alg3", weights=W, n_flips=3, unique=False))
    assert D.shape == (30, 8)
    Z = X @ W
    for j in range(4):
        original, flipped = D[:, 2 * j], D[:, 2 * j + 1]
        np.testing.assert_array_equal(original, Z[:, j] >= 0)
        changed = np.nonzero(original != flipped)[0]
        smallest = np.argsort(np.abs(Z[:, j]))[:3]
        assert set(changed) == set(smallest)


def test_alg3_gaussian_unique_and_default_flips(X: np.ndarray) -> None:
    D = sample_patterns(X, 30, method="alg3", random_state=0)
    assert D.shape == (30, 30) and len(column_set(D)) == 30
    assert D.method == "alg3"
    # Default n_flips = max(1, 30 // 20) = 1: consecutive columns differ in one entry.
    assert np.sum(np.asarray(D)[:, 0] != np.asarray(D)[:, 1]) == 1


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((0,), {}, ValueError, "n_patterns must be an integer >= 1, got 0"),
        ((2.5,), {}, TypeError, "n_patterns must be an integer"),
        ((None,), {}, ValueError, "n_patterns is required"),
        ((5,), {"method": "foo"}, ValueError, "'gaussian', 'network', 'alg3'"),
        ((5,), {"method": "network"}, ValueError, "method='network' needs weights"),
        ((5,), {"weights": np.ones((3, 2))}, ValueError, "not by method='gaussian'"),
        ((5,), {"n_flips": 2}, ValueError, "n_flips only applies to method='alg3'"),
        ((5,), {"method": "alg3", "n_flips": 99}, ValueError, "at most the number of samples"),
        ((5,), {"random_state": "abc"}, TypeError, "random_state must be None, an int"),
        ((5,), {"random_state": -1}, ValueError, "random_state"),
        ((5,), {"unique": "yes"}, TypeError, "unique must be True or False"),
    ],
)
def test_bad_options(X: np.ndarray, args: tuple, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        sample_patterns(X, *args, **kwargs)


def test_weights_with_wrong_shape_mention_hidden_bias(X: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(4, m\).*hidden_bias=True.*got shape \(3, 5\)"):
        sample_patterns(X, method="network", weights=np.ones((3, 5)), hidden_bias=True)
    with pytest.raises(ValueError, match=r"pass hidden_bias=True"):
        sample_patterns(X, method="network", weights=np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"weights\.T"):
        sample_patterns(X, method="network", weights=np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"weights\.reshape\(-1, 1\)"):
        sample_patterns(X, method="network", weights=np.ones(3))
    with pytest.raises(ValueError, match="weights must be finite"):
        sample_patterns(X, method="network", weights=np.full((3, 2), np.inf))


def test_nan_in_X_is_rejected() -> None:
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="sample_patterns: X must be finite, got 1 NaN"):
        sample_patterns(X, 3)


@pytest.mark.parametrize("weights", [None, np.array([[1.0, -1.0], [0.5, 2.0]])])
def test_alg3_never_flips_zero_rows(weights):
    """x_j = 0 has x_j^T u = 0 for every u: flipping it would copy the same D X."""
    rng = np.random.default_rng(3)
    X = np.vstack([np.zeros((2, 2)), rng.normal(size=(10, 2))])
    n = 4 if weights is None else None
    D = sample_patterns(
        X, n, method="alg3", weights=weights, random_state=0, n_flips=1, unique=False
    )
    P, F = np.asarray(D)[:, 0::2], np.asarray(D)[:, 1::2]
    assert np.all(P[:2]) and np.all(F[:2])  # zero rows stay True, as in enumerate_patterns
    assert np.all((P != F).sum(axis=0) == 1)  # one flip per copy, on a non-zero row
