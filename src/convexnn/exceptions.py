"""Warnings and errors raised by convexnn."""


class ConvergenceWarning(UserWarning):
    """A solver stopped before certifying the requested gap; the message states the gap."""
