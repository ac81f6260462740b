"""convexnn: globally optimal two-layer ReLU networks through convex programs.

Pilanci & Ergen, "Neural Networks are Convex Regularizers" (ICML 2020): training a
two-layer ReLU network with weight decay (eq. 2) equals the convex program (8) over the
activation patterns of the data. convexnn enumerates or samples the patterns, solves the
program, recovers the network (Theorem 1) and certifies its optimality gap.
"""

from .duality import Certificate, certify
from .exceptions import ConvergenceWarning
from .network import TwoLayerReLU, recover_network
from .patterns import (
    PatternMatrix,
    count_cells,
    count_patterns_bound,
    enumerate_patterns,
    sample_patterns,
)
from .problem import ConvexReLUProblem, build_problem
from .solve import Solution, solve

__version__ = "0.1.0"

__all__ = [
    "Certificate",
    "ConvergenceWarning",
    "ConvexReLUProblem",
    "PatternMatrix",
    "Solution",
    "TwoLayerReLU",
    "__version__",
    "build_problem",
    "certify",
    "count_cells",
    "count_patterns_bound",
    "enumerate_patterns",
    "recover_network",
    "sample_patterns",
    "solve",
]
