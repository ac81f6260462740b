"""Convolutional networks through convex programs (paper section 4, appendices A.5-A.7).

* :func:`extract_patches`: images (N, C, H, W) / signals (N, C, L) -> patch matrices X_k.
* :func:`solve_patchwise_relu_cnn`: section 4.1 (per-patch labels) as eq. (2) on stacked patches.
* :func:`solve_relu_cnn`: the scalar-output ReLU CNN program before Figure 10, patterns
  from random filters, k-means clusters of patches or a trained CNN.
* :func:`solve_linear_cnn`: linear CNN (9) = nuclear-norm program (12), vector output (A.7).
* :func:`solve_circular_cnn`: circular linear CNN (13) = complex lasso in the DFT basis (14).
* :class:`ConvexCNNRegressor`, :class:`ConvexCNNClassifier`: scikit-learn estimators.
"""

from .circular import (
    CircularCNNSolution,
    circular_cnn_objective,
    circular_cnn_predict,
    circular_patches,
    recover_circular_cnn,
    solve_circular_cnn,
)
from .estimators import ConvexCNNClassifier, ConvexCNNRegressor
from .linear import (
    LinearCNNSolution,
    linear_cnn_objective,
    linear_cnn_predict,
    recover_linear_cnn,
    solve_linear_cnn,
)
from .network import ConvReLUNet
from .patches import extract_patches
from .relu import (
    ConvCNNSolution,
    ConvReLUProgram,
    cnn_patterns,
    predict_patchwise,
    sample_cnn_gates,
    solve_patchwise_relu_cnn,
    solve_relu_cnn,
    stack_patches,
)

__all__ = [
    "CircularCNNSolution",
    "ConvCNNSolution",
    "ConvReLUNet",
    "ConvReLUProgram",
    "ConvexCNNClassifier",
    "ConvexCNNRegressor",
    "LinearCNNSolution",
    "circular_cnn_objective",
    "circular_cnn_predict",
    "circular_patches",
    "cnn_patterns",
    "extract_patches",
    "linear_cnn_objective",
    "linear_cnn_predict",
    "predict_patchwise",
    "recover_circular_cnn",
    "recover_linear_cnn",
    "sample_cnn_gates",
    "solve_circular_cnn",
    "solve_linear_cnn",
    "solve_patchwise_relu_cnn",
    "solve_relu_cnn",
    "stack_patches",
]
