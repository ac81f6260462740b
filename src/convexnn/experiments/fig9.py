"""Figure 9: regression on Bank (bank32; n = 4000, d = 32, m = 12, batch 25), squared loss.

The stand-in is a SYNTHETIC set of the same n and d (planted ReLU network,
:func:`convexnn.datasets.bank_standin`); bank32 has no offline copy.
``beta = 0.01 n`` on standardised X and y; test error is the test mean squared error.
"""

from __future__ import annotations

from pathlib import Path

from ..datasets import bank_standin
from ._common import ExperimentResult
from ._sampled import Setup, run_sampled

PAPER = "Bank n=4000, d=32, m=12, batch 25, 5 SGD runs."


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Run Figure 9 (``quick``: n = 200, 2 SGD runs of 1 s, Alg1 with P = 24)."""
    ds = bank_standin(
        n_train=200 if quick else 4000, n_test=200 if quick else 1000, random_state=random_state
    )
    n = ds.shape[0]
    setup = Setup(
        name="fig9",
        loss="squared",
        beta=0.01 * n,
        n_neurons=12,
        batch_size=25,
        n_runs=2 if quick else 5,
        lr=0.2 / n,
        time_budget=1.0 if quick else 15.0,
        max_epochs=100000,
        n_alg1=24 if quick else 48,
        classification=False,
        paper=PAPER,
    )
    return run_sampled(setup, ds, out=out, random_state=random_state)
