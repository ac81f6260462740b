"""Shared data of the relu solver tests (imported by the test modules beside it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convexnn import solve


def _data(n=60, d=4, seed=0, repeat=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if repeat:
        X[n // 2 :] = X[: n - n // 2]
    y = np.maximum(X @ rng.normal(size=d) + 0.3, 0) - 0.5 * np.maximum(X @ rng.normal(size=d), 0)
    return X, y + 0.05 * rng.normal(size=n)


def _reference(X, y, beta, D, loss="squared", output_bias=False):
    sol = solve(
        X,
        y,
        beta,
        patterns=D,
        formulation="relu",
        solver="cvxpy",
        loss=loss,
        output_bias=output_bias,
    )
    return sol.convex_objective


def _alg2_n400():
    """The benchmark's n = 400 problem with the patterns of one Adam network (Alg2).

    ``benchmarks/bench_solvers.py``'s data (``make_bench``: planted ReLU targets, seed 0,
    hidden bias, 500 sampled gates) and the 122 hidden neurons (with biases) of its
    Alg2 row's Adam run, saved in ``data/alg2_n400_hidden.npy``.
    """
    from convexnn.patterns.colgen import _unique_columns

    rng = np.random.default_rng(0)
    n, d, P = 400, 13, 500
    X = rng.standard_normal((n, d))
    U0 = rng.standard_normal((d, 6)) / np.sqrt(d)
    y = np.maximum(X @ U0 + 0.3 * rng.standard_normal(6), 0) @ rng.standard_normal(6)
    y = y + 0.1 * rng.standard_normal(n)
    X_eff = np.hstack([X, np.ones((n, 1))])
    Dg = X_eff @ rng.standard_normal((d + 1, 4 * P)) > 0
    first = np.sort(np.unique(np.packbits(Dg, axis=0).T, axis=0, return_index=True)[1])
    D = Dg[:, first[Dg[:, first].any(axis=0)][:P]]
    beta = 1e-2 * float(np.linalg.norm((X_eff * y[:, None]).T @ D, axis=0).max())
    U = np.load(Path(__file__).parent / "data" / "alg2_n400_hidden.npy")
    D0 = _unique_columns(np.hstack([D, X_eff @ U >= 0]))
    return X, y, beta, D0


def count_calls(monkeypatch, module, name):
    """Wrap ``module.name`` so that each call appends to the returned list."""
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls
