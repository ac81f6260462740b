"""Warnings and errors raised by convexnn."""

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning


class ConvergenceWarning(_SklearnConvergenceWarning):
    """A solver stopped before certifying the requested gap; the message states the gap.

    A subclass of :class:`sklearn.exceptions.ConvergenceWarning` (itself a
    ``UserWarning``), so ``warnings.filterwarnings("ignore", category=...)`` with either
    class, or with ``UserWarning``, silences it.
    """
