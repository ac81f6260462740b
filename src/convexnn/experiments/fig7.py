"""Figure 7: regression on Boston Housing (n = 400, d = 13, m = 12, batch 25), squared loss.

The stand-in is scikit-learn's bundled diabetes set (real data, n = 400 training rows, d = 10);
Torgo's Boston Housing is not available offline (read it with
:func:`convexnn.datasets.load_regression_file` if you have a copy).
``beta = 0.01 n`` on standardised X and y; test error is the test mean squared error.
"""

from __future__ import annotations

from pathlib import Path

from ..datasets import boston_standin
from ._common import ExperimentResult
from ._sampled import Setup, run_sampled

PAPER = "Boston Housing n=400, d=13, m=12, batch 25, 5 SGD runs over ~10^2 s."


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Run Figure 7 (``quick``: n = 100, 2 SGD runs of 1 s, Alg1 with P = 24)."""
    ds = boston_standin(n_train=100 if quick else 400, random_state=random_state)
    n = ds.shape[0]
    setup = Setup(
        name="fig7",
        loss="squared",
        beta=0.01 * n,
        n_neurons=12,
        batch_size=25,
        n_runs=2 if quick else 5,
        lr=0.2 / n,
        time_budget=1.0 if quick else 15.0,
        max_epochs=100000,
        n_alg1=24 if quick else 120,
        classification=False,
        paper=PAPER,
    )
    return run_sampled(setup, ds, out=out, random_state=random_state)
