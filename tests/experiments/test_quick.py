"""Every experiment's quick run keeps its invariants (checks) and evaluates the paper's claims.

The claims (``[reproduced]`` / ``[NOT reproduced]``) need not hold at quick sizes; they must be
evaluated, carry their numbers and appear in the saved report.

fig5, fig10 and fig11 belong to the CNN work: when their module is not there the test is
skipped with that reason; when it is there it must run and pass like the others.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from convexnn.experiments import EXPERIMENTS, ExperimentResult, run_experiment
from convexnn.experiments._common import below_bound, format_markdown_table, save_table

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

FAST = {"fig2", "fig6"}  # a few seconds each; the rest are marked slow


def _param(name: str) -> object:
    marks = [] if name in FAST else [pytest.mark.slow]
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_param(n) for n in EXPERIMENTS])
def test_quick_run_keeps_invariants_and_reports_claims(name: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(EXPERIMENTS[name]) is None:
        pytest.skip(f"{EXPERIMENTS[name]} is not in this checkout (CNN experiments)")
    res = run_experiment(name, quick=True, out=tmp_path)
    assert isinstance(res, ExperimentResult) and res.name == name
    assert res.checks, f"{name} asserts no invariant"
    failed = [k for k, ok in res.checks.items() if not ok]
    assert not failed, f"{name}: failed invariants {failed}\n{res.text}"
    assert res.table and res.text
    assert res.claims, f"{name} evaluates none of the paper's claims"
    assert all(c.numbers and c.statement for c in res.claims)
    report = (tmp_path / f"{name}.txt").read_text()
    for claim in res.claims:
        assert claim.line() in report
    assert (
        report.rstrip()
        .splitlines()[-1]
        .endswith(
            f"paper claims: {res.n_reproduced} reproduced, {res.n_not_reproduced} NOT reproduced"
            + (" (see above)" if res.n_not_reproduced else "")
        )
    )
    assert "reaches the lowest objective and test error" not in res.text  # no restated claim
    for fig in res.figures:
        assert fig.suffix == ".png" and fig.stat().st_size > 1000
        assert fig.parent == tmp_path
    for ext in ("md", "csv", "txt"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
    if name == "fig2":
        _fig2_rows_are_consistent(res)


def _fig2_rows_are_consistent(res: ExperimentResult) -> None:
    """The optimum is certified tight and every SGD row lies above its lower bound."""
    opt = res.table[0]
    assert opt["lower_bound"] <= opt["objective"] <= opt["lower_bound"] * (1 + 1e-6)
    sgd = [r for r in res.table[1:]]
    assert [r["m"] for r in sgd] == [8, 15, 50]
    assert all(r["objective"] >= opt["lower_bound"] for r in sgd)


def test_below_bound_detects_violations() -> None:
    assert below_bound(0.99, 1.0)
    assert not below_bound(1.0 - 1e-9, 1.0)
    assert not below_bound(1.5, 1.0)


def test_tables_round_trip(tmp_path: Path) -> None:
    rows = [{"method": "a", "objective": 0.5}, {"method": "b", "time_s": np.float64(2.0)}]
    md, csv_path = save_table(rows, tmp_path / "t")
    assert md.read_text().splitlines()[0] == "| method | objective | time_s |"
    assert csv_path.read_text().splitlines() == ["method,objective,time_s", "a,0.5,", "b,,2.0"]
    assert "| b |  | 2 |" in format_markdown_table(rows)
