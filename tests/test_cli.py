"""The command line, run in-process: exit codes, printed results and written files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convexnn import certify, count_cells, enumerate_patterns, solve
from convexnn.cli import load_network, main

X1 = np.array([[-2.0], [-1.0], [0.0], [1.0], [2.0]])
Y1 = np.array([1.0, -1.0, 1.0, 1.0, -1.0])


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    path = tmp_path / "paper1d.csv"
    path.write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(X1[:, 0], Y1, strict=True)))
    return path


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "reproduce" in capsys.readouterr().out
    for cmd in ("reproduce", "fit", "certify", "patterns"):
        assert main([cmd, "--help"]) == 0
    assert main([]) == 2
    assert main(["nonsense"]) == 2
    assert main(["reproduce", "fig99"]) == 2
    assert "unknown experiment 'fig99'" in capsys.readouterr().err


def test_fit_saves_optimal_network_and_certificate(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "net.npz"
    args = ["fit", str(data_csv), "--beta", "0.01", "--hidden-bias", "--patterns", "exact"]
    code = main([*args, "--model", str(model), "--plot", str(tmp_path / "fit.png")])
    assert code == 0
    cert = json.loads(model.with_suffix(".json").read_text())
    assert cert["scope"] == "global" and cert["is_global"]
    ref = solve(X1, Y1, 0.01, patterns="exact", hidden_bias=True)
    assert cert["objective"] == pytest.approx(ref.objective, rel=1e-6)
    assert cert["lower_bound"] <= cert["upper_bound"]
    net = load_network(model)
    assert net.objective(X1, Y1, 0.01) == pytest.approx(cert["objective"], rel=1e-12)
    assert (tmp_path / "fit.png").stat().st_size > 1000
    assert "GLOBAL" in capsys.readouterr().out


def test_certify_npz_and_torch_state_dict(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    model = tmp_path / "net.npz"
    main(["fit", str(data_csv), "--beta", "0.01", "--hidden-bias", "--model", str(model)])
    capsys.readouterr()
    out_json = tmp_path / "cert.json"
    code = main(["certify", str(model), str(data_csv), "--beta", "0.01", "--json", str(out_json)])
    assert code == 0 and "GLOBAL" in capsys.readouterr().out
    # a torch network trained by anything: its certificate equals the library's
    gen = torch.Generator().manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    with torch.no_grad():
        for p in seq.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    pt = tmp_path / "net.pt"
    torch.save(seq.state_dict(), pt)
    out2 = tmp_path / "cert2.json"
    code = main(["certify", str(pt), str(data_csv), "--beta", "0.1", "--json", str(out2)])
    assert code == 0
    got = json.loads(out2.read_text())
    net = load_network(pt)
    np.testing.assert_allclose(
        net.predict(X1),
        seq(torch.tensor(X1, dtype=torch.float32)).detach().numpy()[:, 0],
        rtol=1e-5,
    )
    ref = certify(net, X1, Y1, 0.1)
    assert got["lower_bound"] == pytest.approx(ref.lower_bound)
    assert got["upper_bound"] == pytest.approx(net.objective(X1, Y1, 0.1))
    # the optimum from `fit` is never below this network's certified lower bound
    fitted = solve(X1, Y1, 0.1, patterns="exact", hidden_bias=True)
    assert fitted.objective >= got["lower_bound"] - 1e-9


def test_certify_bad_inputs(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, W=np.zeros(3))
    assert main(["certify", str(bad), str(data_csv), "--beta", "0.1"]) == 2
    assert "needs arrays U, alpha" in capsys.readouterr().err
    assert main(["certify", str(tmp_path / "none.npz"), str(data_csv), "--beta", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    assert main(["certify", str(junk), str(data_csv), "--beta", "0.1"]) == 2
    assert "neither a .npz network" in capsys.readouterr().err
    # The data file given first (the arguments swapped): it says which comes first.
    assert main(["certify", str(data_csv), str(data_csv), "--beta", "0.1"]) == 2
    assert "network file comes first: convexnn certify MODEL DATA" in capsys.readouterr().err
    assert main(["fit", str(data_csv), "--beta", "-1", "--model", "x.npz"]) == 2
    assert "--beta must be > 0" in capsys.readouterr().err
    text = tmp_path / "t.csv"
    text.write_text("a,b\n1,x\n")
    assert main(["fit", str(text), "--beta", "1", "--model", str(tmp_path / "m.npz")]) == 2
    assert "non-numeric" in capsys.readouterr().err
    assert main(["fit", str(data_csv), "--beta", "1", "--loss", "nope", "--model", "m.npz"]) == 2
    assert "loss" in capsys.readouterr().err


def test_patterns_commands(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["patterns", "count", str(data_csv), "--target", "y", "--hidden-bias"]) == 0
    assert int(capsys.readouterr().out.strip()) == count_cells(X1, hidden_bias=True)
    out = tmp_path / "D.npy"
    code = main(
        ["patterns", "enumerate", str(data_csv), "--target", "-1", "--hidden-bias", "-o", str(out)]
    )
    assert code == 0
    np.testing.assert_array_equal(np.load(out), enumerate_patterns(X1, hidden_bias=True))
    out2 = tmp_path / "S.npy"
    code = main(["patterns", "sample", str(data_csv), "--n-patterns", "3", "-o", str(out2)])
    assert code == 0 and np.load(out2).shape == (5, 3)
    assert main(["patterns", "sample", str(data_csv)]) == 2
    assert "--n-patterns" in capsys.readouterr().err
    assert main(["patterns", "count", str(tmp_path / "missing.csv")]) == 2


@pytest.mark.slow
def test_reproduce_quick_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["reproduce", "fig2", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[ok] invariant: no_sgd_run_below_certified_lower_bound" in out
    assert "reproduced] paper: as m grows" in out  # the claim, with its verdict
    assert "invariants ok; paper claims:" in out.rstrip().splitlines()[-1]
    for name in ("fig2.md", "fig2.csv", "fig2.txt", "fig2_m8.png"):
        assert (tmp_path / name).stat().st_size > 0
