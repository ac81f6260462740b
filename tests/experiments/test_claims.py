"""The paper-claim evaluators: each gives [reproduced] on numbers where the claim holds and
[NOT reproduced] where it does not, and a NOT reproduced claim is printed and saved but does
not fail `convexnn reproduce` (only an invariant does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import convexnn.experiments as experiments
from convexnn.cli import main
from convexnn.experiments import ExperimentResult
from convexnn.experiments._binary2d import paper_claims as binary2d_claims
from convexnn.experiments._claims import (
    Claim,
    all_above,
    all_below,
    is_best,
    more_runs_reach_optimum,
)
from convexnn.experiments._common import summary_line
from convexnn.experiments._sampled import paper_claims as sampled_claims
from convexnn.experiments.table1 import paper_claims as table1_claims


def test_is_best_lower_and_higher() -> None:
    holds = is_best("Alg1 lowest", "Alg1", {"Alg1": 1.0, "Alg2": 2.0, "SGD": [1.5, 3.0]})
    assert holds.reproduced and holds.tag == "[reproduced]"
    fails = is_best("Alg1 lowest", "Alg1", {"Alg1": 1.0, "Alg2": 2.0, "SGD": [0.9, 3.0]})
    assert not fails.reproduced and fails.tag == "[NOT reproduced]"
    assert "SGD (0.9) beats Alg1 (1)" in fails.numbers
    # higher is better (accuracy): a tie counts as reproduced, a better run does not
    tie = is_best("acc", "Alg1", {"Alg1": 100.0, "SGD": [100.0, 98.0]}, lower_is_better=False)
    assert tie.reproduced
    assert is_best("acc", "Alg1", {"Alg1": 99.0, "SGD": [98.0]}, lower_is_better=False).reproduced
    worse = is_best("acc", "Alg1", {"Alg1": 97.0, "SGD": [98.0]}, lower_is_better=False)
    assert not worse.reproduced and "SGD (98) beats Alg1 (97)" in worse.numbers


def test_all_above_all_below_and_fig2_counts() -> None:
    assert all_above("s", "SGD runs", [1.2, 1.3], "Optimal", 1.0, rel=0.05).reproduced
    not_sig = all_above("s", "SGD runs", [1.2, 1.03], "Optimal", 1.0, rel=0.05)
    assert not not_sig.reproduced and "1/2 SGD runs above Optimal" in not_sig.numbers
    assert all_below("s", "distances", [0.01, 0.05], 0.1).reproduced
    assert not all_below("s", "distances", [0.01, np.nan], 0.1).reproduced
    assert not all_below("s", "distances", [], 0.1).reproduced
    ok = more_runs_reach_optimum("more runs", {8: 1, 15: 3, 50: 7}, 10)
    assert ok.reproduced and "m=50: 7/10" in ok.numbers
    assert not more_runs_reach_optimum("more runs", {8: 0, 15: 0, 50: 0}, 10).reproduced
    assert not more_runs_reach_optimum("more runs", {8: 2, 15: 5, 50: 4}, 10).reproduced


def test_sampled_claims_fig4_and_fig7() -> None:
    """Alg1 best in objective and test metric, and a run (as in quick fig7) where SGD wins."""
    objs = {"Alg1": 10.0, "Alg2": 12.0, "Alg3": 13.0, "SGD": [11.0, 14.0]}
    acc = {"Alg1": 70.0, "Alg2": 60.0, "Alg3": 61.0, "SGD": [62.0, 65.0]}
    assert all(c.reproduced for c in sampled_claims(objs, acc, classification=True))
    objs_q = {"Alg1": 21.05, "Alg2": 18.41, "Alg3": 23.43, "SGD": [20.50, 22.05]}
    mse = {"Alg1": 0.6655, "Alg2": 0.6202, "Alg3": 0.5858, "SGD": [0.5999, 0.5519]}
    objective, test = sampled_claims(objs_q, mse, classification=False)
    assert not objective.reproduced and "Alg2 (18.41) beats Alg1" in objective.numbers
    assert not test.reproduced and "test MSE" in test.statement


def test_binary2d_claims() -> None:
    (fig3,) = binary2d_claims("fig3", 0.19, 0.21, [0.24, 0.25, 0.56])
    assert fig3.reproduced
    (fig3_no,) = binary2d_claims("fig3", 0.19, 0.21, [0.20, 0.25])
    assert not fig3_no.reproduced
    above_opt, above_approx = binary2d_claims("fig6", 0.34, 0.46, [0.43, 0.46, 1.89])
    assert above_opt.reproduced and not above_approx.reproduced


def test_fig10_fig11_claims() -> None:
    pytest.importorskip("torch")
    from convexnn.experiments.fig10 import paper_claims as fig10_claims
    from convexnn.experiments.fig11 import paper_claims as fig11_claims

    objs = {"Alg1": 1.0, "Alg2": 2.0, "GD": [1.1, 1.2]}
    o, a = fig10_claims(objs, {"Alg1": 80.0, "Alg2": 70.0, "GD": [75.0, 81.0]})
    assert o.reproduced and not a.reproduced
    weak, strict = fig11_claims(np.array([0.02, 0.05]), 1.2)
    assert weak.reproduced and strict.reproduced
    weak, strict = fig11_claims(np.array([0.3, 0.5, np.nan]), 1.2)
    assert weak.reproduced and not strict.reproduced
    assert "0/3 active GD neurons within 0.1" in strict.numbers
    assert "a zero convex neuron" in strict.numbers
    assert not fig11_claims(np.array([0.9, 1.0]), 1.2)[0].reproduced


def test_table1_claims() -> None:
    def row(fig: str, method: str, time_s: float, obj: float) -> dict[str, object]:
        return {"figure": fig, "method": method, "runs": 1, "time_s": time_s, "objective_best": obj}

    rows = [
        row("fig3", "Optimal", 30.0, 0.19),
        row("fig3", "Approx.", 0.3, 0.22),
        row("fig3", "GD", 145.0, 0.24),
        row("fig4", "Alg1", 48.0, 0.016),
        row("fig4", "Alg2", 2.0, 0.014),
        row("fig4", "Alg3", 4.0, 0.024),
        row("fig4", "GD", 20.0, 0.06),
    ]
    fig3_obj, fig3_time, fig4_obj, fig4_time = table1_claims(rows)
    assert fig3_obj.reproduced and fig3_time.reproduced and fig4_obj.reproduced
    assert not fig4_time.reproduced and "Alg1 48 s" in fig4_time.numbers


def _fake(name: str, *, invariant: bool = True) -> ExperimentResult:
    claims = [
        Claim("the paper's first claim", True, "1 < 2"),
        Claim("Alg1 reaches the lowest objective", False, "Alg2 (18.4) beats Alg1 (21.1)"),
    ]
    return ExperimentResult(
        name, [{"method": "x", "objective": 1.0}], [], {"solver_ok": invariant}, "text", claims
    )


def test_not_reproduced_claim_is_printed_saved_and_exit_code_stays_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    res = _fake("fig7")
    assert res.passed and (res.n_reproduced, res.n_not_reproduced) == (1, 1)
    txt = next(p for p in res.save(tmp_path) if p.suffix == ".txt").read_text()
    assert "[NOT reproduced] paper: Alg1 reaches the lowest objective. Here: Alg2" in txt
    assert "[ok] invariant: solver_ok" in txt
    assert txt.rstrip().endswith(
        "1 invariants ok; paper claims: 1 reproduced, 1 NOT reproduced (see above)"
    )

    monkeypatch.setattr(experiments, "run_experiment", lambda name, **kw: _fake(name))
    assert main(["reproduce", "fig7", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "[NOT reproduced] paper: Alg1 reaches the lowest objective" in out
    assert out.rstrip().splitlines()[-1] == (
        "1 invariants ok; paper claims: 1 reproduced, 1 NOT reproduced (see above)"
    )
    # a failed invariant (not a claim) sets the exit code
    monkeypatch.setattr(
        experiments, "run_experiment", lambda name, **kw: _fake(name, invariant=False)
    )
    assert main(["reproduce", "fig7", "--quick"]) == 1
    assert "[FAILED] invariant: solver_ok" in capsys.readouterr().out


def test_summary_line_counts_over_experiments() -> None:
    line = summary_line([_fake("fig7"), _fake("fig8", invariant=False)])
    assert (
        line
        == "1 invariants ok, 1 FAILED; paper claims: 2 reproduced, 2 NOT reproduced (see above)"
    )
    good = ExperimentResult("fig2", [], checks={"a": True}, claims=[Claim("c", True, "n")])
    assert summary_line([good]) == "1 invariants ok; paper claims: 1 reproduced, 0 NOT reproduced"
