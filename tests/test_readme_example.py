"""The README's scikit-learn example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

from convexnn.exceptions import ConvergenceWarning

README = Path(__file__).resolve().parents[1] / "README.md"
NUMBER = re.compile(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?")


def _section_blocks() -> tuple[str, str]:
    """The first ```python block of the section and the ```text block after it."""
    text = README.read_text()
    start = text.index("## scikit-learn estimators")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    output = re.search(r"```text\n(.*?)```", section, re.S)
    assert code is not None and output is not None, "README section lost its blocks"
    return code.group(1), output.group(1)


def test_readme_sklearn_example() -> None:
    code, expected = _section_blocks()
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the gap must be certified
        with contextlib.redirect_stdout(buf):
            exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    got_lines = buf.getvalue().strip().splitlines()
    want_lines = expected.strip().splitlines()
    assert len(got_lines) == len(want_lines)
    for got, want in zip(got_lines, want_lines, strict=True):
        # words must match; numbers to 1% (the gap: to 1e-5 absolute, it is ~1e-6)
        assert NUMBER.sub("#", got) == NUMBER.sub("#", want), (got, want)
        for g, w in zip(NUMBER.findall(got), NUMBER.findall(want), strict=True):
            assert float(g) == pytest.approx(float(w), rel=1e-2, abs=1e-5), (got, want)


def test_readme_alg2_example_never_worse_than_its_network() -> None:
    """The README's Alg2 recipe runs and improves on the network it starts from."""
    pytest.importorskip("torch")
    import numpy as np

    text = README.read_text()
    start = text.index("### Beating Adam on sampled patterns")
    code = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert code is not None, "README section lost its code block"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.maximum(X @ rng.normal(size=3), 0) + 0.1 * rng.normal(size=120)
    scope = {"np": np, "cnn": __import__("convexnn"), "X": X, "y": y, "beta": 0.05}
    exec(compile(code.group(1), str(README), "exec"), scope)
    sol, run = scope["sol"], scope["run"]
    assert sol.relative_gap <= 1e-6
    assert sol.objective <= run.best_network.objective(X, y, 0.05) * (1 + 1e-9)
