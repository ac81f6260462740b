"""Input checks, run once at the public edge.

Every error names the parameter, what was expected, what was received and what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import is_torch_array
from numpy.typing import NDArray


def host_array(a: Any) -> Any:
    """``a`` itself, or a PyTorch tensor detached and copied to host memory (a tensor
    that requires grad, or one on a GPU, cannot go through ``np.asarray`` directly).

    Floating tensors of a dtype NumPy lacks (``bfloat16``, the float8 types) are widened
    to float64, exactly: ``np.asarray`` refuses them ("unsupported ScalarType").
    """
    if not is_torch_array(a):
        return a
    host = a.detach().cpu()
    if host.is_floating_point() and str(host.dtype) not in _NUMPY_FLOATS:
        host = host.double()
    return host


_NUMPY_FLOATS = ("torch.float16", "torch.float32", "torch.float64")


def _shape_str(a: Any) -> str:
    shape = getattr(a, "shape", None)
    return f"an array of shape {shape}" if shape is not None else f"{type(a).__name__}"


def _refuse_complex(a: Any, *, caller: str, name: str) -> Any:
    """``a`` on the host; a TypeError if it holds complex numbers (casting to float64
    would drop their imaginary parts)."""
    a = host_array(a)
    if np.iscomplexobj(a):
        raise TypeError(
            f"{caller}: {name} must be real, got complex values (dtype "
            f"{getattr(a, 'dtype', 'complex')}). Pass {name}.real, or the features you mean, "
            f"explicitly."
        )
    return a


def check_X(X: Any, *, caller: str, name: str = "X") -> NDArray[np.float64]:
    """Return ``X`` as a finite float64 array of shape (n, d) with n >= 1 and d >= 1."""
    raw = _refuse_complex(X, caller=caller, name=name)
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{caller}: {name} must be a numeric array of shape (n_samples, n_features), "
            f"got {type(X).__name__} that cannot be converted ({exc})."
        ) from None
    if arr.ndim != 2:
        hint = " Reshape 1-D data with X.reshape(-1, 1)." if arr.ndim == 1 else ""
        raise ValueError(
            f"{caller}: {name} must be 2-D of shape (n_samples, n_features), "
            f"got {arr.ndim}-D with shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{caller}: {name} must have at least one sample and one feature, "
            f"got shape {arr.shape}. Pass non-empty data."
        )
    check_finite(arr, caller=caller, name=name)
    return arr


def check_finite(arr: NDArray[Any], *, caller: str, name: str) -> None:
    """Raise a ValueError if ``arr`` has NaN or infinite entries."""
    if not np.all(np.isfinite(arr)):
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{caller}: {name} must be finite, got {n_nan} NaN and {n_inf} infinite "
            f"entries. Remove or impute them before fitting."
        )


def check_y(y: Any, n_samples: int, *, caller: str, name: str = "y") -> NDArray[np.float64]:
    """Return ``y`` as a finite float64 vector of length ``n_samples``."""
    raw = _refuse_complex(y, caller=caller, name=name)
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        labels = np.asarray(raw).dtype.kind in "USO"
        hint = (
            " Class labels must be numbers here: encode two classes as -1/+1 (e.g. with "
            "sklearn's LabelEncoder), or use ConvexReLUClassifier, which takes any labels."
            if labels
            else ""
        )
        raise TypeError(
            f"{caller}: {name} must be a numeric vector of length {n_samples}, "
            f"got {type(y).__name__} that cannot be converted ({exc}).{hint}"
        ) from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        hint = (
            " For several outputs use convexnn.solve_multioutput (or ConvexReLURegressor),"
            " or fit one network per output column."
            if arr.ndim == 2
            else ""
        )
        raise ValueError(
            f"{caller}: {name} must be a vector of shape ({n_samples},), got shape "
            f"{arr.shape}.{hint}"
        )
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{caller}: {name} must have one entry per row of X ({n_samples}), "
            f"got {arr.shape[0]}. Check that X and y describe the same samples."
        )
    check_finite(arr, caller=caller, name=name)
    return arr


def check_beta(beta: Any, *, caller: str, name: str = "beta") -> float:
    """Return ``beta`` as a positive finite float."""
    if isinstance(beta, (bool, str, bytes)) or not np.isscalar(beta):
        raise TypeError(f"{caller}: {name} must be a positive real number, got {beta!r}.")
    try:
        value = float(beta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{caller}: {name} must be a positive real number, got {beta!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"{caller}: {name} must be > 0, got {value!r}. The weight-decay strength "
            f"must be positive and finite (for the limit {name} -> 0 use the neural gauge)."
        )
    return value


def check_choice(value: Any, choices: tuple[str, ...], *, caller: str, name: str) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{caller}: unknown {name} {value!r}; expected one of "
            f"{', '.join(repr(c) for c in choices)}."
        )
    return value


def check_positive_int(value: Any, *, caller: str, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{caller}: {name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{caller}: {name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def check_tol(tol: Any, *, caller: str, name: str = "tol") -> float:
    """Return ``tol`` as a positive finite float (a relative gap or accuracy)."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
        raise TypeError(f"{caller}: {name} must be a positive number, got {tol!r}.")
    value = float(tol)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"{caller}: {name} must be a positive finite number (a relative gap, e.g. "
            f"1e-6), got {value!r}. The solvers stop on a certified gap <= {name}; at 0 "
            f"none is reached in floating point."
        )
    return value


def check_max_iter(max_iter: Any, *, caller: str) -> int | None:
    """Return ``max_iter``: None (the solver's default) or an int >= 1."""
    if max_iter is None:
        return None
    return check_positive_int(max_iter, caller=caller, name="max_iter")


def as_generator(random_state: Any, *, caller: str) -> np.random.Generator:
    """``np.random.default_rng(random_state)`` for None, an int seed >= 0 or a Generator
    (returned itself, so its stream goes on); anything else is refused naming ``caller``."""
    if isinstance(random_state, (bool, np.bool_)) or not (
        random_state is None or isinstance(random_state, (int, np.integer, np.random.Generator))
    ):
        raise TypeError(
            f"{caller}: random_state must be None, an int or a numpy.random.Generator, got "
            f"{type(random_state).__name__}. Pass e.g. random_state=0."
        )
    try:
        return np.random.default_rng(random_state)
    except ValueError as exc:
        raise ValueError(
            f"{caller}: random_state must be a non-negative int seed, got {random_state!r} ({exc})."
        ) from None


def check_time_budget(value: Any, *, caller: str) -> float | None:
    """Return ``value``: None (no cap) or a number of seconds >= 0 as a float.

    ``inf`` is no cap, as None. A budget is checked after each unit of work (a round, a
    step), so at least one always runs: ``0`` means exactly one.
    """
    if value is None:
        return None
    real = isinstance(value, (int, float, np.integer, np.floating))
    if not real or isinstance(value, (bool, np.bool_)) or not float(value) >= 0:
        raise ValueError(
            f"{caller}: time_budget must be None or a number of seconds >= 0, got "
            f"{value!r}; pass e.g. time_budget=60.0, or None for no cap."
        )
    return float(value)


def add_ones_column(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Append a column of ones to ``X`` (the hidden-layer bias of the paper)."""
    return np.hstack([X, np.ones((X.shape[0], 1))])


def check_bool(value: Any, *, caller: str, name: str) -> bool:
    """Return ``value`` as a bool; only ``True``/``False`` (Python or NumPy) are accepted.

    Truthiness is not enough: ``"no"`` or ``None`` would silently pass as True / False.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(
        f"{caller}: {name} must be True or False (a bool), got {value!r} of type "
        f"{type(value).__name__}. Pass {name}=True or {name}=False."
    )
