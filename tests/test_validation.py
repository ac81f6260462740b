"""Input checks shared by the public functions: errors name the function called."""

import numpy as np
import pytest

import convexnn as cnn
from convexnn._validation import as_generator
from convexnn.baselines import train_gd
from convexnn.cnn.relu import sample_cnn_gates
from convexnn.patterns import column_generation, search_patterns


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 2)), rng.normal(size=12)


@pytest.mark.parametrize(
    "name,call",
    [
        ("solve", lambda X, y, rs: cnn.solve(X, y, 1.0, patterns="sampled", random_state=rs)),
        ("train_gd", lambda X, y, rs: train_gd(X, y, 1.0, 3, random_state=rs)),
        ("column_generation", lambda X, y, rs: column_generation(X, y, 1.0, random_state=rs)),
        ("search_patterns", lambda X, y, rs: search_patterns(X, y, random_state=rs)),
        ("sample_patterns", lambda X, y, rs: cnn.sample_patterns(X, 3, random_state=rs)),
        (
            "sample_cnn_gates",
            lambda X, y, rs: sample_cnn_gates(X.reshape(12, 1, 2), 3, random_state=rs),
        ),
    ],
)
@pytest.mark.parametrize(
    "bad,error", [("seed", TypeError), (True, TypeError), (1.5, TypeError), (-1, ValueError)]
)
def test_a_bad_random_state_is_refused_naming_the_function_called(name, call, bad, error):
    X, y = _data()
    with pytest.raises(error, match=rf"^{name}: random_state must be"):
        call(X, y, bad)


def test_a_generator_is_used_as_given_so_its_stream_goes_on():
    gen = np.random.default_rng(5)
    assert as_generator(gen, caller="f") is gen
    a = as_generator(7, caller="f").normal(size=3)
    np.testing.assert_array_equal(a, np.random.default_rng(7).normal(size=3))


def test_two_column_targets_point_to_the_multi_output_solver():
    X, y = _data()
    with pytest.raises(ValueError, match=r"^train_gd: y must be a vector .*solve_multioutput"):
        train_gd(X, np.c_[y, y], 1.0, 3)
    with pytest.raises(ValueError, match=r"got shape \(12, 2, 2\)\.$"):
        train_gd(X, np.zeros((12, 2, 2)), 1.0, 3)
