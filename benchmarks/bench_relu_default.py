"""Which solver should ``solve(..., formulation="relu")`` pick by default: fast or CVXPY?

Full:  .venv/bin/python benchmarks/bench_relu_default.py              (about 40 minutes)
Quick: .venv/bin/python benchmarks/bench_relu_default.py --quick      (seconds, CI)
One loss: ``--losses squared``; the wall cap per CVXPY run: ``--cap 120``.

A grid of small problems, where an interior point is at its best: n in (100, 300),
d in (4, 12), P in (100, 400) sampled patterns, beta = ratio * max_i ||X^T D_i y|| for
ratios 1e-1 down to 1e-4 (1e-3 for the classification losses), and the smooth losses
(squared, logistic, squared hinge, huber). Targets: a planted 6-neuron ReLU network
plus noise; the classification losses take the signs of its centred values.

Every run is its own process (one BLAS thread), which first solves a tiny problem
untimed (imports, numba's cache); the time is that of ``solve`` itself (solve, recovery
and certificate). "obj diff" is (fast - cvxpy) / |cvxpy| of the convex objective: below
zero where the fast solver's point is better. A CVXPY run that raised or ran past the
cap shows its reason.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time

import _blas  # before numpy: threads, OpenBLAS kernel

_blas.pin("1")

import numpy as np  # noqa: E402

CLASSIFICATION = ("logistic", "squared_hinge")


def make_problem(n: int, d: int, P: int, ratio: float, loss: str, seed: int = 0):
    """Planted-ReLU data, P sampled patterns, beta = ratio * max_i ||X^T D_i y||."""
    from convexnn import sample_patterns

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    U0 = rng.normal(size=(d, 6)) / np.sqrt(d)
    y = np.maximum(X @ U0 + 0.3 * rng.normal(size=6), 0) @ rng.normal(size=6)
    y = y + 0.1 * rng.normal(size=n)
    if loss in CLASSIFICATION:
        y = np.where(y > np.median(y), 1.0, -1.0)
    D = sample_patterns(X, P, random_state=seed)
    beta = ratio * float(np.linalg.norm((X * y[:, None]).T @ D, axis=0).max())
    return X, y, D, beta


def run_one(n: int, d: int, P: int, ratio: float, loss: str, solver: str) -> dict:
    """One timed solve (in this process), after an untimed tiny one."""
    import warnings

    from convexnn import solve

    X, y, D, beta = make_problem(n, d, P, ratio, loss)
    kw = dict(formulation="relu", solver=solver, loss=loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(X[:30], y[:30], beta, patterns=D[:30], **kw)
        t0 = time.perf_counter()
        sol = solve(X, y, beta, patterns=D, **kw)
        elapsed = time.perf_counter() - t0
    return {
        "time": elapsed,
        "objective": sol.convex_objective,
        "gap": sol.relative_gap,
        "status": sol.status,
        "violation": sol.constraint_violation,
    }


def run_isolated(case: tuple, solver: str, cap: float) -> dict:
    """:func:`run_one` in a fresh process; a failure or the cap gives its reason."""
    cmd = [sys.executable, __file__, "--one", json.dumps([*case, solver])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"reason": f"> {cap:.0f} s (cap)"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        return {"reason": last[:60].replace("|", "/")}
    return json.loads(out.stdout.strip().splitlines()[-1])


def grid(quick: bool, losses: list[str]) -> list[tuple]:
    if quick:
        return [(40, 3, 20, 1e-2, loss) for loss in losses[:2]]
    cases = []
    for loss in losses:
        ratios = (1e-1, 1e-2, 1e-3) if loss != "squared" else (1e-1, 1e-2, 1e-3, 1e-4)
        for n, d, P, r in itertools.product((100, 300), (4, 12), (100, 400), ratios):
            cases.append((n, d, P, r, loss))
    return cases


def _cell(res: dict) -> str:
    if "reason" in res:
        return res["reason"]
    return f"{res['time']:.2f} ({res['status']}, gap {res['gap']:.0e})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--losses", nargs="+", default=["squared", *CLASSIFICATION, "huber"])
    parser.add_argument("--cap", type=float, default=120.0, help="wall cap of one run (s)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        *case, solver = json.loads(args.one)
        print(json.dumps(run_one(*case, solver)))
        return
    print(_blas.describe())
    print(
        "| loss | n | d | P | beta ratio | fast: s (status, gap) | cvxpy: s (status, gap) "
        "| cvxpy / fast | obj diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    wins = total = 0
    for case in grid(args.quick, args.losses):
        fast = run_isolated(case, "fast", args.cap)
        ref = run_isolated(case, "cvxpy", args.cap)
        ratio = diff = "—"
        if "time" in fast and "time" in ref:
            ratio = f"{ref['time'] / fast['time']:.1f}"
            diff = f"{(fast['objective'] - ref['objective']) / abs(ref['objective']):+.1e}"
        if "time" in fast:
            total += 1
            wins += "time" not in ref or fast["time"] < ref["time"]
        n, d, P, r, loss = case
        print(
            f"| {loss} | {n} | {d} | {P} | {r:g} | {_cell(fast)} | {_cell(ref)} "
            f"| {ratio} | {diff} |",
            flush=True,
        )
    print(f"\nfast faster than (or CVXPY failed) in {wins} of {total} cases")


if __name__ == "__main__":
    main()
