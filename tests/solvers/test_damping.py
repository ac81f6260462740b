"""The Levenberg-Marquardt schedule shared by the gated Newton round and the relu polish."""

from __future__ import annotations

from convexnn.solvers._damping import Damping


def test_ridge_grows_tenfold_per_failure_up_to_its_tries_then_refuses():
    d = Damping(tries=3)
    assert d.value == 0.0
    assert d.fail(2.0) and d.value == 2.0  # the caller's scale first
    assert d.fail(1.0) and d.value == 20.0  # then ten times more
    assert d.fail(5.0) and d.value == 200.0
    assert not d.fail(1.0) and d.value == 200.0 and d.failures == 3  # unchanged


def test_success_relaxes_tenfold_to_zero_and_allows_new_failures():
    d = Damping(tries=1)
    assert d.fail(1.0) and not d.fail(1.0)
    d.succeed(1.0)
    assert d.value == 0.1 and d.failures == 0
    assert d.fail(1.0) and d.value == 1.0  # max(10 * 0.1, 1)
    d.value = 1e-7
    d.succeed(1.0)  # below 1e-6 of the scale: no ridge at all
    assert d.value == 0.0
    d.fail(3.0)
    d.reset()
    assert (d.value, d.failures) == (0.0, 0)
