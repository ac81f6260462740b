"""PatternMatrix keeps its facts through copies of the whole matrix, not derived arrays."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from sklearn.base import clone

from convexnn import ConvexReLURegressor
from convexnn.patterns import PatternMatrix, enumerate_patterns


def _exhaustive() -> PatternMatrix:
    X = np.random.default_rng(0).normal(size=(12, 2))
    return enumerate_patterns(X, hidden_bias=True)


@pytest.mark.parametrize(
    "copier",
    [copy.copy, copy.deepcopy, lambda D: D.copy(), lambda D: pickle.loads(pickle.dumps(D))],
    ids=["copy", "deepcopy", "method", "pickle"],
)
def test_copies_keep_the_facts(copier) -> None:  # type: ignore[no-untyped-def]
    """ndarray's __deepcopy__ went through __array_finalize__, which resets the facts:
    an exhaustive set silently became ordinary patterns (certificate "patterns")."""
    D = _exhaustive()
    E = copier(D)
    assert isinstance(E, PatternMatrix)
    assert E.exhaustive and E.method == D.method and E.X_fingerprint == D.X_fingerprint
    np.testing.assert_array_equal(E, D)
    assert not np.shares_memory(E, D)


def test_deepcopy_memo_and_containers() -> None:
    D = _exhaustive()
    a, b = copy.deepcopy([D, D])
    assert a is b and a.exhaustive  # one copy per object, through the memo


def test_clone_of_an_estimator_keeps_exhaustive_patterns() -> None:
    D = _exhaustive()
    est = ConvexReLURegressor(patterns=D)
    assert clone(est).patterns.exhaustive
    assert clone(est).patterns.X_fingerprint == D.X_fingerprint


@pytest.mark.parametrize(
    "derive",
    [lambda D: D[:, :3], lambda D: D[::-1], lambda D: ~D, lambda D: D[:, ::-1][:, ::-1]],
    ids=["columns", "reversed rows", "negation", "view of same shape"],
)
def test_derived_arrays_lose_the_facts(derive) -> None:  # type: ignore[no-untyped-def]
    """A subset, a reordering or a transform is not the exhaustive set of that X."""
    E = derive(_exhaustive())
    assert not E.exhaustive and E.X_fingerprint is None


@pytest.mark.parametrize(
    "derive",
    [lambda D: D[:, 0], lambda D: D.sum(axis=0), lambda D: (D * 1.0).max(), lambda D: D * 1.0],
    ids=["column", "sum", "scalar", "float"],
)
def test_repr_of_derived_arrays(derive) -> None:  # type: ignore[no-untyped-def]
    """repr read shape[1] of any derived array: a column, a sum over samples or a 0-d
    reduction raised IndexError (printing ``sol.patterns.sum(axis=0)`` crashed), and a
    float copy hid its values behind the facts of a pattern matrix."""
    D = _exhaustive()
    E = derive(D)
    assert repr(E) == repr(np.asarray(E))
    assert repr(D).startswith("PatternMatrix(n=12, P=")
