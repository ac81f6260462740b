"""The convex program (8) as a plain object: data, operator, objective, constraints.

With the patterns as a boolean mask ``M`` (n x P) and the blocks as columns of
``V`` (d x P), the linear operator of eq. (8) is

    A(V) = rowsum(M * (X @ V)) = sum_i D_i X v_i,      A^T(r) = X^T (M * r[:, None]),

two GEMMs and never the n x (P d) design matrix. The program is

    min_{V, W, c}  L(A(V) - A(W) + c 1, y) + beta * sum_i (||v_i||_2 + ||w_i||_2)
    s.t.           (2 D_i - I) X v_i >= 0,  (2 D_i - I) X w_i >= 0   (formulation "relu")

where ``c`` exists only with an output bias and the constraints only for "relu";
"gated" drops them (a group lasso over gated linear units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from array_api_compat import is_torch_array
from numpy.typing import NDArray

from ._measures import relative_violation
from ._validation import (
    add_ones_column,
    check_beta,
    check_choice,
    check_X,
    check_y,
    host_array,
)
from .losses import Loss, get_loss

Array = NDArray[np.float64]
FORMULATIONS = ("relu", "gated")


@dataclass(frozen=True, eq=False)
class ConvexReLUProblem:
    """Data of the convex program (8), already validated.

    Attributes
    ----------
    X : array (n, d_eff)
        Data actually used (with the ones column when ``hidden_bias``).
    y : array (n,)
    beta : float
    D : array (n, P) of bool
        Patterns, column i = diag(D_i).
    formulation : {"relu", "gated"}
    loss : Loss
    hidden_bias : bool
        Whether the last column of ``X`` is the appended ones column.
    output_bias : bool
        Whether an unregularised scalar ``c`` is added to the predictions.
    """

    X: Array
    y: Array
    beta: float
    D: NDArray[np.bool_]
    formulation: str = "relu"
    loss: Loss = field(default_factory=lambda: get_loss("squared", caller="ConvexReLUProblem"))
    hidden_bias: bool = False
    output_bias: bool = False

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def P(self) -> int:
        return int(self.D.shape[1])

    @property
    def mask(self) -> Array:
        """The pattern mask in the compute dtype (cached; casting every call is slow)."""
        cached = self.__dict__.get("_mask")
        if cached is None:
            cached = np.asarray(self.D, dtype=self.X.dtype)
            object.__setattr__(self, "_mask", cached)
        return cached

    @property
    def signs(self) -> Array:
        """``2 D - 1`` as floats, shape (n, P): the cone constraints read ``signs * (X V) >= 0``."""
        return 2.0 * self.mask - 1.0

    # -- operators ------------------------------------------------------------------------
    def A(self, V: Array) -> Array:
        """``sum_i D_i X v_i`` for V of shape (d, P); returns shape (n,)."""
        nz = np.flatnonzero(np.any(V != 0, axis=0))  # zero blocks add nothing
        return np.einsum("np,np->n", self.X @ V[:, nz], self.mask[:, nz])

    def AT(self, r: Array) -> Array:
        """Adjoint ``[X^T D_i r]_i`` as a (d, P) array."""
        return self.X.T @ (self.mask * r[:, None])

    def predict(self, V: Array, W: Array, c: float | None = None) -> Array:
        """Predictions of the convex model, ``A(V - W) + c``, shape (n,)."""
        z = self.A(V - W)
        return z + c if c is not None else z

    # -- objective and constraints --------------------------------------------------------
    def regularizer(self, V: Array, W: Array) -> float:
        """``sum_i ||v_i|| + ||w_i||`` (without beta)."""
        return float(np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum())

    def objective(self, V: Array, W: Array, c: float | None = None) -> float:
        """Objective of the convex program at (V, W, c)."""
        z = self.predict(V, W, c)
        return self.loss.value(z, self.y) + self.beta * self.regularizer(V, W)

    def constraint_violation(self, V: Array, W: Array) -> float:
        """Largest violation of the cone constraints, relative to ``max |X v_i|``.

        That is ``max_i max_j ((2 D_i - I) X b_i)_-^j / max_i max |X b_i|`` over the blocks
        ``b_i`` (columns of V and W; zero blocks violate nothing). A solution whose blocks
        all predict at most ``1e-8 max|y|`` (1e-8 when y = 0) is the zero solution to a
        solver's accuracy and reads 0 (:func:`convexnn._measures.relative_violation`).
        Returns 0 for the gated formulation (it has no constraints).
        """
        if self.formulation == "gated":
            return 0.0
        worst = 0.0
        scale = 0.0
        for B in (V, W):
            nz = np.flatnonzero(np.any(B != 0, axis=0))  # zero blocks violate nothing
            XB = self.X @ B[:, nz]
            worst = max(worst, float(np.max(-(2.0 * self.mask[:, nz] - 1.0) * XB, initial=0.0)))
            scale = max(scale, float(np.max(np.abs(XB), initial=0.0)))
        return relative_violation(worst, scale, self.y)


def build_problem(
    X: Any,
    y: Any,
    beta: Any,
    D: Any,
    *,
    formulation: str = "relu",
    loss: str | Loss = "squared",
    hidden_bias: bool = False,
    output_bias: bool = False,
    caller: str = "ConvexReLUProblem",
) -> ConvexReLUProblem:
    """Validate raw inputs and build a :class:`ConvexReLUProblem`.

    ``X`` is the user's data; the ones column is appended here when ``hidden_bias``.
    ``D`` must be an (n, P) boolean array of patterns for that augmented ``X``.
    """
    X_arr = check_X(X, caller=caller)
    loss_obj = get_loss(loss, caller=caller)
    if loss_obj.multi_output:
        raise ValueError(
            f"{caller}: loss {loss_obj.name!r} needs (n, c) outputs; train a multi-output "
            f"network with convexnn.solve_multioutput(X, y, beta, loss={loss_obj.name!r})."
        )
    y_arr = loss_obj.check_targets(check_y(y, X_arr.shape[0], caller=caller), caller)
    beta_val = check_beta(beta, caller=caller)
    formulation = check_choice(formulation, FORMULATIONS, caller=caller, name="formulation")
    X_eff = add_ones_column(X_arr) if hidden_bias else X_arr
    D_arr = check_patterns(D, X_arr.shape[0], caller=caller)
    return ConvexReLUProblem(
        X=X_eff,
        y=y_arr,
        beta=beta_val,
        D=D_arr,
        formulation=formulation,
        loss=loss_obj,
        hidden_bias=bool(hidden_bias),
        output_bias=bool(output_bias),
    )


def check_patterns(D: Any, n_samples: int, *, caller: str) -> NDArray[np.bool_]:
    """Check that ``D`` is an (n, P) boolean pattern array with P >= 1."""
    if is_torch_array(D):  # a torch.bool dtype is no np.bool_: compare on the host
        D = np.asarray(host_array(D))
    shape = np.shape(D)
    if len(shape) != 2 or shape[0] != n_samples or shape[1] < 1:
        raise ValueError(
            f"{caller}: patterns must be a boolean array of shape (n_samples, P) = "
            f"({n_samples}, P) with P >= 1, got shape {shape}. Build it with "
            f"enumerate_patterns(X) or sample_patterns(X, n_patterns)."
        )
    dtype = getattr(D, "dtype", None)
    if dtype is None:
        D = np.asarray(D)
        dtype = D.dtype
    if dtype == np.bool_:
        return D  # type: ignore[no-any-return]
    arr = np.asarray(D)
    if np.issubdtype(arr.dtype, np.number) and np.all((arr == 0) | (arr == 1)):
        return arr.astype(bool)
    raise TypeError(
        f"{caller}: patterns must be boolean (or 0/1) of shape ({n_samples}, P), got dtype "
        f"{dtype}. Build it with enumerate_patterns(X) or sample_patterns(X, n_patterns)."
    )
