"""The gated CNN program: "bcd" (the default) against FISTA and CVXPY + Clarabel.

Full:  .venv/bin/python benchmarks/bench_cnn_gated.py   (one BLAS thread)
Quick: .venv/bin/python benchmarks/bench_cnn_gated.py --quick   (seconds, CI)

Each problem is the appendix program before Figure 10 in its gated form (a group lasso
whose group designs are ``sum_k D_ik X_k``) on random images or planted-CNN targets,
with sampled gates, a hidden bias, the squared loss. Every solver gets the same program
(the same gates). The table gives, per solver, its objective, the certified relative
gap of that objective (our bound, computed the same way for all three), its status,
iterations and wall time, and the time over "bcd"'s. "bcd" and FISTA stop at
``tol``; FISTA is capped at ``--fista-iters`` iterations, CVXPY at ``--cvxpy-max``
(N K P) or skipped above it. Runs in one process, one after the other, after an untimed
warm-up of each solver on the tiny problem (CVXPY's import and first canonicalisation
were otherwise charged to the first CVXPY row, 0.4 s); quote ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("1")
sys.path.insert(0, str(Path(__file__).parent))

from _cnn_problems import Spec, make_data  # noqa: E402
from convexnn import ConvergenceWarning  # noqa: E402
from convexnn.cnn import solve_relu_cnn  # noqa: E402

FULL = [
    Spec("N=500, 10x10, k=3, P=50", (500, 1, 10, 10), 3, 1, 50, 1.0, False),
    Spec("N=500, 10x10, k=3, P=50, beta=0.01", (500, 1, 10, 10), 3, 1, 50, 0.01, False),
    Spec("N=1000, 3x12x12, k=4, s=2, P=100", (1000, 3, 12, 12), 4, 2, 100, 1.0, True),
    Spec("N=2000, 16x16, k=5, s=2, P=100", (2000, 1, 16, 16), 5, 2, 100, 1.0, False),
]
QUICK = [Spec("N=60, 8x8, k=3, P=10", (60, 1, 8, 8), 3, 1, 10, 0.1, True)]


SOLVERS = ("bcd", "fista", "cvxpy")


def warm_up(args: argparse.Namespace) -> None:
    """Untimed solves of the tiny problem by every solver: imports, first-call set-up."""
    quiet = argparse.Namespace(**{**vars(args), "cvxpy_max": 10**9})
    run(QUICK[0], quiet)


def run(spec: Spec, args: argparse.Namespace) -> list[str]:
    X, y = make_data(spec)
    kw = dict(
        kernel_size=spec.kernel,
        stride=spec.stride,
        n_gates=spec.gates,
        random_state=0,
        hidden_bias=True,
        formulation="gated",
        tol=args.tol,
    )
    size = spec.shape[0] * spec.gates
    size *= ((spec.shape[2] - spec.kernel) // spec.stride + 1) ** (len(spec.shape) - 2)
    rows, base = [], None
    for solver in SOLVERS:
        if solver == "cvxpy" and size > args.cvxpy_max:
            rows.append(f"| {spec.name} | cvxpy | skipped (N K P = {size:,}) | | | | | |")
            continue
        extra = {"max_iter": args.fista_iters} if solver == "fista" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # CVXPY's "may be inaccurate"
            t0 = time.perf_counter()
            sol = solve_relu_cnn(X, y, spec.beta, solver=solver, **kw, **extra)
            elapsed = time.perf_counter() - t0
        base = elapsed if solver == "bcd" else base
        rows.append(
            f"| {spec.name} | {solver} | {sol.objective:.10g} | {sol.relative_gap:.1e} | "
            f"{sol.status} | {sol.n_iter} | {elapsed:.2f} | {elapsed / base:.1f}x |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny problem (CI)")
    parser.add_argument("--only", type=int, nargs="*", help="indices of the problems to run")
    parser.add_argument("--tol", type=float, default=1e-7)
    parser.add_argument("--fista-iters", type=int, default=1000)
    parser.add_argument("--cvxpy-max", type=int, default=8_000_000, help="largest N K P")
    args = parser.parse_args(argv)
    specs = QUICK if args.quick else FULL
    if args.quick:
        args.fista_iters = min(args.fista_iters, 300)
    chosen = range(len(specs)) if not args.only else args.only
    warm_up(args)
    print(f"BLAS: {_blas.describe()}")
    print("| problem | solver | objective | certified gap | status | iterations | time (s) | "
          "time / bcd |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for i in chosen:
        for row in run(specs[i], args):
            print(row, flush=True)


if __name__ == "__main__":
    main()
