"""The relative gap and cone violation: one definition, floors tied to the targets."""

from __future__ import annotations

import numpy as np
import pytest

import convexnn as cnn
from convexnn._measures import gap_scale, relative_gap, relative_violation
from convexnn.duality import dual_certificate
from convexnn.problem import build_problem


def test_relative_gap_is_relative_to_the_objective_above_the_floor():
    y = np.array([3.0, -4.0])  # ||y||^2 / 2 = 12.5
    assert relative_gap(10.0, 9.0, y) == pytest.approx(0.1, rel=1e-15)
    assert relative_gap(-10.0, -11.0, y) == pytest.approx(0.1, rel=1e-15)
    assert gap_scale(0.0, y) == pytest.approx(12.5e-12, rel=1e-15)
    assert gap_scale(0.0, np.zeros(3)) == 1e-12
    assert relative_gap(0.0, 0.0, np.zeros(3)) == 0.0
    assert relative_gap(1e-30, 0.0, y) == pytest.approx(1e-30 / 12.5e-12)


def test_relative_violation_floor():
    y = np.array([2.0, -1.0])
    assert relative_violation(0.3, 1.0, y) == 0.3
    assert relative_violation(0.3e-10, 1e-10, y) == 0.0  # below 1e-8 * max|y|
    assert relative_violation(0.3e-7, 1e-7, y) == pytest.approx(0.3)
    assert relative_violation(0.3e-9, 1e-9, np.zeros(2)) == 0.0
    assert relative_violation(0.0, 0.0, y) == 0.0


def test_dual_certificate_of_the_zero_network_at_a_zero_optimum():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(15, 2))
    D = cnn.enumerate_patterns(X)
    prob = build_problem(X, np.zeros(15), 0.1, D)
    cert = dual_certificate(prob, np.zeros(15), 0.0, scope="global")
    assert cert.gap == 0.0 and cert.relative_gap == 0.0
    assert cert.gap_floor == 1e-12 and cert.relative_gap_of(1e-30) == pytest.approx(1e-18)
    net = cnn.TwoLayerReLU(np.zeros((2, 0)), np.zeros(0))
    assert cnn.certify(net, X, np.zeros(15), 0.1, patterns="exact").relative_gap == 0.0
