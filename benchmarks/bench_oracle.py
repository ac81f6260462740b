"""Streamed global certificates: the exact pricing oracle at sizes that cannot be stored.

Command: ``python benchmarks/bench_oracle.py`` (``--quick`` for the CI-sized run).
BLAS threads are pinned to 2 (the machine's cores) before numpy is imported.

For each size, a fixed random network (8 neurons, hidden bias) is certified with
``convexnn.certify(net, X, y, beta, patterns="exact", max_patterns=1)``: the patterns
are never stored; the pricing oracle computes ``max_{||u|| <= 1} |lam^T ([X, 1] u)_+|``
over ALL of them (rank 2: one angle sweep; rank 3: a sweep of every great circle).
A small size is also checked against brute force (enumerate_patterns + cone_dual_norms).
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
from convexnn._validation import add_ones_column  # noqa: E402
from convexnn.duality import cone_dual_norms  # noqa: E402
from convexnn.patterns import max_dual_violation  # noqa: E402


def _problem(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, cnn.TwoLayerReLU]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    planted = cnn.TwoLayerReLU(rng.normal(size=(d, 3)), rng.normal(size=3), rng.normal(size=3))
    y = planted.predict(X) + 0.1 * rng.normal(size=n)
    net = cnn.TwoLayerReLU(rng.normal(size=(d, 8)), rng.normal(size=8), rng.normal(size=8))
    return X, y, net


def _row(label: str, n: int, d: int, seed: int = 0) -> str:
    X, y, net = _problem(n, d, seed)
    start = time.perf_counter()
    cert = cnn.certify(net, X, y, 0.1, patterns="exact", max_patterns=1)
    elapsed = time.perf_counter() - start
    return (
        f"| {label} | {n:,} | {cert.n_patterns:,} | {elapsed:.2f} | {cert.dual_norm:.6g} | "
        f"{cert.scope} |"
    )


def _check_brute_force(n: int, d: int) -> str:
    X, y, net = _problem(n, d, 1)
    lam = y - net.predict(X)
    X_eff = add_ones_column(X)
    start = time.perf_counter()
    p = max_dual_violation(X, lam, hidden_bias=True)
    t_oracle = time.perf_counter() - start
    start = time.perf_counter()
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    ref = float(cone_dual_norms(X_eff, D, lam).max())
    t_brute = time.perf_counter() - start
    ok = abs(p.value - ref) <= 1e-9 * ref and p.upper_bound >= ref
    return (
        f"brute-force check, rank {d + 1}, n = {n}: oracle {p.value:.12g} "
        f"({t_oracle:.2f} s), enumerate + cone_dual_norms {ref:.12g} over P = {D.shape[1]} "
        f"({t_brute:.2f} s): {'agree' if ok else 'DISAGREE'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--skip-largest", action="store_true", help="omit rank 3, n = 1e4")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    if args.quick:
        sizes = [("rank 2 (d = 1 + bias)", 1_000, 1), ("rank 3 (d = 2 + bias)", 60, 2)]
        check = (30, 2)
    else:
        sizes = [
            ("rank 2 (d = 1 + bias)", 100_000, 1),
            ("rank 3 (d = 2 + bias)", 1_000, 2),
        ]
        if not args.skip_largest:
            sizes.append(("rank 3 (d = 2 + bias)", 10_000, 2))
        check = (300, 2)
    print(check_line := _check_brute_force(*check))
    if "DISAGREE" in check_line:
        raise SystemExit(1)
    print("| data | n | patterns (never stored) | certify time (s) | dual norm | scope |")
    print("|---|---|---|---|---|---|")
    for label, n, d in sizes:
        print(_row(label, n, d), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
