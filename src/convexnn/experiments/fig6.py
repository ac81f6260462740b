"""Figure 6: 2-D binary data with a hard landscape, SGD vs Optimal vs Approximate.

Two blobs with one negative sample planted among the positives (the paper's harder landscape).

See :mod:`convexnn.experiments._binary2d` for the protocol (n = 50, m = 50, batch 25, hinge).
"""

from __future__ import annotations

from pathlib import Path

from ..datasets import binary_2d_hard
from ._binary2d import run_binary2d
from ._common import ExperimentResult


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Run Figure 6 (``quick``: n = 20 and 3 SGD runs instead of n = 50 and 10)."""
    ds = binary_2d_hard(n=20 if quick else 50, random_state=random_state)
    return run_binary2d("fig6", ds, quick=quick, out=out, random_state=random_state)
