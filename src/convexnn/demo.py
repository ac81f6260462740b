"""``python -m convexnn.demo``: the paper's 1-D example and a 2-D example, certified.

Prints, for each data set, the convex optimum, m*, the recovered network's own
objective (2), the certified GLOBAL gap, and the best of gradient descent on (2) from
10 random starts for contrast. Data are embedded (no downloads).
"""

from __future__ import annotations

import time

import numpy as np

from .baselines import train_gd
from .solve import solve


def paper_1d() -> tuple[np.ndarray, np.ndarray]:
    """The paper's section-6 example: X = [-2, -1, 0, 1, 2]^T, y = [1, -1, 1, 1, -1]."""
    X = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    return X, y


def planted_2d(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A fixed 2-D regression set: targets of a planted 3-neuron ReLU network plus noise.

    Generated from a fixed seed, so it is the same on every machine (no downloads).
    """
    rng = np.random.default_rng(2020)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    U = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0]])
    b = np.array([0.2, -0.1, 0.3])
    y = np.maximum(X @ U + b, 0.0) @ np.array([2.0, -1.5, 1.0]) + 0.05 * rng.normal(size=n)
    return X, y


def _report(name: str, X: np.ndarray, y: np.ndarray, beta: float, widths: tuple[int, ...]) -> None:
    start = time.perf_counter()
    sol = solve(X, y, beta, hidden_bias=True)
    elapsed = time.perf_counter() - start
    print(f"== {name}: n={X.shape[0]}, d={X.shape[1]} (+ hidden bias), beta={beta}")
    print(f"   patterns: P = {sol.patterns.shape[1]} ({sol.pattern_source})")
    print(f"   convex optimum of (8)          : {sol.convex_objective:.8f}")
    print(f"   neurons m*                     : {sol.n_neurons}")
    print(f"   recovered ReLU network, eq. (2): {sol.objective:.8f}")
    print(f"   certified lower bound          : {sol.lower_bound:.8f}")
    print(
        f"   certified gap                  : {sol.gap:.2e} (relative {sol.relative_gap:.2e}), "
        f"scope = {sol.scope.upper()}"
    )
    print(f"   time (solve + certificate)     : {elapsed:.2f} s")
    for m in widths:
        best = min(
            train_gd(X, y, beta, m, hidden_bias=True, max_iter=10000, random_state=seed).objective
            for seed in range(10)
        )
        verdict = "above" if best >= sol.lower_bound else "BELOW (bug!)"
        print(
            f"   gradient descent, m={m:3d}, best of 10 starts: {best:.8f} "
            f"({verdict} the certified bound; +{best - sol.objective:.2e} vs optimum)"
        )
    print()


def main() -> None:
    """Run both examples and print the results."""
    X, y = paper_1d()
    _report("Paper's 1-D example (section 6)", X, y, beta=1e-2, widths=(8, 15, 50))
    X2, y2 = planted_2d()
    _report("2-D planted ReLU regression", X2, y2, beta=1e-2, widths=(8, 50))


if __name__ == "__main__":
    main()
