"""Relu fast solver vs the gated fast solver and CVXPY on planted-ReLU problems.

Full:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_relu_fast.py
Quick: .venv/bin/python benchmarks/bench_relu_fast.py --quick   (a few seconds, CI)

Problem: y = relu(X U + 0.3) a + noise, P Gaussian sampled patterns with hidden bias,
output bias, beta = frac * max_i ||X^T D_i (y - mean y)|| (frac = 0.05, and 0.005 for
the small-beta case, where FISTA alone stalled before the Newton polish), tol = 1e-6.
Every (formulation, solver) pair first solves a tiny problem untimed (imports, numba's
cache, CVXPY's first canonicalisation), so that the first timed run of each is not
charged with them.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _blas  # before numpy: threads, OpenBLAS kernel

_blas.pin("2")

import numpy as np  # noqa: E402

from convexnn import solve  # noqa: E402
from convexnn.patterns import sample_patterns  # noqa: E402


def make_problem(n: int, d: int, P: int, seed: int = 0, frac: float = 0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    U = rng.normal(size=(d, 8)) / np.sqrt(d)
    y = np.maximum(X @ U + 0.3, 0) @ rng.normal(size=8) + 0.1 * rng.normal(size=n)
    D = sample_patterns(X, P, hidden_bias=True, random_state=seed)
    Xe = np.c_[X, np.ones(n)]
    r = y - y.mean()
    beta = frac * float(np.linalg.norm(Xe.T @ (D * r[:, None]), axis=0).max())
    return X, y, D, beta


def run(X, y, D, beta, formulation: str, solver: str):
    t0 = time.perf_counter()
    sol = solve(
        X,
        y,
        beta,
        patterns=D,
        formulation=formulation,
        solver=solver,
        hidden_bias=True,
        output_bias=True,
        tol=1e-6,
    )
    return time.perf_counter() - t0, sol


def convex_gap(sol: Any) -> float:
    """Certified relative gap of the solution's convex program (the objective column).

    ``sol.relative_gap`` is that of the recovered ReLU network: for a gated solve it
    is the Theorem-1 network's gap (0.8 at --quick size), not the gated program's.
    """
    value = sol.convex_objective
    return float((value - sol.lower_bound) / abs(value))


def warm_up(names: set[str]) -> None:
    """Untimed solves of a tiny problem by each ``"formulation/solver"`` in ``names``."""
    X, y, D, beta = make_problem(40, 3, 10)
    for name in sorted(names):
        form, solver = name.split("/")
        run(X, y, D, beta, form, solver)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        cases = [((300, 6, 40, 0.05), ("gated/fast", "relu/fast", "relu/cvxpy"))]
    else:
        cases = [
            ((10_000, 40, 2000, 0.05), ("gated/fast", "relu/fast")),
            ((1000, 10, 100, 0.05), ("relu/fast", "relu/cvxpy")),
            ((1000, 10, 100, 0.005), ("relu/fast", "relu/cvxpy")),
        ]
    warm_up({name for _, runs in cases for name in runs})
    print(
        "| n | d_eff | P | beta frac | solver | time s | convex objective | its rel gap "
        "| violation | iters |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (n, d, P, frac), runs in cases:
        X, y, D, beta = make_problem(n, d, P, frac=frac)
        for name in runs:
            form, solver = name.split("/")
            t, sol = run(X, y, D, beta, form, solver)
            print(
                f"| {n} | {d + 1} | {P} | {frac} | {name} | {t:.2f} | {sol.convex_objective:.8g} | "
                f"{convex_gap(sol):.2e} | {sol.constraint_violation:.1e} | {sol.n_iter} |"
            )


if __name__ == "__main__":
    main()
