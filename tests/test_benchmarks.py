"""Every benchmark runs at a tiny size in CI so that none can rot (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
