"""Helpers shared by the CNN solvers."""

from __future__ import annotations

from convexnn.cnn import _common


def test_no_better_certificate_needs_rounds_without_a_better_gap():
    """A "bcd" solve may stall only after STALL_ROUNDS certificates none of which was
    BETTER times the best before them."""
    rounds = _common.STALL_ROUNDS
    flat = [0.9, 0.5] + [0.48] * rounds  # 4% better than 0.5: not enough
    assert _common.no_better_certificate(flat)
    assert not _common.no_better_certificate(flat[:-1])  # one round too few
    assert not _common.no_better_certificate([0.9, 0.5] + [0.6] * (rounds - 1) + [0.4])
    assert not _common.no_better_certificate([0.5] * rounds)  # too short to judge
