"""The CNN experiments at quick size: they run, write their plots, and their claims hold."""

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["fig10", "fig11"])
def test_quick_run_and_checks(name, tmp_path):
    import importlib

    import torch

    torch.set_num_threads(1)
    mod = importlib.import_module(f"convexnn.experiments.{name}")
    res = mod.run(quick=True, out=tmp_path, random_state=0)
    assert res.name == name
    assert res.checks and all(res.checks.values()), res.checks
    assert res.figures and all(p.exists() and p.stat().st_size > 0 for p in res.figures)
    assert res.table and res.text


def test_fig5_sgd_converges_to_convex_filters(tmp_path):
    """Figure 5 at small size: SGD on (9) reaches the optimum of (12) and its filters."""
    import torch

    from convexnn.experiments import fig5

    torch.set_num_threads(1)
    res = fig5.run(quick=True, out=tmp_path, random_state=0)
    assert res.name == "fig5" and all(res.checks.values()), res.checks
    assert len(res.figures) == 2 and all(p.exists() for p in res.figures)
    lin = [r for r in res.table if str(r["method"]).startswith("linear CNN")]
    convex = next(r for r in res.table if r["method"].startswith("nuclear"))
    best = min(lin, key=lambda r: r["objective"])
    assert convex["lower_bound"] <= best["objective"] <= convex["objective"] * 1.01
    assert best["filter_distance"] < 0.1
    assert np.isfinite([r["objective"] for r in res.table]).all()
