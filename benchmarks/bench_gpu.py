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

Then ``export_rows`` checks the networks' export to the device: a relu ``TwoLayerReLU``,
a ``GatedReLU`` and a relu ``ConvReLUNet`` (small solves on the CPU), each moved with
``to_torch(device=DEVICE)`` in float64 and float32 and run on device tensors; the largest
difference from NumPy's ``predict``, relative to max |prediction|, must stay below 1e-12
(float64) and 1e-5 (float32), and the dense network must come back through
``from_torch``. A failed check exits with status 1.

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


def _export_cases() -> list[tuple[str, Any, Any]]:
    """(name, network, inputs) of the export check: small CPU solves, seeded."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.maximum(X @ rng.normal(size=3), 0) - np.maximum(X @ rng.normal(size=3), 0)
    D = cnn.sample_patterns(X, 40, hidden_bias=True, random_state=0)
    relu = cnn.solve(X, y, 0.1, patterns=D, hidden_bias=True, output_bias=True)
    gated = cnn.solve(X, y, 0.1, patterns=D, formulation="gated", hidden_bias=True)
    images = rng.normal(size=(16, 1, 6, 6))
    target = np.maximum(images[:, 0, 1:4, 1:4].sum(axis=(1, 2)), 0)
    conv = cnn.cnn.solve_relu_cnn(
        images, target, 0.5, kernel_size=3, n_gates=6, hidden_bias=True, random_state=0
    )
    return [
        ("TwoLayerReLU (relu solve)", relu.network, X),
        ("GatedReLU (gated solve)", gated.gated_network(X), X),
        ("ConvReLUNet (relu CNN solve)", conv.network, images),
    ]


def export_rows(device: str) -> tuple[list[str], bool]:
    """Markdown rows of the export check, and whether every check passed."""
    import numpy as np
    import torch

    rows, ok = [], True
    for name, net, X in _export_cases():
        want = net.predict(X)
        scale = max(float(np.max(np.abs(want))), 1e-300)
        for dtype, limit in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
            shape = (X.shape[1:],) if isinstance(net, cnn.ConvReLUNet) else ()
            module = net.to_torch(*shape, dtype=dtype, device=device)
            with torch.no_grad():
                got = module(torch.as_tensor(X, dtype=dtype, device=device))
            where = str(next(module.parameters()).device)
            err = float(np.max(np.abs(got.cpu().double().numpy().reshape(want.shape) - want)))
            passed = err / scale <= limit and where.split(":")[0] == device.split(":")[0]
            if dtype == torch.float64 and isinstance(net, cnn.TwoLayerReLU):
                back = cnn.TwoLayerReLU.from_torch(module)
                passed &= bool(np.allclose(back.predict(X), want, rtol=1e-12, atol=1e-12 * scale))
            ok &= passed
            rows.append(
                f"| {name} | {str(dtype).removeprefix('torch.')} | {where} | {err / scale:.1e} "
                f"| {limit:g} | {'ok' if passed else 'FAILED'} |"
            )
    return rows, ok


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
    rows, ok = export_rows(device)
    head = ("network exported", "dtype", "parameters on", "max error / max prediction", "limit")
    print("\n| " + " | ".join(head) + " | check |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows), flush=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
