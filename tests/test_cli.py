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
    err = capsys.readouterr().err
    assert "neither a .npz network" in err and len(err.strip().splitlines()) == 1
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


def _one_line_error(err: str, command: str) -> str:
    """stderr holds exactly one line, ``convexnn <command>: error: ...``: no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"convexnn {command}: error: "), err
    return lines[0]


def test_fit_cross_entropy_writes_multioutput_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X = np.array([[-2.0], [-1.5], [-1.0], [0.0], [0.5], [1.0], [1.5], [2.0], [2.5]])
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2])
    data = tmp_path / "classes.csv"
    data.write_text(
        "x,label\n" + "".join(f"{a},{b}\n" for a, b in zip(X[:, 0], labels, strict=True))
    )
    model = tmp_path / "ce.npz"
    args = ["fit", str(data), "--beta", "0.1", "--loss", "cross_entropy", "--patterns", "exact"]
    assert main([*args, "--model", str(model)]) == 0
    assert "mode=separate" in capsys.readouterr().out
    cert = json.loads(model.with_suffix(".json").read_text())
    ref = solve(X, labels, 0.1, loss="cross_entropy", patterns="exact")
    assert cert["upper_bound"] == cert["objective"] == pytest.approx(ref.objective, rel=1e-6)
    assert cert["lower_bound"] == pytest.approx(ref.lower_bound, rel=1e-6)
    assert cert["shared_lower_bound"] == pytest.approx(ref.shared_lower_bound, rel=1e-6)
    assert cert["lower_bound"] <= cert["upper_bound"] + 1e-9
    assert cert["scope"] == "global" and cert["mode"] == "separate" and cert["n_outputs"] == 3
    # the separate bound does not cover eq. (2) with shared neurons: not claimed global
    assert cert["is_global"] is False and "without shared" in cert["lower_bound_covers"]
    assert load_network(model).alpha.shape[1] == 3
    # a multi-output model cannot be certified by `certify`; --plot is refused before work
    assert main(["certify", str(model), str(data), "--beta", "0.1"]) == 2
    assert "3 outputs" in _one_line_error(capsys.readouterr().err, "certify")
    plot = tmp_path / "p.png"
    assert main([*args, "--model", str(tmp_path / "m2"), "--plot", str(plot)]) == 2
    assert "--plot" in _one_line_error(capsys.readouterr().err, "fit")
    assert not (tmp_path / "m2.npz").exists()


def test_fit_solver_choices_are_relu_solvers(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(tmp_path / "m.npz")
    assert (
        main(["fit", str(data_csv), "--beta", "1", "--solver", "group-lasso", "--model", model])
        == 2
    )
    assert "invalid choice: 'group-lasso'" in capsys.readouterr().err
    assert main(["fit", "--help"]) == 0
    assert "group-lasso" not in capsys.readouterr().out
    assert main(["fit", str(data_csv), "--beta", "1", "--solver", "cvxpy", "--model", model]) == 0


def test_output_paths_without_suffix_are_the_files_written(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "out" / "nosuffix"
    assert main(["fit", str(data_csv), "--beta", "0.1", "--model", str(model)]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "out" / "nosuffix.npz"
    assert f"network saved to {written}\n" in out and written.exists()
    assert f"certificate saved to {tmp_path / 'out' / 'nosuffix.json'}" in out
    assert main(["certify", str(written), str(data_csv), "--beta", "0.1"]) == 0
    capsys.readouterr()
    assert main(["patterns", "sample", str(data_csv), "--n-patterns", "3", "-o", str(model)]) == 0
    assert f"saved to {tmp_path / 'out' / 'nosuffix.npy'}" in capsys.readouterr().out
    assert np.load(tmp_path / "out" / "nosuffix.npy").shape == (5, 3)


def test_patterns_without_target_reads_arff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arff = tmp_path / "d.arff"
    arff.write_text(
        "@relation r\n@attribute 'x one' real\n@attribute y real\n@data\n"
        + "".join(f"{a},{b}\n" for a, b in zip(X1[:, 0], Y1, strict=True))
    )
    assert main(["patterns", "count", str(arff)]) == 0
    assert int(capsys.readouterr().out) == count_cells(np.c_[X1, Y1])
    assert main(["patterns", "count", str(arff), "--target", "x one"]) == 0
    assert int(capsys.readouterr().out) == count_cells(Y1[:, None])


def test_output_paths_checked_before_the_work(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.npz"
    args = ["fit", str(data_csv), "--beta", "0.1", "--model", str(model)]
    assert main([*args, "--certificate", str(tmp_path)]) == 2
    assert "is a directory" in _one_line_error(capsys.readouterr().err, "fit")
    assert not model.exists()  # refused before the fit, not after saving the network
    afile = tmp_path / "afile"
    afile.write_text("x")
    code = main(["patterns", "enumerate", str(data_csv), "-o", str(afile / "x.npy")])
    assert code == 2 and "is a file" in _one_line_error(capsys.readouterr().err, "patterns")
    # refused at once (the whole run used to finish first, then FileExistsError)
    assert main(["reproduce", "fig11", "--quick", "--out", str(afile)]) == 2
    assert "not a folder" in _one_line_error(capsys.readouterr().err, "reproduce")
    # any other OSError: one line, exit code 2 (here DATA is a directory)
    assert main(["fit", str(tmp_path), "--beta", "0.1", "--model", str(model)]) == 2
    assert "Is a directory" in _one_line_error(capsys.readouterr().err, "fit")


def test_fit_then_certify_reproduce_sampled_patterns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    data = tmp_path / "d.csv"
    data.write_text(
        "a,b,y\n"
        + "".join(f"{r[0]:.17g},{r[1]:.17g},{t:.17g}\n" for r, t in zip(X, y, strict=True))
    )
    sampling = ["--patterns", "sampled", "--n-patterns", "15", "--random-state", "3"]
    model = tmp_path / "m.npz"
    assert main(["fit", str(data), "--beta", "0.05", *sampling, "--model", str(model)]) == 0
    fitted = json.loads(model.with_suffix(".json").read_text())
    assert fitted["scope"] == "patterns" and fitted["n_patterns"] == 15
    assert fitted["options"]["random_state"] == 3
    same = tmp_path / "same.json"
    args = ["certify", str(model), str(data), "--beta", "0.05"]
    assert main([*args, *sampling, "--json", str(same)]) == 0
    assert json.loads(same.read_text())["lower_bound"] == pytest.approx(
        fitted["lower_bound"], rel=1e-6
    )
    # the same patterns through a file written by `patterns sample`
    D = tmp_path / "D.npy"
    sample = ["patterns", "sample", str(data), "--target", "y", "-o", str(D)]
    assert main([*sample, "--n-patterns", "15", "--random-state", "3"]) == 0
    from_file = tmp_path / "file.json"
    assert main([*args, "--patterns", str(D), "--json", str(from_file)]) == 0
    assert json.loads(from_file.read_text())["lower_bound"] == pytest.approx(
        fitted["lower_bound"], rel=1e-6
    )
    model2 = tmp_path / "m2.npz"
    assert (
        main(["fit", str(data), "--beta", "0.05", "--patterns", str(D), "--model", str(model2)])
        == 0
    )
    refit = json.loads(model2.with_suffix(".json").read_text())
    assert refit["lower_bound"] == pytest.approx(fitted["lower_bound"], rel=1e-6)
    capsys.readouterr()
    assert main([*args, "--patterns", str(tmp_path / "none.npy")]) == 2
    assert "no such file" in _one_line_error(capsys.readouterr().err, "certify")
    np.save(tmp_path / "bad.npy", np.zeros((3, 2)))
    assert main([*args, "--patterns", str(tmp_path / "bad.npy")]) == 2
    assert "(12, P)" in _one_line_error(capsys.readouterr().err, "certify")
    # sampling's own warning (fewer patterns than asked) is one `warning:` line too
    assert main([*args, "--patterns", "sampled", "--n-patterns", "500"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: sample_patterns: found only") and "UserWarning" not in err
    assert main(["fit", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "auto (exact when the bound is at most --max-patterns" in help_text


def test_patterns_count_refuses_too_many_before_counting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "g.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(150, 8)), delimiter=",")
    assert main(["patterns", "count", str(data), "--max-patterns", "1000"]) == 2
    err = _one_line_error(capsys.readouterr().err, "patterns")
    assert "more than --max-patterns=1000" in err and "patterns sample" in err
    assert main(["patterns", "count", str(data)]) == 2  # the default limit too
    capsys.readouterr()


def test_cli_messages_are_one_line_in_cli_terms(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.npz"
    assert (
        main(["fit", str(data_csv), "--beta", "0.1", "--hidden-bias", "--model", str(model)]) == 0
    )
    capsys.readouterr()
    # a warning of certify: one `warning: ...` line, as fit prints them, no source line
    code = main(["certify", str(model), str(data_csv), "--beta", "0.1", "--max-patterns", "3"])
    err = capsys.readouterr().err
    assert code == 0 and err.startswith("warning: certify:") and "UserWarning" not in err
    assert len(err.strip().splitlines()) == 1
    text = tmp_path / "t.npz"
    text.write_text("hello")
    assert main(["certify", str(text), str(data_csv), "--beta", "0.1"]) == 2
    assert "not a convexnn network file" in _one_line_error(capsys.readouterr().err, "certify")
    big = tmp_path / "big.csv"
    np.savetxt(big, np.random.default_rng(0).normal(size=(40, 7)), delimiter=",")
    fit = ["fit", str(big), "--beta", "1", "--patterns", "exact", "--max-patterns", "100"]
    assert main([*fit, "--model", str(model)]) == 2
    err = _one_line_error(capsys.readouterr().err, "fit")
    assert "--patterns sampled --n-patterns N" in err and "sample_patterns(" not in err
