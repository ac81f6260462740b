"""Levenberg-Marquardt damping of Newton steps: one schedule for both fast solvers.

The gated Newton-CG round (:mod:`._newton`) and the relu polish
(:func:`._relu_polish._polish`) take Newton steps whose model can be unbounded where the
loss has no curvature: fewer samples than free dimensions, Huber's linear region, badly
scaled data. A step that fails is retried on a ridge added to the Newton system.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Damping:
    """The ridge added to a Newton system's diagonal after failed steps.

    ``value`` starts at 0. After a failed step :meth:`fail` raises it to
    ``max(10 value, ridge)``, ``ridge`` being the caller's scale (``|grad| / |x|``: a
    step about as long as the point), at most ``tries`` times in a row; after a step
    that succeeds :meth:`succeed` lowers it tenfold, to 0 once below ``1e-6 ridge``.
    """

    tries: int
    value: float = 0.0
    failures: int = 0

    def fail(self, ridge: float) -> bool:
        """Raise the ridge after a failed step; False (unchanged) after ``tries`` in a row."""
        if self.failures >= self.tries:
            return False
        self.value = max(10.0 * self.value, ridge)
        self.failures += 1
        return True

    def succeed(self, ridge: float) -> None:
        """A step succeeded: the ridge relaxes tenfold, to 0 below ``1e-6 ridge``."""
        self.failures = 0
        self.value = 0.1 * self.value if self.value > 1e-6 * ridge else 0.0

    def reset(self) -> None:
        """No ridge, no failures."""
        self.value, self.failures = 0.0, 0
