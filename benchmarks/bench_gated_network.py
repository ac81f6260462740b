"""The gated solve's own network: held-out error against the relu optimum.

Full:  .venv/bin/python benchmarks/bench_gated_network.py           (about 5 minutes)
Quick: .venv/bin/python benchmarks/bench_gated_network.py --quick   (seconds, CI)
``--rows 0 1`` runs only those problems of ``bench_solvers.FULL``.

The problems of ``bench_solvers.py`` (planted-ReLU regression, hidden bias, the same
sampled patterns, beta = 1e-2 of its largest useful value). Each is solved with both
formulations; the test set is 4000 fresh points of the same planted network, without
noise. Columns (squared error on the test set): the gated network of the gated solve
(``Solution.gated_network(X)``, maximum-margin gates from ``pattern_gates``), the same
blocks with the Gaussian gates the patterns were drawn from, the relu optimum's
network, and the Theorem-1 ReLU network of the gated blocks (``recover_network``: what
the gated solve's ``network`` was built from). Times: the gated solve, its gates (first
``gated_network(X)``), the relu solve; one BLAS thread, wall seconds.
"""

from __future__ import annotations

import argparse
import time
import warnings

import _blas  # before numpy: threads, OpenBLAS kernel

_blas.pin("1")

import numpy as np  # noqa: E402

import convexnn as cnn  # noqa: E402
from bench_solvers import FULL, QUICK, make_bench  # noqa: E402
from convexnn.gated_network import gated_network  # noqa: E402
from convexnn.network import recover_network  # noqa: E402


def planted_test_set(spec, n_test: int = 4000, seed: int = 0):
    """Fresh points of ``make_bench``'s planted network (its draws, in its order)."""
    rng = np.random.default_rng(seed)
    rng.standard_normal((spec.n, spec.d))  # the training X
    U0 = rng.standard_normal((spec.d, 6)) / np.sqrt(spec.d)
    b0 = 0.3 * rng.standard_normal(6)
    a0 = rng.standard_normal(6)
    X = np.random.default_rng(seed + 99).standard_normal((n_test, spec.d))
    return X, np.maximum(X @ U0 + b0, 0) @ a0


def run(spec) -> str:
    b = make_bench(spec)
    Xt, yt = planted_test_set(spec)

    def mse(net) -> float:
        return float(np.mean((net.predict(Xt) - yt) ** 2))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        g = cnn.solve(b.X, b.y, b.beta, patterns=b.D, formulation="gated", hidden_bias=True)
        t_gated = time.perf_counter() - t
        t = time.perf_counter()
        net = g.gated_network(b.X)
        t_gates = time.perf_counter() - t
        t = time.perf_counter()
        r = cnn.solve(b.X, b.y, b.beta, patterns=b.D, formulation="relu", hidden_bias=True)
        t_relu = time.perf_counter() - t
    sampled = gated_network(g.V - g.W, b.G, hidden_bias=True, output_bias=g.c)
    theorem1 = recover_network(g.V, g.W, hidden_bias=True, output_bias=g.c)
    cells = [
        spec.name,
        f"{np.var(yt):.4f}",
        f"{mse(net):.4f}",
        f"{mse(sampled):.4f}",
        f"{mse(r.network):.4f}",
        f"{mse(theorem1):.4f}",
        f"{net.n_neurons}",
        f"{t_gated:.2f} / {t_gates:.2f} / {t_relu:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, nargs="+", default=None)
    args = parser.parse_args()
    specs = QUICK if args.quick else FULL
    if args.rows is not None:
        specs = [specs[i] for i in args.rows]
    print(_blas.machine())
    print(
        "| problem | var(y_test) | gated net (max-margin gates) | gated net (sampled gates) "
        "| relu optimum | Theorem-1 net of gated blocks | gated neurons "
        "| time gated / gates / relu (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for spec in specs:
        print(run(spec), flush=True)


if __name__ == "__main__":
    main()
