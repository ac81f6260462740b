"""Regularisation path against single solves (issue 3: "a small multiple of one solve").

Full:  .venv/bin/python benchmarks/bench_path.py   (one BLAS thread, as bench_solvers)
Quick: .venv/bin/python benchmarks/bench_path.py --quick   (seconds, CI)

The problems of ``bench_solvers.py`` (the same data, patterns and target ``beta``). For
each problem and formulation, a path of ``N_BETAS`` weight decays ``beta * 2^k``,
k = N_BETAS - 1, ..., 0, falling to the target:

- "one solve": a cold ``solve`` at the target beta;
- "independent": a cold ``solve`` at every beta of the path (their total);
- "path": ``solve_path`` over the same betas (warm starts, screening).

All with ``solver="fast"``, ``tol=1e-6``. The table gives the three times, the path's
time over one solve and over the independent solves, the largest relative difference
between the path's convex objectives and the independent ones (both certified to 1e-6,
so they must agree to about that), and the path's largest certified gap of its convex
program. Runs in one process, one after the other, after an untimed warm-up (a path on
the tiny problem, both formulations: imports, numba's cache), so that the first "one
solve" is not charged with them; quote the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

# One BLAS thread unless told otherwise, as in bench_solvers (set before NumPy loads).
import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("1")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from bench_solvers import FULL, QUICK, Bench, make_bench  # noqa: E402
from convexnn import ConvergenceWarning, solve, solve_path  # noqa: E402

N_BETAS = 5
RELU_MAX_N = 4000  # relu paths only up to this n (the n = 1e4 relu solve takes ~2 min)


def convex_gap(sol: object) -> float:
    """Relative gap of the solution's convex program (its value against its bound)."""
    value = sol.convex_objective  # type: ignore[attr-defined]
    return float((value - sol.lower_bound) / abs(value))  # type: ignore[attr-defined]


def run_case(bench: Bench, formulation: str) -> str:
    betas = bench.beta * 2.0 ** np.arange(N_BETAS - 1, -1, -1)
    kw = dict(
        patterns=bench.D,
        formulation=formulation,
        solver="fast",
        hidden_bias=True,
        tol=1e-6,
    )
    with warnings.catch_warnings():
        # gated: solve warns that the recovered ReLU network's own gap is large (the
        # gated model is not a ReLU network); the convex gaps are reported below
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        one = solve(bench.X, bench.y, bench.beta, **kw)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        indep = [solve(bench.X, bench.y, float(b), **kw) for b in betas]
        t_indep = time.perf_counter() - t0
        t0 = time.perf_counter()
        path = solve_path(bench.X, bench.y, betas, **kw)
        t_path = time.perf_counter() - t0
    diff = max(
        abs(p.convex_objective - s.convex_objective) / abs(s.convex_objective)
        for p, s in zip(path, indep, strict=True)
    )
    gap = max(convex_gap(p) for p in path)
    assert abs(path[-1].convex_objective - one.convex_objective) <= 1e-5 * abs(
        one.convex_objective
    ), "the path's last point is not the single solve's optimum"
    return (
        f"| {bench.spec.name} | {formulation} | {N_BETAS} | {t_one:.3f} | {t_indep:.3f} | "
        f"{t_path:.3f} | {t_path / t_one:.2f} | {t_path / t_indep:.2f} | {diff:.1e} | "
        f"{gap:.1e} |"
    )


def warm_up() -> None:
    """Untimed single solves and a path on the tiny problem, both formulations.

    The first relu solve in a process loads the compiled kernels (numba's cache): at
    ``--quick`` size that made the first "one solve" 2.5 s against 1.25 s for all five
    independent ones, and "path / one" 0.29.
    """
    bench = make_bench(QUICK[0])
    for form in ("gated", "relu"):
        run_case(bench, form)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--only", type=int, nargs="*", help="indices of the problems to run")
    args = parser.parse_args(argv)
    specs = QUICK if args.quick else FULL
    chosen = range(len(specs)) if not args.only else args.only
    warm_up()
    print(
        "| problem | formulation | betas | one solve (s) | independent (s) | path (s) | "
        "path / one | path / independent | max rel. objective diff | path's max gap |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i in chosen:
        bench = make_bench(specs[i])
        forms = ["gated"] + (["relu"] if specs[i].n <= RELU_MAX_N else [])
        for form in forms:
            print(run_case(bench, form), flush=True)


if __name__ == "__main__":
    main()
