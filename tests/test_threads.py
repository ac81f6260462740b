"""BLAS threads: the small factorisations of the Newton steps run on one thread."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import convexnn as cnn
from convexnn._threads import one_blas_thread
from convexnn.solvers import _newton, _relu_polish, _woodbury


def _blas_threads() -> set[int]:
    return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}


def test_one_blas_thread_limits_and_restores():
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()  # 2, and 1 for a BLAS built without threads (torch's)
        assert 2 in before
        with one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == before


@pytest.mark.parametrize(
    ("module", "factor_name", "formulation"),
    [
        (_relu_polish, "cho_factor", "relu"),
        (_newton, "cho_factor", "gated"),  # the factorised (m, m) systems
        (_woodbury, "cholesky", "gated"),  # the sample-space ones
    ],
)
def test_newton_factorisations_run_on_one_thread(monkeypatch, module, factor_name, formulation):
    """Threaded, OpenBLAS's Cholesky of these few-hundred-dimensional systems had cost
    9 ms instead of under 1 ms and the n = 1e4 relu solve 30 s instead of 22 s (two
    threads); the solves call it under :func:`one_blas_thread` even where BLAS has more."""
    seen: list[set[int]] = []
    factor = getattr(module, factor_name)

    def recording(*args, **kwargs):
        seen.append(_blas_threads())
        return factor(*args, **kwargs)

    monkeypatch.setattr(module, factor_name, recording)
    if module is _newton:  # no sample-space steps: each step factorises its (m, m) system
        monkeypatch.setattr(_newton, "sample_space_flops", lambda n, k: float("inf"))
    rng = np.random.default_rng(0)
    X = np.round(2 * rng.normal(size=(80, 3)))  # degenerate: many exact patterns, Newton steps
    y = np.maximum(X @ rng.normal(size=3), 0) + 0.1 * rng.normal(size=80)
    with threadpool_limits(2, user_api="blas"):
        sol = cnn.solve(X, y, 0.3, formulation=formulation, n_patterns=100, random_state=0)
    assert sol.status == "optimal"
    assert seen and all(s == {1} for s in seen), seen
