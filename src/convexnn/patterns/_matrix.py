"""The pattern matrix: an (n, P) boolean array that remembers where it came from."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray


def fingerprint(X: NDArray[Any]) -> str:
    """Return a short hash of the data matrix ``X`` (as float64, C order)."""
    arr = np.ascontiguousarray(X, dtype=np.float64)
    digest = hashlib.blake2b(arr.tobytes(), digest_size=16)
    digest.update(str(arr.shape).encode())
    return digest.hexdigest()


class PatternMatrix(np.ndarray):
    """Activation patterns ``D`` as an (n, P) boolean array, column i = diag(D_i).

    A plain ``numpy.ndarray`` subclass with three read-only facts attached:

    ``exhaustive``
        True only when the columns are *all* the patterns of the data (from
        :func:`convexnn.enumerate_patterns`). Then a dual certificate over these
        patterns bounds the non-convex training problem (2) itself.
    ``method``
        How the patterns were made: ``"exact"``, ``"gaussian"``, ``"network"``, ...
    ``X_fingerprint``
        Hash of the data matrix the patterns belong to (with its bias column, if any).

    A copy of the whole matrix keeps them: ``copy.copy``, ``copy.deepcopy`` (so
    scikit-learn's ``clone`` of an estimator holding the patterns), ``D.copy()`` and
    pickling. Any other derived array (a slice, a view, an arithmetic result) loses
    them and is treated as an ordinary, non-exhaustive set of patterns: a subset of an
    exhaustive set is not exhaustive.
    """

    exhaustive: bool
    method: str
    X_fingerprint: str | None

    def __new__(
        cls,
        D: NDArray[np.bool_],
        *,
        exhaustive: bool,
        method: str,
        X_fingerprint: str | None,
    ) -> PatternMatrix:
        obj = np.asarray(D, dtype=bool).view(cls)
        obj.exhaustive = bool(exhaustive)
        obj.method = method
        obj.X_fingerprint = X_fingerprint
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.exhaustive = False
        self.method = "derived"
        self.X_fingerprint = None

    def _with_facts(self, data: NDArray[np.bool_]) -> PatternMatrix:
        return PatternMatrix(
            data, exhaustive=self.exhaustive, method=self.method, X_fingerprint=self.X_fingerprint
        )

    # ndarray's own copies go through __array_finalize__, which cannot tell a copy of the
    # whole matrix from a same-shape derived array (D[::-1], ~D): copies say so here.
    def __copy__(self) -> PatternMatrix:
        return self._with_facts(np.array(self, dtype=bool, copy=True))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> PatternMatrix:
        out = self.__copy__()
        if memo is not None:
            memo[id(self)] = out
        return out

    def copy(self, order: Any = "C") -> PatternMatrix:  # type: ignore[override]
        """A copy of the whole matrix, with its facts (``exhaustive``, ...)."""
        return self._with_facts(np.asarray(self).copy(order=order))

    def __reduce__(self) -> Any:
        # Keep the metadata through pickling.
        return (
            _rebuild_pattern_matrix,
            (np.asarray(self), self.exhaustive, self.method, self.X_fingerprint),
        )

    @property
    def n_patterns(self) -> int:
        """Number of patterns P (columns)."""
        return int(self.shape[1])

    def __repr__(self) -> str:
        # Derived arrays stay instances (a column, a sum, a float copy): only a 2-D
        # boolean matrix is shown by its facts, anything else as the array it is.
        if self.ndim != 2 or self.dtype != np.bool_:
            return repr(np.asarray(self))
        return (
            f"PatternMatrix(n={self.shape[0]}, P={self.shape[1]}, method={self.method!r}, "
            f"exhaustive={self.exhaustive})"
        )


def _rebuild_pattern_matrix(
    D: NDArray[np.bool_], exhaustive: bool, method: str, X_fingerprint: str | None
) -> PatternMatrix:
    return PatternMatrix(D, exhaustive=exhaustive, method=method, X_fingerprint=X_fingerprint)


def is_exhaustive_for(D: Any, X: NDArray[Any]) -> bool:
    """True when ``D`` is an exhaustive pattern set computed from this very ``X``."""
    return (
        isinstance(D, PatternMatrix)
        and D.exhaustive
        and D.X_fingerprint is not None
        and D.X_fingerprint == fingerprint(X)
    )


def pattern_scope(D: Any, X_eff: NDArray[Any], *, hidden_bias: bool, caller: str) -> str:
    """Scope of a certificate over patterns ``D`` for data ``X_eff``.

    ``"global"`` when ``D`` is an exhaustive :class:`PatternMatrix` of this very
    ``X_eff``, else ``"patterns"``. Warns when ``D`` is exhaustive for *another* matrix
    (typically enumerated without the ones column that ``hidden_bias`` appends).
    """
    if is_exhaustive_for(D, X_eff):
        return "global"
    if isinstance(D, PatternMatrix) and D.exhaustive:
        warnings.warn(
            f"{caller}: the exhaustive patterns given were enumerated for a different X "
            f"(hidden_bias={hidden_bias} here: enumerate with the same hidden_bias). The "
            f"certificate is only relative to these patterns.",
            UserWarning,
            stacklevel=4,
        )
    return "patterns"
