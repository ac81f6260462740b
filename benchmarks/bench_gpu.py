"""The gated solver on a PyTorch device against NumPy: one prepared run for a GPU machine.

GPU:    OMP_NUM_THREADS=16 python3 benchmarks/bench_gpu.py --device cuda [--large]
CPU:    .venv/bin/python benchmarks/bench_gpu.py --device cpu       (torch's CPU device)
Quick:  .venv/bin/python benchmarks/bench_gpu.py --quick            (seconds, CI)

For each problem (planted-ReLU data with a hidden bias and Gaussian patterns, as in
``bench_solvers.py``; ``--large`` adds n = 1e5, d = 41, P = 2000) the gated program is
solved four ways to ``tol = 1e-6``, with the same patterns:

- ``numpy (auto)``: solve's default (NumPy, dtype "auto": float32 GEMMs from
  n * P >= 1e6);
- ``torch float64`` / ``torch float32``: ``solver_options={"backend": "torch",
  "device": DEVICE, "dtype": ...}``;
- ``tensors (auto)``: X and y given as tensors on DEVICE and no options (solve keeps the gated
  solve on a GPU by itself, :func:`convexnn.solve.on_data_device`; on the CPU it runs
  NumPy).

The table shows each run's time, its objective, the certified relative gap of the gated
program (its certificate is float64 NumPy, whatever ran the iterations), the difference
of its objective from the NumPy run's, and NumPy's time over its own. The device runs
first get an untimed warm-up solve (CUDA context, kernels). On the GPU machine the
package needs ``array-api-compat`` (carried as a wheel; see BENCHMARKS.md,
"PyTorch tensors and GPUs").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("1")

import convexnn as cnn  # noqa: E402
from bench_solvers import FULL, QUICK, Bench, Spec, make_bench  # noqa: E402

LARGE = Spec("n=100000, d=41, P=2000", 100_000, 41, 2000, adam_budget=0.0)
TOL = 1e-6


def _solve(bench: Bench, X: Any, y: Any, options: dict[str, Any] | None) -> tuple[Any, float]:
    t0 = time.perf_counter()
    sol = cnn.solve(
        X,
        y,
        bench.beta,
        patterns=bench.D,
        formulation="gated",
        hidden_bias=True,
        tol=TOL,
        solver_options=options,
    )
    return sol, time.perf_counter() - t0


def run_problem(bench: Bench, device: str) -> list[str]:
    """The four runs of one problem, as Markdown rows."""
    import torch

    Xt = torch.as_tensor(bench.X, device=device)
    yt = torch.as_tensor(bench.y, device=device)
    runs: list[tuple[str, Any, Any, dict[str, Any] | None]] = [
        ("numpy (auto)", bench.X, bench.y, None),
        (
            "torch float64",
            bench.X,
            bench.y,
            {"backend": "torch", "device": device, "dtype": "float64"},
        ),
        (
            "torch float32",
            bench.X,
            bench.y,
            {"backend": "torch", "device": device, "dtype": "float32"},
        ),
        ("tensors (auto)", Xt, yt, None),
    ]
    rows, base = [], None
    for name, X, y, options in runs:
        sol, seconds = _solve(bench, X, y, options)
        if base is None:
            base = (sol.convex_objective, seconds)
        gap = (sol.convex_objective - sol.lower_bound) / abs(sol.convex_objective)
        diff = (sol.convex_objective - base[0]) / abs(base[0])
        rows.append(
            f"| {bench.spec.name} | {name} | {seconds:.3f} | {sol.convex_objective:.10g} | "
            f"{gap:.1e} | {diff:+.1e} | {sol.status} | {base[1] / seconds:.2f}x |"
        )
    return rows


def _warm_up(device: str) -> None:
    """One small untimed solve on the device: CUDA context and kernels."""
    bench = make_bench(QUICK[0])
    _solve(bench, bench.X, bench.y, {"backend": "torch", "device": device})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny size on the CPU (CI)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    parser.add_argument("--large", action="store_true", help="add n = 1e5, d = 41, P = 2000")
    args = parser.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    specs = QUICK if args.quick else [FULL[2], FULL[4]] + ([LARGE] if args.large else [])
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"{_blas.describe()}; torch {torch.__version__} on {device} ({name}); tol {TOL:g}")
    _warm_up(device)
    print("| problem | run | time (s) | objective | certified gap | vs numpy | status | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in specs:
        for row in run_problem(make_bench(spec), device):
            print(row, flush=True)


if __name__ == "__main__":
    main()
