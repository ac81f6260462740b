"""The relu CNN program: "bcd" (working-set BCD on the cones) against CVXPY + Clarabel.

Full:  .venv/bin/python benchmarks/bench_cnn_relu.py   (one BLAS thread)
Quick: .venv/bin/python benchmarks/bench_cnn_relu.py --quick   (seconds, CI)

Each problem is the appendix program before Figure 10 with its cone constraints
(formulation "relu") on random images or signals, or planted-CNN targets, with sampled
gates, a hidden bias and the squared loss. Both solvers get the same program (the same
gates). The table gives, per solver, the recovered network's objective, the certified
relative gap of that objective (our bound, computed the same way for both), the
relative constraint violation, the status, iterations and wall time, and the time
over "bcd"'s. "bcd" stops at ``tol``; CVXPY is skipped above ``--cvxpy-max`` (N K P).
Runs in one process, one after the other: quote ratios.
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
    Spec("N=200, 8x8, k=3, P=50", (200, 1, 8, 8), 3, 1, 50, 1.0, False),
    Spec("N=200, 8x8, k=3, P=50, beta=0.01", (200, 1, 8, 8), 3, 1, 50, 0.01, False),
    Spec("N=100, 3x12x12, k=4, s=2, P=20, planted", (100, 3, 12, 12), 4, 2, 20, 1.0, True),
    Spec("N=300, 2x32 (1-D), k=5, s=2, P=50", (300, 2, 32), 5, 2, 50, 1.0, False),
]
QUICK = [Spec("N=30, 6x6, k=3, P=6", (30, 1, 6, 6), 3, 1, 6, 0.1, True)]


def n_patches(spec: Spec) -> int:
    return int(((spec.shape[2] - spec.kernel) // spec.stride + 1) ** (len(spec.shape) - 2))


def run(spec: Spec, args: argparse.Namespace) -> list[str]:
    X, y = make_data(spec)
    kw = dict(
        kernel_size=spec.kernel,
        stride=spec.stride,
        n_gates=spec.gates,
        random_state=0,
        hidden_bias=True,
        formulation="relu",
        tol=args.tol,
    )
    size = spec.shape[0] * spec.gates * n_patches(spec)
    rows, base = [], None
    for solver in ("bcd", "cvxpy"):
        if solver == "cvxpy" and size > args.cvxpy_max:
            rows.append(f"| {spec.name} | cvxpy | skipped (N K P = {size:,}) | | | | | | |")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # CVXPY's "may be inaccurate"
            t0 = time.perf_counter()
            sol = solve_relu_cnn(X, y, spec.beta, solver=solver, **kw)
            elapsed = time.perf_counter() - t0
        base = elapsed if solver == "bcd" else base
        rows.append(
            f"| {spec.name} | {solver} | {sol.objective:.10g} | {sol.relative_gap:.1e} | "
            f"{sol.constraint_violation:.1e} | {sol.status} | {sol.n_iter} | {elapsed:.2f} | "
            f"{elapsed / base:.1f}x |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny problem (CI)")
    parser.add_argument("--only", type=int, nargs="*", help="indices of the problems to run")
    parser.add_argument("--tol", type=float, default=1e-7)
    parser.add_argument("--cvxpy-max", type=int, default=8_000_000, help="largest N K P")
    args = parser.parse_args()
    specs = QUICK if args.quick else FULL
    chosen = range(len(specs)) if not args.only else args.only
    print(f"BLAS: {_blas.describe()}")
    print("| problem | solver | objective | certified gap | violation | status | iterations | "
          "time (s) | time / bcd |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for i in chosen:
        for row in run(specs[i], args):
            print(row, flush=True)


if __name__ == "__main__":
    main()
