"""The neural gauge (section 2.1, eqs. 6-7, appendix A.10): minimum-norm interpolation.

As ``beta -> 0``, ``beta^{-1} p*(beta)`` increases to the gauge of
``conv(Q_X u -Q_X)``, ``Q_X = {(X u)_+ : ||u|| <= 1}``:

    primal (eq. 6 via eq. 8):
        min_{v_i, w_i, c}  sum_i ||v_i||_2 + ||w_i||_2
        s.t.  sum_i D_i X (v_i - w_i) + c 1 = y,
              (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0        (formulation "relu")

    dual (eq. 7 / eqs. 22-23, the support function of the polar set):
        max_z  z^T y
        s.t.   max_{||u|| <= 1} |z^T (X u)_+| <= 1       (z in (Q_X u -Q_X)°)
               1^T z = 0                                  (output bias only)

with the constraint written over the patterns as in :mod:`convexnn.dual` (Lemma 4,
with ``beta = 1``). The minimum-norm interpolating network is recovered from the
primal by Theorem 1; its ``sum_j |alpha_j| ||u_j||`` (balanced: ``1/2 sum ||u_j||^2 +
alpha_j^2``) is the gauge.

The geometry of Figure 1 (data with n = 2 samples, so that the sets live in the plane):
:func:`rectified_ellipsoid` samples ``Q_X``, :func:`gauge_ball_boundary` traces the
boundary of ``conv(Q_X u -Q_X)`` and :func:`polar_boundary` that of its polar, both
through the exact pricing oracle (:func:`convexnn.patterns.max_dual_violation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import (
    add_ones_column,
    as_generator,
    check_choice,
    check_positive_int,
    check_X,
    check_y,
)
from .dual import _CLARABEL
from .gated_network import GatedReLU, gated_network_of_blocks
from .network import TwoLayerReLU, recover_network
from .patterns.oracle import max_dual_violation
from .problem import FORMULATIONS

Array = NDArray[np.float64]
CALLER = "neural_gauge"
_FALLBACK = {  # what a sampled result means, by formulation (warning text)
    "relu": "the result holds over those patterns only (scope='patterns'): value is an "
    "upper bound on the gauge, and dual_value is NOT a lower bound on it. Raise "
    "max_exact_patterns for the exact gauge.",
    "gated": "the result holds over those patterns only (scope='patterns'): value and "
    "dual_value are the gated program's over them, not bounds on the gauge. Raise "
    "max_exact_patterns for all the patterns.",
}


@dataclass(frozen=True)
class GaugeResult:
    """Result of :func:`neural_gauge`.

    What ``value`` and ``dual_value`` are depends on ``scope`` and ``formulation``:

    * ``scope="global"`` (the patterns are all the patterns of X), ``"relu"``:
      ``value`` is the neural gauge of ``y`` (eq. 6) and ``dual_value`` equals it (eq. 7,
      strong gauge duality); ``dual`` lies in the polar set.
    * ``scope="patterns"`` (sampled or given patterns, not all of them): both are the
      optimum of the program over THOSE patterns only. For ``"relu"`` ``value`` is then
      an upper bound on the gauge (``network`` interpolates ``y`` at that cost), not
      the gauge; ``dual_value`` bounds the sampled program, NOT the gauge (it is not a
      lower bound on it: ``dual`` satisfies the polar constraint only for the patterns
      used, and may violate it for others).
    * ``formulation="gated"``: the min-norm interpolation by a *gated* ReLU network
      whose gates are the patterns (a relaxation: over all patterns, ``value`` is a
      lower bound on the ReLU gauge, and ``dual`` is feasible for eq. (7)). Its model is
      ``gated_network``, which interpolates ``y``; ``network`` (Theorem 1 applied to the
      gated blocks) is a ReLU network that in general does NOT interpolate ``y``
      (``interpolation_error`` says by how much).

    Attributes
    ----------
    value : float
        Primal optimum ``min sum_i ||v_i|| + ||w_i||`` (eq. 6) over the patterns used:
        the gauge of ``y`` for ``scope="global"``, ``"relu"`` (see above otherwise).
    dual_value : float
        Dual optimum ``max z^T y`` (eq. 7) with the polar constraint imposed for the
        patterns used; equals ``value`` up to solver accuracy (strong duality of the
        program solved). A lower bound on the gauge only for ``scope="global"``.
    network : TwoLayerReLU
        The ReLU network of Theorem 1 (hidden bias when ``hidden_bias``, output bias
        when ``output_bias``). For ``"relu"``: a minimum-norm interpolating network over
        the patterns used. For ``"gated"``: built from the gated blocks, it does not
        reproduce the gated model and in general does not interpolate ``y``.
    dual : array of shape (n,)
        Maximiser ``z`` of the dual over the patterns used: of eq. (7) itself for
        ``scope="global"``; otherwise feasible only for the patterns used.
    V, W : arrays of shape (d_eff, P)
        Primal blocks.
    c : float or None
        Output bias of the primal.
    interpolation_error : float
        ``max_j |network(x_j) - y_j|`` of ``network`` (the ReLU network): about 0 for
        ``"relu"``; for ``"gated"`` usually not small.
    patterns : array of shape (n, P) of bool
    pattern_source : {"exact", "sampled", "given"}
    formulation : {"relu", "gated"}
    status : str
        CVXPY status of the primal.
    time : float
        Seconds in CVXPY (both programs).
    scope : {"global", "patterns"}
        ``"global"``: the patterns are exhaustive for X (as :class:`convexnn.Solution`
        says it); ``"patterns"``: sampled or given patterns, the results hold for the
        program over those patterns only (see above).
    gated_network : GatedReLU or None
        For ``"gated"``: the gated network of the blocks, gated by the maximum-margin
        gate of each pattern (:func:`convexnn.pattern_gates`); it interpolates ``y``
        where every pattern is realised by its gate (enumerated or sampled patterns
        always are; else a UserWarning says so). None for ``"relu"``.
    """

    value: float
    dual_value: float
    network: TwoLayerReLU
    dual: Array
    V: Array
    W: Array
    c: float | None
    interpolation_error: float
    patterns: NDArray[np.bool_]
    pattern_source: str
    formulation: str
    status: str
    time: float
    scope: str
    gated_network: GatedReLU | None = None

    def _meaning(self) -> tuple[str, str]:
        """What ``value`` and ``dual_value`` are, in words."""
        P = self.patterns.shape[1]
        if self.scope == "global":
            if self.formulation == "gated":
                return (
                    "gated gauge over all patterns (<= the ReLU gauge)",
                    "= value; a lower bound on the ReLU gauge",
                )
            return "the neural gauge of y (all patterns: GLOBAL)", "= value (strong duality)"
        where = f"the {P} {self.pattern_source} patterns only"
        if self.formulation == "gated":
            return (
                f"gated program over {where}; neither bound on the gauge",
                f"bounds that program over {where}, NOT the gauge",
            )
        return (
            f"optimum over {where}: an upper bound on the gauge, not the gauge",
            f"bounds the program over {where}, NOT a lower bound on the gauge",
        )

    def summary(self) -> str:
        """A few readable lines; say over which patterns the values hold."""
        value_text, dual_text = self._meaning()
        if self.formulation == "gated":
            model = (
                f"gated network (gated_network): "
                f"{0 if self.gated_network is None else self.gated_network.n_neurons} "
                f"neurons; ReLU network of its blocks (network, not interpolating): "
                f"interpolation error {self.interpolation_error:.3g}"
            )
        else:
            model = (
                f"interpolating ReLU network: {self.network.n_neurons} neurons, "
                f"interpolation error {self.interpolation_error:.3g}"
            )
        return "\n".join(
            [
                f"formulation={self.formulation}  status={self.status}  "
                f"patterns: P={self.patterns.shape[1]} ({self.pattern_source}), "
                f"scope: {self.scope}",
                f"value      = {self.value:.10g}  ({value_text})",
                f"dual_value = {self.dual_value:.10g}  ({dual_text})",
                model,
            ]
        )

    def __repr__(self) -> str:
        note = "" if self.scope == "global" else ", over these patterns only: not the gauge"
        return (
            f"GaugeResult(value={self.value:.10g}, dual_value={self.dual_value:.10g}, "
            f"scope={self.scope!r}{note}, formulation={self.formulation!r}, "
            f"n_neurons={self.network.n_neurons}, P={self.patterns.shape[1]}, "
            f"interpolation_error={self.interpolation_error:.2g})"
        )


def neural_gauge(
    X: Any,
    y: Any,
    *,
    patterns: Any = None,
    formulation: str = "relu",
    hidden_bias: bool = False,
    output_bias: bool = False,
    n_patterns: int = 1000,
    max_exact_patterns: int = 5000,
    random_state: Any = None,
    verbose: bool = False,
    solver_options: dict[str, Any] | None = None,
) -> GaugeResult:
    """Minimum-norm interpolation: the neural gauge of ``y`` (eqs. 6-7), primal and dual.

    Solves ``min sum_i ||v_i|| + ||w_i||`` s.t. ``sum_i D_i X (v_i - w_i) (+ c) = y`` and
    the cone constraints, and its dual ``max z^T y`` s.t. ``z`` in the polar of
    ``Q_X u -Q_X`` (see the module docstring), both with CVXPY + Clarabel.

    Over all the patterns of X (``scope="global"``) these are the gauge and eq. (7).
    Over sampled or given patterns (``scope="patterns"``) they are the programs over
    those patterns only: for ``"relu"``, ``value`` is an upper bound on the gauge, and
    ``dual_value`` bounds the sampled program, not the gauge (see :class:`GaugeResult`).

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
    patterns, formulation, hidden_bias, output_bias, n_patterns, max_exact_patterns, \
random_state
        As in :func:`convexnn.solve`. With ``patterns=None`` and more than
        ``max_exact_patterns`` patterns, ``n_patterns`` are sampled, with a
        UserWarning (the result is then ``scope="patterns"``).
    verbose : bool
    solver_options : dict or None
        Passed to Clarabel.

    Returns
    -------
    GaugeResult
        ``value`` (primal), ``dual_value``, ``dual``, ``scope``. For ``"relu"``,
        ``network`` interpolates ``y``; for ``"gated"``, ``gated_network`` does (the
        gated model) and ``network``, the ReLU network of its blocks, in general does
        not (``interpolation_error``).

    Raises
    ------
    ValueError
        When ``y`` cannot be interpolated with these patterns (e.g. equal inputs with
        different targets, or a zero input with a nonzero target and no bias).
    """
    from .solve import _resolve_patterns

    X_arr = check_X(X, caller=CALLER)
    y_arr = check_y(y, X_arr.shape[0], caller=CALLER)
    formulation = check_choice(formulation, FORMULATIONS, caller=CALLER, name="formulation")
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D, source = _resolve_patterns(
        patterns, X_arr, X_eff, hidden_bias, n_patterns, max_exact_patterns, random_state,
        caller=CALLER, stacklevel=3, warn_fallback=_FALLBACK[formulation],
    )  # fmt: skip
    D = np.asarray(D, dtype=bool)
    options = {**_CLARABEL, **(solver_options or {})}
    start = time.perf_counter()
    V, W, c, value, status = _primal(X_eff, y_arr, D, formulation, output_bias, verbose, options)
    z, dual_value = _dual(X_eff, y_arr, D, formulation, output_bias, verbose, options)
    elapsed = time.perf_counter() - start
    network = recover_network(V, W, hidden_bias=hidden_bias, output_bias=c, merge_tol=1e-9)
    error = float(np.max(np.abs(network.predict(X_arr) - y_arr)))
    gated = None
    if formulation == "gated":
        gated = gated_network_of_blocks(
            V - W, D, X_eff, hidden_bias=hidden_bias, output_bias=c, caller=CALLER
        )
    return GaugeResult(
        value=value,
        dual_value=dual_value,
        network=network,
        dual=z,
        V=V,
        W=W,
        c=c,
        interpolation_error=error,
        patterns=D,
        pattern_source=source,
        formulation=formulation,
        status=status,
        time=elapsed,
        scope="global" if source == "exact" else "patterns",
        gated_network=gated,
    )


def _primal(
    X: Array,
    y: Array,
    D: NDArray[np.bool_],
    formulation: str,
    output_bias: bool,
    verbose: bool,
    options: dict[str, Any],
) -> tuple[Array, Array, float | None, float, str]:
    import cvxpy as cp

    M = D.astype(np.float64)
    d, P = X.shape[1], D.shape[1]
    V, W = cp.Variable((d, P)), cp.Variable((d, P))
    z = cp.sum(cp.multiply(M, X @ (V - W)), axis=1)
    c = cp.Variable() if output_bias else None
    cons = [(z + c if c is not None else z) == y]
    if formulation == "relu":
        S = 2.0 * M - 1.0
        cons += [cp.multiply(S, X @ V) >= 0, cp.multiply(S, X @ W) >= 0]
    objective = cp.Minimize(cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0)))
    prob = cp.Problem(objective, cons)
    _run(prob, verbose, options)
    if V.value is None or prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise ValueError(
            f"{CALLER}: y cannot be interpolated by a two-layer ReLU network over these "
            f"{P} patterns (CVXPY status {prob.status!r}). Check for equal inputs with "
            f"different targets, add hidden_bias=True, or use exact patterns."
        )
    V_val, W_val = np.asarray(V.value), np.asarray(W.value)
    value = float(np.linalg.norm(V_val, axis=0).sum() + np.linalg.norm(W_val, axis=0).sum())
    c_val = float(np.asarray(c.value)) if c is not None else None
    return V_val, W_val, c_val, value, str(prob.status)


def _dual(
    X: Array,
    y: Array,
    D: NDArray[np.bool_],
    formulation: str,
    output_bias: bool,
    verbose: bool,
    options: dict[str, Any],
) -> tuple[Array, float]:
    """``max z^T y`` s.t. ``||X^T (+-D_i z + (2 D_i - I) mu_i)|| <= 1``, ``mu_i >= 0``."""
    import cvxpy as cp

    M = D.astype(np.float64)
    n, P = M.shape
    z = cp.Variable(n)
    XtDz = X.T @ cp.diag(z) @ M
    if formulation == "relu":
        S = 2.0 * M - 1.0
        mu, nu = cp.Variable((n, P), nonneg=True), cp.Variable((n, P), nonneg=True)
        cons = [
            cp.norm(XtDz + X.T @ cp.multiply(S, mu), 2, axis=0) <= 1,
            cp.norm(-XtDz + X.T @ cp.multiply(S, nu), 2, axis=0) <= 1,
        ]
    else:
        cons = [cp.norm(XtDz, 2, axis=0) <= 1]
    if output_bias:
        cons.append(cp.sum(z) == 0)
    prob = cp.Problem(cp.Maximize(z @ y), cons)
    _run(prob, verbose, options)
    if z.value is None:
        raise ValueError(
            f"{CALLER}: the dual (7) is unbounded or failed (CVXPY status "
            f"{prob.status!r}): y cannot be interpolated over these patterns."
        )
    z_val = np.asarray(z.value, dtype=np.float64)
    return z_val, float(z_val @ y)


def _run(prob: Any, verbose: bool, options: dict[str, Any]) -> None:
    import cvxpy as cp

    try:
        prob.solve(solver="CLARABEL", verbose=verbose, **options)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"{CALLER}: Clarabel failed ({exc}). Try fewer patterns.") from exc


# --------------------------------------------------------------------------------------
# Geometry of Figure 1
# --------------------------------------------------------------------------------------


def rectified_ellipsoid(
    X: Any,
    *,
    hidden_bias: bool = False,
    n_points: int = 720,
    boundary: bool = True,
    random_state: Any = None,
) -> Array:
    """Points of ``Q_X = {(X u)_+ : ||u|| <= 1}``, shape (n_points, n).

    Parameters
    ----------
    X : array of shape (n, d)
        Data (n = 2 for a planar figure).
    hidden_bias : bool
        Use ``X_eff = [X, 1]``.
    n_points : int
    boundary : bool
        True: ``u`` on the unit sphere (evenly spaced angles when ``d_eff = 2``, else
        uniform random): the image of the sphere, which contains the outer boundary of
        ``Q_X``. False: ``u`` uniform in the unit ball (a filled sample of ``Q_X``).
    random_state : None, int or numpy Generator
        For the random directions and radii.

    Returns
    -------
    array of shape (n_points, n)
        Row k is ``(X_eff u_k)_+``.
    """
    caller = "rectified_ellipsoid"
    X_eff = _effective(X, hidden_bias, caller)
    n_points = check_positive_int(n_points, caller=caller, name="n_points")
    rng = as_generator(random_state, caller=caller)
    d = X_eff.shape[1]
    if boundary and d == 2:
        theta = np.linspace(0.0, 2.0 * np.pi, n_points, endpoint=False)
        U = np.stack([np.cos(theta), np.sin(theta)])
    else:
        U = rng.standard_normal((d, n_points))
        U /= np.linalg.norm(U, axis=0)
        if not boundary:
            U *= rng.uniform(size=n_points) ** (1.0 / d)
    return np.asarray(np.maximum(X_eff @ U, 0.0).T)


def gauge_ball_boundary(
    X: Any, *, hidden_bias: bool = False, n_directions: int = 360, directions: Any = None
) -> Array:
    """Boundary points of ``conv(Q_X u -Q_X)``, the unit ball of the neural gauge.

    For each direction ``z`` the support point ``s (X u*)_+`` maximises ``z^T q`` over
    ``Q_X u -Q_X`` (``u*``, ``s`` from the exact pricing oracle with ``lam = z``).

    Parameters
    ----------
    X : array of shape (n, d)
    hidden_bias : bool
    n_directions : int
        Evenly spaced unit directions in the plane (requires n = 2).
    directions : array of shape (k, n) or None
        Explicit directions instead (any n).

    Returns
    -------
    array of shape (k, n)
    """
    caller = "gauge_ball_boundary"
    X_eff = _effective(X, hidden_bias, caller)
    Z = _directions(X_eff.shape[0], n_directions, directions, caller)
    out = np.empty_like(Z)
    for k, z in enumerate(Z):
        p = max_dual_violation(X_eff, z)
        out[k] = p.sign * np.maximum(X_eff @ p.u, 0.0)
    return out


def polar_boundary(
    X: Any, *, hidden_bias: bool = False, n_directions: int = 360, directions: Any = None
) -> Array:
    """Boundary points of the polar ``(Q_X u -Q_X)° = {z : |z^T (X u)_+| <= 1 for all u}``.

    Along each unit direction ``e`` the boundary point is ``e / h(e)`` with
    ``h(e) = max_{||u|| <= 1} |e^T (X u)_+|`` computed exactly by the pricing oracle
    (infinite when ``h(e) = 0``: the polar is unbounded in that direction).

    Parameters
    ----------
    X : array of shape (n, d)
    hidden_bias : bool
    n_directions : int
        Evenly spaced directions in the plane (requires n = 2).
    directions : array of shape (k, n) or None

    Returns
    -------
    array of shape (k, n)
        ``inf`` entries where the polar is unbounded.
    """
    caller = "polar_boundary"
    X_eff = _effective(X, hidden_bias, caller)
    Z = _directions(X_eff.shape[0], n_directions, directions, caller)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    h = np.array([max_dual_violation(X_eff, z).value for z in Z])
    with np.errstate(divide="ignore"):
        return np.asarray(Z / h[:, None])


def _effective(X: Any, hidden_bias: bool, caller: str) -> Array:
    X_arr = check_X(X, caller=caller)
    return add_ones_column(X_arr) if hidden_bias else X_arr


def _directions(n: int, n_directions: int, directions: Any, caller: str) -> Array:
    if directions is not None:
        Z = np.asarray(directions, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != n or not np.all(np.linalg.norm(Z, axis=1) > 0):
            raise ValueError(
                f"{caller}: directions must be a (k, n) = (k, {n}) array of nonzero "
                f"vectors, got shape {Z.shape}."
            )
        return Z
    if n != 2:
        raise ValueError(
            f"{caller}: the sets live in R^n with n = {n} samples; evenly spaced "
            f"directions need n = 2. Pass directions=(k, {n}) array instead."
        )
    n_directions = check_positive_int(n_directions, caller=caller, name="n_directions")
    theta = np.linspace(0.0, 2.0 * np.pi, n_directions, endpoint=False)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)
