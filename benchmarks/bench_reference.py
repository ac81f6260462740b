"""Reference (CVXPY + Clarabel) solver time on the two demo problems.

Command: ``python benchmarks/bench_reference.py`` (``--quick`` for the CI-sized run).
BLAS threads are pinned to 2 (the machine's cores) before numpy is imported.
"""

from __future__ import annotations

import argparse
import os

import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("2")

import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import convexnn as cnn  # noqa: E402
from convexnn.demo import paper_1d, planted_2d  # noqa: E402


def _time_solve(X: np.ndarray, y: np.ndarray, beta: float, repeats: int) -> tuple[float, object]:
    best, sol = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        run = cnn.solve(X, y, beta, hidden_bias=True)
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, sol = elapsed, run
    return best, sol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CI)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    problems = [("paper 1-D (n=5)", *paper_1d(), 1e-2)]
    n2 = 10 if args.quick else 40
    problems.append((f"2-D planted (n={n2})", *planted_2d(n2), 1e-2))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(
        f"| problem | P | enumerate + solve + certify (s, best of {repeats}) | of which CVXPY (s) "
        "| rel. gap | scope |"
    )
    print("|---|---|---|---|---|---|")
    for name, X, y, beta in problems:
        elapsed, sol = _time_solve(X, y, beta, repeats)
        assert isinstance(sol, cnn.Solution)
        print(
            f"| {name} | {sol.patterns.shape[1]} | {elapsed:.3f} | {sol.time:.3f} | "
            f"{sol.relative_gap:.1e} | {sol.scope} |"
        )


if __name__ == "__main__":
    main()
