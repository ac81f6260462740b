"""Figure 11: distances between the neurons found by GD and by the convex CNN program.

A GD (Adam) run of the Figure-10 CNN gives filters ``u_j``; the convex program over the
patterns of those filters gives blocks ``w_i`` (positive) and ``w'_i`` (negative output
weight). Entry (i, j) of each matrix is ``|| w_i/||w_i|| - u_j/||u_j|| ||``. The paper's
claim: the convex neurons of the GD patterns match GD's neurons. Checked: each GD neuron
(output weight at least 1% of the largest) is much closer to the convex neuron of its own
pattern than to the others (medians), and every active GD neuron within 0.1 of its convex
neuron (expected only when GD has converged: within 1% of the convex optimum over its
patterns). Both are reported as paper claims, not invariants.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cnn.relu import solve_relu_cnn
from ._claims import Claim
from ._common import ExperimentResult, _pyplot
from .fig10 import GEOM, _net, config, load, train_gd

NAME = "fig11"


def _unit(A: np.ndarray) -> np.ndarray:
    return A / np.maximum(np.linalg.norm(A, axis=0, keepdims=True), 1e-300)


def _dist(W: np.ndarray, U: np.ndarray) -> np.ndarray:
    """``D[i, j] = || w_i/||w_i|| - u_j/||u_j|| ||`` (NaN rows for zero blocks)."""
    Wn, Un = _unit(W), _unit(U)
    D = np.linalg.norm(Wn[:, :, None] - Un[:, None, :], axis=0)
    D[np.linalg.norm(W, axis=0) <= 1e-8 * max(np.abs(W).max(initial=0.0), 1e-300)] = np.nan
    return D  # type: ignore[no-any-return]


def run(*, quick: bool = False, out: Path | None = None, random_state: int = 0) -> ExperimentResult:
    """Run the Figure-11 experiment (``quick``: seconds)."""
    cfg = dict(config(quick), seeds=1)
    data = load(cfg, random_state)
    X, y = data[0], data[1]
    gd = train_gd(cfg, X, y, random_state)[0]
    net = _net(gd)
    sol = solve_relu_cnn(X, y, cfg["beta"], gates=net.U, **GEOM)
    Dp, Dn = _dist(sol.V, net.U), _dist(sol.W, net.U)
    # neuron j of GD: pattern j; its convex block has the sign of alpha_j
    active = np.abs(net.alpha) >= 0.01 * np.abs(net.alpha).max()
    own = np.where(net.alpha > 0, np.diag(Dp), np.diag(Dn))
    matched = own[active]
    rows = [
        {
            "neuron": j,
            "alpha_gd": float(net.alpha[j]),
            "distance_to_convex": float(own[j]),
            "active": bool(active[j]),
        }
        for j in range(net.n_filters)
    ]
    figures: list[Path] = []
    if out is not None:
        plt = _pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        for ax, D, t in ((axes[0], Dp, "w_i (alpha > 0)"), (axes[1], Dn, "w'_i (alpha < 0)")):
            im = ax.imshow(D, vmin=0, vmax=2, cmap="viridis")
            ax.set_title(t)
            ax.set_xlabel("GD neuron j")
            ax.set_ylabel("convex neuron i")
        fig.colorbar(im, ax=axes)
        path = Path(out) / "fig11_distances.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        figures.append(path)
    converged = gd.objective <= sol.objective * 1.01
    D_all = np.where(net.alpha > 0, Dp, Dn)  # GD neuron j vs convex neurons of its sign
    off = D_all[~np.eye(D_all.shape[0], dtype=bool)]
    off_median = float(np.nanmedian(off)) if np.isfinite(off).any() else float("nan")
    checks = {
        "convex program certified over the GD patterns": sol.relative_gap < 1e-6,
        "convex objective <= GD objective": sol.objective <= gd.objective * (1 + 1e-6),
    }
    claims = paper_claims(matched, off_median)
    max_own = float(np.nanmax(matched)) if np.isfinite(matched).any() else float("nan")
    text = (
        f"Figure 11 on digits (m={cfg['m']}): GD objective {gd.objective:.6g}, convex program over "
        f"the GD patterns {sol.objective:.6g} (GD {100 * (gd.objective / sol.objective - 1):.1f}% "
        f"above it); distances of the {int(active.sum())} active GD neurons to their convex "
        f"neurons: max {max_own:.3g}, median {_median(matched):.3g} (median to the other convex "
        f"neurons: {off_median:.3g})."
        + (
            ""
            if converged
            else " GD stopped >1% above the convex optimum over its own patterns (not "
            "stationary), so an exact match (distance < 0.1) is not expected at this budget."
        )
    )
    return ExperimentResult(NAME, rows, figures, checks, text, claims)


def _median(a: np.ndarray) -> float:
    return float(np.nanmedian(a)) if np.isfinite(a).any() else float("nan")


def paper_claims(own: np.ndarray, off_median: float) -> list[Claim]:
    """Figure 11: "the neurons that correspond to the sign patterns of GD match the neurons
    found by GD". ``own``: distance of each active GD neuron to the convex neuron of its own
    pattern (NaN: that convex neuron is zero); ``off_median``: median distance to the others."""
    own = np.asarray(own, dtype=float)
    own_median = _median(own)
    close = int(np.sum(own < 0.1))
    return [
        Claim(
            "GD's neurons match the convex neurons of their own patterns, weak form (counted: "
            "median distance to the own convex neuron < half the median to the others)",
            bool(own_median < 0.5 * off_median),
            f"median own distance {own_median:.3g}, median to the others {off_median:.3g}",
        ),
        Claim(
            "GD's neurons match the convex neurons of their own patterns (counted: every "
            "active GD neuron within distance 0.1 of its convex neuron)",
            bool(own.size > 0 and close == own.size),
            f"{close}/{own.size} active GD neurons within 0.1 (largest "
            f"{float(np.nanmax(own)) if np.isfinite(own).any() else float('nan'):.3g}"
            f"{', a zero convex neuron among them' if np.isnan(own).any() else ''})",
        ),
    ]
