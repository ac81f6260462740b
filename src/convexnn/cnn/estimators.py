"""scikit-learn estimators for two-layer ReLU CNNs trained by the convex program."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_bool, check_choice, check_max_iter, check_positive_int
from ..losses import get_loss
from ._common import check_common
from .network import ConvReLUNet
from .patches import check_images, conv_geometry, extract_patches
from .relu import FORMULATIONS, PATTERN_METHODS, SOLVERS, ConvCNNSolution, solve_relu_cnn

Array = NDArray[np.float64]


class _ConvexCNNBase(BaseEstimator):
    """Shared fit / predict of the convex ReLU CNN estimators (see the subclasses)."""

    def __init__(
        self,
        *,
        kernel_size: Any = 3,
        stride: Any = 1,
        padding: Any = 0,
        beta: float = 1e-3,
        n_gates: int = 50,
        pattern_method: str = "random",
        formulation: str = "relu",
        solver: str | None = None,
        loss: str = "squared",
        hidden_bias: bool = True,
        tol: float = 1e-7,
        max_iter: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.beta = beta
        self.n_gates = n_gates
        self.pattern_method = pattern_method
        self.formulation = formulation
        self.solver = solver
        self.loss = loss
        self.hidden_bias = hidden_bias
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_targets(self, X: Any, t: Array) -> None:
        Xa = check_images(X, caller=f"{type(self).__name__}.fit")
        self._check_params(Xa)
        self.input_shape_ = tuple(Xa.shape[1:])
        # The offset is an unregularised output bias fitted by centring: exact for the
        # regression losses' least squares; a margin loss's labels stay +-1 (centred
        # labels would change the loss, and objective_ would not be the network's).
        classification = get_loss(self.loss, caller=type(self).__name__).is_classification
        self.offset_ = 0.0 if classification else float(np.mean(t))
        sol = solve_relu_cnn(
            Xa,
            t - self.offset_,
            self.beta,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            n_gates=self.n_gates,
            pattern_method=self.pattern_method,
            formulation=self.formulation,
            solver=self.solver,
            loss=self.loss,
            hidden_bias=self.hidden_bias,
            tol=self.tol,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        self.solution_: ConvCNNSolution = sol
        net = sol.network
        self.network_: ConvReLUNet | None = None
        if net is not None:
            self.network_ = ConvReLUNet(
                net.U,
                net.alpha,
                net.b,
                self.offset_,
                kernel_size=self.kernel_size,
                stride=self.stride,
                padding=self.padding,
            )
        self.n_filters_ = 0 if net is None else net.n_filters
        self.objective_ = sol.objective

    def _check_params(self, Xa: Array) -> None:
        """Refuse bad hyper-parameters under the estimator's own name (solve_relu_cnn
        checks them again, naming itself)."""
        name = type(self).__name__
        conv_geometry(Xa.shape[2:], self.kernel_size, self.stride, self.padding, caller=name)
        check_max_iter(self.max_iter, caller=name)
        check_common(self.beta, self.tol, 1, caller=name)
        check_positive_int(self.n_gates, caller=name, name="n_gates")
        check_choice(self.pattern_method, PATTERN_METHODS, caller=name, name="pattern_method")
        check_choice(self.formulation, FORMULATIONS, caller=name, name="formulation")
        if self.solver is not None:
            check_choice(self.solver, SOLVERS, caller=name, name="solver")
        check_bool(self.hidden_bias, caller=name, name="hidden_bias")
        get_loss(self.loss, caller=name)

    def _raw(self, X: Any) -> Array:
        check_is_fitted(self, "solution_")
        Xa = check_images(X, caller=f"{type(self).__name__}.predict")
        if tuple(Xa.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"{type(self).__name__}: X has per-sample shape {Xa.shape[1:]}, the model was "
                f"fitted on {self.input_shape_}."
            )
        if self.network_ is not None:
            return self.network_.predict(Xa)
        P = extract_patches(
            Xa, self.kernel_size, self.stride, self.padding, caller=type(self).__name__
        )
        return self.solution_.predict_convex(P) + self.offset_

    def to_torch(self, *, dtype: Any = None, device: Any = None) -> Any:
        """The fitted ReLU CNN as ``nn.Sequential(Conv, ReLU, Flatten, Linear)``.

        Parameters
        ----------
        dtype : torch.dtype or None
            Parameter dtype; None means ``torch.float64``.
        device : str, torch.device or None
            Where the module lives (``"cpu"``, ``"cuda"``, ...); None means the CPU.
        """
        check_is_fitted(self, "solution_")
        if self.network_ is None:
            raise ValueError(
                f"{type(self).__name__}.to_torch: formulation='gated' has no ReLU network; "
                f"fit with formulation='relu'."
            )
        return self.network_.to_torch(self.input_shape_, dtype=dtype, device=device)


class ConvexCNNRegressor(RegressorMixin, _ConvexCNNBase):
    """Two-layer ReLU CNN regressor trained by the convex program before Figure 10.

    ``f(X) = sum_j sum_k (X_k u_j + b_j)_+ alpha_j + c`` with ``c`` the target mean, fitted
    by ``min L(f(X), y) + beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)`` restricted to the
    sampled patterns (``n_gates`` generators: ``pattern_method`` "random" / "kmeans").

    Parameters
    ----------
    kernel_size, stride, padding : int or tuple
        Convolution geometry (PyTorch conventions).
    beta : float
        Weight decay.
    n_gates : int
        Number of pattern generators (neurons of the convex program, per sign).
    pattern_method : {"random", "kmeans"}
    formulation : {"relu", "gated"}
    solver : {"cvxpy", "bcd", "fista"} or None
        None: "bcd" (working-set block coordinate descent) for "gated"; for "relu"
        "bcd" from N K P = 3e4 (images x patches x gates), "cvxpy" below; "cvxpy" for
        the hinge loss; see :func:`convexnn.cnn.solve_relu_cnn`.
    loss : str
    hidden_bias : bool
    tol, max_iter : stopping rule of "bcd" and "fista" (certified relative gap; None:
        10000 epochs, with the CVXPY re-solve of small stalled programs).
    random_state : None or int

    Attributes
    ----------
    solution_ : ConvCNNSolution
    network_ : ConvReLUNet or None
    n_filters_ : int
    objective_ : float
    input_shape_ : tuple
    offset_ : float
        Unregularised output bias: the targets' mean for the regression losses (the
        program is solved on centred targets), 0 for the classification losses.
    """

    def fit(self, X: Any, y: Any) -> ConvexCNNRegressor:
        """Fit on images (N, C, H, W) or signals (N, C, L) and targets (N,)."""
        y_arr = np.asarray(y, dtype=np.float64)
        if y_arr.ndim != 1:
            raise ValueError(
                f"ConvexCNNRegressor.fit: y must be 1-D, one target per image (N,), got shape "
                f"{y_arr.shape}; fit one regressor per output column."
            )
        self._fit_targets(X, y_arr)
        return self

    def predict(self, X: Any) -> Array:
        """Predictions, shape (N,)."""
        return self._raw(X)


class ConvexCNNClassifier(ClassifierMixin, _ConvexCNNBase):
    """Binary two-layer ReLU CNN classifier (targets +-1, loss on the margin).

    Same parameters and fitted attributes as :class:`ConvexCNNRegressor`, plus
    ``classes_`` (the two labels; the second one is +1). More than two classes are refused.
    """

    def fit(self, X: Any, y: Any) -> ConvexCNNClassifier:
        """Fit on images (N, C, H, W) or signals (N, C, L) and two-class labels (N,)."""
        y_arr = np.asarray(y)
        self.classes_ = np.unique(y_arr)
        if self.classes_.size != 2:
            raise ValueError(
                f"ConvexCNNClassifier.fit: y must have exactly two classes, got "
                f"{self.classes_.size} ({self.classes_[:5]}); use one-vs-rest for more."
            )
        t = np.where(y_arr == self.classes_[1], 1.0, -1.0)
        self._fit_targets(X, t)
        return self

    def decision_function(self, X: Any) -> Array:
        """Network outputs; positive means ``classes_[1]``."""
        return self._raw(X)

    def predict(self, X: Any) -> NDArray[Any]:
        """Predicted labels."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]  # type: ignore[no-any-return]
