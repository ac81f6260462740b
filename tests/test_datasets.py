"""Loaders read the real formats (files written here) and stand-ins have the paper's n, d."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from convexnn import datasets


def _write_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    with path.open("wb") as fh:
        pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, fh)


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i in (1, 2):
        data = rng.integers(0, 256, size=(20, 3072), dtype=np.uint8)
        _write_batch(root / f"data_batch_{i}", data, [int(v) for v in np.arange(20) % 10])
    test = rng.integers(0, 256, size=(10, 3072), dtype=np.uint8)
    _write_batch(root / "test_batch", test, list(range(10)))
    return root


def test_load_cifar10_reads_pickle_batches(cifar_dir: Path) -> None:
    X, y = datasets.load_cifar10(cifar_dir)
    with (cifar_dir / "data_batch_2").open("rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    assert X.shape == (40, 3072) and y.shape == (40,)
    np.testing.assert_allclose(X[20:], raw[b"data"] / 255.0)
    np.testing.assert_array_equal(y[:10], np.arange(10))
    Xt, yt = datasets.load_cifar10(cifar_dir, train=False)
    assert Xt.shape == (10, 3072) and list(yt) == list(range(10))


def test_load_cifar10_binary(cifar_dir: Path) -> None:
    ds = datasets.load_cifar10_binary(cifar_dir, classes=(3, 5), n_train=6, n_test=2)
    assert ds.X_train.shape == (6, 3072) and set(ds.y_train) <= {-1.0, 1.0}
    assert set(ds.y_test) == {-1.0, 1.0}
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="only 8 available"):
        datasets.load_cifar10_binary(cifar_dir, classes=(3, 5), n_train=9, n_test=2)


def test_load_cifar10_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no data_batch"):
        datasets.load_cifar10(tmp_path)
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR-10"):
        datasets.load_cifar10(tmp_path)
    with (tmp_path / "other").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 5))}, fh)
    with pytest.raises(ValueError, match="'labels'"):
        datasets.load_cifar10(tmp_path / "other")


def test_load_regression_csv_and_arff(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(7, 4))
    csv_path = tmp_path / "boston.csv"
    lines = ["a,b,c,price"] + [",".join(f"{v:.17g}" for v in row) for row in data]
    csv_path.write_text("\n".join(lines) + "\n")
    X, y = datasets.load_regression_file(csv_path)
    np.testing.assert_array_equal(X, data[:, :3])
    np.testing.assert_array_equal(y, data[:, 3])
    X2, y2 = datasets.load_regression_file(csv_path, target="a")
    np.testing.assert_array_equal(y2, data[:, 0])
    np.testing.assert_array_equal(X2, data[:, 1:])

    # Torgo's .data files: whitespace separated, no header
    dat = tmp_path / "kin8nm.data"
    dat.write_text("\n".join(" ".join(f"{v:.17g}" for v in row) for row in data) + "\n")
    X3, y3 = datasets.load_regression_file(dat)
    np.testing.assert_array_equal(X3, data[:, :3])
    np.testing.assert_array_equal(y3, data[:, 3])

    arff = tmp_path / "bank32.arff"
    header = "% comment\n@relation bank\n" + "".join(f"@attribute x{i} numeric\n" for i in range(3))
    body = "\n".join(",".join(f"{v:.17g}" for v in row) for row in data)
    arff.write_text(header + "@attribute 'rej' real\n@data\n" + body + "\n")
    X4, y4 = datasets.load_regression_file(arff, target="rej")
    np.testing.assert_array_equal(X4, data[:, :3])
    np.testing.assert_array_equal(y4, data[:, 3])


def test_load_regression_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        datasets.load_regression_file(tmp_path / "missing.csv")
    ragged = tmp_path / "r.csv"
    ragged.write_text("1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="different lengths"):
        datasets.load_regression_file(ragged)
    text = tmp_path / "t.csv"
    text.write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="non-numeric"):
        datasets.load_regression_file(text)
    good = tmp_path / "g.csv"
    good.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column 'z'"):
        datasets.load_regression_file(good, target="z")
    for bad in (2, 7, -3):  # not wrapped round to another column
        with pytest.raises(ValueError, match=rf"must be in \[-2, 1\].*got {bad}"):
            datasets.load_regression_file(good, target=bad)
    X, y = datasets.load_regression_file(good, target=-2)
    assert y.tolist() == [1.0] and X.tolist() == [[2.0]]


def test_standins_have_paper_sizes_and_names() -> None:
    boston = datasets.boston_standin()
    assert boston.shape == (400, 10) and "stand-in" in boston.name
    np.testing.assert_allclose(boston.X_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(boston.y_train.std(), 1.0)
    kin = datasets.kinematics_standin()
    assert kin.shape == (4000, 8) and kin.X_test.shape == (1000, 8)
    assert "synthetic stand-in" in kin.name
    bank = datasets.bank_standin(n_train=300, n_test=50)
    assert bank.shape == (300, 32) and "synthetic stand-in" in bank.name
    digits = datasets.digits_binary(n_train=106)
    assert digits.shape == (106, 64) and set(digits.y_train) == {-1.0, 1.0}
    # fixed seeds: the same data every call
    np.testing.assert_array_equal(kin.X_train, datasets.kinematics_standin().X_train)


def test_binary_2d_sets() -> None:
    moons = datasets.binary_2d(n=50)
    assert moons.shape == (50, 2) and set(moons.y_train) == {-1.0, 1.0}
    hard = datasets.binary_2d_hard(n=50)
    pos = hard.X_train[hard.y_train > 0]
    # the planted negative sits closer to the positives' mean than any negative does
    neg = hard.X_train[hard.y_train < 0]
    dist = np.linalg.norm(neg - pos.mean(axis=0), axis=1)
    assert dist.min() < 0.2 < np.sort(dist)[1]


def test_split_standardize_errors() -> None:
    with pytest.raises(ValueError, match="n_train must be"):
        datasets.split_standardize(np.zeros((5, 2)), np.zeros(5), n_train=5)


def test_load_cifar10_binary_single_file_train_test_disjoint(tmp_path: Path) -> None:
    # rows told apart by their first pixel (the row index); labels 0-9: 8 rows of classes 3, 5
    data = np.zeros((40, 3072), dtype=np.uint8)
    data[:, 0] = np.arange(40)
    batch = tmp_path / "data_batch_1"
    _write_batch(batch, data, [int(v) for v in np.arange(40) % 10])
    for seed in range(5):
        ds = datasets.load_cifar10_binary(
            batch, classes=(3, 5), n_train=5, n_test=3, random_state=seed
        )
        # both are centred with the same training mean: distinct rows stay distinct
        train = {round(v * 255, 6) for v in ds.X_train[:, 0]}
        test = {round(v * 255, 6) for v in ds.X_test[:, 0]}
        assert len(train) == 5 and len(test) == 3
        assert train.isdisjoint(test), f"test rows leak into training (seed {seed})"
    with pytest.raises(ValueError, match=r"requested 9 samples .* only 8 available"):
        datasets.load_cifar10_binary(batch, classes=(3, 5), n_train=6, n_test=3)


def test_read_csv_keeps_empty_cells_and_checks_widths(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("a,b,y\n1,,10\n,2,20\n3,4,30\n")
    with pytest.raises(ValueError, match=r"missing value at line 2, column 2 \('b'\)"):
        datasets.load_regression_file(path)
    # no header: a first row with an empty cell is data, not a header
    path.write_text("1,,10\n3,4,30\n")
    with pytest.raises(ValueError, match=r"missing value at line 1, column 2"):
        datasets.load_regression_file(path)
    # an unnamed (empty) header column keeps the names over their own columns
    path.write_text("x1,,x2,target\n1,5,2,3\n2,6,1,4\n")
    X, y = datasets.load_regression_file(path, target="x2")
    assert y.tolist() == [2.0, 1.0] and X.tolist() == [[1.0, 5.0, 3.0], [2.0, 6.0, 4.0]]
    assert datasets.load_regression_file(path, target="target")[1].tolist() == [3.0, 4.0]
    # more names than data columns
    path.write_text("a,b,c,y\n1,2,3\n2,3,4\n")
    with pytest.raises(ValueError, match="line 2 has 3 cells but the header has 4"):
        datasets.load_regression_file(path, target="y")
    # semicolons and tabs separate cells too; runs of spaces do not make empty cells
    path.write_text("1;;3\n4;5;6\n")
    with pytest.raises(ValueError, match="missing value at line 1, column 2"):
        datasets.load_regression_file(path)
    path.write_text("1,nan,3\n4,5,6\n")
    with pytest.raises(ValueError, match="non-finite entry 'nan' at line 1"):
        datasets.load_regression_file(path)
    path.write_text("1  2   3\n 4 5 6\n")
    assert datasets.load_regression_file(path)[1].tolist() == [3.0, 6.0]


def test_read_csv_and_arff_with_utf8_bom(tmp_path: Path) -> None:
    bom = "\ufeff"
    path = tmp_path / "excel.csv"
    path.write_text(bom + "a,b,y\n1,2,3\n4,5,6\n", encoding="utf-8")
    X, y = datasets.load_regression_file(path, target="a")
    assert y.tolist() == [1.0, 4.0] and X.tolist() == [[2.0, 3.0], [5.0, 6.0]]
    path.write_text(bom + "1.0,2,3\n4,5,6\n", encoding="utf-8")  # no header: 2 rows
    assert datasets.load_regression_file(path)[1].tolist() == [3.0, 6.0]
    arff = tmp_path / "b.arff"
    arff.write_text(bom + "@relation r\n@attribute a real\n@attribute y real\n@data\n1,2\n")
    assert datasets.read_table(arff)[0] == ["a", "y"]


def test_arff_quoted_attribute_names(tmp_path: Path) -> None:
    arff = tmp_path / "q.arff"
    arff.write_text(
        "@relation r\n@attribute 'x two' real\n@ATTRIBUTE \"y, z\" numeric\n"
        "@attribute t real\n@data\n1,2,3\n4, 5, 6\n"
    )
    names, data = datasets.read_table(arff)
    assert names == ["x two", "y, z", "t"] and data.tolist() == [[1, 2, 3], [4, 5, 6]]
    X, y = datasets.load_regression_file(arff, target="x two")
    assert y.tolist() == [1.0, 4.0] and X.tolist() == [[2.0, 3.0], [5.0, 6.0]]
    arff.write_text("@relation r\n@attribute a real\n@attribute b real\n@data\n1,?\n")
    with pytest.raises(ValueError, match=r"missing value at line 5, column 2 \('b'\)"):
        datasets.read_table(arff)


def test_digits_binary_features_are_standardised() -> None:
    ds = datasets.digits_binary(n_train=106)
    live = ds.X_train.std(axis=0) > 0
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0)[live], 1.0)
    assert "z-scored" in (datasets.digits_binary.__doc__ or "")
