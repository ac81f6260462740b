"""convexnn: globally optimal two-layer ReLU networks through convex programs.

Pilanci & Ergen, "Neural Networks are Convex Regularizers" (ICML 2020): training a
two-layer ReLU network with weight decay (eq. 2) equals the convex program (8) over the
activation patterns of the data. convexnn enumerates or samples the patterns, solves the
program, recovers the network (Theorem 1) and certifies its optimality gap.
"""

from . import cnn
from .cnn import (
    ConvexCNNClassifier,
    ConvexCNNRegressor,
    ConvReLUNet,
    extract_patches,
    solve_circular_cnn,
    solve_linear_cnn,
    solve_patchwise_relu_cnn,
    solve_relu_cnn,
)
from .dual import DualSolution, solve_dual
from .duality import Certificate, certify
from .estimators import (
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)
from .exceptions import ConvergenceWarning
from .gated_network import GatedReLU, pattern_gates
from .gauge import GaugeResult, neural_gauge
from .multioutput import MultiOutputSolution, solve_multioutput
from .network import TwoLayerReLU, network_to_convex, recover_network
from .path import PathResult, solve_path
from .patterns import (
    PatternMatrix,
    count_cells,
    count_patterns_bound,
    enumerate_patterns,
    sample_patterns,
)
from .problem import ConvexReLUProblem, build_problem
from .prune import PruneResult, prune_network
from .solve import Solution, solve

__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "ConvReLUNet",
    "ConvergenceWarning",
    "ConvexCNNClassifier",
    "ConvexCNNRegressor",
    "ConvexReLUClassifier",
    "ConvexReLUClassifierCV",
    "ConvexReLUProblem",
    "ConvexReLURegressor",
    "ConvexReLURegressorCV",
    "DualSolution",
    "GatedReLU",
    "GaugeResult",
    "MultiOutputSolution",
    "PathResult",
    "PatternMatrix",
    "PruneResult",
    "Solution",
    "TwoLayerReLU",
    "__version__",
    "build_problem",
    "certify",
    "cnn",
    "count_cells",
    "count_patterns_bound",
    "enumerate_patterns",
    "extract_patches",
    "network_to_convex",
    "neural_gauge",
    "pattern_gates",
    "prune_network",
    "recover_network",
    "sample_patterns",
    "solve",
    "solve_circular_cnn",
    "solve_dual",
    "solve_linear_cnn",
    "solve_multioutput",
    "solve_patchwise_relu_cnn",
    "solve_path",
    "solve_relu_cnn",
]
