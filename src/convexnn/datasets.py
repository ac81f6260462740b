"""Data for the paper's experiments: real loaders (local files only) and offline stand-ins.

The paper used CIFAR-10 (binary subsets) and Torgo's Boston Housing, Kinematics (kin8nm)
and Bank (bank32) regression sets. None of them can be downloaded here, so:

* :func:`load_cifar10` reads CIFAR-10's python pickle batches from a local folder and
  :func:`load_regression_file` reads a Torgo set saved as CSV or ARFF, both given by the user;
* the stand-ins are bundled with scikit-learn (digits, diabetes) or generated from a fixed
  seed with the paper's n and d; every stand-in says so in its ``name`` and ``description``.

No function in this module touches the network.
"""

from __future__ import annotations

import csv
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Dataset",
    "bank_standin",
    "binary_2d",
    "binary_2d_hard",
    "boston_standin",
    "digits_binary",
    "kinematics_standin",
    "load_cifar10",
    "load_cifar10_binary",
    "load_regression_file",
    "read_table",
    "split_standardize",
]

Array = NDArray[np.float64]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass
class Dataset:
    """A train/test split.

    Attributes
    ----------
    X_train : array of shape (n, d)
    y_train : array of shape (n,)
    X_test : array of shape (n_test, d)
    y_test : array of shape (n_test,)
    name : str
        Short name; stand-ins contain the words "stand-in".
    description : str
        Where the data come from and how they differ from the paper's.
    """

    X_train: Array
    y_train: Array
    X_test: Array
    y_test: Array
    name: str
    description: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, d)`` of the training set."""
        n, d = self.X_train.shape
        return int(n), int(d)


# -- helpers ------------------------------------------------------------------------------


def _rng(random_state: Any) -> np.random.Generator:
    return np.random.default_rng(random_state)


def split_standardize(
    X: Any,
    y: Any,
    *,
    n_train: int,
    n_test: int | None = None,
    standardize_y: bool = True,
    random_state: Any = 0,
    name: str = "data",
    description: str = "",
) -> Dataset:
    """Shuffle, split into ``n_train`` / ``n_test`` rows and standardise with train statistics.

    Columns of X get zero mean and unit variance (constant columns are left centred);
    ``y`` too when ``standardize_y`` (regression). Raises ValueError when there are fewer
    than ``n_train + 1`` rows.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = X.shape[0]
    if X.ndim != 2 or y.shape[0] != n:
        raise ValueError(
            f"split_standardize: X must be (n, d) and y (n,), got {X.shape} and {y.shape}."
        )
    if n_train < 1 or n_train >= n:
        raise ValueError(
            f"split_standardize: n_train must be in [1, {n - 1}] for {n} rows, got {n_train}."
        )
    n_test = n - n_train if n_test is None else min(n_test, n - n_train)
    perm = _rng(random_state).permutation(n)
    tr, te = perm[:n_train], perm[n_train : n_train + n_test]
    mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
    sd[sd == 0.0] = 1.0
    Xs = (X - mu) / sd
    ys = y
    if standardize_y:
        ym, ysd = y[tr].mean(), y[tr].std()
        ys = (y - ym) / (ysd if ysd > 0 else 1.0)
    return Dataset(Xs[tr], ys[tr], Xs[te], ys[te], name, description)


# -- real data from local files -----------------------------------------------------------


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with path.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(
            f"load_cifar10: {path} is not a CIFAR-10 python pickle batch ({exc}); pass the "
            "folder 'cifar-10-batches-py' of the python version of CIFAR-10."
        ) from exc
    if not isinstance(batch, dict):
        raise ValueError(f"load_cifar10: {path} does not hold a dict; not a CIFAR-10 batch.")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def load_cifar10(path: str | Path, *, train: bool = True) -> tuple[Array, NDArray[np.int64]]:
    """Read CIFAR-10 from its python pickle batches in a local folder.

    Parameters
    ----------
    path : str or Path
        The folder ``cifar-10-batches-py`` (files ``data_batch_1`` ... ``data_batch_5``,
        ``test_batch``), or a single batch file.
    train : bool
        Read the training batches (True) or ``test_batch`` (False); ignored for a file.

    Returns
    -------
    X : array of shape (n, 3072)
        Pixels scaled to [0, 1], in CIFAR's order (1024 red, 1024 green, 1024 blue).
    y : int array of shape (n,)
        Labels 0-9 (see ``CIFAR10_CLASSES``).
    """
    path = Path(path)
    if path.is_dir():
        names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        files = [path / nm for nm in names if (path / nm).exists()]
        if not files:
            raise FileNotFoundError(
                f"load_cifar10: no {'data_batch_*' if train else 'test_batch'} file in {path}; "
                "pass the folder 'cifar-10-batches-py' of the python version of CIFAR-10."
            )
    elif path.exists():
        files = [path]
    else:
        raise FileNotFoundError(f"load_cifar10: {path} does not exist.")
    Xs, ys = [], []
    for f in files:
        batch = _unpickle(f)
        if "data" not in batch or "labels" not in batch:
            raise ValueError(
                f"load_cifar10: {f} has keys {sorted(batch)}; a CIFAR-10 batch has 'data' and "
                "'labels'."
            )
        data = np.asarray(batch["data"])
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(
                f"load_cifar10: {f}: 'data' must be (n, 3072) uint8, got shape {data.shape}."
            )
        Xs.append(data.astype(np.float64) / 255.0)
        ys.append(np.asarray(batch["labels"], dtype=np.int64))
    return np.vstack(Xs), np.concatenate(ys)


def _pick_rows(
    y: NDArray[Any], classes: tuple[int, int], n: int, rng: np.random.Generator, where: str
) -> NDArray[np.intp]:
    """``n`` distinct random rows of ``y`` whose label is one of ``classes``."""
    idx = np.flatnonzero(np.isin(y, classes))
    if n > idx.size:
        raise ValueError(
            f"load_cifar10_binary: requested {n} samples of classes {classes} from {where}, "
            f"only {idx.size} available; lower n_train / n_test or pass the folder "
            "'cifar-10-batches-py' (training and test batches)."
        )
    return np.asarray(rng.choice(idx, size=n, replace=False), dtype=np.intp)


def _labels(y: NDArray[Any], classes: tuple[int, int]) -> Array:
    return np.where(y == classes[0], 1.0, -1.0)


def load_cifar10_binary(
    path: str | Path,
    *,
    classes: tuple[int, int] = (0, 1),
    n_train: int = 106,
    n_test: int = 400,
    random_state: Any = 0,
) -> Dataset:
    """A two-class under-sampled CIFAR-10 subset (paper, Figure 4), labels +1 / -1.

    ``classes[0]`` gets label +1. Features are pixels in [0, 1], centred with the training mean.
    From a folder, the training rows come from the training batches and the test rows from
    ``test_batch``; from a single batch file, train and test are disjoint subsets of its
    rows (ValueError when ``n_train + n_test`` exceeds the rows of the two classes).
    """
    rng = _rng(random_state)
    X, y = load_cifar10(path, train=True)
    if Path(path).is_dir():
        Xt, yt = load_cifar10(path, train=False)
        tr = _pick_rows(y, classes, n_train, rng, "the training batches")
        te = _pick_rows(yt, classes, n_test, rng, "test_batch")
    else:
        Xt, yt = X, y
        both = _pick_rows(y, classes, n_train + n_test, rng, f"{path} (n_train + n_test)")
        tr, te = both[:n_train], both[n_train:]
    mu = X[tr].mean(axis=0)
    names = f"{CIFAR10_CLASSES[classes[0]]} vs {CIFAR10_CLASSES[classes[1]]}"
    return Dataset(
        X[tr] - mu,
        _labels(y[tr], classes),
        Xt[te] - mu,
        _labels(yt[te], classes),
        f"CIFAR-10 ({names})",
        f"CIFAR-10 from {path}",
    )


_ARFF_ATTRIBUTE = re.compile(r"""@attribute\s+('(?:[^']*)'|"(?:[^"]*)"|\S+)""", re.IGNORECASE)


def _read_arff(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Attribute names and the data rows ``(line number, cells)`` of an ARFF text.

    Names may be quoted with single or double quotes (``@attribute 'x two' real``); a
    cell ``?`` (ARFF's missing value) is returned as an empty cell.
    """
    names: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    in_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            match = _ARFF_ATTRIBUTE.match(line)
            if match:
                name = match.group(1)
                names.append(name[1:-1] if name[0] in "'\"" else name)
            elif line.lower().startswith("@data"):
                in_data = True
            continue
        cells = [c.strip() for c in next(csv.reader([line], skipinitialspace=True))]
        rows.append((number, ["" if c == "?" else c for c in cells]))
    return names, rows


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _split_lines(text: str) -> list[tuple[int, list[str]]]:
    """The non-blank lines of a delimited text as ``(line number, cells)``, empty cells kept.

    Comma, semicolon and tab separate one cell from the next (so ``1,,3`` has an empty
    second cell); a space-separated file splits on runs of whitespace.
    """
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    delimiter = _delimiter(text[:4096], lines[0][1] if lines else "")
    if delimiter == " ":
        return [(i, line.split()) for i, line in lines]
    reader = csv.reader([line for _, line in lines], delimiter=delimiter)
    return [(i, [c.strip() for c in cells]) for (i, _), cells in zip(lines, reader, strict=True)]


def _delimiter(sample: str, first_line: str) -> str:
    """The sniffed delimiter; if sniffing fails, the first of ``,;<tab>`` in the first line."""
    try:
        return str(csv.Sniffer().sniff(sample, delimiters=",; \t").delimiter)
    except csv.Error:
        return next((d for d in ",;\t" if d in first_line), " ")


def _read_csv(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header names (empty without a header) and data rows ``(line number, cells)``.

    The first row is a header when one of its non-empty cells is not a number.
    """
    rows = _split_lines(text)
    if rows and any(c != "" and not _is_number(c) for c in rows[0][1]):
        return rows[0][1], rows[1:]
    return [], rows


def _check_cells(names: list[str], rows: list[tuple[int, list[str]]]) -> None:
    """Every row as wide as the header (or the first row), no empty (missing) cell."""
    width, source = (len(names), "the header") if names else (len(rows[0][1]), "the first row")
    for line, cells in rows:
        if len(cells) != width:
            raise ValueError(
                f"rows of different lengths: line {line} has {len(cells)} cells but {source} "
                f"has {width}; every row needs one value per column."
            )
        for k, cell in enumerate(cells):
            if cell == "":
                name = f" ({names[k]!r})" if names and names[k] else ""
                raise ValueError(
                    f"missing value at line {line}, column {k + 1}{name}; fill it in or "
                    f"drop that row (missing values are not supported)."
                )


def read_table(path: str | Path, *, caller: str = "read_table") -> tuple[list[str], Array]:
    """Read a numeric table from a CSV / delimited text / ARFF file.

    Parameters
    ----------
    path : str or Path
        ``.arff`` (Weka format, numeric attributes) or a delimited text file (comma,
        semicolon, tab or space separated, optional header row); UTF-8, with or without
        a byte order mark.
    caller : str
        Name used in error messages.

    Returns
    -------
    names : list of str
        Column names (empty when the file has no header).
    data : array of shape (n, k)

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        No data rows, rows of different widths, a missing value or a non-numeric cell;
        the message names the line and column.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{caller}: {path} does not exist.")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    names, rows = _read_arff(text) if path.suffix.lower() == ".arff" else _read_csv(text)
    if not rows:
        raise ValueError(f"{caller}: {path} has no data rows.")
    try:
        _check_cells(names, rows)
        return names, np.array([[_number(c, line) for c in r] for line, r in rows])
    except ValueError as exc:
        raise ValueError(f"{caller}: {path}: {exc}") from None


def _number(cell: str, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"non-numeric entry {cell!r} at line {line}.") from None
    if not np.isfinite(value):
        raise ValueError(
            f"non-finite entry {cell!r} at line {line}; missing values are not supported: "
            "fill it in or drop that row."
        )
    return value


def load_regression_file(path: str | Path, *, target: int | str = -1) -> tuple[Array, Array]:
    """Read a numeric regression set (e.g. Torgo's Boston Housing, kin8nm, bank32) from disk.

    Parameters
    ----------
    path : str or Path
        ``.arff`` (Weka format, numeric attributes) or a delimited text file (``.csv``,
        ``.data``, ``.txt``: comma, semicolon, tab or space separated, optional header row),
        as read by :func:`read_table` (empty cells are refused, not skipped).
    target : int or str
        Column of the target: index (negative counts from the end) or header name.

    Returns
    -------
    X : array of shape (n, d)
    y : array of shape (n,)
    """
    caller = "load_regression_file"
    names, data = read_table(path, caller=caller)
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"{caller}: no column {target!r} in {path}; columns: {names}.")
        col = names.index(target)
    else:
        k = data.shape[1]
        if not -k <= int(target) < k:
            raise ValueError(
                f"{caller}: target column index must be in [{-k}, {k - 1}] for the {k} "
                f"columns of {path}, got {target}; pass a column's index (negative from "
                f"the end) or its name ({names})."
            )
        col = int(target) % k
    if data.shape[1] < 2:
        raise ValueError(f"{caller}: {path} needs at least one feature and a target column.")
    return np.delete(data, col, axis=1), data[:, col]


# -- offline stand-ins --------------------------------------------------------------------


def digits_binary(
    *,
    classes: tuple[int, int] = (3, 8),
    n_train: int = 106,
    n_test: int | None = None,
    random_state: Any = 0,
) -> Dataset:
    """scikit-learn's bundled 8x8 digits, two classes (stand-in for CIFAR-10, Figure 4).

    d = 64 (paper: 100), labels +1 (``classes[0]``) / -1. Pixels are scaled to [0, 1], then
    every feature is standardised (z-scored) with the training rows' mean and standard
    deviation (:func:`split_standardize`; constant pixels are only centred).
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, classes)
    X, yb = X[keep] / 16.0, np.where(y[keep] == classes[0], 1.0, -1.0)
    ds = split_standardize(
        X,
        yb,
        n_train=n_train,
        n_test=n_test,
        standardize_y=False,
        random_state=random_state,
        name=f"digits {classes[0]} vs {classes[1]} (stand-in for CIFAR-10)",
        description=(
            "scikit-learn's bundled 8x8 digits, two classes, d=64; the paper used an "
            "under-sampled two-class CIFAR-10 subset with d=100."
        ),
    )
    return ds


def boston_standin(*, n_train: int = 400, random_state: Any = 0) -> Dataset:
    """scikit-learn's bundled diabetes set (n = 442, d = 10) in place of Boston Housing.

    Real data of the same size (paper: n = 400, d = 13); the remaining 42 rows are the test set.
    """
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return split_standardize(
        X,
        y,
        n_train=min(n_train, X.shape[0] - 1),
        random_state=random_state,
        name="diabetes (stand-in for Boston Housing)",
        description=(
            "scikit-learn's bundled diabetes regression set (442 x 10, real data) stands in "
            "for Torgo's Boston Housing (506 x 13), which cannot be downloaded here."
        ),
    )


def kinematics_standin(
    *, n_train: int = 4000, n_test: int = 1000, random_state: Any = 0
) -> Dataset:
    """Synthetic stand-in for Torgo's kin8nm: forward kinematics of an 8-joint arm (d = 8).

    Joint angles ``theta ~ U[-pi/2, pi/2]^8``; links of length 1/8 in the plane; target =
    distance of the end effector from the point (0.5, 0.2) plus 1% noise. Same n and d as
    the paper's set, not its values.
    """
    rng = _rng(20200 if random_state is None else random_state)
    n = n_train + n_test
    theta = rng.uniform(-np.pi / 2, np.pi / 2, size=(n, 8))
    phi = np.cumsum(theta, axis=1)
    pos = np.stack([np.cos(phi).sum(axis=1), np.sin(phi).sum(axis=1)], axis=1) / 8.0
    y = np.linalg.norm(pos - np.array([0.5, 0.2]), axis=1) + 0.01 * rng.normal(size=n)
    return split_standardize(
        theta,
        y,
        n_train=n_train,
        random_state=rng,
        name="kinematics synthetic stand-in (kin8nm-like)",
        description=(
            "synthetic stand-in (no offline copy of kin8nm): end-effector distance of a "
            "random 8-joint planar arm, n=4000, d=8 as in the paper."
        ),
    )


def bank_standin(*, n_train: int = 4000, n_test: int = 1000, random_state: Any = 0) -> Dataset:
    """Synthetic stand-in for Torgo's bank32: a planted 8-neuron ReLU network on 32 features.

    ``X ~ N(0, I_32)``, ``y = sum_j (x^T u_j + b_j)_+ a_j + 0.1 noise``. Same n and d as the
    paper's set, not its values.
    """
    rng = _rng(20201 if random_state is None else random_state)
    n = n_train + n_test
    X = rng.normal(size=(n, 32))
    U = rng.normal(size=(32, 8)) / np.sqrt(32)
    b = rng.normal(size=8) * 0.5
    a = rng.normal(size=8)
    y = np.maximum(X @ U + b, 0.0) @ a + 0.1 * rng.normal(size=n)
    return split_standardize(
        X,
        y,
        n_train=n_train,
        random_state=rng,
        name="bank synthetic stand-in (planted ReLU)",
        description=(
            "synthetic stand-in (no offline copy of bank32): planted 8-neuron ReLU network "
            "on Gaussian features plus noise, n=4000, d=32 as in the paper."
        ),
    )


def binary_2d(*, n: int = 50, n_test: int = 200, random_state: Any = 0) -> Dataset:
    """Two interleaved half-moons in 2-D, labels +1 / -1 (Figure 3's kind of data).

    The paper does not publish its 2-D sets; this is a fixed-seed generated set.
    """
    rng = _rng(random_state)
    total = n + n_test
    t = rng.uniform(0.0, np.pi, size=total)
    lab = rng.integers(0, 2, size=total)
    x0 = np.where(lab == 0, np.cos(t), 1.0 - np.cos(t))
    x1 = np.where(lab == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.stack([x0, x1], axis=1) + 0.15 * rng.normal(size=(total, 2))
    X = (X - X[:n].mean(axis=0)) / X[:n].std(axis=0)
    y = np.where(lab == 0, 1.0, -1.0)
    return Dataset(
        X[:n],
        y[:n],
        X[n:],
        y[n:],
        "2-D moons (generated)",
        "two noisy half-moons, fixed seed; the paper's 2-D sets are not published",
    )


def binary_2d_hard(*, n: int = 50, n_test: int = 200, random_state: Any = 0) -> Dataset:
    """Figure 6's kind of data: two Gaussian blobs plus one negative sample inside the positives.

    The paper: "we place a negative sample (y = -1) near the positive samples to have a more
    challenging loss landscape". Generated from a fixed seed.
    """
    rng = _rng(random_state)
    total = n + n_test
    lab = np.arange(total) % 2
    centres = np.array([[1.0, 1.0], [-1.0, -1.0]])
    X = centres[lab] + 0.6 * rng.normal(size=(total, 2))
    y = np.where(lab == 0, 1.0, -1.0)
    pos = np.flatnonzero(y[:n] > 0)
    X[pos[0]] = X[pos].mean(axis=0) + 0.05  # the planted negative among the positives
    y[pos[0]] = -1.0
    return Dataset(
        X[:n],
        y[:n],
        X[n:],
        y[n:],
        "2-D blobs with a planted outlier (generated)",
        "two Gaussian blobs and one negative sample placed among the positives, fixed seed",
    )
