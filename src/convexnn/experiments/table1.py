"""Table 1: training time, final objective and test accuracy of every method of Figures 2-5.

Runs (or reuses, within one process) fig2, fig3, fig4 and fig5 and lays our numbers next to
the paper's. The paper's objectives are on its own (unpublished) data and scaling and its
times are CVX/SDPT3 on another machine: compare the ORDER of the methods, not the values.

Per Table-1 column: ``runs`` = the runs merged (every initialisation; fig2's SGD: all widths
m = 8, 15, 50), ``time_s`` = their summed training / solve time, ``objective_best`` = the
lowest final objective among them, ``test_acc_mean`` = their mean test accuracy (%),
``solver`` = what produced them (read from the figures' rows).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ._claims import Claim
from ._common import ExperimentResult, _pyplot, format_markdown_table, save_figure

# Paper's Table 1: (figure, method) -> (time s, objective, test accuracy %)
PAPER: dict[tuple[str, str], tuple[float, float, float | None]] = {
    ("fig2", "SGD"): (420.663, 0.001, None),
    ("fig2", "Optimal"): (1.225, 0.001, None),
    ("fig3", "GD"): (890.339, 0.0032, None),
    ("fig3", "Approx."): (1.498, 0.0028, None),
    ("fig3", "Optimal"): (117.858, 0.0026, None),
    ("fig4", "GD"): (624.787, 0.0042, 62.75),
    ("fig4", "Alg1"): (108.065, 0.0022, 66.80),
    ("fig4", "Alg2"): (5.931, 0.0032, 60.15),
    ("fig4", "Alg3"): (12.009, 0.0032, 60.20),
    ("fig5", "GD"): (65.365, 0.804, None),
    ("fig5", "L1-Convex"): (1.404, 0.803, None),
}


def cached_run(name: str, *, quick: bool, out: Path | None, random_state: int) -> ExperimentResult:
    """Run experiment ``name`` once per process and settings (table1 reuses the figures' runs)."""
    from . import run_experiment

    return run_experiment(name, quick=quick, out=out, random_state=random_state, reuse=True)


def _classify(fig: str, method: str) -> str | None:
    """Map a row's method to the paper's column name (None: not in Table 1)."""
    m = method.lower()
    if fig == "fig5":  # Table 1's fig5 columns are the circular CNN (13) vs L1-Convex (14)
        if m.startswith("circular"):
            return "GD"
        if m.startswith("linear cnn"):
            return "GD (linear CNN 9, not in Table 1)"
        if m.startswith("nuclear"):
            return "Nuclear-norm (12, not in Table 1)"
    if m.startswith(("sgd", "gd")):
        return "SGD" if fig == "fig2" else "GD"
    if m.startswith("optimal"):
        return "Optimal"
    if m.startswith("approximate"):
        return "Approx."
    for alg in ("Alg1", "Alg2", "Alg3"):
        if m.startswith(alg.lower()):
            return alg
    if "convex" in m or "l1" in m:
        return "L1-Convex"
    return None


def _collect(fig: str, res: ExperimentResult) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in res.table:
        col = _classify(fig, str(row.get("method", "")))
        if col is not None:
            groups.setdefault(col, []).append(row)
    out = []
    for col, rows in groups.items():
        objs = [float(r["objective"]) for r in rows if r.get("objective", "") != ""]
        best = int(np.argmin(objs)) if objs else 0
        accs = [float(r["test_acc"]) for r in rows if r.get("test_acc", "") not in ("", None)]
        paper = PAPER.get((fig, col), (np.nan, np.nan, None))
        # fig2's SGD rows are one per width, with the mean time of one run (time_s) and the
        # total over its runs (time_total_s); every other row is one run
        times = [float(r.get("time_total_s", r.get("time_s", 0.0)) or 0.0) for r in rows]
        solvers = sorted({str(r["solver"]) for r in rows if r.get("solver")})
        out.append(
            {
                "figure": fig,
                "method": col,
                "runs": int(sum(int(r.get("n_runs", 1)) for r in rows)),
                "time_s": float(np.sum(times)),
                "objective_best": objs[best] if objs else np.nan,
                "test_acc_mean": float(np.mean(accs)) if accs else "",
                "solver": ", ".join(solvers),
                "paper_time_s": paper[0],
                "paper_objective": paper[1],
                "paper_test_acc": "" if paper[2] is None else paper[2],
            }
        )
    return out


def paper_claims(rows: list[dict[str, Any]]) -> list[Claim]:
    """Table 1: "the introduced convex programs outperform GD while requiring significantly
    less training time", per figure: every convex column of Table 1 has a best objective at
    or below GD's best run and a time below GD's summed time."""
    claims = []
    for fig in dict.fromkeys(r["figure"] for r in rows):
        gd = next((r for r in rows if r["figure"] == fig and r["method"] in ("GD", "SGD")), None)
        convex = [
            r
            for r in rows
            if r["figure"] == fig
            and r["method"] not in ("GD", "SGD")
            and (fig, r["method"]) in PAPER
        ]
        if gd is None or not convex:
            continue
        g = gd["method"]
        tol = 1e-9 * max(1.0, abs(gd["objective_best"]))
        claims.append(
            Claim(
                f"{fig}: the convex programs outperform {g} (counted: each convex column's "
                f"best objective at or below {g}'s best run)",
                all(r["objective_best"] <= gd["objective_best"] + tol for r in convex),
                "; ".join(f"{r['method']} {r['objective_best']:.6g}" for r in convex)
                + f"; {g} best of {gd['runs']} runs {gd['objective_best']:.6g}",
            )
        )
        claims.append(
            Claim(
                f"{fig}: the convex programs need less training time than {g} (counted: each "
                f"convex column's time below {g}'s summed time)",
                all(r["time_s"] < gd["time_s"] for r in convex),
                "; ".join(f"{r['method']} {r['time_s']:.3g} s" for r in convex)
                + f"; {g} {gd['time_s']:.3g} s over {gd['runs']} runs",
            )
        )
    return claims


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Build Table 1 from fig2, fig3, fig4 and (when its module exists) fig5."""
    figs = ["fig2", "fig3", "fig4"]
    if importlib.util.find_spec("convexnn.experiments.fig5") is not None:
        figs.append("fig5")
    rows: list[dict[str, Any]] = []
    checks: dict[str, bool] = {}
    for fig in figs:
        res = cached_run(fig, quick=quick, out=out, random_state=random_state)
        rows.extend(_collect(fig, res))
        checks.update({f"{fig}: {k}": v for k, v in res.checks.items()})
    missing = [
        k
        for k in PAPER
        if k[0] in figs and not any(r["figure"] == k[0] and r["method"] == k[1] for r in rows)
    ]
    checks["every_paper_column_present"] = not missing
    text = (
        "Table 1. Per column: runs = the runs merged (every initialisation; fig2's SGD: all "
        "runs at all three widths m = 8, 15, 50); time_s = their summed training or solve time "
        "(s); objective_best = the lowest final objective; test_acc_mean = their mean test "
        "accuracy (%); solver = what produced them, read from the figures' rows ('cvxpy': "
        "CVXPY + Clarabel; 'apg', 'fista', 'fast': the package's own first-order solvers; "
        "'torch ...': PyTorch gradient training). Paper: CVX/SDPT3 on its "
        "own data, scaling and machine; ours: stand-in data on this machine. Compare the order "
        "of the methods, not the values. The figures' own paper claims are in their reports.\n"
        + (f"Missing columns: {missing}\n" if missing else "")
        + "\n"
        + format_markdown_table(rows)
    )
    figures: list[Path] = []
    if out is not None:
        figures.append(_time_plot(rows, Path(out) / "table1_time.png"))
    return ExperimentResult("table1", rows, figures, checks, text, paper_claims(rows))


def _time_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars, one pair (ours, paper) per Table-1 column, labelled on the y axis."""
    plt = _pyplot()
    labels = [f"{r['figure']} {r['method']}" for r in rows]
    ours = [max(float(r["time_s"]), 1e-3) for r in rows]
    paper = [float(r["paper_time_s"]) for r in rows]
    yk = np.arange(len(rows), dtype=float)
    h = 0.4
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(rows) + 1.4))
    ax.barh(yk - h / 2, ours, height=h, color="tab:blue", label="ours")
    ok = np.isfinite(paper)
    ax.barh(yk[ok] + h / 2, np.asarray(paper)[ok], height=h, color="tab:red", label="paper")
    ax.set_yticks(yk)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, summed over runs; log scale)")
    ax.set_title("Table 1: training time, ours vs paper")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
