"""The paper's experiments (Figures 2-11, Table 1), each ``run(quick=..., out=...)``.

``EXPERIMENTS`` maps a name to its module path; :func:`get_experiment` imports it lazily so
that a missing optional dependency (torch, matplotlib) only fails the experiments that need it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ._common import ExperimentResult

__all__ = ["EXPERIMENTS", "ExperimentResult", "get_experiment", "run_experiment"]

EXPERIMENTS: dict[str, str] = {
    name: f"convexnn.experiments.{name}"
    for name in (
        "fig2",
        "fig3",
        "fig4",
        "fig5",
        "fig6",
        "fig7",
        "fig8",
        "fig9",
        "fig10",
        "fig11",
        "table1",
    )
}


def get_experiment(name: str) -> Callable[..., ExperimentResult]:
    """Return the ``run`` function of experiment ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known experiment.
    """
    if name not in EXPERIMENTS:
        raise ValueError(
            f"get_experiment: unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}."
        )
    module = importlib.import_module(EXPERIMENTS[name])
    run: Callable[..., ExperimentResult] = module.run
    return run


_CACHE: dict[tuple[str, bool, int, str | None], ExperimentResult] = {}


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    out: Path | None = None,
    random_state: int = 0,
    reuse: bool = False,
) -> ExperimentResult:
    """Run experiment ``name`` and, when ``out`` is given, save its table and summary there.

    With ``reuse``, a result computed earlier in this process with the same settings is
    returned instead of running again (``table1`` reuses fig2-fig5 this way). The output
    folder is part of the settings, so a reused result has its figures under ``out`` too.
    """
    key = (name, quick, random_state, None if out is None else str(Path(out).resolve()))
    if reuse and key in _CACHE:
        return _CACHE[key]
    result = get_experiment(name)(quick=quick, out=out, random_state=random_state)
    if out is not None:
        result.save(Path(out))
    _CACHE[key] = result
    return result
