"""Every benchmark runs at a tiny size in CI so that none can rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_quick_run(script):
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert "|" in out.stdout  # printed its Markdown table


def test_benchmarks_exist():
    assert {p.stem for p in BENCHMARKS} >= {"bench_patterns", "bench_reference"}


def test_solver_benchmark_gated_only_skips_relu_rows():
    script = Path(__file__).parents[1] / "benchmarks" / "bench_solvers.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--formulations", "gated", "--no-colgen"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| convexnn")]
    assert rows and all("| gated |" in line for line in rows)
    assert "| relu |" not in out.stdout and "torch" not in out.stdout


def test_solver_benchmark_saves_the_alg2_network(tmp_path):
    import pickle

    pytest.importorskip("torch")
    script = Path(__file__).parents[1] / "benchmarks" / "bench_solvers.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-colgen", "--save-networks", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (saved,) = tmp_path.glob("alg2_*.pkl")
    with open(saved, "rb") as fh:
        data = pickle.load(fh)
    assert data["patterns"].dtype == bool and data["network"].n_neurons > 0


def test_solver_benchmark_row_killed_at_its_wall_cap_reports_a_lower_bound(monkeypatch):
    import importlib

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # what the module sets on import; undone after the test
    # the spawned child imports the module by name, with the parent's sys.path
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    bench = importlib.import_module("bench_solvers")
    row = bench.isolated("ours", "relu", bench.QUICK[0], "ours", ("relu",), wall=1e-3)
    assert "killed at the 0.001 s wall cap" in row.note and row.time == 1e-3
    assert np.isnan(row.objective)
    done = bench.isolated("ours", "relu", bench.QUICK[0], "ours", ("relu",), wall=120.0)
    assert "status optimal" in done.note and done.gap <= 1e-6
