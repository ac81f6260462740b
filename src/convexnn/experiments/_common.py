"""Shared pieces of the experiments: the result record, tables and plots.

Every experiment module exposes
``run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._claims import Claim

__all__ = [
    "Claim",
    "ExperimentResult",
    "format_markdown_table",
    "plot_curves",
    "save_table",
    "summary_line",
]


@dataclass
class ExperimentResult:
    """What one experiment produced.

    Attributes
    ----------
    name : str
        Experiment name (``"fig2"``, ..., ``"table1"``).
    table : list of dict
        One row per method / run: ``method``, ``objective``, ``time_s``, test metric, ...
    figures : list of Path
        PNG files written under ``out`` (empty when ``out`` is None).
    checks : dict of str to bool
        Invariants of the software (certified bounds not crossed, a program containing the
        network it was built from, ...), asserted in the tests; several hold by construction
        when the code is right. They set the exit code of ``convexnn reproduce``.
    text : str
        Human-readable summary of the numbers, honest about sampled (upper bound) vs exact
        (certified) results. It does not restate the paper's claims as results.
    claims : list of Claim
        The paper's qualitative claims for this figure, evaluated on this run's numbers
        (``[reproduced]`` / ``[NOT reproduced]``); they do not set the exit code.
    """

    name: str
    table: list[dict[str, Any]]
    figures: list[Path] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    text: str = ""
    claims: list[Claim] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every invariant (check) holds; the paper's claims do not count."""
        return all(self.checks.values())

    @property
    def n_reproduced(self) -> int:
        """Number of the paper's claims this run reproduces."""
        return sum(c.reproduced for c in self.claims)

    @property
    def n_not_reproduced(self) -> int:
        """Number of the paper's claims this run does NOT reproduce."""
        return sum(not c.reproduced for c in self.claims)

    def report(self, *, summary: bool = True) -> str:
        """The text, the invariants, the paper's claims with verdicts and (``summary``) a
        summary line counting them."""
        inv = [f"  [{'ok' if v else 'FAILED'}] invariant: {k}" for k, v in self.checks.items()]
        claims = [f"  {c.line()}" for c in self.claims] or ["  (none evaluated)"]
        return "\n".join(
            [
                self.text,
                "",
                "invariants (software correctness checks; they set the exit code):",
                *(inv or ["  (none)"]),
                "paper claims (the paper's statements, evaluated on this run's numbers; "
                "they do not set the exit code):",
                *claims,
                *([summary_line([self])] if summary else []),
            ]
        )

    def save(self, out: Path) -> list[Path]:
        """Write ``<name>.md``, ``.csv`` and ``.txt`` (:meth:`report`) under ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = save_table(self.table, out / self.name)
        txt = out / f"{self.name}.txt"
        txt.write_text(self.report() + "\n", encoding="utf-8")
        return [*paths, txt]


def summary_line(results: Sequence[ExperimentResult]) -> str:
    """E.g. ``53 invariants ok; paper claims: 9 reproduced, 3 NOT reproduced (see above)``."""
    n_ok = sum(sum(bool(v) for v in r.checks.values()) for r in results)
    n_failed = sum(sum(not v for v in r.checks.values()) for r in results)
    inv = f"{n_ok} invariants ok" + (f", {n_failed} FAILED" if n_failed else "")
    rep = sum(r.n_reproduced for r in results)
    nrep = sum(r.n_not_reproduced for r in results)
    return f"{inv}; paper claims: {rep} reproduced, {nrep} NOT reproduced" + (
        " (see above)" if nrep else ""
    )


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != v:
            return "nan"
        return f"{v:.6g}"
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols


def format_markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render rows (dicts, union of keys as columns) as a GitHub Markdown table."""
    if not rows:
        return "(empty table)\n"
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def save_table(rows: Sequence[Mapping[str, Any]], stem: Path) -> list[Path]:
    """Write ``rows`` to ``stem.md`` (Markdown) and ``stem.csv``; return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    md = stem.with_suffix(".md")
    md.write_text(format_markdown_table(rows), encoding="utf-8")
    path_csv = stem.with_suffix(".csv")
    cols = _columns(rows)
    with path_csv.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in cols})
    return [md, path_csv]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(
    curves: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    xlabel: str = "time (s)",
    ylabel: str = "objective",
    title: str = "",
    hlines: Sequence[Mapping[str, Any]] = (),
    logy: bool = False,
) -> Path:
    """Plot one line per run and save a PNG.

    Parameters
    ----------
    curves : sequence of dict
        Each with ``x`` and ``y`` (1-D arrays of equal length), optional ``label``, ``color``,
        ``alpha``, ``linestyle``, ``marker`` (e.g. ``"x"`` for a single point).
        Runs sharing a label are drawn in the same colour, labelled once.
    path : Path
        Output PNG.
    hlines : sequence of dict
        Horizontal reference lines (e.g. the certified optimum), each
        ``{"y": float, "label": str, "color": ..., "linestyle": ...}``.
    logy : bool
        Logarithmic y axis.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    seen: set[str] = set()
    for curve in curves:
        label = curve.get("label")
        ax.plot(
            np.asarray(curve["x"]),
            np.asarray(curve["y"]),
            color=curve.get("color"),
            alpha=curve.get("alpha", 0.8),
            linestyle=curve.get("linestyle", "-"),
            linewidth=curve.get("linewidth", 1.2),
            marker=curve.get("marker"),
            markersize=curve.get("markersize", 10 if curve.get("marker") else 0),
            markeredgewidth=2 if curve.get("marker") else 1,
            label=None if label is None or label in seen else label,
        )
        if label is not None:
            seen.add(label)
    for h in hlines:
        ax.axhline(
            float(h["y"]),
            color=h.get("color", "k"),
            linestyle=h.get("linestyle", "--"),
            linewidth=1.5,
            label=h.get("label"),
        )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path, dpi: int = 90) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating its folder) and close it."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# -- training runs shared by the experiments ----------------------------------------------


@dataclass
class SGDRun:
    """One SGD/Adam/GD run on eq. (2), with its full-data objective (and test metric) over time.

    Attributes
    ----------
    seed : int
    time, epoch, objective : arrays
        Full-data objective of eq. (2) against training seconds / epochs.
    test_time, test_metric : arrays
        Test metric at the end of each chunk (empty when no test metric was asked).
    network : TwoLayerReLU
        Network after the last step.
    best_objective : float
        Smallest recorded objective.
    train_time : float
        Training seconds (excluding recording).
    """

    seed: int
    time: np.ndarray
    epoch: np.ndarray
    objective: np.ndarray
    test_time: np.ndarray
    test_metric: np.ndarray
    network: Any
    initial_network: Any
    best_objective: float
    train_time: float

    @property
    def final_objective(self) -> float:
        """Objective of the last network."""
        return float(self.objective[-1])


def sgd_runs(
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    *,
    n_neurons: int,
    n_runs: int,
    loss: str = "squared",
    optimizer: str = "sgd",
    lr: float = 1e-2,
    batch_size: int | None = None,
    max_epochs: int = 100,
    time_budget: float | None = None,
    n_chunks: int = 1,
    hidden_bias: bool = True,
    output_bias: bool = False,
    test_metric: Any = None,
    record_every: int = 1,
    random_state: int = 0,
    progress: bool = False,
) -> list[SGDRun]:
    """Train ``n_runs`` networks from independent random initialisations (PyTorch, eq. 2).

    Training is split into ``n_chunks`` calls of :func:`convexnn.baselines.torch.train_torch`,
    each continuing from the previous network, so that ``test_metric(network)`` can be
    recorded along the way (exact for ``optimizer="sgd"``/``"gd"``, which keep no state
    between steps; Adam's moment estimates restart at each chunk).

    ``max_epochs`` and ``time_budget`` are totals over the chunks.
    """
    from ..baselines.torch import train_torch

    runs = []
    seeds = range(random_state * 1000, random_state * 1000 + n_runs)
    for seed in _progress(seeds, progress, desc=f"SGD m={n_neurons}"):
        ep_chunk = max(1, max_epochs // n_chunks)
        tb_chunk = None if time_budget is None else time_budget / n_chunks
        init0 = initial_network(X, y, n_neurons, hidden_bias, output_bias, seed)
        net = init0
        t_all: list[np.ndarray] = []
        e_all: list[np.ndarray] = []
        o_all: list[np.ndarray] = []
        tt: list[float] = []
        tm: list[float] = []
        clock, ep, best = 0.0, 0.0, np.inf
        for k in range(n_chunks):
            res = train_torch(
                X,
                y,
                beta,
                n_neurons=n_neurons,
                loss=loss,
                optimizer=optimizer,
                lr=lr,
                batch_size=batch_size,
                max_epochs=ep_chunk,
                time_budget=tb_chunk,
                hidden_bias=hidden_bias,
                output_bias=output_bias,
                random_state=seed * 7919 + k,
                record_every=record_every,
                init=net,
            )
            h = res.history
            start = 0 if k == 0 else 1  # the first record repeats the previous chunk's end
            t_all.append(h["time"][start:] + clock)
            e_all.append(h["epoch"][start:] + ep)
            o_all.append(h["objective"][start:])
            clock += res.time
            ep += res.n_epochs
            best = min(best, res.best_objective)
            net = res.network
            if test_metric is not None:
                tt.append(clock)
                tm.append(float(test_metric(net)))
            if res.diverged:
                break
        runs.append(
            SGDRun(
                seed=seed,
                time=np.concatenate(t_all),
                epoch=np.concatenate(e_all),
                objective=np.concatenate(o_all),
                test_time=np.asarray(tt),
                test_metric=np.asarray(tm),
                network=net,
                initial_network=init0,
                best_objective=float(best),
                train_time=clock,
            )
        )
    return runs


def initial_network(
    X: np.ndarray, y: np.ndarray, m: int, hidden_bias: bool, output_bias: bool, seed: int
) -> Any:
    """Random start: ``U_eff ~ N(0, 1/d_eff)``, ``alpha ~ N(0, 1/m)``, ``c = mean(y)``."""
    from ..network import TwoLayerReLU

    rng = np.random.default_rng(seed)
    d = X.shape[1]
    d_eff = d + int(hidden_bias)
    U = rng.normal(size=(d_eff, m)) / np.sqrt(d_eff)
    alpha = rng.normal(size=m) / np.sqrt(m)
    return TwoLayerReLU(
        U[:d],
        alpha,
        b=U[d] if hidden_bias else None,
        c=float(np.mean(y)) if output_bias else None,
    )


def _progress(it: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


def accuracy(network: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Classification accuracy (%) of ``sign(f(X))`` against labels ``y`` in {-1, +1}."""
    pred = np.where(network.predict(X) >= 0.0, 1.0, -1.0)
    return float(100.0 * np.mean(pred == y))


def mse(network: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of ``f(X)`` against ``y``."""
    r = network.predict(X) - y
    return float(np.mean(r * r))


def below_bound(objective: float, lower_bound: float, *, rtol: float = 1e-7) -> bool:
    """True when ``objective`` lies below a certified lower bound (beyond rounding)."""
    return objective < lower_bound - rtol * max(1.0, abs(lower_bound))
