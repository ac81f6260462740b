"""Full-batch gradient descent on eq. (2), in NumPy (no PyTorch needed).

The same objective as :meth:`convexnn.TwoLayerReLU.objective`:

    1/2 || (X U + b)_+ alpha + c - y ||^2 + beta/2 (||U||_F^2 + ||b||^2 + ||alpha||^2).

Used for contrast in the demo and to test that no run ends below the certified bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import (
    add_ones_column,
    as_generator,
    check_beta,
    check_positive_int,
    check_X,
    check_y,
)
from ..network import TwoLayerReLU

Array = NDArray[np.float64]


@dataclass(frozen=True)
class GDResult:
    """Network found by gradient descent and its objective after each iteration."""

    network: TwoLayerReLU
    objective: float
    history: Array
    n_iter: int


def _objective_and_grads(
    Xe: Array, y: Array, beta: float, U: Array, alpha: Array, c: float | None
) -> tuple[float, Array, Array, float]:
    pre = Xe @ U
    H = np.maximum(pre, 0.0)
    z = H @ alpha + (c if c is not None else 0.0)
    r = z - y
    obj = 0.5 * float(r @ r) + 0.5 * beta * float(np.sum(U**2) + alpha @ alpha)
    g_alpha = H.T @ r + beta * alpha
    g_U = Xe.T @ ((pre > 0) * np.outer(r, alpha)) + beta * U
    g_c = float(r.sum())
    return obj, g_U, g_alpha, g_c


def train_gd(
    X: Any,
    y: Any,
    beta: float,
    n_neurons: int,
    *,
    hidden_bias: bool = False,
    output_bias: bool = False,
    max_iter: int = 2000,
    lr: float = 1e-2,
    random_state: Any = None,
    init_scale: float = 1.0,
) -> GDResult:
    """Minimise eq. (2) by gradient descent with an adaptive (monotone) step.

    The step grows by 5% after each accepted step and halves until the objective
    decreases, so runs never diverge; they may stop in a local minimum, which is the
    point of the comparison.

    Parameters
    ----------
    X : array (n, d); y : array (n,); beta : float > 0
    n_neurons : int
        Width m.
    hidden_bias, output_bias : bool
        Same meaning as in :func:`convexnn.solve`.
    max_iter : int
        Gradient steps.
    lr : float
        Initial step size.
    random_state : None, int or Generator
        Initialisation: U ~ N(0, init_scale^2 / d), alpha ~ N(0, init_scale^2 / m).
    """
    caller = "train_gd"
    X_arr = check_X(X, caller=caller)
    y_arr = check_y(y, X_arr.shape[0], caller=caller)
    beta = check_beta(beta, caller=caller)
    m = check_positive_int(n_neurons, caller=caller, name="n_neurons")
    Xe = add_ones_column(X_arr) if hidden_bias else X_arr
    rng = as_generator(random_state, caller=caller)
    d = Xe.shape[1]
    U = rng.normal(scale=init_scale / np.sqrt(d), size=(d, m))
    alpha = rng.normal(scale=init_scale / np.sqrt(m), size=m)
    c = float(np.mean(y_arr)) if output_bias else None
    obj, gU, ga, gc = _objective_and_grads(Xe, y_arr, beta, U, alpha, c)
    history = [obj]
    step = lr
    for _ in range(max_iter):
        while step > 1e-16:
            U_new, a_new = U - step * gU, alpha - step * ga
            c_new = c - step * gc if c is not None else None
            new = _objective_and_grads(Xe, y_arr, beta, U_new, a_new, c_new)
            if new[0] <= obj:
                break
            step *= 0.5
        else:
            break
        U, alpha, c = U_new, a_new, c_new
        obj, gU, ga, gc = new
        history.append(obj)
        step *= 1.05
    if hidden_bias:
        net = TwoLayerReLU(U[:-1], alpha, b=U[-1], c=c)
    else:
        net = TwoLayerReLU(U, alpha, c=c)
    return GDResult(
        network=net, objective=obj, history=np.asarray(history), n_iter=len(history) - 1
    )
