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
