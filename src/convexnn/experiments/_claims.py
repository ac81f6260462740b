"""The paper's qualitative claims, evaluated on one run's numbers.

An experiment reports two kinds of output:

* **invariants** (``ExperimentResult.checks``): properties our software guarantees whatever
  the data (a certified bound is not crossed, a program contains the network it was built
  from, ...). Several hold by construction when the code is right; they are regression
  checks and set the exit code of ``convexnn reproduce``.
* **paper claims** (``ExperimentResult.claims``, this module): what the paper says its
  figure shows ("Alg1 reaches the lowest objective"), compared with this run's numbers and
  reported as ``[reproduced]`` or ``[NOT reproduced]`` with the numbers compared. They do not
  set the exit code: quick mode uses tiny budgets where the claims need not hold.

Each evaluator below is a pure function of numbers, so that it can be tested on numbers
where the claim holds and where it does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Claim",
    "all_above",
    "all_below",
    "is_best",
    "more_runs_reach_optimum",
]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and whether this run's numbers reproduce it.

    Attributes
    ----------
    statement : str
        The paper's claim, attributed to the paper (never printed as a result by itself).
    reproduced : bool
        Whether this run's numbers satisfy the claim (with the criterion stated in
        ``statement``).
    numbers : str
        The numbers compared, printed after the verdict.
    """

    statement: str
    reproduced: bool
    numbers: str

    @property
    def tag(self) -> str:
        """``[reproduced]`` or ``[NOT reproduced]``."""
        return "[reproduced]" if self.reproduced else "[NOT reproduced]"

    def line(self) -> str:
        """``[verdict] paper: <claim>. Here: <numbers>``."""
        return f"{self.tag} paper: {self.statement}. Here: {self.numbers}"


def _g(v: float) -> str:
    return f"{float(v):.6g}"


def _describe(label: str, values: Any) -> str:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.size == 1:
        return f"{label} {_g(arr[0])}"
    return f"{label} {_g(arr.min())}..{_g(arr.max())} ({arr.size} runs)"


def is_best(
    statement: str,
    target: str,
    values: Mapping[str, float | Sequence[float]],
    *,
    lower_is_better: bool = True,
    rtol: float = 1e-9,
) -> Claim:
    """Claim "``target`` is the best of all methods": its value beats (or ties) every other.

    ``values`` maps a method to one value or to the values of its runs (every run counts);
    it must contain ``target`` with a single value. Ties within ``rtol`` count as reproduced
    (e.g. equal test accuracies of 100%).
    """
    mine = float(np.atleast_1d(np.asarray(values[target], dtype=float))[0])
    others = {
        k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in values.items() if k != target
    }
    sign = 1.0 if lower_is_better else -1.0
    best_name, best_val = target, mine
    for k, arr in others.items():
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            continue
        v = float(finite.min() if lower_is_better else finite.max())
        if sign * v < sign * best_val:
            best_name, best_val = k, v
    tol = rtol * max(1.0, abs(mine))
    ok = bool(np.isfinite(mine) and sign * (mine - best_val) <= tol)
    parts = [_describe(target, mine)] + [_describe(k, v) for k, v in values.items() if k != target]
    verdict = (
        f"{target} is {'lowest' if lower_is_better else 'highest'}"
        if ok
        else f"{best_name} ({_g(best_val)}) beats {target} ({_g(mine)})"
    )
    return Claim(statement, ok, f"{'; '.join(parts)} -> {verdict}")


def all_above(
    statement: str,
    label: str,
    values: Sequence[float],
    ref_label: str,
    ref: float,
    *,
    rel: float = 0.0,
) -> Claim:
    """Claim "every value of ``label`` is above ``ref`` by more than ``rel * |ref|``"."""
    arr = np.asarray(values, dtype=float)
    bar = ref + rel * abs(ref)
    above = int(np.sum(arr > bar))
    margin = f" + {rel:.0%} = {_g(bar)}" if rel else ""
    return Claim(
        statement,
        bool(arr.size > 0 and above == arr.size),
        f"{above}/{arr.size} {label} above {ref_label} {_g(ref)}{margin} "
        f"({_describe(label, arr) if arr.size else 'no runs'})",
    )


def all_below(statement: str, label: str, values: Sequence[float], bound: float) -> Claim:
    """Claim "every value of ``label`` is below ``bound``" (NaN counts as not below)."""
    arr = np.asarray(values, dtype=float)
    below = int(np.sum(arr < bound))
    worst = _g(np.nanmax(arr)) if np.isfinite(arr).any() else "nan"
    return Claim(
        statement,
        bool(arr.size > 0 and below == arr.size),
        f"{below}/{arr.size} {label} below {_g(bound)} (largest {worst})",
    )


def more_runs_reach_optimum(statement: str, counts: Mapping[int, int], n_runs: int) -> Claim:
    """Figure 2's claim: the number of runs reaching the optimum grows with the width ``m``.

    Reproduced when the counts never decrease with ``m`` and the widest net has strictly more
    runs at the optimum than the narrowest.
    """
    ms = sorted(counts)
    c = [counts[m] for m in ms]
    ok = bool(len(c) >= 2 and all(a <= b for a, b in itertools.pairwise(c)) and c[-1] > c[0])
    return Claim(
        statement,
        ok,
        ", ".join(f"m={m}: {counts[m]}/{n_runs}" for m in ms) + " runs at the optimum",
    )
