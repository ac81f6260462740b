"""A randomised sweep of awkward small problems: the relu default (fast) against CVXPY.

Full:  .venv/bin/python benchmarks/bench_relu_sweep.py --seed 1 --cases 80   (minutes)
Quick: .venv/bin/python benchmarks/bench_relu_sweep.py --quick              (CI)
The gated default: ``--formulation gated`` (its own certificate: status "optimal");
``--kinds scale`` draws only one kind of data (here: rescaled X and y).

Each case draws n in (3 .. 80), d in (1 .. 5), one of: plain Gaussian data, duplicated
rows, integer data, collinear columns, rescaled X and y (10^-3 .. 10^3), constant
targets; a smooth loss (squared twice as often, logistic, huber, squared hinge), hidden
and output biases at random, exact patterns for n <= 40, d <= 2 (else 100 sampled),
beta over 4.5 decades. Both solvers run in this process (one BLAS thread).

The "fast" column is solve's default (``solver=None``): the fast solver, re-solved by
CVXPY when it stops above tol on a small program with a quadratic or second-order-cone
loss (``solver`` then reads ``"fast -> cvxpy"``, and its time counts both).

A case is listed when the fast solver is not certified to 1e-6 with the CVXPY
objective or better (relative 1e-5), reports a cone violation, warns, raises, or takes
more than 5x CVXPY's time plus 1 s; or when the case runs past ``--case-timeout``
seconds (600), fast and CVXPY together (a pruning step had once held a sweep for 26
minutes). A CVXPY failure (Clarabel raises on some logistic programs) is counted, not
listed.
"""

from __future__ import annotations

import argparse
import signal
import time
import warnings

import _blas  # before numpy: threads, OpenBLAS kernel

_blas.pin("1")

import numpy as np  # noqa: E402

import convexnn as cnn  # noqa: E402

KINDS = ("plain", "dup", "int", "scale", "const_y", "collinear")
LOSSES = ("squared", "squared", "logistic", "huber", "squared_hinge")


def draw_case(
    rng: np.random.Generator, kinds: tuple[str, ...] = KINDS
) -> tuple[np.ndarray, np.ndarray, float, dict, str]:
    """One random problem (data of one of ``kinds``): X, y, beta, solve() keywords and a
    description."""
    n = int(rng.choice([3, 5, 8, 12, 20, 40, 80]))
    d = int(rng.choice([1, 2, 3, 5]))
    X = rng.normal(size=(n, d))
    kind = str(rng.choice(kinds))
    if kind == "dup":
        X[n // 2 :] = X[: n - n // 2]
    if kind == "int":
        X = np.round(X * 2)
    if kind == "collinear" and d > 1:
        X[:, 1] = 2 * X[:, 0]
    y = np.maximum(X @ rng.normal(size=d) + 0.2, 0) - 0.5 * np.maximum(X @ rng.normal(size=d), 0)
    y = y + 0.1 * rng.normal(size=n)
    if kind == "scale":
        X, y = X * 10 ** rng.uniform(-3, 3), y * 10 ** rng.uniform(-3, 3)
    if kind == "const_y":
        y = np.full(n, 1.5)
    loss = str(rng.choice(LOSSES))
    if loss in ("logistic", "squared_hinge"):
        y = np.where(y > np.median(y), 1.0, -1.0)
        if len(set(y)) < 2:
            y[0] = -y[0]
    hb, ob = bool(rng.integers(2)), bool(rng.integers(2))
    scale = max(1.0, float(np.abs(y).max()) * float(np.abs(X).max()))
    beta = 10 ** rng.uniform(-4, 0.5) * scale
    patterns = "exact" if n <= 40 and d <= 2 else None
    kw = dict(loss=loss, hidden_bias=hb, output_bias=ob, patterns=patterns, random_state=0)
    desc = f"n={n}, d={d}, {kind}, {loss}, hb={hb}, ob={ob}, beta={beta:.3g}"
    return X, y, beta, {**kw, "n_patterns": 100}, desc


def check_case(X, y, beta, kw, formulation: str = "relu") -> tuple[str, str]:
    """("ok" | "flag" | "slow" | "cvxpy failed", details) for one case.

    For the gated formulation the solution's relative gap is that of the ReLU network
    built from the gated blocks (a different model); the solver's own certificate is its
    status, "optimal" only at a certified gap <= tol.
    """
    kw = {**kw, "formulation": formulation}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fast = cnn.solve(X, y, beta, **kw)
        t_fast = time.perf_counter() - t0
    warned = [str(w.message)[:80] for w in caught if w.category is cnn.ConvergenceWarning]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        try:
            ref = cnn.solve(X, y, beta, solver="cvxpy", **kw)
        except RuntimeError:
            return ("flag" if warned or fast.status != "optimal" else "cvxpy failed"), ""
        t_ref = time.perf_counter() - t0
    rel = (fast.convex_objective - ref.convex_objective) / max(abs(ref.convex_objective), 1e-12)
    details = (
        f"fast {t_fast:.2f} s, {fast.status}, gap {fast.relative_gap:.1e}, "
        f"violation {fast.constraint_violation:.0e}; cvxpy {t_ref:.2f} s; obj diff {rel:+.1e}"
    )
    bad = (
        fast.status != "optimal"
        or (formulation == "relu" and fast.relative_gap > 1e-6)
        or rel > 1e-5
        or fast.constraint_violation > 1e-6
        or bool(warned)
    )
    if bad:
        return "flag", details
    return ("slow" if t_fast > 5 * t_ref + 1 else "ok"), details


def warm_up(formulation: str) -> None:
    """One small solve, untimed: the first case must not pay for numba's compile of the
    kernels (about 5-20 s with a cold cache; relu seed 62 case 0 was listed as slow,
    6.8 s against Clarabel's 0.87 s, for that alone: 0.2 s once compiled)."""
    rng = np.random.default_rng(0)
    X = np.round(2 * rng.normal(size=(20, 3)))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cnn.solve(X, y, 1e-2, formulation=formulation, loss="squared_hinge", solver="fast",
                  patterns="sampled", n_patterns=20, random_state=0)  # fmt: skip


class CaseTimeoutError(Exception):
    """A case ran past ``--case-timeout`` (SIGALRM; inside compiled code it lands when
    that code returns to Python)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeoutError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=80)
    parser.add_argument("--formulation", choices=("relu", "gated"), default="relu")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, help="only these kinds of data")
    parser.add_argument(
        "--case-timeout",
        type=int,
        default=600,
        help="seconds per case (fast and CVXPY together) before it is listed as a timeout",
    )
    args = parser.parse_args(argv)
    kinds = tuple(args.kinds) if args.kinds else KINDS
    n_cases = 4 if args.quick else args.cases
    seeds = np.random.default_rng(args.seed).integers(1e9, size=n_cases)
    counts: dict[str, int] = {}
    print(f"{_blas.describe()}; {args.formulation}, seed {args.seed}, {n_cases} cases")
    print("| case | problem | verdict | details |")
    print("|---|---|---|---|")
    warm_up(args.formulation)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    for k, s in enumerate(seeds):
        X, y, beta, kw, desc = draw_case(np.random.default_rng(s), kinds)
        signal.alarm(args.case_timeout)
        try:
            verdict, details = check_case(X, y, beta, kw, args.formulation)
        except CaseTimeoutError:
            verdict, details = "timeout", f"over {args.case_timeout} s (fast and CVXPY together)"
        except Exception as exc:  # a sweep reports, it does not stop
            verdict, details = "raised", f"{type(exc).__name__}: {str(exc)[:80]}"
        finally:
            signal.alarm(0)
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict not in ("ok", "cvxpy failed"):
            print(f"| {k} | {desc} | {verdict} | {details} |", flush=True)
    signal.signal(signal.SIGALRM, previous)
    print("| — | all cases | " + ", ".join(f"{v}: {c}" for v, c in sorted(counts.items())) + " | |")


if __name__ == "__main__":
    main()
