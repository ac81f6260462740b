"""Every benchmark runs at a tiny size in CI so that none can rot (no timing asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("bench_*.py"))


def _run(script: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a benchmark script (a path, or a name in benchmarks/) and check it succeeded."""
    path = Path(__file__).parents[1] / "benchmarks" / script if isinstance(script, str) else script
    out = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    return out


def _tables(stdout: str) -> list[dict[str, str]]:
    """The rows of every Markdown table printed, as dicts keyed by their header cells."""
    rows: list[dict[str, str]] = []
    lines = stdout.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("| ") and lines[i + 1].startswith("|---"):
            header = [c.strip() for c in line.strip().strip("|").split("|")]
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip().strip("|").split("|")]
                rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _number(cell: str) -> float:
    """The leading number of a cell (``"0.05 s (0.1x)"`` -> 0.05)."""
    return float(cell.split()[0].rstrip("x"))


def _check_solvers(rows: list[dict[str, str]]) -> None:
    """Every row scored, ours certified, nothing below our certified bound over the same
    patterns unless it leaves the cones (or is Adam/SGD, or has its own patterns)."""
    by_name = {(r["solver"], r["formulation"]): r for r in rows}
    for row in rows:
        assert "error" not in row["note"] and "died" not in row["note"], row
    for form in ("gated", "relu"):
        ours = by_name[("convexnn fast", form)]
        assert "status optimal" in ours["note"] and float(ours["certified rel. gap"]) <= 1e-6
        bound = float(ours["objective (our code)"]) * (1 - 2e-6)
        for row in rows:
            same = row["formulation"] == form and row["P"] == ours["P"]
            feasible = row["constraint viol."] in ("—",) or float(row["constraint viol."]) < 1e-8
            if same and feasible and row["objective (our code)"] != "—":
                assert float(row["objective (our code)"]) >= bound, row
    for label in ("PyTorch Adam, full batch", "PyTorch SGD, batch 25"):
        row = by_name[(label, "eq. (2)")]
        assert np.isfinite(float(row["objective (our code)"])), row
        assert np.isfinite(float(row["certified rel. gap"])), row


def _check_adam_exact(rows: list[dict[str, str]]) -> None:
    """Adam never below the certified global optimum."""
    for row in rows:
        scope, gap = row["certificate"].split(", ")
        assert scope == "global" and float(gap) <= 1e-6, row
        assert _number(row["Adam best (balanced)"]) >= float(row["p* (ours)"]) * (1 - 2e-6)


def _check_relu_fast(rows: list[dict[str, str]]) -> None:
    """Each convex objective comes with its own program's certified gap."""
    for row in rows:
        assert float(row["its rel gap"]) <= 1e-6, row
    relu = [float(r["convex objective"]) for r in rows if r["solver"].startswith("relu/")]
    np.testing.assert_allclose(relu, relu[0], rtol=1e-6)


def _check_cnn_gated(rows: list[dict[str, str]]) -> None:
    done = [r for r in rows if r["status"] == "optimal"]
    assert {r["solver"] for r in done} >= {"bcd", "cvxpy"}
    for row in done:
        assert float(row["certified gap"]) <= 1e-6, row
    np.testing.assert_allclose([float(r["objective"]) for r in done], float(done[0]["objective"]),
                               rtol=1e-6)  # fmt: skip


def _check_gpu(rows: list[dict[str, str]]) -> None:
    """Every device run certified; every exported network predicts as NumPy does."""
    solves = [r for r in rows if "run" in r]
    assert len(solves) >= 4 and all(float(r["certified gap"]) <= 1e-6 for r in solves)
    export = [r for r in rows if "network exported" in r]
    assert len(export) == 6 and all(r["check"] == "ok" for r in export), export


CHECKS = {
    "bench_gpu": _check_gpu,
    "bench_solvers": _check_solvers,
    "bench_adam_exact": _check_adam_exact,
    "bench_relu_fast": _check_relu_fast,
    "bench_cnn_gated": _check_cnn_gated,
}


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_quick_run(script):
    out = _run(script, "--quick")
    rows = _tables(out.stdout)
    assert rows  # printed its Markdown table
    if script.stem in CHECKS:
        CHECKS[script.stem](rows)


def test_benchmarks_exist():
    assert {p.stem for p in BENCHMARKS} >= {"bench_patterns", "bench_reference"}


def test_small_beta_benchmark_runs_only_the_sizes_asked_for():
    args = ("bench_small_beta.py", "--quick", "--formulations", "gated", "--cvxpy-max-n", "0")
    rows = _run(*args).stdout.splitlines()
    assert [line for line in rows if line.startswith("| 60 |")]  # the quick row
    out = _run(*args, "--sizes", "61").stdout
    assert "| n | d |" in out and "| 60 |" not in out


def test_solver_benchmark_gated_only_skips_relu_rows():
    out = _run("bench_solvers.py", "--quick", "--formulations", "gated", "--no-colgen")
    rows = [line for line in out.stdout.splitlines() if line.startswith("| convexnn")]
    assert rows and all("| gated |" in line for line in rows)
    assert "| relu |" not in out.stdout and "torch" not in out.stdout


def test_solver_benchmark_saves_the_alg2_network(tmp_path):
    import pickle

    pytest.importorskip("torch")
    _run("bench_solvers.py", "--quick", "--no-colgen", "--save-networks", str(tmp_path))
    (saved,) = tmp_path.glob("alg2_*.pkl")
    with open(saved, "rb") as fh:
        data = pickle.load(fh)
    assert data["patterns"].dtype == bool and data["network"].n_neurons > 0


def test_solver_benchmark_row_killed_at_its_wall_cap_reports_a_lower_bound(monkeypatch):
    # the spawned child imports the module by name, with the parent's sys.path
    bench = _bench_module(monkeypatch)
    row = bench.isolated("ours", "relu", bench.QUICK[0], "ours", ("relu",), wall=1e-3)
    assert "killed at the 0.001 s wall cap" in row.note and row.time == 1e-3
    assert np.isnan(row.objective)
    done = bench.isolated("ours", "relu", bench.QUICK[0], "ours", ("relu",), wall=120.0)
    assert "status optimal" in done.note and done.gap <= 1e-6


def test_solver_benchmark_row_whose_process_dies_is_not_called_capped(monkeypatch):
    # The out-of-memory killer ends a child with SIGKILL, as the wall cap does: such a
    # row must say the process died (when), not claim a lower bound on the peer's time.
    import multiprocessing
    import os
    import signal

    bench = _bench_module(monkeypatch)

    def die(*args):
        args[-1].put("ready")
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(bench, "_run_row", die)  # a forked child runs the patched target
    fork = multiprocessing.get_context("fork")
    monkeypatch.setattr(bench.multiprocessing, "get_context", lambda method: fork)
    row = bench.isolated("CVXPY + Clarabel", "relu", bench.QUICK[0], "cvxpy", ("relu",), 60.0)
    assert "died after" in row.note and "exit code -9" in row.note
    assert "out of memory" in row.note and "wall cap" not in row.note
    assert np.isnan(row.time) and np.isnan(row.objective)


def _bench_module(monkeypatch):
    import importlib

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # what the module sets on import; undone after the test
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    return importlib.import_module("bench_solvers")


def test_pyscnn_cap_is_raised_only_when_its_first_run_settles_nothing(monkeypatch):
    bench = _bench_module(monkeypatch)
    ours = bench.Row("convexnn fast", "relu", gap=1e-9, time=2.0)
    # stopped above our gap after 10 s < 20 x 2 s: cap scaled to 1.1 x 40 s
    assert bench.raised_iters(100, 10.0, 1e-2, ours, 20.0, 600.0) == 440
    # ... but never beyond the wall
    assert bench.raised_iters(100, 10.0, 1e-2, ours, 20.0, 30.0) == 300
    # reached our accuracy (within 1e-6), or already took goal x ours: settled
    assert bench.raised_iters(100, 10.0, 5e-7, ours, 20.0, 600.0) is None
    assert bench.raised_iters(100, 45.0, 1e-2, ours, 20.0, 600.0) is None
    # no room under the wall, or no usable first run (not installed / failed)
    assert bench.raised_iters(100, 10.0, 1e-2, ours, 20.0, 10.0) is None
    assert bench.raised_iters(100, float("nan"), 1e-2, ours, 20.0, 600.0) is None
    assert bench.raised_iters(0, 10.0, 1e-2, ours, 20.0, 600.0) is None


def test_adelie_cone_bounds_hold_exactly_the_points_of_each_cone(monkeypatch):
    bench = _bench_module(monkeypatch)
    rng = np.random.default_rng(0)
    X = np.hstack([rng.standard_normal((40, 3)), np.ones((40, 1))])
    G = rng.standard_normal((4, 5))
    D = X @ G >= 0
    lower, upper = bench.adelie_cone_bounds(D)
    for j in range(D.shape[1]):
        inside = (lower[j] <= X @ G[:, j]) & (X @ G[:, j] <= upper[j])
        assert inside.all()  # the gate is in its own cone
        z = X @ -G[:, j]  # its negation leaves it on every row where X g != 0
        outside = (z < lower[j]) | (z > upper[j])
        np.testing.assert_array_equal(outside, X @ G[:, j] != 0)
        assert np.all(lower[j] <= 0) and np.all(upper[j] >= 0)  # adelie's requirement


def test_solver_benchmark_peers_filter_runs_only_the_chosen_rows():
    out = _run("bench_solvers.py", "--quick", "--peers", "cvxpy")
    solvers = {line.split("|")[1].strip() for line in out.stdout.splitlines()[1:] if "|" in line}
    solvers -= {"solver", "---"}
    assert solvers == {"convexnn fast", "CVXPY + Clarabel (qdldl)"}, solvers


def test_time_to_reach_is_the_first_iterate_within_reach(monkeypatch):
    bench = _bench_module(monkeypatch)
    objective = np.array([10.0, 2.0, 1.0 + 2e-6, 1.0 + 5e-7, 1.0])
    clock = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # cumulative solver time
    # wall 5 s (1 s of set-up): iterate 3 came 1 s before the end
    assert bench.time_to_reach(objective, clock, 5.0, 1.0) == (3, 4.0)
    k, t = bench.time_to_reach(objective, clock, 5.0, 0.5)
    assert k is None and np.isnan(t)


@pytest.mark.parametrize(
    ("flags", "preset", "expected"),
    [
        ({"avx512f", "avx2"}, None, "SkylakeX"),
        ({"avx2"}, None, "Haswell"),
        ({"sse2"}, None, None),
        ({"avx512f"}, "Zen", "Zen"),  # the user's choice is kept
    ],
)
def test_blas_pin_sets_the_openblas_kernel_from_the_cpu_flags(monkeypatch, flags, preset, expected):
    """Old OpenBLAS (numpy 1.26's wheels) falls back to generic kernels on CPUs it does not
    know: the benchmarks name the kernel from the CPU flags, unless the user did."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import _blas

    for var in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    if preset is not None:
        monkeypatch.setenv("OPENBLAS_CORETYPE", preset)
    monkeypatch.setattr(_blas, "_cpu_flags", lambda: flags)
    _blas.pin("3")
    assert os.environ.get("OPENBLAS_CORETYPE") == expected
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "3"
    assert "(kernel " in _blas.describe()  # numpy has loaded a BLAS: named, with its kernel


def test_sweep_benchmark_runs_on_the_gated_formulation():
    out = _run("bench_relu_sweep.py", "--quick", "--formulation", "gated")
    assert "gated, seed 1, 4 cases" in out.stdout and "| — | all cases |" in out.stdout


def test_sweep_lists_a_case_that_runs_past_its_timeout(monkeypatch, capsys):
    """A case that hangs is listed as a timeout and the sweep goes on."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import bench_relu_sweep

    calls = []

    def slow_then_fine(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(30)
        return "ok", ""

    monkeypatch.setattr(bench_relu_sweep, "check_case", slow_then_fine)
    bench_relu_sweep.main(["--quick", "--case-timeout", "1"])
    out = capsys.readouterr().out
    assert "| 0 |" in out and "| timeout | over 1 s" in out
    assert "ok: 3, timeout: 1" in out


def _script_module(monkeypatch, name):
    """Import ``benchmarks/<name>.py`` with the thread variables it sets undone afterwards."""
    import importlib

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    return importlib.import_module(name)


def test_path_benchmark_warms_up_before_its_first_timed_solve(monkeypatch):
    """The first relu solve of a process loads the compiled kernels: untimed, it made
    "path / one" 0.29 at --quick size (one solve 2.5 s, five independent ones 1.25 s)."""
    bench_path = _script_module(monkeypatch, "bench_path")
    calls = []
    monkeypatch.setattr(bench_path, "print", lambda *a, **k: calls.append("print"), raising=False)
    monkeypatch.setattr(bench_path, "run_case", lambda bench, form: calls.append(form) or "| row |")
    bench_path.main(["--quick"])
    # warm-up (gated, relu) before the header and the timed rows
    assert calls == ["gated", "relu", "print", "print", "gated", "print", "relu", "print"]


class _FakeSolution:
    objective = convex_objective = 1.0
    lower_bound = 1.0
    relative_gap = 0.0
    constraint_violation = 0.0
    status = "optimal"
    n_iter = 1


def test_cnn_benchmark_warms_up_every_solver_before_timing(monkeypatch):
    """CVXPY's import and first canonicalisation were charged to the first CVXPY row."""
    bench = _script_module(monkeypatch, "bench_cnn_gated")
    calls = []

    def fake(X, y, beta, *, solver, **kw):
        calls.append(solver)
        return _FakeSolution()

    monkeypatch.setattr(bench, "solve_relu_cnn", fake)
    monkeypatch.setattr(bench, "print", lambda *a, **k: calls.append("print"), raising=False)
    bench.main(["--quick"])
    solvers, three_lines = ["bcd", "fista", "cvxpy"], ["print"] * 3
    # warm-up, the header, the timed solves, their rows
    assert calls == solvers + three_lines + solvers + three_lines


def test_relu_fast_benchmark_warms_up_every_solver_before_timing(monkeypatch):
    bench = _script_module(monkeypatch, "bench_relu_fast")
    calls = []

    def fake(X, y, D, beta, form, solver):
        calls.append((X.shape[0], f"{form}/{solver}"))
        return 0.1, _FakeSolution()

    monkeypatch.setattr(bench, "run", fake)
    monkeypatch.setattr(bench, "print", lambda *a, **k: None, raising=False)
    bench.main(["--quick"])
    names = ["gated/fast", "relu/fast", "relu/cvxpy"]
    assert calls == [(40, name) for name in sorted(names)] + [(300, name) for name in names]


def test_small_beta_benchmark_warms_up_cvxpy_too(monkeypatch):
    import convexnn

    bench = _script_module(monkeypatch, "bench_small_beta")
    calls = []
    monkeypatch.setattr(
        convexnn, "solve", lambda X, y, beta, **kw: calls.append((kw["formulation"], kw["solver"]))
    )
    monkeypatch.setattr(bench, "run", lambda n, d, P, r, form, solver: calls.append(n) or "| |")
    monkeypatch.setattr(bench, "print", lambda *a, **k: None, raising=False)
    bench.main(["--quick"])
    warm = [(f, s) for f in ("gated", "relu") for s in ("fast", "cvxpy")]
    assert calls == [*warm, 60, 60, 60, 60]
