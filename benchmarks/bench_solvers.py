"""Side-by-side solvers of the convex program (8) and Adam/SGD on eq. (2), same problems.

Command (full: about 35 minutes for problems 0-3, problem 4 (n = 1e4) about 30 more,
pyscnn's second runs included; the peers live in the bench environment)::

    cd /work/main && .venv-bench/bin/python benchmarks/bench_solvers.py

``--quick`` runs a tiny version in seconds (CI, in any environment: peers that are
not importable are reported as "not installed"). Every timed run (ours, each peer, each
Adam baseline) runs in its own spawned process, after an untimed warm-up of the same
run on the tiny problem: no run inherits another's thread pools or heap. BLAS threads
are pinned to 1 before numpy is imported unless ``OMP_NUM_THREADS`` etc. are set (two
threads on the 2-core machine made a process that had forked and run the peers 24x
slower); adelie runs with 1 thread (its scaling was negative on 2 cores). adelie has
a gated row (its convex_relu group lasso) and a relu row (the same path with one linear
constraint per group: the cone of eq. (8)), capped at ``Spec.adelie_relu_wall``.

Every solver gets the SAME problem and the SAME pattern set (Gaussian gate vectors G,
patterns ``1[X_eff G > 0]``, deduplicated, the all-zero pattern dropped, as pyscnn
computes them). For each output the table shows, computed by OUR code:

- the objective: eq. (2) of the ReLU network recovered from a relu solution
  (:meth:`TwoLayerReLU.objective`), or the gated program's value for gated solutions;
- our certificate's relative gap for that output (the dual point from its own
  predictions, checked against the same patterns: scope "patterns"; for gated outputs
  the better of that point and the one aligned with the output's blocks);
- the relative cone-constraint violation (relu);
- wall time, and its ratio to ours (same formulation).

Adam/SGD train eq. (2) with :func:`convexnn.baselines.train_torch` (3 learning rates x
3 seeds, fixed training-time budget); the row reports their best objective and the
first time any run got within 1e-3 relative of our relu optimum (on these patterns).
A network trained by Adam can beat the optimum of a SAMPLED program (the bound is
relative to the patterns): the table says so with a negative gap.

pyscnn has iteration caps only (and R-FISTA a loose stopping rule). When its first run
stops above our certified gap in less time than the issue's goal ratio (30x ours for
R-FISTA, 20x for AL), it runs again with the cap scaled to last about that long (at
most ``Spec.pyscnn_wall`` seconds; R-FISTA with ``tol=0``, so it runs to the cap), and
the table shows that run. ``--peers`` picks the peer rows to run (default: all).

The "sampled + Alg2" row is the remedy the paper suggests (Alg2): add the patterns of
ONE Adam run (lr 1e-2, one seed, the budget of one baseline run) to the sampled ones and
solve the relu program over them. That network is feasible for the program over its
own patterns, so the convex optimum can only improve on it; the row's time is the Adam
run plus our solve. Column generation (``--no-colgen`` skips it) runs where the spec
enables it (relu re-solves are slow at large n).
"""

from __future__ import annotations

import argparse
import os

# One BLAS thread unless told otherwise: with two on the 2-core machine, a process that
# has forked and run the peers' thread runtimes slowed our Alg2 solve 24x (BENCHMARKS.md).
import _blas  # before numpy: BLAS threads and the OpenBLAS kernel

_blas.pin("1")

import multiprocessing  # noqa: E402
import pickle  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import convexnn as cnn  # noqa: E402
from convexnn.duality import dual_certificate  # noqa: E402
from convexnn.network import recover_network  # noqa: E402
from convexnn.problem import ConvexReLUProblem, build_problem  # noqa: E402

TARGET = 1e-3  # Adam: time to within this relative distance of our optimum
FAST = "fast"
# Issue 3's goals against pyscnn: ours at least this many times faster (R-FISTA, AL).
PYSCNN_GOAL = {"gated": 30.0, "relu": 20.0}
PEERS = ("adelie", "pyscnn", "cvxpy", "alg2", "colgen", "torch")


@dataclass(frozen=True)
class Spec:
    """One benchmark problem and the budgets of its peers."""

    name: str
    n: int
    d: int
    P: int
    adam_budget: float  # training seconds per Adam/SGD run
    cvxpy_limit: float | None = None  # Clarabel time limit (None: not run)
    cvxpy_wall: float = 600.0  # hard cap on the whole CVXPY call (canonicalisation included)
    cvxpy_gated: bool = False  # also run CVXPY on the gated program
    pyscnn_iters: int = 2000  # pyscnn iteration cap (it has no time limit)
    rfista_iters: int | None = None  # R-FISTA's own cap (None: pyscnn_iters)
    adelie_path: int = 30  # lambdas on adelie's path down to the target
    adelie_relu_wall: float = 600.0  # cap on adelie's relu path (time is then a lower bound)
    seeds: int = 3
    lrs: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    colgen: bool = True  # column-generation row (relu re-solves: slow at large n)
    ours_wall: float = 900.0  # hard cap on one run of ours (killed: time is a lower bound)
    pyscnn_wall: float = 600.0  # the most a raised pyscnn run may take (see raised_iters)


FULL = [
    Spec(
        "n=400, d=13, P=500",
        400,
        13,
        500,
        adam_budget=2.0,
        cvxpy_limit=30.0,
        cvxpy_gated=True,
        pyscnn_iters=500,
    ),
    Spec("n=4000, d=8, P=1000", 4000, 8, 1000, adam_budget=3.0, pyscnn_iters=200, colgen=False),
    Spec(
        "n=4000, d=32, P=500",
        4000,
        32,
        500,
        adam_budget=4.0,
        cvxpy_limit=300.0,
        cvxpy_wall=420.0,
        cvxpy_gated=True,  # the goal "100x faster than CVXPY" is set on this problem
        pyscnn_iters=200,
        colgen=False,
    ),
    Spec("n=2000, d=21, P=500", 2000, 21, 500, adam_budget=3.0, pyscnn_iters=200, colgen=False),
    Spec(
        "n=10000, d=41, P=2000",
        10_000,
        41,
        2000,
        adam_budget=4.0,
        pyscnn_iters=10,
        rfista_iters=200,
        adelie_path=8,
        colgen=False,
        ours_wall=300.0,
    ),
]
QUICK = [
    Spec(
        "quick: n=60, d=3, P=30",
        60,
        3,
        30,
        adam_budget=0.2,
        cvxpy_limit=20.0,
        cvxpy_gated=True,
        pyscnn_iters=200,
        seeds=1,
        lrs=(1e-2,),
    ),
]


# -- problems ---------------------------------------------------------------------------


@dataclass
class Bench:
    """Data, patterns (and their gates) and both formulations of one problem."""

    spec: Spec
    X: np.ndarray
    y: np.ndarray
    beta: float
    G: np.ndarray  # (d + 1, P) gate vectors, D = 1[X_eff G > 0]
    D: np.ndarray  # (n, P) bool
    problems: dict[str, ConvexReLUProblem] = field(default_factory=dict)

    @property
    def X_eff(self) -> np.ndarray:
        return self.problems["relu"].X


def make_bench(spec: Spec, seed: int = 0, beta_ratio: float = 1e-2) -> Bench:
    """Planted-ReLU regression with a hidden bias; beta = beta_ratio * max_i ||X^T D_i y||."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((spec.n, spec.d))
    m0 = 6
    U0 = rng.standard_normal((spec.d, m0)) / np.sqrt(spec.d)
    y = np.maximum(X @ U0 + 0.3 * rng.standard_normal(m0), 0) @ rng.standard_normal(m0)
    y = y + 0.1 * rng.standard_normal(spec.n)
    X_eff = np.hstack([X, np.ones((spec.n, 1))])
    G, D = _gates(X_eff, spec.P, rng)
    lam_max = float(np.linalg.norm((X_eff * y[:, None]).T @ D, axis=0).max())
    bench = Bench(spec, X, y, beta_ratio * lam_max, G, D)
    for form in ("relu", "gated"):
        bench.problems[form] = build_problem(
            X, y, bench.beta, D, formulation=form, hidden_bias=True, caller="bench"
        )
    return bench


def _gates(X_eff: np.ndarray, P: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """P gates with distinct, non-zero patterns ``1[X_eff g > 0]`` (pyscnn's convention)."""
    G = rng.standard_normal((X_eff.shape[1], 4 * P))
    D = X_eff @ G > 0
    _, first = np.unique(np.packbits(D, axis=0).T, axis=0, return_index=True)
    keep = np.sort(first)
    keep = keep[D[:, keep].any(axis=0)][:P]
    return G[:, keep], D[:, keep]


# -- scoring ----------------------------------------------------------------------------


@dataclass
class Row:
    solver: str
    formulation: str
    objective: float = float("nan")
    gap: float = float("nan")
    violation: float = float("nan")
    time: float = float("nan")
    note: str = ""
    P: int | None = None
    n_iter: int | None = None  # iterations run (pyscnn rows)


def score(
    bench: Bench, form: str, V: np.ndarray, W: np.ndarray, c: float | None, t: float, name: str
) -> Row:
    """Objective, certificate and violation of a convex solution, by our code."""
    prob = bench.problems[form]
    z = prob.predict(V, W, c)
    if form == "relu":
        net = recover_network(V, W, hidden_bias=True, output_bias=c)
        obj = net.objective(bench.X, bench.y, bench.beta)
    else:
        obj = prob.objective(V, W, c)
    # gated: the better of the plain and the block-aligned candidates, for every row
    # (relu: the plain one only; a second set of cone norms costs seconds at large n)
    blocks = (V, W) if form == "gated" else None
    cert = dual_certificate(prob, z, obj, scope="patterns", blocks=blocks)
    return Row(name, form, obj, cert.relative_gap, prob.constraint_violation(V, W), t)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def guarded(name: str, form: str, fn: Callable[[], Row]) -> Row:
    """Run one peer; a missing package or a failure becomes a row with a note."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except ImportError as exc:
        return Row(name, form, note=f"not installed ({exc.name or exc})")
    except Exception as exc:  # a peer failing must not stop the benchmark
        return Row(name, form, note=f"error: {type(exc).__name__}: {str(exc)[:80]}")


# How the rows' processes start: "spawn" for every timed run; ``--quick`` (CI, where
# nothing is timed) forks them from a server that has imported the modules once
# (:func:`_quick_processes`): each spawned row had spent about 4 s on its imports.
_START_METHOD = "spawn"


def _quick_processes() -> None:
    """Rows start by ``forkserver``, from a server that imported this script, convexnn
    and the peers' heavy modules (those installed) before it forks them."""
    global _START_METHOD
    _START_METHOD = "forkserver"
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "convexnn", "cvxpy", "torch", "scnn", "adelie"])


def isolated(
    name: str,
    form: str,
    spec: Spec,
    kind: str,
    args: tuple[Any, ...] = (),
    wall: float | None = None,
    save_dir: str | None = None,
) -> Row:
    """Row ``kind`` (a key of :data:`RUNNERS`) of problem ``spec`` in a clean process.

    Every timed run gets its own SPAWNED process: it rebuilds the (seeded, identical)
    problem, warms up with an untimed run of the same row on the tiny problem (imports,
    first-call set-up), then runs and scores the real one. No run inherits the thread
    pools, caches or heap of another (a process that had forked and run the peers slowed
    our later solves 24x, BENCHMARKS.md). A run killed at the ``wall`` cap (for peers
    whose own limits do not cover all their work, e.g. CVXPY's canonicalisation)
    reports ``time = wall``, a LOWER bound on its time, and says so.
    """
    ctx = multiprocessing.get_context(_START_METHOD)
    out: Any = ctx.Queue()
    child = ctx.Process(
        target=_run_row, args=(name, form, spec, kind, args, save_dir, out), daemon=True
    )
    child.start()
    timed_phase = False
    start = time.perf_counter()
    try:
        _receive(out, child, _SETUP_WALL)  # "ready": set up and warmed up; the cap starts
        timed_phase, start = True, time.perf_counter()
        row: Row = _receive(out, child, wall)
    except queue.Empty:
        # Died on its own (an exception, or the system's out-of-memory killer, whose
        # SIGKILL reads like ours), or still running at its cap?
        died = not child.is_alive()
        child.kill()
        child.join()
        if died:
            row = Row(name, form, note=_died_note(child.exitcode, time.perf_counter() - start))
        elif timed_phase and wall is not None:
            row = Row(name, form, time=wall)
            row.note = f"killed at the {wall:g} s wall cap, no result: time is a LOWER bound"
        else:
            row = Row(name, form, note=f"error: set-up not done within {_SETUP_WALL:g} s")
    child.join()
    return row


def _died_note(code: int | None, elapsed: float) -> str:
    """Note for a child that died by itself ``elapsed`` s into its phase, without a row."""
    why = ": killed by the system, out of memory?" if code == -9 else ""
    return f"error: the process died after {elapsed:.0f} s (exit code {code}{why}), no result"


def _receive(out: Any, child: Any, timeout: float | None) -> Any:
    """The child's next message; ``queue.Empty`` after ``timeout`` s or if it died."""
    end = None if timeout is None else time.perf_counter() + timeout
    while True:
        left = 1.0 if end is None else min(1.0, end - time.perf_counter())
        try:
            return out.get(timeout=max(left, 0.0))
        except queue.Empty:
            if not child.is_alive() or (end is not None and time.perf_counter() >= end):
                raise


_SETUP_WALL = 300.0  # limit on the child's set-up (imports, problem, warm-up)


def _run_row(
    name: str,
    form: str,
    spec: Spec,
    kind: str,
    args: tuple[Any, ...],
    save_dir: str | None,
    out: Any,
) -> None:
    """Child side of :func:`isolated`: build, warm up (untimed), run, score, send."""
    run = RUNNERS[kind]
    tiny = make_bench(QUICK[0])
    guarded(name, form, lambda: run(tiny, *args))  # warm-up, result discarded
    bench = make_bench(spec)
    kwargs = {"save_dir": save_dir} if save_dir is not None else {}
    out.put("ready")
    out.put(guarded(name, form, lambda: run(bench, *args, **kwargs)))


# -- solvers ----------------------------------------------------------------------------


def run_ours(bench: Bench, form: str, solver: str = FAST) -> Row:
    sol, t = timed(
        lambda: cnn.solve(
            bench.X,
            bench.y,
            bench.beta,
            patterns=bench.D,
            formulation=form,
            solver=solver,
            hidden_bias=True,
            tol=1e-6,
        )
    )
    row = score(bench, form, sol.V, sol.W, sol.c, t, f"convexnn {solver}")
    row.note = f"status {sol.status}, m*={sol.n_neurons}"
    return row


def run_cvxpy(bench: Bench, form: str) -> Row:
    limit = bench.spec.cvxpy_limit
    if limit is None:
        return Row("CVXPY + Clarabel", form, note="skipped (too large for an interior point)")
    sol, t = timed(
        lambda: cnn.solve(
            bench.X,
            bench.y,
            bench.beta,
            patterns=bench.D,
            formulation=form,
            solver="cvxpy",
            hidden_bias=True,
            solver_options={"time_limit": limit},
        )
    )
    row = score(bench, form, sol.V, sol.W, sol.c, t, "CVXPY + Clarabel (qdldl)")
    row.note = f"status {sol.status}, time limit {limit:g} s"
    return row


def pyscnn_iters(spec: Spec, form: str) -> int:
    """pyscnn's iteration cap of the first run (AL's primal iterations or R-FISTA's)."""
    if form == "gated" and spec.rfista_iters is not None:
        return spec.rfista_iters
    return spec.pyscnn_iters


def raised_iters(
    done: int, time: float, gap: float, ours: Row, goal: float, wall: float
) -> int | None:
    """Iteration cap of a second pyscnn run that lasts about ``goal`` x our time.

    pyscnn has no time limit, only iteration caps (and R-FISTA a loose stopping rule,
    PEERS.md). When its first run (``done`` iterations in ``time`` s) stopped above our
    certified gap in less than ``goal`` x our time, the ratio it gives is a lower bound
    below the goal and settles nothing. A second run with the cap scaled by time (10%
    margin, at most ``wall`` s) does: if that one also ends above our gap, its time to
    our accuracy is above ``goal`` x ours (as far as ``wall`` allows). None when the
    first run settles it (it reached our gap, or took that long already) or when
    ``wall`` leaves no room for a longer run.
    """
    if not (np.isfinite(time) and time > 0 and done > 0 and np.isfinite(ours.time)):
        return None
    if gap <= max(ours.gap, 1e-6) or time >= goal * ours.time:
        return None
    budget = min(1.1 * goal * ours.time, wall)
    if budget <= time:
        return None
    return int(np.ceil(done * budget / time))


def run_pyscnn(
    bench: Bench,
    form: str,
    iters: int | None = None,
    tol: float | None = None,
    target: float | None = None,
) -> Row:
    """pyscnn: relu with its AL solver, gated with R-FISTA; lam = beta / n.

    ``tol``: R-FISTA's stopping tolerance (None: its default, 1e-6 on the squared
    min-norm subgradient; 0: run to the cap). AL keeps its defaults: its ``tol`` is
    also the tolerance of its inner solves, which decides when the multipliers move.
    ``target`` (gated): our objective; the note gives the time at which R-FISTA's own
    objective log first came within ``REACH`` of it (see :func:`time_to_reach`).
    """
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA

    iters = pyscnn_iters(bench.spec, form) if iters is None else iters
    model: Any
    if form == "relu":
        model = ConvexReLU(bench.G)
        opt: Any = AL(model, max_primal_iters=iters)
    else:
        model = ConvexGatedReLU(bench.G)
        opt = RFISTA(model, max_iters=iters) if tol is None else RFISTA(model, iters, tol)
    # The clock every iteration (to count them), R-FISTA's objective (time_to_reach);
    # no gradient-norm logging.
    metrics = Metrics(metric_freq=1, objective=form == "gated", grad_norm=False, time=True)
    out, t = timed(
        lambda: optimize_model(
            model,
            opt,
            metrics,
            bench.X_eff,
            bench.y,
            regularizer=NeuronGL1(bench.beta / bench.spec.n),
            return_convex=True,
            unitize_data=False,
            dtype="float64",
        )
    )
    V, W = _map_pyscnn(bench, out[0], form)
    name = "pyscnn AL" if form == "relu" else "pyscnn R-FISTA"
    row = score(bench, form, V, W, None, t, name)
    row.n_iter = len(out[1].time) - 2  # pyscnn logs the start and the end too
    row.note = f"patterns identical; {row.n_iter} iterations (cap {iters})"
    if tol is not None:
        row.note += f", tol {tol:g}"
    if form == "gated" and target is not None:
        # pyscnn's objective is ours / n (it minimises 1/(2n)||r||^2 + beta/n R)
        log = out[1]
        k, t_k = time_to_reach(np.asarray(log.objective) * bench.spec.n, log.time, t, target)
        row.note += (
            f"; its objective within {REACH:g} of ours after {t_k:.4g} s (iteration {k})"
            if k is not None
            else f"; its objective never came within {REACH:g} of ours"
        )
    return row


REACH = 1e-6  # R-FISTA: relative distance to our gated objective that counts as reached


def time_to_reach(
    objective: np.ndarray, clock: Any, wall: float, target: float
) -> tuple[int | None, float]:
    """First logged iterate within ``REACH`` (relative) of ``target``, and its time.

    ``clock`` is pyscnn's cumulative solver time at each logged iterate (one per
    iteration, plus the start and the end); the run's ``wall`` time counts its set-up
    too, so the iterate's time is ``wall - (clock[-1] - clock[k])``: the wall time
    minus the iterations after it. Objective-within-1e-6 comes no later than a
    certified gap of 1e-6, so this is a lower bound on R-FISTA's time to our accuracy.
    """
    hit = np.flatnonzero(objective <= target * (1.0 + REACH))
    if hit.size == 0:
        return None, float("nan")
    k = int(hit[0])
    clock = np.asarray(clock, dtype=np.float64)
    return k, wall - float(clock[-1] - clock[k])


def _map_pyscnn(bench: Bench, model: Any, form: str) -> tuple[np.ndarray, np.ndarray]:
    """pyscnn's blocks in OUR pattern order, after checking the pattern sets are equal."""
    keys = {k: i for i, k in enumerate(_keys(bench.D))}
    theirs = _keys(bench.X_eff @ np.asarray(model.G) > 0)
    if sorted(theirs) != sorted(keys):
        raise RuntimeError("pyscnn's pattern set differs from ours")
    idx = np.array([keys[k] for k in theirs])
    d, P = bench.X_eff.shape[1], bench.D.shape[1]
    V, W = np.zeros((d, P)), np.zeros((d, P))
    V[:, idx] = np.asarray(model.parameters[0])[0].T
    if form == "relu":
        W[:, idx] = np.asarray(model.parameters[1])[0].T
    return V, W


def _keys(D: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.packbits(np.asarray(D, dtype=bool), axis=0).T]


def run_adelie(bench: Bench) -> Row:
    """adelie's group-lasso path (convex_relu matrix, gated) down to lam = beta / n."""
    coef, t, note = _adelie_path(bench, relu=False)
    row = score(bench, "gated", coef, np.zeros_like(coef), None, t, "adelie grpnet")
    row.note = note
    return row


def adelie_cone_bounds(D: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bounds ``lower_j <= X_eff u <= upper_j`` of the cones ``K_j`` (pattern column j).

    ``K_j = {u : (2 D_j - 1) * (X_eff u) >= 0}``: the rows in the pattern have
    ``x^T u >= 0``, the others ``x^T u <= 0``. One bound pair per pattern; both signs of
    the pattern share it (``w_j`` lies in the same cone as ``v_j``), and all share X_eff.
    """
    lower = [np.where(D[:, j], 0.0, -np.inf) for j in range(D.shape[1])]
    upper = [np.where(D[:, j], np.inf, 0.0) for j in range(D.shape[1])]
    return lower, upper


def run_adelie_relu(bench: Bench) -> Row:
    """adelie's path on eq. (8): the convex_relu matrix ``[D_i X, -D_i X]`` with one
    linear constraint per group (its cone, :func:`adelie_cone_bounds`), down to beta / n.

    The issue asks for this row "if it works": it does, at adelie's default settings of
    the constraint's proximal Newton solver (its inner NNLS stops at 1e-7), which bound the
    accuracy its output is certified to.
    """
    P = bench.D.shape[1]
    coef, t, note = _adelie_path(bench, relu=True)
    row = score(bench, "relu", coef[:, :P], coef[:, P:], None, t, "adelie grpnet + cones")
    row.note = note
    return row


def _adelie_path(bench: Bench, relu: bool) -> tuple[np.ndarray, float, str]:
    """adelie's grpnet path on the convex_relu matrix down to lam = beta / n, 1 thread.

    Gated: the P groups ``D_i X``; relu: the 2P groups ``[D_i X, -D_i X]``, each with the
    linear constraint of its cone. Returns the last coefficients (d, groups), the time
    (building adelie's inputs included) and the row's note.
    """
    import adelie as ad

    X_eff, D, n = bench.X_eff, bench.D, bench.spec.n
    d, P = X_eff.shape[1], D.shape[1]
    groups = 2 * P if relu else P
    lam = bench.beta / n
    lam_max = float(np.linalg.norm((X_eff * bench.y[:, None]).T @ D, axis=0).max()) / n
    path = np.geomspace(lam_max, lam, bench.spec.adelie_path)

    def fit() -> Any:
        X_f = np.asfortranarray(X_eff)  # adelie keeps references: alive through grpnet
        cones = None
        if relu:
            lower, upper = adelie_cone_bounds(D)
            cones = [
                ad.constraint.linear(X_f, lower[j % P], upper[j % P], dtype=np.float64)
                for j in range(groups)
            ]
        A = ad.matrix.convex_relu(X_f, np.asfortranarray(D), gated=not relu, n_threads=1)
        return ad.grpnet(
            A,
            ad.glm.gaussian(bench.y),
            constraints=cones,
            groups=np.arange(0, groups * d, d),
            penalty=np.ones(groups),
            lmda_path=path,
            intercept=False,
            early_exit=False,
            tol=1e-12,
            n_threads=1,
            progress_bar=False,
        )

    state, t = timed(fit)
    coef = np.asarray(state.betas[-1].todense()).reshape(groups, d).T
    cones = "one linear constraint per group, " if relu else ""
    note = (
        f"path of {len(path)} lambdas to beta/n, {cones}1 thread, "
        f"lambda_end/target={state.lmdas[-1] / lam:.3g}"
    )
    return coef, t, note


def run_torch(bench: Bench, optimizer: str, batch: int | None, width: int, opt_value: float) -> Row:
    """Best of 3 lr x seeds; time to within TARGET of ``opt_value``.

    ``opt_value`` is the best relu objective (eq. 2) of the convex solvers in the table.
    Every recorded network is compared after the free rescaling of its neurons
    (:meth:`convexnn.TwoLayerReLU.balanced`: the same function at the least weight
    decay; a short run is far from balanced, e.g. eq. (2) 3168 -> 974 after 4 s of Adam
    at n = 1e4), so the peer gets the best objective its weights can give.
    """
    from convexnn.baselines import train_torch

    spec = bench.spec
    best, reach, best_net, raw = np.inf, np.inf, None, np.inf
    seeds = spec.seeds if batch is None else 1
    for lr in spec.lrs:
        for seed in range(seeds):
            res = train_torch(
                bench.X,
                bench.y,
                bench.beta,
                n_neurons=width,
                optimizer=optimizer,
                lr=lr,
                batch_size=batch,
                max_epochs=10**7,
                time_budget=spec.adam_budget,
                hidden_bias=True,
                random_state=seed,
                record_every=1 if batch else 5,
            )
            raw = min(raw, res.best_objective)
            if res.best_balanced_objective < best:
                best, best_net = res.best_balanced_objective, res.best_balanced_network
            hit = np.nonzero(res.history["balanced_objective"] <= opt_value * (1 + TARGET))[0]
            if hit.size:
                reach = min(reach, float(res.history["time"][hit[0]]))
    label = "Adam, full batch" if batch is None else f"{optimizer.upper()}, batch {batch}"
    note = f"m={width}, {len(spec.lrs)} lr x {seeds} seeds, {spec.adam_budget:g} s each; "
    note += f"balanced networks (raw eq. (2) best {raw:.8g}); "
    note += f"first within {TARGET:g} of the best convex relu objective: "
    note += "not reached" if np.isinf(reach) else f"{reach:.2f} s"
    if best < opt_value:
        note += f"; BEATS it by {(opt_value - best) / opt_value:.2%} (sampled patterns)"
    assert best_net is not None
    cert = cnn.certify(best_net, bench.X, bench.y, bench.beta, patterns=bench.D)
    return Row(f"PyTorch {label}", "eq. (2)", best, cert.relative_gap, time=reach, note=note)


ALG2_ROW = "convexnn fast on sampled + Alg2 patterns (1 Adam run)"


def run_alg2(bench: Bench, width: int, save_dir: str | None = None) -> Row:
    """Ours on the sampled patterns plus those of ONE Adam run (Alg2), relu, timed together.

    The Adam network is feasible for the relu program over its own patterns, so the
    convex optimum is never worse than that network, and it is the solver's warm start
    (:func:`convexnn.network_to_convex`; the solver replaces a warm start too wide for
    one Newton system by its gated start: problems 2-4 here); the time is the Adam run (one
    learning rate, 1e-2; one seed; the same budget as one baseline run) plus our solve.
    With ``save_dir``, the Adam network and the pattern matrix are pickled there
    (a time-budgeted run depends on the machine's speed: this makes a slow case
    reproducible).
    """
    from convexnn.baselines import train_torch
    from convexnn.patterns import sample_patterns
    from convexnn.patterns.colgen import _unique_columns

    def fit() -> tuple[Any, Any, np.ndarray]:
        res = train_torch(
            bench.X,
            bench.y,
            bench.beta,
            n_neurons=width,
            optimizer="adam",
            lr=1e-2,
            max_epochs=10**7,
            time_budget=bench.spec.adam_budget,
            hidden_bias=True,
            random_state=0,
            record_every=50,
        )
        net = res.best_balanced_network
        D2 = sample_patterns(bench.X, method="network", weights=net.U_eff, hidden_bias=True)
        D0 = _unique_columns(np.hstack([bench.D, np.asarray(D2, dtype=bool)]))
        # The Adam network itself, as a point of the program: the warm start.
        V, W, c, _ = cnn.network_to_convex(net, bench.X, D0)
        sol = cnn.solve(
            bench.X,
            bench.y,
            bench.beta,
            patterns=D0,
            formulation="relu",
            solver=FAST,
            hidden_bias=True,
            tol=1e-6,
            solver_options={"warm_start": (V, W, c)},
        )
        return res, sol, D0

    (res, sol, D0), t = timed(fit)
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        spec = bench.spec
        path = os.path.join(save_dir, f"alg2_n{spec.n}_d{spec.d}_P{spec.P}.pkl")
        with open(path, "wb") as fh:
            net = res.best_balanced_network
            pickle.dump({"network": net, "patterns": D0, "solve_time": sol.time}, fh)
    return Row(
        ALG2_ROW,
        "relu",
        sol.objective,
        sol.relative_gap,
        sol.constraint_violation,
        t,
        P=D0.shape[1],
        note=(
            f"time = Adam run ({bench.spec.adam_budget:g} s, lr 1e-2, m={width}, its own "
            f"objective {res.best_balanced_objective:.8g} balanced) + solve "
            f"({sol.time:.2f} s), status "
            f"{sol.status}, m*={sol.n_neurons}; certificate over its own patterns"
        ),
    )


def run_colgen(bench: Bench) -> Row:
    """Ours with Alg2 patterns + column generation (its OWN final pattern set).

    relu when the fast solver supports it, else gated (scored by the gated program).
    """
    from convexnn.patterns import column_generation, network_patterns
    from convexnn.solvers import SOLVERS

    form = "relu" if "relu" in SOLVERS[FAST].formulations else "gated"

    def fit() -> Any:
        D2 = network_patterns(
            bench.X,
            bench.y,
            bench.beta,
            n_neurons=32,
            hidden_bias=True,
            max_epochs=100,
            random_state=0,
        )
        D0 = np.hstack([bench.D, np.asarray(D2, dtype=bool)])
        return column_generation(
            bench.X,
            bench.y,
            bench.beta,
            initial_patterns=D0,
            hidden_bias=True,
            max_rounds=5,
            solver=FAST,
            formulation=form,
            random_state=0,
        )

    res, t = timed(fit)
    sol = res.solution
    obj, gap = sol.objective, sol.relative_gap
    if form == "gated":  # the gated program's value and its own certificate
        obj = sol.convex_objective
        gap = (obj - sol.lower_bound) / abs(obj)
    return Row(
        "convexnn + Alg2 + column generation",
        form,
        obj,
        gap,
        sol.constraint_violation,
        t,
        P=res.patterns.shape[1],
        note=f"{res.n_rounds} rounds, converged={res.converged}; certificate over its own patterns",
    )


RUNNERS: dict[str, Callable[..., Row]] = {
    "ours": run_ours,
    "cvxpy": run_cvxpy,
    "pyscnn": run_pyscnn,
    "adelie": run_adelie,
    "adelie_relu": run_adelie_relu,
    "alg2": run_alg2,
    "colgen": run_colgen,
    "torch": run_torch,
}


# -- one problem ------------------------------------------------------------------------


def bench_problem(
    bench: Bench,
    with_colgen: bool,
    forms: tuple[str, ...] = ("gated", "relu"),
    save_dir: str | None = None,
    peers: tuple[str, ...] = PEERS,
) -> list[Row]:
    spec = bench.spec
    rows: list[Row] = []
    ours: dict[str, Row] = {}
    for form in forms:
        first = isolated("convexnn fast", form, spec, "ours", (form,), spec.ours_wall)
        ours[form] = first
        rows.append(first)
    if "gated" in forms and "adelie" in peers:
        rows.append(isolated("adelie grpnet", "gated", spec, "adelie"))
    for form in forms:
        if "pyscnn" in peers:
            rows.append(_pyscnn_row(spec, form, ours[form]))
        if form == "relu" and "adelie" in peers:
            wall = spec.adelie_relu_wall
            rows.append(isolated("adelie grpnet + cones", "relu", spec, "adelie_relu", wall=wall))
        if "cvxpy" in peers and (form == "relu" or spec.cvxpy_gated):
            cvx = isolated("CVXPY + Clarabel", form, spec, "cvxpy", (form,), spec.cvxpy_wall)
            rows.append(cvx)
    for form in forms:  # ours again, after the peers: keep the faster run
        if "killed" in ours[form].note:
            continue
        again = isolated("convexnn fast", form, spec, "ours", (form,), spec.ours_wall)
        first_time = ours[form].time
        if np.isfinite(again.time) and not again.time >= first_time:
            ours[form].time = again.time
        ours[form].note += (  # the peers run once: say what the faster of two hides
            f"; two runs, {first_time:.3g} s and {again.time:.3g} s: the faster shown"
        )
    if "relu" not in forms:
        return _with_P(rows, bench)
    width = max(2 * _int_note(ours["relu"].note, "m*="), 16)
    if "alg2" in peers and "killed" in ours["relu"].note:  # Alg2 would be no faster
        note = "not run: our relu solve on the sampled patterns hit its wall cap"
        rows.append(Row(ALG2_ROW, "relu", note=note))
    elif "alg2" in peers:
        cap = 2 * spec.ours_wall  # a network warm start over more patterns: can be slower
        rows.append(isolated("alg2", "relu", spec, "alg2", (width,), cap, save_dir))
    if with_colgen and spec.colgen and "colgen" in peers:
        rows.append(isolated("colgen", "relu", spec, "colgen"))
    # Adam's target: the best relu network any convex solver found (ours first)
    relu = [r.objective for r in rows if r.formulation == "relu" and np.isfinite(r.objective)]
    opt = min(relu, default=float("nan"))
    if np.isfinite(opt) and "torch" in peers:
        for args in (("adam", None, width, opt), ("sgd", 25, width, opt)):
            rows.append(isolated("torch", "eq. (2)", spec, "torch", args))
    return _with_P(rows, bench)


def _pyscnn_row(spec: Spec, form: str, ours: Row) -> Row:
    """pyscnn's row: its first run, then a raised one if that settles nothing.

    See :func:`raised_iters`; the table shows the raised run when there is one.
    """
    target = ours.objective if np.isfinite(ours.objective) else None
    args: tuple[Any, ...] = (form, pyscnn_iters(spec, form), None, target)
    row = isolated("pyscnn", form, spec, "pyscnn", args)
    done = row.n_iter or 0
    more = raised_iters(done, row.time, row.gap, ours, PYSCNN_GOAL[form], spec.pyscnn_wall)
    if more is None:
        return row
    tol = 0.0 if form == "gated" else None  # R-FISTA: no early stop on its loose rule
    args = (form, more, tol, target)
    again = isolated("pyscnn", form, spec, "pyscnn", args, 2.0 * spec.pyscnn_wall)
    again.note += (
        f"; a second run: the first ({done} iterations, {row.time:.3g} s) ended at a "
        f"gap of {row.gap:.2g}, this one was sized for {PYSCNN_GOAL[form]:g}x our time "
        f"(at most {spec.pyscnn_wall:g} s)"
    )
    return again


def _with_P(rows: list[Row], bench: Bench) -> list[Row]:
    for row in rows:
        if row.P is None:
            row.P = bench.D.shape[1]
    return rows


def _int_note(note: str, key: str) -> int:
    if key not in note:
        return 0
    return int(re.match(r"\d+", note.split(key)[1]).group())  # type: ignore[union-attr]


# -- output -----------------------------------------------------------------------------


def _fmt(x: float, spec: str = ".3g") -> str:
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


def print_table(bench: Bench, rows: list[Row]) -> None:
    spec = bench.spec
    ours = {r.formulation: r for r in rows if r.solver == "convexnn fast"}
    ref = ours.get("relu")
    print(f"\n### {spec.name} (beta = {bench.beta:.4g}, hidden bias, planted ReLU targets)\n")
    print(
        "| solver | formulation | P | objective (our code) | rel. to ours | certified rel. gap "
        "| constraint viol. | time (s) | time / ours | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = ours.get(r.formulation, ref)
        rel = (r.objective - base.objective) / abs(base.objective) if base else float("nan")
        ratio = r.time / base.time if base and np.isfinite(base.time) else float("nan")
        viol = "—" if r.formulation != "relu" else _fmt(r.violation, ".1e")
        print(
            f"| {r.solver} | {r.formulation} | {r.P} | {_fmt(r.objective, '.8g')} | "
            f"{_fmt(rel, '+.1e')} | {_fmt(r.gap, '.1e')} | {viol} | {_fmt(r.time, '.3f')} | "
            f"{_fmt(ratio, '.3g')} | {r.note} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--only", type=int, nargs="*", help="indices of the problems to run")
    parser.add_argument("--no-colgen", action="store_true", help="skip column generation rows")
    parser.add_argument(
        "--formulations",
        nargs="+",
        choices=("gated", "relu"),
        default=("gated", "relu"),
        help="formulations to run (gated only: no relu, Alg2 or Adam rows)",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=PEERS,
        default=PEERS,
        help="peer rows to run beside ours (default: all)",
    )
    parser.add_argument(
        "--save-networks", metavar="DIR", help="pickle the Alg2 row's Adam network and patterns"
    )
    args = parser.parse_args()
    specs = QUICK if args.quick else FULL
    if args.quick:
        _quick_processes()
    if args.only:
        specs = [specs[i] for i in args.only]
    print(_blas.machine())
    start = time.perf_counter()
    forms, peers = tuple(args.formulations), tuple(args.peers)
    for spec in specs:
        bench = make_bench(spec)
        rows = bench_problem(bench, not args.no_colgen, forms, args.save_networks, peers)
        print_table(bench, rows)
    print(
        f"\ntotal {time.perf_counter() - start:.0f} s, load average at end {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
