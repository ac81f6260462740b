"""scikit-learn estimators: sklearn's own checks, an independent CVXPY optimum, bad input."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import cvxpy as cp
import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import convexnn as cnn
import convexnn.estimators as est_mod
from convexnn import (
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)
from convexnn.exceptions import ConvergenceWarning


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)


def _regression(n: int = 40, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=2.0, scale=3.0, size=(n, d))  # not standardized on purpose
    y = np.maximum(X @ rng.normal(size=d), 0) - 0.5 * X[:, 0] + 0.1 * rng.normal(size=n)
    return X, y


def _blobs(n: int = 60, centers: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n, n_features=2, centers=centers, cluster_std=2.0, random_state=seed)
    return X, y


# -- scikit-learn's own checks --------------------------------------------------------------


@parametrize_with_checks(
    [
        ConvexReLURegressor(),
        ConvexReLUClassifier(),
        ConvexReLURegressor(formulation="gated"),
        ConvexReLUClassifier(formulation="gated"),
    ]
)
def test_sklearn_compatible(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


# -- the optimum is the one of eq. (8), written independently --------------------------------


def _reference_optimum(
    X: np.ndarray, y: np.ndarray, beta: float, D: np.ndarray, loss: str
) -> float:
    """Eq. (8) with hidden bias (ones column) and output bias, straight from the paper."""
    X_eff = np.hstack([X, np.ones((X.shape[0], 1))])
    d = X_eff.shape[1]
    P = D.shape[1]
    V, W, c = cp.Variable((d, P)), cp.Variable((d, P)), cp.Variable()
    z = c
    cons = []
    for i in range(P):
        DX = X_eff * D[:, i : i + 1]
        z = z + DX @ (V[:, i] - W[:, i])
        S = (2.0 * D[:, i : i + 1] - 1.0) * X_eff
        cons += [S @ V[:, i] >= 0, S @ W[:, i] >= 0]
    reg = beta * (cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0)))
    if loss == "squared":
        fit = 0.5 * cp.sum_squares(z - y)
    else:  # logistic, labels +-1
        fit = cp.sum(cp.logistic(-cp.multiply(y, z)))
    prob = cp.Problem(cp.Minimize(fit + reg), cons)
    prob.solve(solver="CLARABEL")
    return float(prob.value)


def test_regressor_reaches_reference_optimum() -> None:
    X, y = _regression()
    reg = ConvexReLURegressor(beta=0.5, n_patterns=15, random_state=0).fit(X, y)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(reg.mean_, X.mean(axis=0))
    ref = _reference_optimum(Xs, y, 0.5, np.asarray(reg.solution_.patterns), "squared")
    assert reg.objective_ == pytest.approx(ref, rel=1e-6)
    assert reg.lower_bound_ <= ref * (1 + 1e-9)
    assert reg.duality_gap_ == pytest.approx(reg.objective_ - reg.lower_bound_)
    assert reg.certificate_scope_ == "patterns"
    assert reg.n_neurons_ == reg.network_.n_neurons > 0
    # objective_ is eq. (2) of the standardized problem, for the solver's network
    assert reg.solution_.network.objective(Xs, y, 0.5) == pytest.approx(reg.objective_)


def test_binary_logistic_reaches_reference_optimum() -> None:
    X, y01 = _blobs(n=40, centers=2)
    labels = np.array(["no", "yes"])[y01]
    clf = ConvexReLUClassifier(beta=1.0, n_patterns=10, random_state=1).fit(X, labels)
    assert list(clf.classes_) == ["no", "yes"]
    Xs = (X - clf.mean_) / clf.scale_
    t = np.where(labels == "yes", 1.0, -1.0)  # classes_[1] is +1
    ref = _reference_optimum(Xs, t, 1.0, np.asarray(clf.solution_.patterns), "logistic")
    assert clf.objective_ == pytest.approx(ref, rel=1e-5)
    assert clf.lower_bound_ <= ref * (1 + 1e-9)
    f = clf.decision_function(X)
    assert f.shape == (40,)
    np.testing.assert_array_equal(clf.predict(X), np.where(f > 0, "yes", "no"))
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expit(f))
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def test_exact_patterns_give_global_certificate() -> None:
    X, y = _regression(n=25, d=1, seed=3)
    reg = ConvexReLURegressor(beta=0.1, patterns="exact").fit(X, y)
    assert reg.certificate_scope_ == "global"
    assert reg.duality_gap_ <= 1e-6 * reg.objective_
    # "sampled" enumerates instead when there are at most n_patterns patterns
    small = ConvexReLURegressor(beta=0.1, n_patterns=1000).fit(X, y)
    assert small.certificate_scope_ == "global"
    assert small.objective_ == pytest.approx(reg.objective_, rel=1e-6)


@pytest.mark.parametrize("hidden_bias", [True, False])
def test_standardization_is_folded_into_network(hidden_bias: bool) -> None:
    X, y = _regression(seed=1)
    reg = ConvexReLURegressor(beta=0.5, hidden_bias=hidden_bias, random_state=0).fit(X, y)
    Xs = (X - reg.mean_) / reg.scale_
    np.testing.assert_allclose(
        reg.network_.predict(X), reg.solution_.network.predict(Xs), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_array_equal(reg.predict(X), reg.network_.predict(X))
    assert reg.network_.b is not None  # the centring needs a hidden bias even without one
    raw = ConvexReLURegressor(beta=0.5, standardize=False, hidden_bias=hidden_bias).fit(X, y)
    assert (raw.network_.b is None) == (not hidden_bias)
    np.testing.assert_array_equal(raw.network_.U, raw.solution_.network.U)


def test_one_vs_rest_equals_binary_fits() -> None:
    X, y = _blobs()
    clf = ConvexReLUClassifier(loss="squared", beta=0.5, random_state=0).fit(X, y)
    F = clf.decision_function(X)
    assert F.shape == (60, 3) and len(clf.networks_) == 3
    assert clf.objective_.shape == (3,) and clf.n_iter_.shape == (3,)
    assert clf.network_.n_neurons == int(clf.n_neurons_.sum())
    for k in range(3):
        binary = ConvexReLUClassifier(loss="squared", beta=0.5, random_state=0)
        binary.fit(X, y == k)  # same data, same seed: same patterns
        np.testing.assert_allclose(F[:, k], binary.decision_function(X), atol=1e-7)
        assert clf.objective_[k] == pytest.approx(binary.objective_)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(F, axis=1))
    assert not hasattr(clf, "predict_proba")
    assert not hasattr(ConvexReLUClassifier(loss="hinge"), "predict_proba")


def test_multi_output_regression_equals_one_fit_per_column() -> None:
    X, y = _regression(n=50)
    Y = np.column_stack([y, np.maximum(X[:, 0], 0.0), -y])
    reg = ConvexReLURegressor(beta=0.2, n_patterns=15, random_state=0).fit(X, Y)
    F = reg.predict(X)
    assert F.shape == (50, 3) and reg.n_outputs_ == 3 and len(reg.networks_) == 3
    assert reg.objective_.shape == (3,) and np.all(reg.duality_gap_ <= 1e-6 * reg.objective_)
    assert reg.network_.n_neurons == int(reg.n_neurons_.sum())
    for k in range(3):
        single = ConvexReLURegressor(beta=0.2, n_patterns=15, random_state=0).fit(X, Y[:, k])
        assert single.n_outputs_ == 1 and single.predict(X).shape == (50,)
        np.testing.assert_allclose(F[:, k], single.predict(X), atol=1e-7)
        assert reg.objective_[k] == pytest.approx(single.objective_)
    assert reg.score(X, Y) == pytest.approx(
        np.mean([1 - ((Y[:, k] - F[:, k]) ** 2).sum() / ((Y[:, k] - Y[:, k].mean()) ** 2).sum()
                 for k in range(3)])
    )  # fmt: skip
    cv = ConvexReLURegressorCV(n_betas=3, cv=KFold(3), n_patterns=10, random_state=0).fit(X, Y)
    assert cv.predict(X).shape == (50, 3) and cv.best_beta_ in cv.betas_
    with pytest.warns(DataConversionWarning):  # a column vector: one output, as in sklearn
        col = ConvexReLURegressor(beta=0.2, n_patterns=15, random_state=0).fit(X, y[:, None])
    assert col.n_outputs_ == 1 and col.predict(X).shape == (50,)


def test_cross_entropy_multiclass() -> None:
    X, y = _blobs(n=45)
    clf = ConvexReLUClassifier(loss="cross_entropy", beta=1.0, n_patterns=8, random_state=0)
    clf.fit(X, y)
    F = clf.decision_function(X)
    assert F.shape == (45, 3) and clf.network_.alpha.shape[1] == 3
    np.testing.assert_allclose(clf.predict_proba(X), softmax(F, axis=1))
    assert clf.score(X, y) > 0.6  # chance is 1/3
    assert clf.lower_bound_ <= clf.objective_
    assert clf.duality_gap_ <= 1e-4 * clf.objective_
    # independent: K copies of (8) sharing the softmax loss
    Xs = np.hstack([(X - clf.mean_) / clf.scale_, np.ones((45, 1))])
    D = np.asarray(clf.solution_.patterns)
    Y = np.eye(3)[y]
    blocks = [(cp.Variable((3, D.shape[1])), cp.Variable((3, D.shape[1]))) for _ in range(3)]
    c = cp.Variable(3)
    cols, cons, reg = [], [], 0
    for V, W in blocks:
        z = c[len(cols)]
        for i in range(D.shape[1]):
            z = z + (Xs * D[:, i : i + 1]) @ (V[:, i] - W[:, i])
            S = (2.0 * D[:, i : i + 1] - 1.0) * Xs
            cons += [S @ V[:, i] >= 0, S @ W[:, i] >= 0]
        reg = reg + cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
        cols.append(z)
    Z = cp.vstack(cols).T
    obj = cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z)) + 1.0 * reg
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver="CLARABEL")
    assert clf.objective_ == pytest.approx(prob.value, rel=1e-5)


def test_binary_cross_entropy_decision_is_logit() -> None:
    X, y = _blobs(n=30, centers=2)
    clf = ConvexReLUClassifier(loss="cross_entropy", n_patterns=6, random_state=0).fit(X, y)
    f = clf.decision_function(X)
    assert f.shape == (30,)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expit(f), atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), (f > 0).astype(int))


# -- composition with scikit-learn --------------------------------------------------------


def test_grid_search_over_beta_in_pipeline() -> None:
    X, y = _blobs(n=45, centers=2)
    pipe = make_pipeline(StandardScaler(), ConvexReLUClassifier(n_patterns=8, random_state=0))
    grid = GridSearchCV(pipe, {"convexreluclassifier__beta": [0.1, 30.0]}, cv=3)
    with pytest.warns(UserWarning, match="beta=30 is at or above beta_max"):
        grid.fit(X, y)
    assert grid.best_params_["convexreluclassifier__beta"] in (0.1, 30.0)
    for i, beta in enumerate([0.1, 30.0]):
        manual = cross_val_score(
            clone(pipe).set_params(convexreluclassifier__beta=beta), X, y, cv=3
        )
        assert grid.cv_results_["mean_test_score"][i] == pytest.approx(manual.mean())
    assert grid.best_estimator_[-1].duality_gap_ >= 0


def test_pickle_round_trip() -> None:
    X, y = _blobs(n=30)
    clf = ConvexReLUClassifier(loss="logistic", n_patterns=6, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == clf.get_params()


def test_regressor_cv_path_and_choice() -> None:
    X, y = _regression(n=30)
    cv = KFold(3)
    reg = ConvexReLURegressorCV(n_betas=4, cv=cv, n_patterns=10, random_state=0).fit(X, y)
    assert np.all(np.diff(reg.betas_) < 0) and len(reg.betas_) == 4
    assert reg.best_beta_ in reg.betas_
    best = int(np.argmax(reg.cv_results_["mean_test_score"]))
    assert reg.best_beta_ == reg.betas_[best] and reg.cv_results_["rank_test_score"][best] == 1
    manual = cross_val_score(
        ConvexReLURegressor(beta=reg.best_beta_, n_patterns=10, random_state=0), X, y, cv=cv
    )
    assert reg.best_score_ == pytest.approx(manual.mean())
    # the path starts at beta_max: the zero network is optimal there, not below it
    top = ConvexReLURegressor(beta=reg.betas_[0] * 1.001, n_patterns=10, random_state=0)
    with pytest.warns(UserWarning, match="the fitted network is the zero network"):
        assert top.fit(X, y).n_neurons_ == 0
    below = ConvexReLURegressor(beta=reg.betas_[0] * 0.9, n_patterns=10, random_state=0)
    assert below.fit(X, y).n_neurons_ > 0
    # refitted on all the data at best_beta_
    again = ConvexReLURegressor(beta=reg.best_beta_, n_patterns=10, random_state=0).fit(X, y)
    assert reg.objective_ == pytest.approx(again.objective_)


def test_classifier_cv() -> None:
    X, y = _blobs(n=45)
    clf = ConvexReLUClassifierCV(
        betas=[0.1, 100.0], cv=3, loss="squared", n_patterns=6, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(clf.betas_, [100.0, 0.1])
    assert set(clf.cv_results_) >= {"beta", "mean_test_score", "split2_test_score"}
    assert clf.predict(X).shape == (45,)
    assert clf.best_beta_ == 0.1  # beta = 100 kills every neuron on blobs


def test_verbose_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    X, y = _blobs(n=30)
    ConvexReLUClassifier(loss="squared", n_patterns=5, verbose=1).fit(X, y)
    assert "one-vs-rest" in capsys.readouterr().err


def test_clarabel_failure_falls_back_to_scs(monkeypatch: pytest.MonkeyPatch) -> None:
    real_solve = est_mod.solve

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("solver") == "cvxpy":
            raise RuntimeError("solve: the CVXPY backend CLARABEL failed")
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(est_mod, "solve", flaky)
    # whatever solve's default is, let the automatic choice be the Clarabel reference
    monkeypatch.setattr(est_mod._ConvexReLUBase, "_pick_solver", lambda *_: "cvxpy")
    X, y = _regression(n=20)
    with pytest.warns(UserWarning, match="solving with 'cvxpy-scs' instead"):
        reg = ConvexReLURegressor(solver=None, n_patterns=5).fit(X, y)
    assert reg.solution_.solver == "cvxpy-scs"
    with pytest.raises(RuntimeError, match="CLARABEL failed"):
        ConvexReLURegressor(solver="cvxpy", n_patterns=5).fit(X, y)


# -- bad input ------------------------------------------------------------------------------


def test_bad_labels() -> None:
    X, y = _regression(n=20)
    with pytest.raises(ValueError, match=r"ConvexReLUClassifier: Unknown label type: continuous"):
        ConvexReLUClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"ConvexReLUClassifier: y has only one class \(3\)"):
        ConvexReLUClassifier().fit(X, np.full(20, 3))


@pytest.mark.parametrize("Est", [ConvexReLURegressor, ConvexReLUClassifier])
def test_bad_data(Est: type) -> None:
    X, y = _regression(n=20)
    y = (y > np.median(y)).astype(int)
    name = Est.__name__
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=rf"{name}: Input X contains NaN"):
        Est().fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=rf"{name}: Input X contains infinity"):
        Est().fit(bad, y)
    with pytest.raises(ValueError, match=rf"{name}: Input y contains NaN"):
        Est().fit(X, np.where(np.arange(20) == 0, np.nan, y))
    with pytest.raises(ValueError, match=rf"{name}: Found input variables with inconsistent"):
        Est().fit(X, y[:-1])
    with pytest.raises(NotFittedError, match=f"This {name} instance is not fitted yet"):
        Est().predict(X)
    fitted = Est(n_patterns=5).fit(X, y)
    with pytest.raises(ValueError, match=rf"X has 2 features, but {name} is expecting 3"):
        fitted.predict(X[:, :2])


@pytest.mark.parametrize(
    ("Est", "params", "match"),
    [
        (ConvexReLURegressor, {"beta": -1.0}, r"ConvexReLURegressor: beta must be > 0, got -1\.0"),
        (ConvexReLUClassifier, {"beta": 0}, r"ConvexReLUClassifier: beta must be > 0, got 0\.0"),
        (ConvexReLURegressor, {"loss": "logistic"}, r"loss 'logistic' is a classification loss"),
        (ConvexReLUClassifier, {"loss": "huber"}, r"loss 'huber' is a regression loss"),
        (ConvexReLURegressor, {"patterns": np.ones((5, 2), bool)}, r"ConvexReLURegressor: patt"),
        (ConvexReLUClassifier, {"loss": "foo"}, r"ConvexReLUClassifier: unknown loss 'foo'"),
        (ConvexReLURegressor, {"patterns": "all"}, r"ConvexReLURegressor: unknown patterns"),
        (ConvexReLURegressor, {"n_patterns": 0}, r"ConvexReLURegressor: n_patterns must be"),
        (ConvexReLURegressor, {"formulation": "x"}, r"ConvexReLURegressor: unknown formulation"),
        (ConvexReLURegressor, {"solver": "nope"}, r"ConvexReLURegressor: unknown solver 'nope'"),
        (ConvexReLURegressor, {"tol": -1}, r"ConvexReLURegressor: tol must be a positive"),
        (ConvexReLURegressor, {"pattern_method": "x"}, r"unknown pattern_method 'x'"),
        (ConvexReLURegressorCV, {"beta_min_ratio": 2.0}, r"beta_min_ratio must be in \(0, 1\)"),
        (
            ConvexReLURegressor,
            {"hidden_bias": "no"},
            r"ConvexReLURegressor: hidden_bias must be True or False",
        ),
        (
            ConvexReLURegressor,
            {"standardize": None},
            r"ConvexReLURegressor: standardize must be True or False",
        ),
        (
            ConvexReLUClassifier,
            {"output_bias": 1},
            r"ConvexReLUClassifier: output_bias must be True or False",
        ),
        (ConvexReLURegressorCV, {"standardize": "yes"}, r"ConvexReLURegressorCV: standardize must"),
        (
            ConvexReLURegressor,
            {"random_state": "x"},
            r"ConvexReLURegressor: random_state must be None",
        ),
        (ConvexReLURegressorCV, {"random_state": "x"}, r"ConvexReLURegressorCV: random_state must"),
        (ConvexReLURegressorCV, {"betas": [1.0, -2.0]}, r"ConvexReLURegressorCV: betas entry"),
    ],
)
def test_bad_parameters(Est: type, params: dict, match: str) -> None:
    X, y = _regression(n=20)
    with pytest.raises((ValueError, TypeError), match=match):
        Est(**params).fit(X, y)


def test_exact_patterns_out_of_reach_say_what_to_do() -> None:
    X, y = np.random.default_rng(0).normal(size=(40, 30)), np.ones(40)
    with pytest.raises(ValueError, match=r"ConvexReLURegressor: patterns='exact' cannot .*"
                       r"Use patterns='sampled' instead \(n_patterns=20 ") as info:  # fmt: skip
        ConvexReLURegressor(patterns="exact").fit(X, y)
    msg = str(info.value)
    # the estimator has no max_patterns to raise; no sentence ends inside a parenthesis
    assert "raise max_patterns" not in msg and "max_patterns=" not in msg
    assert ".)" not in msg and ") Use" not in msg
    assert "pass a boolean pattern array" in msg


def test_cross_entropy_rejects_first_order_solver() -> None:
    X, y = _blobs(n=30)
    with pytest.raises(ValueError, match=r"ConvexReLUClassifier: loss='cross_entropy' is solved"):
        ConvexReLUClassifier(loss="cross_entropy", solver="fast").fit(X, y)


def test_exported_in_namespace() -> None:
    assert cnn.ConvexReLURegressor is ConvexReLURegressor
    assert {"ConvexReLUClassifier", "ConvexReLUClassifierCV"} <= set(cnn.__all__)


# -- review fixes -----------------------------------------------------------------------------


def test_scikit_learn_floor_has_what_the_estimators_import() -> None:
    """``Tags`` and ``validate_data`` came with scikit-learn 1.6: an older install could
    satisfy the declared requirement and still fail at ``import convexnn``."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    match = re.search(r'"scikit-learn>=(\d+)\.(\d+)', text)
    assert match is not None, "pyproject.toml must declare a scikit-learn floor"
    assert (int(match.group(1)), int(match.group(2))) >= (1, 6)


class _Named(np.ndarray):
    """A plain array that carries column names, as a DataFrame does."""

    names: list[str]


def _named(X: np.ndarray, names: list[str]) -> _Named:
    out = np.asarray(X).view(_Named)
    out.names = names
    return out


@pytest.mark.parametrize("Est", [ConvexReLURegressorCV, ConvexReLUClassifierCV])
def test_cv_estimators_keep_feature_names(Est: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refit used to validate the already-converted array again (reset=True), which
    dropped feature_names_in_: predicting with reordered columns was silently wrong.

    pandas is not a test dependency: scikit-learn reads feature names through
    ``sklearn.utils.validation._get_feature_names``, taught here to read ``_Named``.
    """
    import sklearn.utils.validation as skv

    real = skv._get_feature_names
    monkeypatch.setattr(
        skv,
        "_get_feature_names",
        lambda X: np.asarray(X.names, dtype=object) if isinstance(X, _Named) else real(X),
    )
    calls: list[Any] = []
    real_validate = est_mod.validate_data

    def spy(estimator, X="no_validation", *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((X, kwargs.get("reset", True)))
        return real_validate(estimator, X, *args, **kwargs)

    monkeypatch.setattr(est_mod, "validate_data", spy)
    X, y = _regression(n=30)
    if Est is ConvexReLUClassifierCV:
        y = (y > np.median(y)).astype(int)
    Xn = _named(X, ["a", "b", "c"])
    est = Est(betas=[1.0, 0.1], cv=2, n_patterns=5, random_state=0, loss="squared").fit(Xn, y)
    # validated once, with reset=True, on the user's X (the folds validate their own slices)
    assert [reset for X_, reset in calls if X_ is Xn] == [True]
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    assert est.n_features_in_ == 3
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(est.predict(Xn), est.predict(np.asarray(X)))
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(_named(X[:, [2, 0, 1]], ["c", "a", "b"]))


def test_cv_estimator_keeps_pandas_feature_names() -> None:
    pd = pytest.importorskip("pandas")
    X, y = _regression(n=30)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = ConvexReLURegressorCV(betas=[1.0, 0.1], cv=2, n_patterns=5, random_state=0).fit(df, y)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(df[["c", "a", "b"]])


def test_cross_entropy_falls_back_to_scs(monkeypatch: pytest.MonkeyPatch) -> None:
    """_solve's documented fallback (SCS when Clarabel breaks down) applies to the
    cross-entropy's joint solve too, and solution_.solver says which backend ran."""
    import convexnn.multioutput as mo

    real = mo.solve_multioutput

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("solver") == "cvxpy":
            raise RuntimeError("solve_multioutput: the CVXPY backend CLARABEL failed (x).")
        return real(*args, **kwargs)

    monkeypatch.setattr(mo, "solve_multioutput", flaky)
    X, y = _blobs(n=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = ConvexReLUClassifier(loss="cross_entropy", beta=1.0, n_patterns=5, random_state=0)
        clf.fit(X, y)
    fallback = [w for w in caught if "solving with 'cvxpy-scs' instead" in str(w.message)]
    assert len(fallback) == 1 and fallback[0].filename == __file__
    assert clf.solution_.solver == "cvxpy-scs"
    assert clf.score(X, y) > 0.6
    with pytest.raises(RuntimeError, match="CLARABEL failed"):
        ConvexReLUClassifier(loss="cross_entropy", solver="cvxpy", n_patterns=5).fit(X, y)
    monkeypatch.setattr(mo, "solve_multioutput", real)
    ok = ConvexReLUClassifier(loss="cross_entropy", beta=1.0, n_patterns=5, random_state=0)
    assert ok.fit(X, y).solution_.solver == "cvxpy"


def test_cross_entropy_reports_iterations_and_consistent_proba() -> None:
    X, y = _blobs(n=30, centers=2)
    clf = ConvexReLUClassifier(loss="cross_entropy", n_patterns=5, random_state=0).fit(X, y)
    assert isinstance(clf.n_iter_, (int, np.integer)) and clf.n_iter_ >= 1
    f = clf.decision_function(X)
    p = clf.predict_proba(X)[:, 1]
    assert np.all(np.diff(p[np.argsort(f)]) >= 0)  # monotone in the decision function


@pytest.mark.parametrize(
    "check",
    [
        "check_positive_only_tag_during_fit",  # Clarabel failed on iris: no fallback
        "check_non_transformer_estimators_n_iter",  # n_iter_ was None
        "check_decision_proba_consistency",
    ],
)
def test_cross_entropy_sklearn_checks(check: str) -> None:
    """The checks that failed for loss="cross_entropy" (the whole check_estimator run
    takes minutes there: iris through CVXPY, SCS after Clarabel fails)."""
    from sklearn.utils import estimator_checks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the announced SCS fallback
        getattr(estimator_checks, check)(
            "ConvexReLUClassifier", ConvexReLUClassifier(loss="cross_entropy", random_state=0)
        )


def test_cross_entropy_refuses_gated() -> None:
    """The joint softmax program has no gated network; its ReLU network of gated blocks
    scored 0.62 on iris (a constant predictor's objective was lower): refused."""
    X, y = _blobs(n=30)
    clf = ConvexReLUClassifier(loss="cross_entropy", formulation="gated", n_patterns=5)
    with pytest.raises(ValueError, match=r"ConvexReLUClassifier: formulation='gated' is not "
                       r"available with loss='cross_entropy'.*formulation='relu'"):  # fmt: skip
        clf.fit(X, y)
    with pytest.raises(ValueError, match="formulation='gated' is not available"):
        ConvexReLUClassifierCV(loss="cross_entropy", formulation="gated", cv=2).fit(X, y)


def test_clone_keeps_exhaustive_patterns() -> None:
    """clone deep-copies parameters; a PatternMatrix lost `exhaustive` on the way and the
    certificate silently dropped from "global" to "patterns"."""
    X, y = _regression(n=20, d=1, seed=3)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    est = ConvexReLURegressor(beta=0.1, patterns=D, standardize=False)
    assert clone(est).patterns.exhaustive
    assert clone(est).fit(X, y).certificate_scope_ == "global"
    every = np.arange(len(y))  # one split, all the data: the patterns fit each fold
    grid = GridSearchCV(est, {"beta": [0.1, 1.0]}, cv=[(every, every)]).fit(X, y)
    assert grid.best_estimator_.certificate_scope_ == "global"


def test_exhaustive_patterns_of_raw_X_with_standardize() -> None:
    """With a hidden bias, [(X - m) / s, 1] = [X, 1] A (A invertible): the patterns of
    the raw X are those of the standardized X, so the certificate stays global.
    Without one the centring changes them: downgraded, with the real reason."""
    X, y = _regression(n=20, d=1, seed=3)
    D = cnn.enumerate_patterns(X, hidden_bias=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "enumerated for a different X"
        reg = ConvexReLURegressor(beta=0.1, patterns=D).fit(X, y)
    assert reg.certificate_scope_ == "global"
    exact = ConvexReLURegressor(beta=0.1, patterns="exact").fit(X, y)
    assert reg.objective_ == pytest.approx(exact.objective_, rel=1e-6)

    D0 = cnn.enumerate_patterns(X, hidden_bias=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg0 = ConvexReLURegressor(beta=0.1, patterns=D0, hidden_bias=False).fit(X, y)
    msgs = [str(w.message) for w in caught if "enumerated for" in str(w.message)]
    assert len(msgs) == 1 and "standardize=True centres X" in msgs[0]
    assert caught[0].filename == __file__
    assert reg0.certificate_scope_ == "patterns"
    with pytest.warns(UserWarning, match="enumerated with hidden_bias=False, but this estimator"):
        ConvexReLURegressor(beta=0.1, patterns=D0).fit(X, y)


def test_convergence_warning_is_sklearns() -> None:
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    assert issubclass(ConvergenceWarning, SklearnConvergenceWarning)
    assert issubclass(ConvergenceWarning, UserWarning)  # existing filters keep working


def test_failed_fit_warns_once_at_the_users_line() -> None:
    """solve and its solver each warned, from inside convexnn, prefixed "solve:"; a fit
    now gives one ConvergenceWarning, named after the estimator, at the fit call."""
    X, y = _blobs(n=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ConvexReLUClassifier(loss="squared", max_iter=1, n_patterns=5, random_state=0).fit(X, y)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1  # three one-vs-rest solves stopped early: one warning
    assert conv[0].filename == __file__
    assert str(conv[0].message).startswith("ConvexReLUClassifier: ")
    assert "solve:" not in str(conv[0].message)
    # scikit-learn's category silences it
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=SklearnConvergenceWarning)
        ConvexReLUClassifier(loss="squared", max_iter=1, n_patterns=5, random_state=0).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_stall_on_large_targets_names_their_scale() -> None:
    """Standardized X, targets of scale 1e8: the stall message used to blame X only."""
    X, y = _regression(n=30, d=2, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ConvexReLURegressor(beta=1e-3, random_state=0).fit(X, y * 1e8)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1 and conv[0].filename == __file__
    assert "targets y far from unit scale" in str(conv[0].message)


def test_zero_network_from_too_large_beta_warns() -> None:
    """beta's scale goes with y's: y * 1e-8 collapsed silently to the zero network."""
    X, y = _regression(n=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny = ConvexReLURegressor(beta=0.1, n_patterns=10, random_state=0).fit(X, y * 1e-8)
    zero = [w for w in caught if "zero network" in str(w.message)]
    assert tiny.n_neurons_ == 0 and len(zero) == 1 and zero[0].filename == __file__
    msg = str(zero[0].message)
    assert msg.startswith("ConvexReLURegressor: ") and "beta=0.1 is at or above beta_max=" in msg
    assert "rescale y" in msg
    beta_max = float(msg.split("beta_max=")[1].split(",")[0])
    # just below beta_max the network is not zero, and nothing is said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        below = ConvexReLURegressor(beta=0.5 * beta_max, n_patterns=10, random_state=0)
        below.fit(X, y * 1e-8)
    assert below.n_neurons_ > 0
    assert not [w for w in caught if "zero network" in str(w.message)]
    # the CV path starts at beta_max by design: its folds say nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ConvexReLURegressorCV(n_betas=3, cv=2, n_patterns=5, random_state=0).fit(X, y)
    assert not [w for w in caught if "zero network" in str(w.message)]
