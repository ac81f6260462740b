"""scikit-learn estimators: globally optimal two-layer ReLU networks behind fit / predict.

:class:`ConvexReLURegressor` and :class:`ConvexReLUClassifier` train the two-layer ReLU
network of the paper's eq. (2),

    min_{U, b, alpha, c}  L(f(X_s), y) + beta/2 * sum_j (||u_j||^2 + b_j^2 + alpha_j^2),
    f(x) = sum_j (x^T u_j + b_j)_+ alpha_j + c,

through its convex reformulation (8) (:func:`convexnn.solve`), on the standardized
data ``X_s = (X - mean_) / scale_`` when ``standardize=True``. Every fit is certified:
``objective_`` is the eq.-(2) value of the returned network, ``lower_bound_`` a proven
lower bound, ``duality_gap_`` their difference, and ``certificate_scope_`` says over
which networks the bound holds ("global": all networks of any width, when the patterns
were enumerated exactly; "patterns": the convex program over the sampled patterns).

:class:`ConvexReLURegressorCV` and :class:`ConvexReLUClassifierCV` choose ``beta`` on a
path by cross-validation. The estimators are a thin face over :func:`convexnn.solve`:
no mathematics lives here.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import os
import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils._tags import Tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._validation import (
    add_ones_column,
    check_beta,
    check_bool,
    check_choice,
    check_max_iter,
    check_positive_int,
    check_tol,
    host_array,
)
from .duality import max_cone_dual_norm
from .exceptions import ConvergenceWarning
from .gated_network import GatedReLU
from .losses import LOSSES, get_loss
from .network import TwoLayerReLU
from .patterns import PatternMatrix, enumerate_patterns, fingerprint, sample_patterns
from .problem import check_patterns
from .solve import Solution, solve
from .solvers import get_solver

Array = NDArray[np.float64]
Network = TwoLayerReLU | GatedReLU

REGRESSION_LOSSES = ("squared", "huber")
CLASSIFICATION_LOSSES = ("logistic", "hinge", "squared_hinge", "squared", "cross_entropy")
PROBA_LOSSES = ("logistic", "cross_entropy")
PATTERN_METHODS = ("gaussian", "alg3")
FORMULATIONS = ("relu", "gated")
FALLBACK_SOLVER = "cvxpy"  # the reference solver handles every loss

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # .../convexnn/
_NAME_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*: )+")  # "solve: ", "ConvexReLURegressor: "
_MAX_NOTES = 4  # convergence messages quoted in full in one fit's warning
_F = TypeVar("_F", bound=Callable[..., Any])


def _user_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` in the calling function that points at the
    first frame outside convexnn: the user's own ``fit`` call (or scikit-learn's, when a
    meta-estimator called it)."""
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    level = 1
    while caller is not None and caller.f_code.co_filename.startswith(_PACKAGE_DIR):
        caller = caller.f_back
        level += 1
    del frame, caller
    return level


def _one_convergence_warning(fit: _F) -> _F:
    """Decorate ``fit``: the ConvergenceWarnings of its solves come out as ONE warning,
    prefixed with the estimator's name, at the user's ``fit`` line.

    :func:`convexnn.solve` and its solvers each warn (a solver says why it stopped,
    ``solve`` what gap it certified), at lines inside convexnn; a one-vs-rest fit or a
    cross-validation path solves many programs. Other warnings pass through unchanged.
    """

    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                return fit(self, *args, **kwargs)
        finally:
            _reemit(type(self).__name__, caught)

    return wrapper  # type: ignore[return-value]


def _reemit(name: str, caught: list[warnings.WarningMessage]) -> None:
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            note = _NAME_PREFIX.sub("", str(w.message))
            if note not in notes:
                notes.append(note)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if not notes:
        return
    text = " ".join(notes[:_MAX_NOTES])
    if len(notes) > _MAX_NOTES:
        text += f" (and {len(notes) - _MAX_NOTES} more such messages from this fit's solves)"
    warnings.warn(f"{name}: {text}", ConvergenceWarning, stacklevel=_user_stacklevel())


def _enumeration_refusal(exc: ValueError) -> str:
    """Why :func:`enumerate_patterns` refused, without its advice for its own callers
    (``max_patterns`` is not an estimator parameter)."""
    reason = _NAME_PREFIX.sub("", str(exc))
    reason = re.split(r"\. (?:Use|Pass|Raise|Try) ", reason, maxsplit=1)[0].rstrip(".")
    return re.sub(r"max_patterns=(\d+)", r"the enumeration limit of \1", reason)


# -- shared machinery ---------------------------------------------------------------------


class _ConvexReLUBase(BaseEstimator):
    """Parameter checks, standardization, patterns and one certified solve per target."""

    _losses: tuple[str, ...] = ()

    # -- checks ---------------------------------------------------------------------------
    @property
    def _name(self) -> str:
        return type(self).__name__

    def _validate(self, X: Any, y: Any = None, *, reset: bool, **kwargs: Any) -> Any:
        """sklearn's ``validate_data``; value errors are prefixed with the estimator name.
        PyTorch tensors (on any device, requiring grad or not) are copied to host first."""
        X, y = host_array(X), host_array(y)
        try:
            if y is None and not reset:
                return validate_data(self, X, reset=False, dtype=np.float64)
            return validate_data(self, X, y, reset=reset, dtype=np.float64, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{self._name}: {exc}") from None

    def _check_params(self, beta: Any) -> dict[str, Any]:
        """Validate the hyper-parameters once per fit; return them in solve's terms."""
        name = self._name
        beta_val = check_beta(beta, caller=name)
        if isinstance(self.loss, str) and self.loss not in self._losses:
            kinds = (("regression", REGRESSION_LOSSES), ("classification", CLASSIFICATION_LOSSES))
            for kind, losses in kinds:
                if self.loss in losses:
                    raise ValueError(
                        f"{name}: loss {self.loss!r} is a {kind} loss; this estimator takes "
                        f"{', '.join(repr(x) for x in self._losses)}. Use the {kind} "
                        f"estimator for it, or pick one of these."
                    )
        loss = check_choice(self.loss, self._losses, caller=name, name="loss")
        if loss not in LOSSES:
            raise ValueError(
                f"{name}: loss {loss!r} is not available in this convexnn install (known "
                f"losses: {', '.join(sorted(LOSSES))}); pick one of those."
            )
        if not isinstance(self.patterns, str) and np.ndim(self.patterns) != 2:
            raise ValueError(
                f"{name}: patterns must be 'exact', 'sampled' or a boolean array of shape "
                f"(n_samples, P), got {self.patterns!r}."
            )
        if isinstance(self.patterns, str):
            check_choice(self.patterns, ("exact", "sampled"), caller=name, name="patterns")
        check_positive_int(self.n_patterns, caller=name, name="n_patterns")
        check_choice(self.pattern_method, PATTERN_METHODS, caller=name, name="pattern_method")
        formulation = check_choice(self.formulation, FORMULATIONS, caller=name, name="formulation")
        if loss == "cross_entropy" and formulation == "gated":
            # The joint softmax program's gated blocks have no gated network here, and
            # the ReLU network built from them is no model of the gated program (on iris
            # it scored below the constant predictor): refuse instead of returning it.
            raise ValueError(
                f"{name}: formulation='gated' is not available with loss='cross_entropy' "
                f"(the joint softmax program yields no gated network). Use "
                f"formulation='relu' (exact), or a one-vs-rest loss ('logistic', "
                f"'squared', 'hinge', 'squared_hinge') with formulation='gated'."
            )
        tol = check_tol(self.tol, caller=name)
        max_iter = check_max_iter(self.max_iter, caller=name)
        flags = {
            key: check_bool(getattr(self, key), caller=name, name=key)
            for key in ("hidden_bias", "output_bias", "standardize")
        }
        return {
            "beta": beta_val,
            "loss": loss,
            "formulation": formulation,
            "solver": self._pick_solver(loss, formulation),
            "tol": tol,
            "max_iter": max_iter,
            "hidden_bias": flags["hidden_bias"],
            "output_bias": flags["output_bias"],
            "standardize": flags["standardize"],
            "verbose": int(self.verbose) >= 2,
        }

    def _random_state(self) -> np.random.RandomState:
        """``check_random_state(random_state)``, with an error that names this estimator."""
        try:
            return check_random_state(self.random_state)
        except ValueError:
            raise ValueError(
                f"{self._name}: random_state must be None, an int seed or a "
                f"numpy.random.RandomState, got {self.random_state!r}. Pass e.g. "
                f"random_state=0 for reproducible patterns."
            ) from None

    def _pick_solver(self, loss: str, formulation: str) -> str | None:
        """``solver``; None (auto): solve's default when it supports the loss, else "cvxpy".

        A solver that declares every loss (``"*"``) is trusted with smooth losses only;
        non-smooth ones (hinge) go to the CVXPY reference, which handles every loss.
        """
        if self.solver is not None:
            get_solver(self.solver, caller=self._name)  # clear error for unknown names
            return str(self.solver)
        default = inspect.signature(solve).parameters["solver"].default
        if default is None:
            return None  # solve picks by itself
        backend = get_solver(default, caller=self._name)
        smooth = get_loss(loss, caller=self._name).smoothness is not None
        declared = loss in backend.losses or ("*" in backend.losses and smooth)
        if formulation in backend.formulations and declared:
            return str(default)
        return FALLBACK_SOLVER

    # -- data -----------------------------------------------------------------------------
    def _standardize(self, X: Array) -> Array:
        """Set ``mean_``, ``scale_`` and return ``(X - mean_) / scale_``."""
        if check_bool(self.standardize, caller=self._name, name="standardize"):
            mean = X.mean(axis=0)
            scale = X.std(axis=0)
            tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
            scale = np.where(scale <= tiny, 1.0, scale)  # constant features: centre only
        else:
            mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.mean_, self.scale_ = mean, scale
        return (X - mean) / scale

    def _patterns(self, Xs: Array, random_state: Any, X: Array | None = None) -> Any:
        """Patterns of the standardized data: exact, sampled, or the user's array.

        ``"sampled"`` enumerates all the patterns instead when their number is at most
        ``n_patterns`` (cheaper, and the certificate becomes global). ``X`` is the raw
        data, to recognise a user's exhaustive patterns of it (:meth:`_given_patterns`).
        """
        hidden_bias = check_bool(self.hidden_bias, caller=self._name, name="hidden_bias")
        if not isinstance(self.patterns, str):
            D = check_patterns(self.patterns, Xs.shape[0], caller=self._name)
            return self._given_patterns(D, Xs, Xs if X is None else X, hidden_bias)
        if self.patterns == "exact":
            try:
                return enumerate_patterns(Xs, hidden_bias=hidden_bias)
            except ValueError as exc:
                raise ValueError(
                    f"{self._name}: patterns='exact' cannot enumerate the patterns of this "
                    f"X: {_enumeration_refusal(exc)}. Use patterns='sampled' instead "
                    f"(n_patterns={self.n_patterns} sampled patterns; raise n_patterns for "
                    f"more), whose certificate is relative to the patterns, or pass a "
                    f"boolean pattern array of your own as patterns."
                ) from exc
        try:
            return enumerate_patterns(Xs, hidden_bias=hidden_bias, max_patterns=self.n_patterns)
        except ValueError:
            pass
        rng = np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
        return sample_patterns(
            Xs,
            self.n_patterns,
            method=self.pattern_method,
            hidden_bias=hidden_bias,
            random_state=rng,
        )

    def _given_patterns(self, D: Any, Xs: Array, X: Array, hidden_bias: bool) -> Any:
        """The user's patterns, their exhaustiveness judged against the data fitted.

        An exhaustive :class:`PatternMatrix` of the *raw* X stays exhaustive for the
        standardized one with a hidden bias: ``[(X - m) / s, 1] = [X, 1] A`` with ``A``
        invertible, so both have the same patterns (returned re-labelled for ``Xs``).
        Without a hidden bias the centring changes them. Any other mismatch is said
        here, with its reason, and the patterns go on as a plain (non-exhaustive) set.
        """
        if not (isinstance(D, PatternMatrix) and D.exhaustive and D.X_fingerprint):
            return D

        def eff(A: Array, ones: bool) -> str:
            return fingerprint(add_ones_column(A) if ones else A)

        if D.X_fingerprint == eff(Xs, hidden_bias):
            return D
        if hidden_bias and D.X_fingerprint == eff(X, True):
            return PatternMatrix(
                np.asarray(D), exhaustive=True, method=D.method, X_fingerprint=eff(Xs, True)
            )
        if not hidden_bias and D.X_fingerprint == eff(X, False):
            reason = (
                "for the raw X, but standardize=True centres X, which changes its patterns "
                "without a hidden bias. Pass standardize=False, or hidden_bias=True, or "
                "the patterns of the standardized X ((X - X.mean(0)) / X.std(0))"
            )
        elif D.X_fingerprint in (eff(X, not hidden_bias), eff(Xs, not hidden_bias)):
            reason = (
                f"with hidden_bias={not hidden_bias}, but this estimator has "
                f"hidden_bias={hidden_bias}. Enumerate them with "
                f"enumerate_patterns(X, hidden_bias={hidden_bias})"
            )
            if not hidden_bias:
                reason += " of the X fitted (the standardized X when standardize=True)"
        else:
            reason = (
                "for a different X than the one fitted. Enumerate them from the X passed to fit"
            )
        warnings.warn(
            f"{self._name}: the exhaustive patterns given were enumerated {reason}. "
            f"The certificate is only relative to these patterns (certificate_scope_ "
            f"'patterns').",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
        return np.asarray(D)

    def _solve(self, Xs: Array, t: Array, D: Any, params: dict[str, Any]) -> Solution:
        """One certified solve; with ``solver=None``, SCS takes over if Clarabel breaks down.

        Clarabel occasionally fails numerically on exponential cones (logistic loss on
        nearly separable data); the fallback is announced by a UserWarning.
        """
        kwargs = _solve_kwargs(params)
        try:
            return solve(Xs, t, params["beta"], patterns=D, **kwargs)
        except RuntimeError as exc:
            self._scs_takes_over(exc)
            kwargs["solver"] = "cvxpy-scs"
            return solve(Xs, t, params["beta"], patterns=D, **kwargs)

    def _scs_takes_over(self, exc: RuntimeError) -> None:
        """Re-raise ``exc`` unless it is Clarabel's failure under ``solver=None``; else
        announce the SCS fallback (a UserWarning at the user's line)."""
        if self.solver is not None or "CLARABEL" not in str(exc):
            raise exc
        warnings.warn(
            f"{self._name}: solver 'cvxpy' (Clarabel) failed ({exc}); solving with "
            f"'cvxpy-scs' instead. Pass solver= to choose one explicitly.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )

    def _set_fitted(
        self,
        solutions: list[Any],
        data: tuple[Array, list[Array], dict[str, Any]] | None = None,
    ) -> None:
        """Fitted attributes from one solution (scalars) or one per class (arrays).

        ``solutions`` holds :class:`Solution` objects, or one ``MultiOutputSolution``;
        ``data`` the standardized X, each solution's targets and the parameters (for
        a gated fit's networks and their objectives).
        """
        multi = len(solutions) > 1
        self.solution_ = solutions if multi else solutions[0]
        # A gated fit predicts with the gated network (the ReLU network of its blocks
        # is no model of the gated program), whose own objective is reported (it is the
        # program's where every pattern has a gate). The cross-entropy's joint solution
        # has no gated network: _check_params refuses that combination.
        gated = self.formulation == "gated" and all(isinstance(s, Solution) for s in solutions)
        if gated and data is not None:
            Xs, targets, params = data
            fitted: list[Any] = [s.gated_network(Xs) for s in solutions]
            upper = [
                net.objective(Xs, t, params["beta"], loss=params["loss"])
                for net, t in zip(fitted, targets, strict=True)
            ]
        else:
            gated = False
            fitted = [s.network for s in solutions]
            upper = [s.objective for s in solutions]
        nets = [_fold_standardization(net, self.mean_, self.scale_) for net in fitted]
        self.networks_ = nets
        self.network_ = _stack_networks(nets) if multi else nets[0]

        def pick(values: list[Any], dtype: Any) -> Any:
            return np.asarray(values, dtype=dtype) if multi else values[0]

        self.n_neurons_ = pick([net.n_neurons for net in fitted], np.int64)
        self.objective_ = pick(upper, np.float64)
        self.lower_bound_ = pick([s.lower_bound for s in solutions], np.float64)
        gaps = [
            u - s.lower_bound if gated else s.gap for u, s in zip(upper, solutions, strict=True)
        ]
        self.duality_gap_ = pick(gaps, np.float64)
        n_iter = [getattr(s, "n_iter", None) for s in solutions]
        self.n_iter_ = None if None in n_iter else pick(n_iter, np.int64)
        scopes = {s.scope for s in solutions}
        self.certificate_scope_ = scopes.pop() if len(scopes) == 1 else "patterns"

    def _warn_zero_network(
        self,
        Xs: Array,
        targets: list[Array],
        D: Any,
        params: dict[str, Any],
        labels: list[str],
    ) -> None:
        """A UserWarning when a fitted network is the zero network (a constant
        prediction) because ``beta >= beta_max``, the smallest beta that zeroes it.

        ``targets`` and ``labels`` go with the fitted networks (one each; cross-entropy:
        all its targets, one network). The optimum is the zero network exactly when
        ``beta >= beta_max``; so when the solver returned it, beta_max says why.
        """
        nets = self.networks_
        zero = [k for k, net in enumerate(nets) if net.n_neurons == 0]
        if not zero:
            return
        joint = params["loss"] == "cross_entropy"
        beta = params["beta"]
        hits = []
        for k in zero:
            ts = targets if joint else [targets[k]]
            beta_max = _beta_max(Xs, ts, D, params, self._name)
            if beta >= beta_max:
                hits.append((labels[k], beta_max))
        if not hits:
            return
        where = ", ".join(f"{label}: beta_max={bm:.4g}" for label, bm in hits if label)
        beta_max_text = where or f"beta_max={hits[0][1]:.4g}"
        if isinstance(self, RegressorMixin):
            hint = (
                "beta's scale goes with y's (the loss is quadratic in y, the weight decay "
                "linear in the output scale): pass a smaller beta, rescale y to unit "
                "scale, or let ConvexReLURegressorCV choose beta"
            )
        else:
            hint = "pass a smaller beta, or let ConvexReLUClassifierCV choose it"
        warnings.warn(
            f"{self._name}: the fitted network is the zero network (a constant "
            f"prediction{' for ' + ', '.join(lb for lb, _ in hits) if where else ''}): "
            f"beta={beta:.4g} is at or above {beta_max_text}, the smallest beta whose "
            f"optimum is the zero network on these data and patterns; {hint}.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )

    def _raw_output(self, X: Any) -> Array:
        """``network_(X)`` as shape (n, n_outputs)."""
        check_is_fitted(self)
        X_arr = self._validate(X, reset=False)
        return self.network_.predict(X_arr).reshape(X_arr.shape[0], -1)  # type: ignore[no-any-return]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


def _targets_1d_or_2d(y: Array) -> Array:
    """Regression targets: (n,), or (n, c) with c >= 2; a column vector (n, 1) is
    ravelled with scikit-learn's DataConversionWarning, as single-output estimators do."""
    if y.ndim == 2 and y.shape[1] == 1:
        return column_or_1d(y, warn=True)
    return y


def _solve_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    keys = ("formulation", "loss", "hidden_bias", "output_bias", "tol", "max_iter", "verbose")
    kwargs = {k: params[k] for k in keys}
    if params["solver"] is not None:
        kwargs["solver"] = params["solver"]
    return kwargs


def _fold_standardization(net: Network, mean: Array, scale: Array) -> Network:
    """The same network acting on raw X: ``u -> u / scale``, ``b -> b - (mean/scale)^T u``.

    Exact (same predictions), but its weight decay differs from the standardized one.
    A network without hidden bias gains one when ``mean != 0`` (the centring). A gated
    network's gates are folded the same way.
    """
    U, b = _fold_layer(net.U, net.b, mean, scale)
    if isinstance(net, GatedReLU):
        G, h = _fold_layer(net.G, net.gate_bias, mean, scale)
        return GatedReLU(G, U, net.alpha, gate_bias=h, b=b, c=net.c)
    return TwoLayerReLU(U, net.alpha, b=b, c=net.c)


def _fold_layer(U: Array, b: Array | None, mean: Array, scale: Array) -> tuple[Array, Array | None]:
    """``x_s^T u + b`` with ``x_s = (x - mean) / scale`` as ``x^T u' + b'``."""
    shift = -(mean / scale) @ U
    if b is not None:
        return U / scale[:, None], b + shift
    return U / scale[:, None], (shift if np.any(shift != 0) else None)


def _stack_networks(nets: list[Network]) -> Network:
    """One network with K outputs from K scalar ones: alpha (m_1 + ... + m_K, K) is block
    diagonal, so output k is exactly network k (no neuron feeds two outputs)."""
    m = [net.n_neurons for net in nets]
    alpha = np.zeros((sum(m), len(nets)))
    ends = np.cumsum(m)
    for k, net in enumerate(nets):
        alpha[ends[k] - m[k] : ends[k], k] = net.alpha
    b = _stacked_bias([(net.n_neurons, net.b) for net in nets])
    c = None
    if any(net.c is not None for net in nets):
        c = np.array([0.0 if net.c is None else float(net.c) for net in nets])
    U = np.hstack([net.U for net in nets])
    gated = [net for net in nets if isinstance(net, GatedReLU)]
    if gated and len(gated) < len(nets):
        raise TypeError("_stack_networks: gated and ReLU networks cannot be stacked together.")
    if gated:
        h = _stacked_bias([(net.n_neurons, net.gate_bias) for net in gated])
        return GatedReLU(np.hstack([net.G for net in gated]), U, alpha, gate_bias=h, b=b, c=c)
    return TwoLayerReLU(U, alpha, b=b, c=c)


def _stacked_bias(parts: list[tuple[int, Array | None]]) -> Array | None:
    """Biases of stacked networks (zeros for one without), or None if none has one."""
    if all(b is None for _, b in parts):
        return None
    return np.concatenate([np.zeros(m) if b is None else b for m, b in parts])


def _beta_max(Xs: Array, targets: list[Array], D: Any, params: dict[str, Any], name: str) -> float:
    """Smallest beta at which the zero network (plus the best output bias) is optimal.

    The dual point of the zero network is ``lam = -grad L(c0 1, y)`` (for cross-entropy,
    ``Y - softmax(c0)`` column by column); the zero network is optimal over the
    patterns ``D`` iff ``max_i ||Proj_{K_i}(X^T D_i lam)|| <= beta`` for every column.
    """
    X_eff = add_ones_column(Xs) if params["hidden_bias"] else Xs
    lams = _zero_network_duals(targets, params, name)
    return max(max_cone_dual_norm(X_eff, D, lam, formulation=params["formulation"]) for lam in lams)


def _zero_network_duals(targets: list[Array], params: dict[str, Any], name: str) -> list[Array]:
    if params["loss"] == "cross_entropy":
        Y = np.column_stack(targets) > 0  # one-hot from the +-1 one-vs-rest targets
        freq = Y.mean(axis=0) if params["output_bias"] else np.full(Y.shape[1], 1 / Y.shape[1])
        return list((Y - freq).T)
    loss = get_loss(params["loss"], caller=name)
    lams = []
    for t in targets:
        c0 = 0.0
        if params["output_bias"]:
            c0 = float(minimize_scalar(lambda c, t=t: loss.value(np.full(t.shape, c), t)).x)
        lams.append(loss.dual_candidate(np.full(t.shape, c0), t)[0])
    return lams


# -- the two estimators -------------------------------------------------------------------

_PARAMS_DOC = """
    beta : float, default=0.1
        Weight decay of eq. (2), > 0, on the standardized data. The loss is a *sum* over
        samples (not a mean), so a good beta grows with n_samples. Unlike ``alpha`` in
        Ridge, beta's scale goes with the targets' scale: the penalty is linear in the
        output scale and the squared loss quadratic, so the fit is not equivariant in y
        (multiplying y by 1e-3 needs about 1e-3 times the beta for the same network).
        Scale y to unit scale, or let the CV estimator choose beta on its path from
        ``beta_max``. At or above ``beta_max`` (the smallest beta whose optimum is the
        zero network) the fit is a constant, and a UserWarning says so.
    patterns : {"exact", "sampled"} or bool array of shape (n_samples, P), default="sampled"
        Activation patterns of the convex program. "exact" enumerates all of them
        (certificate scope "global"; affordable for low-rank data only). "sampled" draws
        ``n_patterns`` (Remark 3.2; scope "patterns"), or enumerates them all when there
        are at most ``n_patterns``. An array must hold patterns of the standardized
        training data (with a ones column when ``hidden_bias``); exhaustive patterns of
        the raw X (``enumerate_patterns(X, hidden_bias=True)``) are the same set and keep
        the scope "global" with ``hidden_bias=True``.
    n_patterns : int, default=20
        Number of sampled patterns (with ``patterns="sampled"``).
    pattern_method : {"gaussian", "alg3"}, default="gaussian"
        How patterns are sampled (see :func:`convexnn.sample_patterns`).
    formulation : {"relu", "gated"}, default="relu"
        "relu" is the exact program (8); "gated" drops its cone constraints (not with
        the classifier's ``loss="cross_entropy"``).
    solver : str or None, default=None
        Backend (see ``convexnn.solvers.SOLVERS``). None: :func:`convexnn.solve`'s
        default when it supports the loss, else the CVXPY reference ("cvxpy").
    tol : float, default=1e-6
        Target relative duality gap; a ConvergenceWarning says when it is not reached.
    max_iter : int or None, default=None
        Solver iteration cap (None: the solver's own).
    hidden_bias : bool, default=True
        Hidden-layer biases (a ones column, regularised as in the paper).
    output_bias : bool, default=True
        Unregularised output bias (the analogue of ``fit_intercept``).
    standardize : bool, default=True
        Fit on ``(X - mean_) / scale_``. ``network_`` is folded back to raw features
        (``u -> u / scale``, ``b -> b - (mean / scale)^T u``: the same predictions), so
        ``network_.objective(X, y, beta)`` differs from ``objective_``, which is the
        certified eq.-(2) value of the standardized problem.
    random_state : None, int or RandomState, default=None
        Seeds the pattern sampling.
    verbose : int, default=0
        1: a tqdm progress bar over one-vs-rest classes / the CV path; 2: also the
        solver's own output.
"""

_ATTRS_DOC = """
    network_ : TwoLayerReLU or GatedReLU
        The trained network on raw features (standardization folded in). With
        ``formulation="gated"`` the gated ReLU network of the gated program
        (:class:`convexnn.GatedReLU`).
    n_neurons_ : int
        Neurons of the network (m*).
    objective_, lower_bound_, duality_gap_ : float
        Certified interval of the eq.-(2) optimum of the (standardized) problem (for
        "gated", of the gated network's training problem):
        ``lower_bound_ <= p* <= objective_``, ``duality_gap_ = objective_ - lower_bound_``.
    certificate_scope_ : {"global", "patterns"}
        "global": the bound holds for networks of any width; "patterns": for the convex
        program over the patterns used only.
    n_iter_ : int or None
        Solver iterations (None when the solver does not report them).
    solution_ : convexnn.Solution
        The full result of :func:`convexnn.solve`.
    mean_, scale_ : arrays of shape (n_features,)
        Standardization (zeros and ones when ``standardize=False``).
    n_features_in_ : int
    feature_names_in_ : array of str
        Only when X has string feature names.
"""


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    __doc__ = f"""Two-layer ReLU regression trained to its global optimum, with a certificate.

    Minimises ``1/2 ||f(X_s) - y||^2 + beta/2 sum_j (||u_j||^2 + b_j^2 + alpha_j^2)``
    (or the Huber loss) over networks ``f(x) = sum_j (x^T u_j + b_j)_+ alpha_j + c`` of any
    width, by the convex program (8) of Pilanci & Ergen (2020).

    Parameters
    ----------
    loss : {{"squared", "huber"}}, default="squared"
{_PARAMS_DOC}
    Attributes
    ----------
{_ATTRS_DOC}    n_outputs_ : int
        Columns of ``y``. For 2-D ``y`` each column gets its own exact network on the
        same patterns (``network_`` stacks them, one output each) and ``n_neurons_``,
        ``objective_``, ``lower_bound_``, ``duality_gap_`` and ``n_iter_`` are arrays of
        shape (n_outputs,); ``solution_`` is the list of the outputs' solutions.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from convexnn import ConvexReLURegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = ConvexReLURegressor(beta=1.0, random_state=0).fit(X, y)
    >>> reg.duality_gap_ <= 1e-6 * reg.objective_
    True
    """

    _losses = REGRESSION_LOSSES

    def __init__(
        self,
        *,
        beta: float = 0.1,
        loss: str = "squared",
        patterns: Any = "sampled",
        n_patterns: int = 20,
        pattern_method: str = "gaussian",
        formulation: str = "relu",
        solver: str | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        hidden_bias: bool = True,
        output_bias: bool = True,
        standardize: bool = True,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.beta = beta
        self.loss = loss
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.pattern_method = pattern_method
        self.formulation = formulation
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.hidden_bias = hidden_bias
        self.output_bias = output_bias
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    @_one_convergence_warning
    def fit(self, X: Any, y: Any) -> ConvexReLURegressor:
        """Solve the convex program on ``(X, y)`` and certify the network.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._fit_at(X, y, self.beta)

    def _fit_at(self, X: Any, y: Any, beta: Any) -> ConvexReLURegressor:
        params = self._check_params(beta)
        X_arr, y_arr = self._validate(X, y, reset=True, y_numeric=True, multi_output=True)
        return self._fit_arrays(X_arr, _targets_1d_or_2d(y_arr), params)

    def _fit_arrays(
        self, X_arr: Array, y_arr: Array, params: dict[str, Any]
    ) -> ConvexReLURegressor:
        """The fit on validated arrays (``n_features_in_`` and feature names already set)."""
        Xs = self._standardize(X_arr)
        D = self._patterns(Xs, self._random_state(), X_arr)
        # One exact network per output column, on the same patterns (solve_multioutput's
        # mode "separate"); network_ stacks them, block-diagonal in alpha.
        columns = [y_arr] if y_arr.ndim == 1 else list(y_arr.T)
        self._set_fitted([self._solve(Xs, t, D, params) for t in columns], (Xs, columns, params))
        self.n_outputs_ = len(columns) if y_arr.ndim == 2 else 1
        labels = [""] if y_arr.ndim == 1 else [f"output {k}" for k in range(len(columns))]
        self._warn_zero_network(Xs, columns, D, params, labels)
        return self

    def predict(self, X: Any) -> Array:
        """Network output, shape (n_samples,), or (n_samples, n_outputs) for 2-D y."""
        out = self._raw_output(X)
        return out if getattr(self, "n_outputs_", 1) > 1 else out[:, 0]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    __doc__ = f"""Two-layer ReLU classifier trained to its global optimum, with a certificate.

    Binary problems train one network on the labels ``y = -1`` (``classes_[0]``) /
    ``+1`` (``classes_[1]``) and minimise ``L(f(X_s), y) + beta/2 sum_j (||u_j||^2 +
    b_j^2 + alpha_j^2)``; ``predict`` thresholds ``f`` at 0. With more classes every
    loss but "cross_entropy" trains one network per class, one-vs-rest (each exact and
    certified); "cross_entropy" needs the multi-output solver.

    Parameters
    ----------
    loss : {{"logistic", "hinge", "squared_hinge", "squared", "cross_entropy"}}, \
default="logistic"
        ``"logistic"`` (the default: a smooth loss, so fast solvers apply, and it gives
        ``predict_proba``), the paper's ``"hinge"``, ``"squared_hinge"``, least squares on
        the +-1 labels (``"squared"``), or softmax ``"cross_entropy"``.
        ``predict_proba`` exists for "logistic" and "cross_entropy" only.
{_PARAMS_DOC}
    Attributes
    ----------
    classes_ : array of shape (n_classes,)
{_ATTRS_DOC}
    networks_ : list of TwoLayerReLU
        One network per class for one-vs-rest, else a single one (binary, or the
        cross-entropy network with ``n_classes`` outputs). With one-vs-rest,
        ``network_`` stacks them into one network with ``n_classes`` outputs (block
        diagonal alpha: output k is network k), and ``n_neurons_``, ``objective_``,
        ``lower_bound_``, ``duality_gap_``, ``n_iter_`` and ``solution_`` hold one entry
        per class. With ``loss="cross_entropy"``, ``solution_`` is the
        ``MultiOutputSolution`` of :func:`convexnn.solve_multioutput` (``mode="separate"``,
        exact; its ``solver`` says which CVXPY backend ran) and ``n_iter_`` the
        backend's iterations.
    """

    _losses = CLASSIFICATION_LOSSES

    def __init__(
        self,
        *,
        beta: float = 0.1,
        loss: str = "logistic",
        patterns: Any = "sampled",
        n_patterns: int = 20,
        pattern_method: str = "gaussian",
        formulation: str = "relu",
        solver: str | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        hidden_bias: bool = True,
        output_bias: bool = True,
        standardize: bool = True,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.beta = beta
        self.loss = loss
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.pattern_method = pattern_method
        self.formulation = formulation
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.hidden_bias = hidden_bias
        self.output_bias = output_bias
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    @_one_convergence_warning
    def fit(self, X: Any, y: Any) -> ConvexReLUClassifier:
        """Train one network (binary) or one per class (one-vs-rest) and certify them.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,)
            Class labels (at least two classes).

        Returns
        -------
        self
        """
        return self._fit_at(X, y, self.beta)

    def _fit_at(self, X: Any, y: Any, beta: Any) -> ConvexReLUClassifier:
        params = self._check_params(beta)
        X_arr, y_arr = self._validate(X, y, reset=True)
        return self._fit_arrays(X_arr, y_arr, params)

    def _fit_arrays(
        self, X_arr: Array, y_arr: NDArray[Any], params: dict[str, Any]
    ) -> ConvexReLUClassifier:
        """The fit on validated arrays (``n_features_in_`` and feature names already set)."""
        y_idx = self._encode(y_arr)
        Xs = self._standardize(X_arr)
        D = self._patterns(Xs, self._random_state(), X_arr)
        targets = _class_targets(y_idx, len(self.classes_), params["loss"])
        if params["loss"] == "cross_entropy":
            self._set_fitted([self._solve_cross_entropy(Xs, y_idx, D, params)])
            self._warn_zero_network(Xs, targets, D, params, [""])
            return self
        solutions = [
            self._solve(Xs, t, D, params)
            for t in _progress(targets, self.verbose, f"{self._name}: one-vs-rest")
        ]
        self._set_fitted(solutions, (Xs, targets, params))
        labels = [""] if len(targets) == 1 else [f"class {c!s}" for c in self.classes_]
        self._warn_zero_network(Xs, targets, D, params, labels)
        return self

    def _solve_cross_entropy(
        self, Xs: Array, y_idx: NDArray[np.intp], D: Any, params: dict[str, Any]
    ) -> Any:
        """Softmax cross-entropy, one network with K outputs: ``mode="separate"`` of
        :func:`convexnn.solve_multioutput` (exact; no neuron feeds two outputs)."""
        from .multioutput import solve_multioutput

        solver = params["solver"] or FALLBACK_SOLVER
        if solver not in ("cvxpy", "cvxpy-scs"):
            if self.solver is not None:
                raise ValueError(
                    f"{self._name}: loss='cross_entropy' is solved by CVXPY; solver must "
                    f"be None, 'cvxpy' or 'cvxpy-scs', got {self.solver!r}."
                )
            solver = FALLBACK_SOLVER
        Y = np.eye(len(self.classes_))[y_idx]
        kwargs = _solve_kwargs(params) | {"solver": solver}
        try:
            return solve_multioutput(Xs, Y, params["beta"], mode="separate", patterns=D, **kwargs)
        except RuntimeError as exc:  # the fallback of _solve: SCS when Clarabel breaks down
            self._scs_takes_over(exc)
            kwargs["solver"] = "cvxpy-scs"
            return solve_multioutput(Xs, Y, params["beta"], mode="separate", patterns=D, **kwargs)

    def _encode(self, y: Any) -> NDArray[np.intp]:
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(f"{self._name}: {exc}") from None
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{self._name}: y has only one class ({self.classes_[0]!s}); a classifier "
                f"needs at least 2 classes."
            )
        return np.asarray(y_idx, dtype=np.intp)

    def decision_function(self, X: Any) -> Array:
        """Scores, shape (n_samples,) for two classes (> 0 means ``classes_[1]``), else
        (n_samples, n_classes).

        ``f(X)`` of the binary network; one column per one-vs-rest network; for
        cross-entropy the K outputs (logits), and ``f_1 - f_0`` for two classes.
        """
        F = self._raw_output(X)
        if F.shape[1] == 1:
            return F[:, 0]
        if F.shape[1] == 2:
            return F[:, 1] - F[:, 0]
        return F

    def predict(self, X: Any) -> NDArray[Any]:
        """Class labels, shape (n_samples,)."""
        F = self._raw_output(X)
        idx = (F[:, 0] > 0).astype(np.intp) if F.shape[1] == 1 else np.argmax(F, axis=1)
        return self.classes_[idx]  # type: ignore[no-any-return]

    def _has_proba(self) -> bool:
        return self.loss in PROBA_LOSSES

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, shape (n_samples, n_classes).

        Logistic: ``sigmoid(f)`` (one-vs-rest scores normalised to sum to one, as
        scikit-learn's one-vs-rest logistic regression); cross-entropy: ``softmax(f)``.
        """
        F = self._raw_output(X)
        if F.shape[1] == 1:
            p = expit(F[:, 0])
            return np.column_stack([1.0 - p, p])
        if self.loss == "cross_entropy":
            return softmax(F, axis=1)  # type: ignore[no-any-return]
        P = expit(F)
        return P / P.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    @available_if(_has_proba)
    def predict_log_proba(self, X: Any) -> Array:
        """``log(predict_proba(X))``, shape (n_samples, n_classes)."""
        return np.log(self.predict_proba(X))  # type: ignore[no-any-return]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        assert tags.classifier_tags is not None
        tags.classifier_tags.multi_class = True
        return tags


def _class_targets(y_idx: NDArray[np.intp], n_classes: int, loss: str) -> list[Array]:
    """+-1 targets: one vector for two classes (+1 = classes_[1]), else one per class
    (always one per class for cross-entropy)."""
    if n_classes == 2 and loss != "cross_entropy":
        return [np.where(y_idx == 1, 1.0, -1.0)]
    return [np.where(y_idx == k, 1.0, -1.0) for k in range(n_classes)]


def _progress(items: list[Any], verbose: Any, desc: str) -> Any:
    if not verbose or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)


# -- cross-validated beta -----------------------------------------------------------------


class _CVMixin:
    """Pick ``beta`` on a geometric path by K-fold cross-validation, then refit."""

    _base: type[_ConvexReLUBase]
    _is_classifier: bool

    def _base_params(self) -> dict[str, Any]:
        own = self.get_params(deep=False)  # type: ignore[attr-defined]
        keep = set(inspect.signature(self._base.__init__).parameters) - {"self", "beta"}
        return {k: v for k, v in own.items() if k in keep}

    def _beta_path(self, X: Array, y: Any) -> Array:
        """``betas``, or ``n_betas`` values from beta_max down to ``beta_min_ratio * beta_max``."""
        name = type(self).__name__
        if self.betas is not None:  # type: ignore[attr-defined]
            betas = np.asarray(self.betas, dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
            for b in betas:
                check_beta(b, caller=name, name="betas entry")
            return np.sort(betas)[::-1]
        n_betas = check_positive_int(self.n_betas, caller=name, name="n_betas")  # type: ignore[attr-defined]
        ratio = self.beta_min_ratio  # type: ignore[attr-defined]
        if not isinstance(ratio, numbers.Real) or not 0 < float(ratio) < 1:
            raise ValueError(f"{name}: beta_min_ratio must be in (0, 1), got {ratio!r}.")
        probe = self._base(**self._base_params())
        params = probe._check_params(1.0)
        Xs = probe._standardize(X)
        D = probe._patterns(Xs, probe._random_state(), X)
        targets = self._path_targets(probe, y)
        beta_max = _beta_max(Xs, targets, D, params, name)
        if not beta_max > 0:
            raise ValueError(
                f"{name}: the zero network is optimal for every beta (y is constant); "
                f"pass betas explicitly."
            )
        return np.geomspace(beta_max, beta_max * float(ratio), n_betas)

    def _path_targets(self, probe: _ConvexReLUBase, y: Any) -> list[Array]:
        if not self._is_classifier:
            y = np.asarray(y, dtype=np.float64)
            return [y] if y.ndim == 1 else list(y.T)
        y_idx = probe._encode(y)  # type: ignore[attr-defined]
        return _class_targets(y_idx, len(probe.classes_), probe.loss)  # type: ignore[attr-defined]

    def _fit_cv(self, X: Any, y: Any) -> Any:
        # Parameter errors name this estimator (not the base estimators it fits).
        self._check_params(1.0)  # type: ignore[attr-defined]
        self._random_state()  # type: ignore[attr-defined]
        X_arr, y_arr = self._validate(  # type: ignore[attr-defined]
            X,
            y,
            reset=True,
            **({} if self._is_classifier else {"y_numeric": True, "multi_output": True}),
        )
        if self._is_classifier:
            self._encode(y_arr)  # type: ignore[attr-defined]  # clear label errors first
        else:
            y_arr = _targets_1d_or_2d(y_arr)
        if X_arr.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__}: cross-validation needs at least 2 samples, got "
                f"n_samples = {X_arr.shape[0]}."
            )
        betas = self._beta_path(X_arr, y_arr)
        cv = check_cv(self.cv, y_arr, classifier=self._is_classifier)  # type: ignore[attr-defined]
        splits = list(cv.split(X_arr, y_arr))
        base = self._base(**self._base_params())
        scorer = check_scoring(base, scoring=self.scoring)  # type: ignore[attr-defined]
        scores = np.empty((len(betas), len(splits)))
        jobs = [(i, j) for j in range(len(splits)) for i in range(len(betas))]
        for i, j in _progress(jobs, self.verbose, f"{type(self).__name__}: CV path"):  # type: ignore[attr-defined]
            train, test = splits[j]
            est = clone(base).set_params(beta=float(betas[i]))
            with warnings.catch_warnings():
                # The path starts at beta_max, where the zero network is the optimum by
                # design: that is no news on a fold.
                warnings.filterwarnings(
                    "ignore",
                    message=r".*: the fitted network is the zero network",
                    category=UserWarning,
                )
                est.fit(X_arr[train], y_arr[train])
            scores[i, j] = scorer(est, X_arr[test], y_arr[test])
        mean = scores.mean(axis=1)
        best = int(np.flatnonzero(mean >= mean.max())[0])  # ties: the larger beta
        self.betas_ = betas
        self.best_beta_ = float(betas[best])
        self.best_score_ = float(mean[best])
        self.cv_results_ = {
            "beta": betas,
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": _rank(mean),
            **{f"split{j}_test_score": scores[:, j] for j in range(len(splits))},
        }
        # The arrays validated above, once, on the user's X: the refit keeps its feature
        # names (a second validation of X_arr would drop them).
        params = self._check_params(self.best_beta_)  # type: ignore[attr-defined]
        return self._fit_arrays(X_arr, y_arr, params)  # type: ignore[attr-defined]


def _rank(mean: Array) -> NDArray[np.int64]:
    order = np.argsort(-mean, kind="stable")
    rank = np.empty(len(mean), dtype=np.int64)
    rank[order] = np.arange(1, len(mean) + 1)
    return rank


_CV_PARAMS_DOC = """
    betas : array of float or None, default=None
        Candidate weight decays. None: ``n_betas`` values, geometric, from ``beta_max``
        (the smallest beta whose optimum is the zero network, computed from the dual
        norms of the data over the patterns) down to ``beta_min_ratio * beta_max``.
    n_betas : int, default=6
    beta_min_ratio : float, default=1e-3
    cv : int, CV splitter or iterable, default=5
        As in scikit-learn (stratified folds for the classifier).
    scoring : str, callable or None, default=None
        None: the estimator's ``score`` (R^2 / accuracy).
"""

_CV_ATTRS_DOC = """
    best_beta_ : float
        The beta with the best mean CV score (the larger beta on ties); the estimator is
        refitted with it on all the data, so every attribute below refers to it.
    best_score_ : float
    betas_ : array of shape (n_betas,)
        The path, in decreasing order.
    cv_results_ : dict of arrays of shape (n_betas,)
        ``beta``, ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
        ``split{k}_test_score``.
"""


class ConvexReLURegressorCV(_CVMixin, ConvexReLURegressor):
    __doc__ = f""":class:`ConvexReLURegressor` with beta chosen by cross-validation.

    Parameters
    ----------
{_CV_PARAMS_DOC}
    loss, patterns, n_patterns, pattern_method, formulation, solver, tol, max_iter, \
hidden_bias, output_bias, standardize, random_state, verbose
        As in :class:`ConvexReLURegressor`.

    Attributes
    ----------
{_CV_ATTRS_DOC}
    network_, objective_, lower_bound_, duality_gap_, ...
        As in :class:`ConvexReLURegressor`, for ``best_beta_``.
    """

    _base = ConvexReLURegressor
    _is_classifier = False

    def __init__(
        self,
        *,
        betas: Any = None,
        n_betas: int = 6,
        beta_min_ratio: float = 1e-3,
        cv: Any = 5,
        scoring: Any = None,
        loss: str = "squared",
        patterns: Any = "sampled",
        n_patterns: int = 20,
        pattern_method: str = "gaussian",
        formulation: str = "relu",
        solver: str | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        hidden_bias: bool = True,
        output_bias: bool = True,
        standardize: bool = True,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.betas = betas
        self.n_betas = n_betas
        self.beta_min_ratio = beta_min_ratio
        self.cv = cv
        self.scoring = scoring
        self.loss = loss
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.pattern_method = pattern_method
        self.formulation = formulation
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.hidden_bias = hidden_bias
        self.output_bias = output_bias
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    @_one_convergence_warning
    def fit(self, X: Any, y: Any) -> ConvexReLURegressorCV:
        """Cross-validate beta over the path, then refit on all the data."""
        return self._fit_cv(X, y)  # type: ignore[no-any-return]


class ConvexReLUClassifierCV(_CVMixin, ConvexReLUClassifier):
    __doc__ = f""":class:`ConvexReLUClassifier` with beta chosen by cross-validation.

    Parameters
    ----------
{_CV_PARAMS_DOC}
    loss, patterns, n_patterns, pattern_method, formulation, solver, tol, max_iter, \
hidden_bias, output_bias, standardize, random_state, verbose
        As in :class:`ConvexReLUClassifier`.

    Attributes
    ----------
{_CV_ATTRS_DOC}
    classes_, network_, objective_, lower_bound_, duality_gap_, ...
        As in :class:`ConvexReLUClassifier`, for ``best_beta_``.
    """

    _base = ConvexReLUClassifier
    _is_classifier = True

    def __init__(
        self,
        *,
        betas: Any = None,
        n_betas: int = 6,
        beta_min_ratio: float = 1e-3,
        cv: Any = 5,
        scoring: Any = None,
        loss: str = "logistic",
        patterns: Any = "sampled",
        n_patterns: int = 20,
        pattern_method: str = "gaussian",
        formulation: str = "relu",
        solver: str | None = None,
        tol: float = 1e-6,
        max_iter: int | None = None,
        hidden_bias: bool = True,
        output_bias: bool = True,
        standardize: bool = True,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.betas = betas
        self.n_betas = n_betas
        self.beta_min_ratio = beta_min_ratio
        self.cv = cv
        self.scoring = scoring
        self.loss = loss
        self.patterns = patterns
        self.n_patterns = n_patterns
        self.pattern_method = pattern_method
        self.formulation = formulation
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.hidden_bias = hidden_bias
        self.output_bias = output_bias
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    @_one_convergence_warning
    def fit(self, X: Any, y: Any) -> ConvexReLUClassifierCV:
        """Cross-validate beta over the path, then refit on all the data."""
        return self._fit_cv(X, y)  # type: ignore[no-any-return]


__all__ = [
    "ConvexReLUClassifier",
    "ConvexReLUClassifierCV",
    "ConvexReLURegressor",
    "ConvexReLURegressorCV",
]
