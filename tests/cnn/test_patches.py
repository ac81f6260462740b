import numpy as np
import pytest

from convexnn.cnn import extract_patches
from convexnn.cnn.patches import _extract_patches_loop

CASES = [
    ((2, 3, 7, 6), 3, 1, 0),
    ((2, 1, 8, 8), 4, 4, 0),
    ((3, 2, 5, 7), (2, 3), (2, 1), (1, 2)),
    ((2, 3, 11), 3, 2, 1),
    ((1, 1, 6), 2, 1, 0),
]


@pytest.mark.parametrize(("shape", "k", "s", "p"), CASES)
def test_matches_slow_loop(shape, k, s, p):
    X = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(extract_patches(X, k, s, p), _extract_patches_loop(X, k, s, p))


@pytest.mark.parametrize(("shape", "k", "s", "p"), CASES)
def test_matches_torch_unfold_and_conv(shape, k, s, p):
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(1).standard_normal(shape)
    P = extract_patches(X, k, s, p)
    Xt = torch.as_tensor(X)
    if X.ndim == 3:
        ref = torch.nn.functional.unfold(Xt[:, :, None, :], (1, k), stride=(1, s), padding=(0, p))
    else:
        ref = torch.nn.functional.unfold(Xt, k, stride=s, padding=p)
    np.testing.assert_allclose(P, ref.transpose(1, 2).numpy(), atol=0)
    # a filter is conv.weight[j].reshape(-1)
    conv = (torch.nn.Conv1d if X.ndim == 3 else torch.nn.Conv2d)(
        shape[1], 4, k, stride=s, padding=p, bias=False, dtype=torch.float64
    )
    out = conv(Xt).detach().numpy().reshape(shape[0], 4, -1).transpose(0, 2, 1)
    W = conv.weight.detach().numpy().reshape(4, -1)
    np.testing.assert_allclose(P @ W.T, out, atol=1e-12)


def test_errors():
    X = np.zeros((2, 1, 4, 4))
    with pytest.raises(ValueError, match="larger than the padded input"):
        extract_patches(X, 5)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        extract_patches(X, 2, 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        extract_patches(np.zeros((4, 4)), 2)


def test_errors_name_the_public_function_called():
    X = np.zeros((2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"^solve_linear_cnn: kernel_size \(7, 7\) is larger"):
        extract_patches(X, 7, caller="solve_linear_cnn")
    with pytest.raises(ValueError, match=r"^extract_patches: X must hold at least one sample"):
        extract_patches(X[:0], 3)
    X[1, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"^extract_patches: X must be finite, got 0 NaN and 1"):
        extract_patches(X, 3)
