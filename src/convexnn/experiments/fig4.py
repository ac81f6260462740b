"""Figure 4: binary image classification, hinge loss, Alg1/Alg2/Alg3 vs SGD.

The paper used an under-sampled two-class CIFAR-10 subset (n = 106, d = 100, m = 12, batch 25).
CIFAR-10 cannot be downloaded here: the stand-in is scikit-learn's bundled 8x8 digits,
classes 3 vs 8 (n = 106 training images, d = 64, the rest of the two classes as test set).
With a local CIFAR-10 copy, :func:`convexnn.datasets.load_cifar10_binary` gives the real data.
"""

from __future__ import annotations

from pathlib import Path

from ..datasets import digits_binary
from ._common import ExperimentResult
from ._sampled import Setup, run_sampled

PAPER = (
    "CIFAR-10 two classes, n=106, d=100: Alg1 objective 0.0022 / test 66.80%, Alg2 0.0032 / "
    "60.15%, Alg3 0.0032 / 60.20%, GD 0.0042 / 62.75% (Table 1)."
)


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Run Figure 4 (``quick``: n = 40, 2 SGD runs of 100 epochs, Alg1 with P = 24)."""
    n = 40 if quick else 106
    ds = digits_binary(n_train=n, n_test=None if not quick else 100, random_state=random_state)
    setup = Setup(
        name="fig4",
        loss="hinge",
        beta=1e-2,
        n_neurons=12,
        batch_size=25,
        n_runs=2 if quick else 10,
        lr=1e-3,
        time_budget=60.0,
        max_epochs=100 if quick else 2000,
        n_alg1=24 if quick else 120,
        classification=True,
        paper=PAPER,
    )
    return run_sampled(setup, ds, out=out, random_state=random_state)
