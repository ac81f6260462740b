"""Small beta: optima with more free dimensions than samples, fast solver against CVXPY.

Full:  .venv/bin/python benchmarks/bench_small_beta.py            (about 20 minutes)
Quick: .venv/bin/python benchmarks/bench_small_beta.py --quick    (seconds, CI)
``--cvxpy-max-n 400`` runs CVXPY + Clarabel on the rows up to that n (0: none);
``--formulations gated relu``; ``--sizes 4000 6000`` runs only the rows of those n.

At small beta the gated optimum holds hundreds of blocks of d + 1 free dimensions on a
few hundred samples (``k (d + 1) > n``). There the gated solver's Newton-CG steps did
not converge and the solve ended at max_iter (stop 34's weak spot); its steps are now
solved in sample space (``solvers/_woodbury.py``). Data: X Gaussian (n, d), targets
of two planted ReLUs plus noise, beta = ``ratio * max|y| * max|X|``, hidden bias, the
default sampled patterns (``n_patterns``, ``random_state=0``), squared loss, tol 1e-6.

Columns: the status, the convex program's objective, its certified relative gap
(``(objective - lower bound) / objective``, the program's own, not the ReLU network's),
the live blocks at the end (norm above 1e-6 of the largest) and their free dimensions
per sample, and the wall time of
``solve``, one BLAS thread, in this process after an untimed tiny solve.
"""

from __future__ import annotations

import argparse
import time
import warnings

import _blas  # before numpy: threads, OpenBLAS kernel

_blas.pin("1")

import numpy as np  # noqa: E402

FULL = [
    (200, 8, 400, 5e-4),
    (400, 8, 1000, 1e-3),
    (1000, 8, 1000, 1e-3),
    (2000, 8, 1000, 1e-3),
    (3000, 8, 1000, 1e-3),
    (4000, 8, 1000, 1e-3),
    (6000, 8, 1000, 1e-3),
]
QUICK = [(60, 3, 60, 1e-3)]


def make_problem(n: int, d: int, ratio: float, seed: int = 0):
    """Two planted ReLUs plus noise; beta = ratio * max|y| * max|X|."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.maximum(X @ rng.normal(size=d) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=d), 0)
    y = y + 0.1 * rng.normal(size=n)
    return X, y, ratio * float(np.abs(y).max() * np.abs(X).max())


def run(n: int, d: int, P: int, ratio: float, formulation: str, solver: str) -> str:
    """One timed solve, as a Markdown table row."""
    from convexnn import solve

    X, y, beta = make_problem(n, d, ratio)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning shows as the status
        sol = solve(
            X, y, beta, formulation=formulation, solver=solver, n_patterns=P,
            random_state=0, hidden_bias=True, tol=1e-6,
        )  # fmt: skip
    seconds = time.perf_counter() - t
    obj = sol.convex_objective
    gap = (obj - sol.lower_bound) / abs(obj)
    norms = np.linalg.norm(sol.V, axis=0) + np.linalg.norm(sol.W, axis=0)
    k = int((norms > 1e-6 * norms.max()).sum())  # an interior point's are never 0
    return (
        f"| {n} | {d} | {P} | {beta:.4g} | {formulation} | {solver} | {sol.status} | "
        f"{obj:.10g} | {gap:.1e} | {k} | {k * (d + 1) / n:.1f} | {seconds:.2f} s |"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cvxpy-max-n", type=int, default=400)
    ap.add_argument("--formulations", nargs="+", default=["gated", "relu"])
    ap.add_argument("--sizes", nargs="+", type=int, default=None, help="only these n")
    args = ap.parse_args(argv)
    from convexnn import solve

    # untimed, by every (formulation, solver) that runs: imports, compiled kernels,
    # CVXPY's first canonicalisation (else charged to the first CVXPY row)
    rng = np.random.default_rng(0)
    X0, y0 = rng.normal(size=(30, 2)), rng.normal(size=30)
    solvers = ["fast"] + (["cvxpy"] if args.cvxpy_max_n > 0 else [])
    for formulation in args.formulations:
        for solver in solvers:
            solve(X0, y0, 0.1, formulation=formulation, solver=solver, n_patterns=10,
                  random_state=0)  # fmt: skip
    print(_blas.describe())
    print(
        "| n | d | P | beta | formulation | solver | status | objective | gap | blocks "
        "| blocks (d+1)/n | time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, d, P, ratio in QUICK if args.quick else FULL:
        if args.sizes is not None and n not in args.sizes:
            continue
        for formulation in args.formulations:
            print(run(n, d, P, ratio, formulation, "fast"), flush=True)
            if n <= args.cvxpy_max_n:
                print(run(n, d, P, ratio, formulation, "cvxpy"), flush=True)


if __name__ == "__main__":
    main()
