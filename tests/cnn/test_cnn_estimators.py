import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from convexnn.cnn import ConvexCNNClassifier, ConvexCNNRegressor


def _digits():
    d = load_digits()
    m = (d.target == 0) | (d.target == 1)
    return d.images[m][:, None] / 16.0, d.target[m]


def test_classifier_fit_predict_clone_pickle_torch():
    X, y = _digits()
    clf = ConvexCNNClassifier(kernel_size=4, stride=4, n_gates=8, beta=1e-2, random_state=0)
    assert clf.get_params()["kernel_size"] == 4
    clf.fit(X[:60], y[:60])
    assert clf.solution_.relative_gap < 1e-6
    assert clf.score(X[60:160], y[60:160]) > 0.9
    c2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(c2.predict(X[:30]), clf.predict(X[:30]))
    assert not hasattr(clone(clf), "solution_")
    torch = pytest.importorskip("torch")
    out = clf.to_torch()(torch.as_tensor(X[:30])).detach().numpy().ravel()
    np.testing.assert_allclose(out, clf.decision_function(X[:30]), atol=1e-10)
    module = clf.to_torch(dtype=torch.float32, device="cpu")
    assert all(p.dtype == torch.float32 for p in module.parameters())
    out32 = module(torch.as_tensor(X[:30], dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(out32.ravel(), clf.decision_function(X[:30]), atol=1e-4)


def test_regressor_gated_and_errors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2, 9))
    y = X[:, 0, :3].sum(axis=1)
    reg = ConvexCNNRegressor(
        kernel_size=3, stride=3, n_gates=6, formulation="gated", beta=1e-2, random_state=0
    ).fit(X, y)
    assert reg.network_ is None and reg.predict(X).shape == (30,)
    assert reg.score(X, y) > 0.5
    with pytest.raises(ValueError, match="formulation='gated' has no ReLU network"):
        reg.to_torch()
    with pytest.raises(ValueError, match="fitted on"):
        reg.predict(X[:, :, :6])
    with pytest.raises(ValueError, match="exactly two classes"):
        ConvexCNNClassifier(kernel_size=3).fit(X, np.arange(30) % 3)


@pytest.mark.parametrize(
    "params,X_edit,match",
    [
        ({"kernel_size": 9}, None, r"ConvexCNNRegressor: kernel_size \(9, 9\) is larger"),
        ({"stride": 0}, None, r"ConvexCNNRegressor: stride must be >= 1, got 0"),
        ({"n_gates": 0}, None, r"ConvexCNNRegressor: n_gates must be an integer >= 1"),
        ({"beta": -1.0}, None, r"ConvexCNNRegressor: beta must be > 0, got -1.0"),
        ({"tol": 0.0}, None, r"ConvexCNNRegressor: tol must be a positive finite number"),
        ({"max_iter": 0}, None, r"ConvexCNNRegressor: max_iter must be an integer >= 1"),
        ({"solver": "adam"}, None, r"ConvexCNNRegressor: unknown solver 'adam'"),
        ({"loss": "l1"}, None, r"ConvexCNNRegressor: unknown loss 'l1'"),
        ({"pattern_method": "grid"}, None, r"ConvexCNNRegressor: unknown pattern_method"),
        ({}, "nan", r"ConvexCNNRegressor.fit: X must be finite, got 1 NaN and 0 infinite"),
        ({}, "empty", r"ConvexCNNRegressor.fit: X must hold at least one sample"),
    ],
)
def test_bad_input_is_refused_under_the_estimators_name(params, X_edit, match):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 1, 6, 6)), rng.normal(size=8)
    if X_edit == "nan":
        X[3, 0, 2, 2] = np.nan
    if X_edit == "empty":
        X, y = X[:0], y[:0]
    with pytest.raises(ValueError, match=match):
        ConvexCNNRegressor(**params).fit(X, y)
