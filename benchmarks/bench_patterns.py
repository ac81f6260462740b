"""Exact pattern enumeration: wall time of enumerate_patterns and count_cells.

Command: ``python benchmarks/bench_patterns.py`` (``--quick`` for the CI-sized run), with
``PYTHONPATH=src`` when convexnn is not installed.

BLAS threads are pinned before numpy is imported (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
MKL_NUM_THREADS, default 2 = the development machine's cores; set them in the environment
to override). Times are the best of ``--repeats`` runs (``time.perf_counter``); the "first"
column is the first run, which also pays the page faults of freshly allocated memory.
Data: standard Gaussian rows (general position), fixed seeds.
"""

from __future__ import annotations

import argparse
import os

import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("2")

import platform  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from convexnn.patterns import count_cells, count_patterns_bound, enumerate_patterns  # noqa: E402


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Best and first wall time of ``fn()`` over ``repeats`` runs, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        result = None  # free the previous result before the next run
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), times[0], result


def _machine() -> str:
    lines = [
        f"- platform: {platform.platform()}, python {platform.python_version()}",
        f"- cores: {os.cpu_count()}, numpy {np.__version__}",
        "- threads: "
        + ", ".join(f"{v}={os.environ.get(v)}" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")),
    ]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"- threadpool: {pool.get('internal_api')} {pool.get('version')}, "
                f"{pool.get('num_threads')} threads ({pool.get('user_api')})"
            )
    except ImportError:
        lines.append("- threadpoolctl not installed")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CI)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per problem (best kept)")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    n2, n_count, n3a, n3b = (1000, 10_000, 50, 100) if args.quick else (10_000, 100_000, 200, 600)
    rng = np.random.default_rng(0)
    X2, Xc = rng.standard_normal((n2, 2)), rng.standard_normal((n_count, 2))
    X3a, X3b = rng.standard_normal((n3a, 3)), rng.standard_normal((n3b, 3))
    X4, X5 = rng.standard_normal((40, 4)), rng.standard_normal((20, 5))
    problems: list[tuple[str, Callable[[], Any], int]] = [
        (f"enumerate_patterns, rank 2, n = {n2}", lambda: enumerate_patterns(X2), 2),
        (f"count_cells, rank 2, n = {n_count}", lambda: count_cells(Xc), 2),
        (f"enumerate_patterns, rank 3, n = {n3a}", lambda: enumerate_patterns(X3a), 3),
        (f"enumerate_patterns, rank 3, n = {n3b}", lambda: enumerate_patterns(X3b), 3),
        (f"count_cells, rank 3, n = {n3b}", lambda: count_cells(X3b), 3),
        ("enumerate_patterns, rank 4, n = 40", lambda: enumerate_patterns(X4), 4),
        ("enumerate_patterns, rank 5, n = 20", lambda: enumerate_patterns(X5), 5),
    ]
    print("## Exact pattern enumeration (convexnn.patterns)\n")
    print(_machine())
    print(f"\n| problem | P | bound | best of {repeats} (s) | first (s) |")
    print("|---|---|---|---|---|")
    for name, fn, r in problems:
        best, first, result = _time(fn, repeats)
        P = result if isinstance(result, int) else result.shape[1]
        n = int(name.rsplit("= ", 1)[1])
        bound = count_patterns_bound(n, r)
        print(f"| {name} | {P:,} | {bound:,} | {best:.3f} | {first:.3f} |")
        del result
    limit = {"max_bytes": 10**7} if args.quick else {}  # quick: trigger the error cheaply
    try:
        enumerate_patterns(Xc, **limit)
        print(f"\nenumerate_patterns at rank 2, n = {n_count}: no error (fits max_bytes).")
    except ValueError as exc:
        print(f"\nenumerate_patterns at rank 2, n = {n_count} refuses, as it should:\n> {exc}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the whole run: {peak:.0f} MB")


if __name__ == "__main__":
    main()
