"""Command line: ``convexnn reproduce | fit | certify | patterns`` (also ``python -m convexnn``).

Exit codes: 0 success; 1 an invariant check of `reproduce` failed (a NOT reproduced claim of
the paper is reported but does not fail the command); 2 bad options, input files or output
paths, and files that cannot be read or written (a one-line message says what to fix).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """A user error: printed as ``convexnn <command>: error: <message>``, exit code 2."""


# -- shared I/O ---------------------------------------------------------------------------


def _parse_target(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _read_xy(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import load_regression_file

    try:
        return load_regression_file(path, target=_parse_target(target))
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _read_x(path: str, target: str | None) -> np.ndarray:
    """All columns of DATA (CSV or ARFF), or all but ``target``."""
    if target is not None:
        return _read_xy(path, target)[0]
    from .datasets import read_table

    try:
        return read_table(path, caller="convexnn")[1]
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _with_suffix(path: str | Path, suffix: str) -> Path:
    """The file numpy writes for ``path``: ``np.save``/``np.savez`` append a missing suffix."""
    path = Path(path)
    return path if path.name.endswith(suffix) else path.with_name(path.name + suffix)


def _output_path(path: str | Path, option: str) -> Path:
    """Check, before any work, that ``path`` can be written as a file; return it.

    It must not be a directory, and its nearest existing parent must be a writable
    directory (missing folders are created when the file is written).
    """
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{option} {path} is a directory; give a file name, e.g. {path / 'out'}.")
    _check_parent(path, option)
    return path


def _output_dir(path: str | Path, option: str) -> Path:
    """Check, before any work, that ``path`` is a directory or can be created as one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path} is an existing file, not a folder; give a folder name.")
    _check_parent(path, option)
    return path


def _check_parent(path: Path, option: str) -> None:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(
            f"{option} {path}: {parent} is a file, so no folder can be made there; choose "
            "another path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path}: cannot write in {parent} (permission denied).")


def save_network(network: Any, path: str | Path) -> Path:
    """Save a :class:`convexnn.TwoLayerReLU` as ``.npz`` (arrays ``U``, ``alpha``, ``b``, ``c``).

    Missing biases are stored as empty arrays. A ``path`` without the ``.npz`` suffix gets
    it (as :func:`numpy.savez` does); the path written is returned.
    """
    path = _with_suffix(path, ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        U=network.U,
        alpha=network.alpha,
        b=np.array([]) if network.b is None else network.b,
        c=np.array([]) if network.c is None else np.asarray(network.c, dtype=np.float64),
    )
    return path


def load_network(path: str | Path) -> Any:
    """Load a network saved by :func:`save_network` (``.npz``) or a PyTorch state dict.

    A state dict (``.pt``/``.pth``) must hold ``nn.Sequential(Linear, ReLU, Linear)`` weights
    ``0.weight`` (m, d), ``0.bias`` (m,, optional), ``2.weight`` (1, m), ``2.bias`` (1,, optional).
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise CLIError(f"{path} {what}; pass the network file written by `convexnn fit`.")
    if path.suffix == ".npz" or _is_npz(path):
        return _load_npz(path)
    return _load_state_dict(path)


def _is_npz(path: Path) -> bool:
    """A zip archive of ``.npy`` arrays (``np.savez``), not a PyTorch zip checkpoint."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return "U.npy" in zf.namelist()


def _load_npz(path: Path) -> Any:
    from .network import TwoLayerReLU

    if not zipfile.is_zipfile(path):
        raise CLIError(
            f"{path} is not a convexnn network file (not a .npz archive); pass the .npz "
            "written by `convexnn fit --model` (or a PyTorch state dict)."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            U, alpha, b, c = z["U"], z["alpha"], z["b"], z["c"]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CLIError(
            f"{path} is not a network saved by `convexnn fit` (needs arrays U, alpha, b, c): "
            f"{_first_line(exc)}"
        ) from None
    return TwoLayerReLU(
        U,
        alpha.reshape(-1) if alpha.ndim <= 1 else alpha,
        b=None if b.size == 0 else b,
        c=None if c.size == 0 else float(c) if c.ndim == 0 else c,
    )


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name)."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _load_state_dict(path: Path) -> Any:
    try:
        import torch
    except ImportError:
        raise CLIError(
            "reading a PyTorch state dict needs PyTorch: pip install convexnn[torch]."
        ) from None
    from .network import TwoLayerReLU

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CLIError(
            f"{path} is neither a .npz network (from `convexnn fit --model`) nor a PyTorch "
            f"state dict (torch.load said: {_first_line(exc)}). The network file "
            f"comes first: convexnn certify MODEL DATA."
        ) from None
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    if not isinstance(sd, dict) or "0.weight" not in sd or "2.weight" not in sd:
        keys = sorted(sd) if isinstance(sd, dict) else type(sd).__name__
        raise CLIError(
            f"{path}: expected the state dict of nn.Sequential(Linear, ReLU, Linear) with keys "
            f"'0.weight' and '2.weight', got {keys}."
        )
    W1 = sd["0.weight"].detach().double().numpy()
    W2 = sd["2.weight"].detach().double().numpy()
    b1 = sd.get("0.bias")
    b2 = sd.get("2.bias")
    if W2.shape[0] != 1 or W2.shape[1] != W1.shape[0]:
        raise CLIError(
            f"{path}: 2.weight must be (1, {W1.shape[0]}) for a scalar-output network, got "
            f"{tuple(W2.shape)}."
        )
    return TwoLayerReLU(
        W1.T,
        W2[0],
        b=None if b1 is None else b1.detach().double().numpy(),
        c=None if b2 is None else float(b2.detach().double().numpy()[0]),
    )


# -- activation patterns -------------------------------------------------------------------

_PATTERN_NAMES = ("auto", "exact", "sampled")
_FIT_MAX_EXACT, _FIT_MAX_AUTO, _CERTIFY_MAX = 2_000_000, 5000, 200_000


def _too_many_patterns(X: np.ndarray, hidden_bias: bool, limit: int, alternative: str) -> str:
    """A CLI-worded message when the pattern bound of X exceeds ``limit``, else ""."""
    from .patterns import pattern_count_bound

    bound = pattern_count_bound(X, hidden_bias=hidden_bias)
    if bound <= limit:
        return ""
    data = "[X, 1] (hidden bias)" if hidden_bias else "the data"
    return (
        f"{data} ({X.shape[0]} rows) may have up to {bound} activation patterns (the bound "
        f"2*sum_{{k<rank}} C(n-1, k)), more than --max-patterns={limit}; use {alternative}, "
        "or raise --max-patterns."
    )


def _enumerate(X: np.ndarray, hidden_bias: bool, limit: int, alternative: str) -> np.ndarray:
    """All patterns of X (``enumerate_patterns``), refused in CLI terms when too many."""
    from .patterns import enumerate_patterns

    try:
        return enumerate_patterns(X, hidden_bias=hidden_bias, max_patterns=limit)
    except ValueError as exc:
        message = _too_many_patterns(X, hidden_bias, limit, alternative)
        if message:
            raise CLIError(message) from None
        if "max_bytes" in str(exc):
            raise CLIError(
                f"the (n, P) pattern matrix of the data would exceed 2 GB; count the patterns "
                f"with `convexnn patterns count`, or use {alternative}."
            ) from None
        raise CLIError(str(exc)) from None


def _load_patterns(path: str, n: int) -> np.ndarray:
    """An (n, P) bool pattern file written by ``convexnn patterns enumerate|sample``."""
    p = Path(path)
    if not p.is_file():
        raise CLIError(
            f"--patterns {path}: not auto, exact or sampled, and no such file; pass one of "
            "those or an .npy file written by `convexnn patterns sample|enumerate`."
        )
    try:
        D = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CLIError(f"--patterns {path} is not an .npy array file: {_first_line(exc)}") from None
    if D.ndim != 2 or D.shape[0] != n or not np.isin(D, (0, 1)).all():
        raise CLIError(
            f"--patterns {path}: expected an (n, P) = ({n}, P) array of 0/1 values (one row "
            f"per data row), got shape {D.shape} of dtype {D.dtype}; write it with `convexnn "
            "patterns sample|enumerate` on the same DATA and --hidden-bias setting."
        )
    return D.astype(bool)


def _sampled(X: np.ndarray, args: argparse.Namespace, hidden_bias: bool) -> np.ndarray:
    """The patterns ``convexnn.solve(patterns="sampled")`` draws for these options."""
    from .patterns import sample_patterns

    if args.n_patterns < 1:
        raise CLIError(f"--n-patterns must be >= 1, got {args.n_patterns}.")
    D = _quietly(
        sample_patterns,
        X,
        args.n_patterns,
        hidden_bias=hidden_bias,
        random_state=args.random_state,
    )
    return np.asarray(D, dtype=bool)


def _fit_patterns(args: argparse.Namespace, X: np.ndarray) -> Any:
    """``solve``'s ``patterns`` argument for ``fit``'s --patterns."""
    if args.patterns == "auto":
        return None
    if args.patterns == "sampled":
        return "sampled"
    if args.patterns == "exact":
        limit = args.max_patterns or _FIT_MAX_EXACT
        alternative = "--patterns sampled --n-patterns N (a certificate over those patterns)"
        return _enumerate(X, args.hidden_bias, limit, alternative)
    return _load_patterns(args.patterns, X.shape[0])


def _certify_patterns(args: argparse.Namespace, X: np.ndarray, hidden_bias: bool) -> Any:
    """``certify``'s ``patterns`` argument: "sampled" draws exactly what ``fit`` drew."""
    if args.patterns == "auto":
        return None
    if args.patterns == "exact":
        return "exact"
    if args.patterns == "sampled":
        return _sampled(X, args, hidden_bias)
    return _load_patterns(args.patterns, X.shape[0])


# -- warnings and certificates --------------------------------------------------------------


def _quietly(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``func``; print its warnings as one ``warning: ...`` line each (stderr).

    ValueError and TypeError (bad options or data) become a :class:`CLIError`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise CLIError(str(exc)) from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return result


def _cert_json(cert: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "lower_bound": cert.lower_bound,
        "upper_bound": cert.upper_bound,
        "gap": cert.gap,
        "relative_gap": cert.relative_gap,
        "scope": cert.scope,
        "is_global": cert.is_global,
        "formulation": cert.formulation,
        "n_patterns": cert.n_patterns,
        **extra,
    }


def _multioutput_json(sol: Any) -> dict[str, Any]:
    """The certificate of a :class:`convexnn.MultiOutputSolution` (cross-entropy fits).

    ``lower_bound`` is the solution's own (for ``mode="separate"``: a bound on networks
    without shared hidden neurons only); ``shared_lower_bound`` bounds eq. (2) with vector
    outputs. ``is_global`` says whether ``lower_bound`` holds for eq. (2) at any width.
    """
    separate = sol.mode == "separate"
    return {
        "lower_bound": sol.lower_bound,
        "upper_bound": sol.objective,
        "gap": sol.gap,
        "relative_gap": sol.relative_gap,
        "scope": sol.scope,
        "is_global": sol.scope == "global" and not separate,
        "lower_bound_covers": (
            "networks without shared hidden neurons (one network per output)"
            if separate
            else "eq. (2) with vector outputs"
        ),
        "shared_lower_bound": sol.shared_lower_bound,
        "shared_lower_bound_covers": "eq. (2) with vector outputs, shared neurons allowed",
        "mode": sol.mode,
        "formulation": sol.formulation,
        "exact": sol.exact,
        "n_outputs": int(sol.Y.shape[1]),
        "n_patterns": int(sol.patterns.shape[1]),
        "status": sol.status,
    }


# -- commands -------------------------------------------------------------------------------


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .experiments import EXPERIMENTS, run_experiment
    from .experiments._common import summary_line

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in EXPERIMENTS:
        raise CLIError(
            f"unknown experiment {args.name!r}; choose 'all' or one of {', '.join(EXPERIMENTS)}."
        )
    out = None if args.out is None else _output_dir(args.out, "--out")
    failed: list[str] = []
    results = []
    bar = tqdm(names, desc="reproduce", disable=args.no_progress or len(names) == 1)
    for name in bar:
        bar.set_postfix_str(name)
        try:
            res = run_experiment(
                name, quick=args.quick, out=out, random_state=args.random_state, reuse=True
            )
        except ModuleNotFoundError as exc:
            if exc.name == f"convexnn.experiments.{name}":
                print(f"== {name}: not available in this installation ({exc}).")
                failed.append(name)
                continue
            raise
        print(f"== {name} ({'quick' if args.quick else 'full'})")
        print(res.report(summary=False))
        results.append(res)
        failed += [f"{name}: {check}" for check, ok in res.checks.items() if not ok]
        for fig in res.figures:
            print(f"  figure: {fig}")
        if len(names) > 1:
            print(f"-- {name}: {summary_line([res])}")
    # the paper's claims are reported (and counted here) but do not set the exit code
    print(("== all: " if len(names) > 1 else "") + summary_line(results))
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _fit_outputs(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """The model, certificate and plot paths fit will write, checked before the fit."""
    model = _output_path(_with_suffix(args.model, ".npz"), "--model")
    cert = _output_path(args.certificate or model.with_suffix(".json"), "--certificate")
    plot = None if args.plot is None else _output_path(args.plot, "--plot")
    if plot is not None and args.loss == "cross_entropy":
        raise CLIError(
            "--plot draws scalar-output fits; it is not available with --loss cross_entropy "
            "(one output per class). Drop --plot."
        )
    return model, cert, plot


def _fit_info(sol: Any, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    cert = _multioutput_json(sol) if not hasattr(sol, "certificate") else None
    info = cert if cert is not None else _cert_json(sol.certificate, {"solver": sol.solver})
    return {
        **info,
        "objective": sol.objective,
        "n_neurons": sol.n_neurons,
        "beta": args.beta,
        "loss": args.loss,
        "pattern_source": sol.pattern_source,
        "options": {
            "patterns": args.patterns,
            "n_patterns": args.n_patterns,
            "random_state": args.random_state,
            "max_patterns": args.max_patterns,
            "hidden_bias": args.hidden_bias,
            "output_bias": args.output_bias,
        },
        "time_s": elapsed,
        "data": str(args.data),
    }


def _cmd_fit(args: argparse.Namespace) -> int:
    from .solve import solve

    model, cert_path, plot = _fit_outputs(args)
    X, y = _read_xy(args.data, args.target)
    start = time.perf_counter()
    sol = _quietly(
        solve,
        X,
        y,
        args.beta,
        patterns=_fit_patterns(args, X),
        loss=args.loss,
        solver=None if args.solver == "auto" else args.solver,
        hidden_bias=args.hidden_bias,
        output_bias=args.output_bias,
        n_patterns=args.n_patterns,
        max_exact_patterns=args.max_patterns or _FIT_MAX_AUTO,
        random_state=args.random_state,
    )
    elapsed = time.perf_counter() - start
    print(sol.summary())
    model = save_network(sol.network, model)
    print(f"network saved to {model}")
    info = _fit_info(sol, args, elapsed)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(f"certificate saved to {cert_path}")
    if plot is not None:
        _fit_plot(sol.network, X, y, plot)
        print(f"plot saved to {plot}")
    return EXIT_OK


def _fit_plot(network: Any, X: np.ndarray, y: np.ndarray, path: Path) -> None:
    from .experiments._common import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    pred = network.predict(X)
    if X.shape[1] == 1:
        order = np.argsort(X[:, 0])
        grid = np.linspace(X.min() - 0.5, X.max() + 0.5, 400)[:, None]
        ax.plot(grid[:, 0], network.predict(grid), label="network")
        ax.scatter(X[order, 0], y[order], c="k", s=15, label="data")
        ax.set_xlabel("x")
    else:
        ax.scatter(y, pred, s=10)
        lim = [min(y.min(), pred.min()), max(y.max(), pred.max())]
        ax.plot(lim, lim, "k--", linewidth=1)
        ax.set_xlabel("target y")
    ax.set_ylabel("prediction")
    ax.legend() if X.shape[1] == 1 else None
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _cmd_certify(args: argparse.Namespace) -> int:
    from .duality import certify

    out = None if args.json is None else _output_path(args.json, "--json")
    network = load_network(args.network)
    if network.is_multi_output:
        raise CLIError(
            f"{args.network} has {network.alpha.shape[1]} outputs (a `fit --loss "
            "cross_entropy` model); certify takes scalar-output networks. The certificate of "
            "a multi-output fit is the .json that `convexnn fit` wrote."
        )
    X, y = _read_xy(args.data, args.target)
    cert = _quietly(
        certify,
        network,
        X,
        y,
        args.beta,
        patterns=_certify_patterns(args, X, network.b is not None),
        loss=args.loss,
        max_patterns=args.max_patterns or _CERTIFY_MAX,
        random_state=args.random_state,
    )
    print(cert)
    if out is not None:
        info = _cert_json(cert, {"network": str(args.network), "beta": args.beta})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(info, indent=2), encoding="utf-8")
        print(f"certificate saved to {out}")
    return EXIT_OK


def _cmd_patterns(args: argparse.Namespace) -> int:
    out = None if args.action == "count" else _output_path(_with_suffix(args.output, ".npy"), "-o")
    X = _read_x(args.data, args.target)
    if args.action == "count":
        print(_count(X, args.hidden_bias, args.max_patterns))
        return EXIT_OK
    if args.action == "enumerate":
        alternative = "`convexnn patterns sample --n-patterns N`"
        D = _enumerate(X, args.hidden_bias, args.max_patterns, alternative)
    else:
        if args.n_patterns is None:
            raise CLIError("patterns sample needs --n-patterns N.")
        D = _sampled(X, args, args.hidden_bias)
    assert out is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.asarray(D, dtype=bool))
    print(f"{D.shape[1]} patterns of {D.shape[0]} samples ({args.action}) saved to {out}")
    return EXIT_OK


def _count(X: np.ndarray, hidden_bias: bool, limit: int) -> int:
    """``count_cells``, refused in CLI terms when the pattern bound exceeds ``limit``."""
    from .patterns import count_cells

    try:
        return int(count_cells(X, hidden_bias=hidden_bias, max_patterns=limit))
    except ValueError as exc:
        alternative = "`convexnn patterns sample --n-patterns N`"
        raise CLIError(_too_many_patterns(X, hidden_bias, limit, alternative) or str(exc)) from None


# -- parser ---------------------------------------------------------------------------------


def _add_data_args(p: argparse.ArgumentParser, *, target_default: str | None = "-1") -> None:
    p.add_argument("data", help="CSV / whitespace-separated / ARFF file of numbers")
    p.add_argument(
        "--target",
        default=target_default,
        help="target column: index (negative counts from the end) or header name"
        + (" (default: the last column)" if target_default else " (default: none, all are X)"),
    )


_PATTERNS_HELP = (
    "activation patterns: exact (all of them: a GLOBAL certificate; refused when their "
    "count bound exceeds --max-patterns), sampled (--n-patterns Gaussian samples drawn with "
    "--random-state: a certificate over those patterns only), auto (exact when the bound is "
    "at most --max-patterns, else sampled), or an .npy file written by `convexnn patterns "
    "sample|enumerate` (default: auto). The same options, or the same file, give fit and "
    "certify the same patterns."
)


def _add_problem_args(p: argparse.ArgumentParser, *, max_default: str) -> None:
    p.add_argument("--beta", type=float, required=True, help="weight decay of eq. (2), > 0")
    p.add_argument(
        "--loss",
        default="squared",
        help="squared, hinge, logistic, squared_hinge, huber, ... (default: squared)",
    )
    p.add_argument(
        "--patterns",
        default="auto",
        metavar="{auto,exact,sampled,FILE.npy}",
        help=_PATTERNS_HELP,
    )
    p.add_argument("--n-patterns", type=int, default=1000, help="patterns to sample (default 1000)")
    p.add_argument("--random-state", type=int, default=0, help="seed for sampled patterns")
    p.add_argument(
        "--max-patterns",
        type=int,
        default=None,
        help=f"largest pattern-count bound to enumerate ({max_default})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``convexnn`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="convexnn",
        description="Globally optimal two-layer ReLU networks via the convex program (8) of "
        "Pilanci & Ergen (ICML 2020), with certified optimality gaps.",
        epilog="Exit codes: 0 success, 1 a reproduced claim failed, 2 bad options, input or "
        "output files (a one-line message says what to fix).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_reproduce(sub)
    _add_fit(sub)
    _add_certify(sub)
    _add_patterns(sub)
    return parser


def _add_reproduce(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run a paper experiment (fig2-fig11, table1) or all of them",
        description="Reproduce a figure or Table 1 of the paper; prints the numbers, the "
        "invariants of the software (they set the exit code) and the paper's claims evaluated "
        "on the run ([reproduced] / [NOT reproduced]; they do not set the exit code), writes "
        "tables and PNG plots to --out.",
    )
    p.add_argument("name", help="fig2 ... fig11, table1, or all")
    p.add_argument("--quick", action="store_true", help="small sizes, seconds per experiment")
    p.add_argument("--out", help="folder for the tables (.md, .csv, .txt) and plots (.png)")
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_reproduce)


def _add_fit(sub: Any) -> None:
    p = sub.add_parser(
        "fit",
        help="train a network to the global optimum on a CSV file",
        description="Solve the convex program (8) on DATA; save the network (.npz) and its "
        "optimality certificate (.json). --loss cross_entropy (integer class labels) fits one "
        "output per class.",
    )
    _add_data_args(p)
    _add_problem_args(p, max_default="default: 5000 for auto, 2000000 for exact")
    p.add_argument(
        "--solver",
        default="auto",
        choices=list(_FIT_SOLVERS),
        help="auto (default: fast for smooth losses, cvxpy otherwise), fast, cvxpy, "
        "cvxpy-scs, relu-pgd",
    )
    p.add_argument("--hidden-bias", action="store_true", help="regularised hidden-layer bias")
    p.add_argument("--output-bias", action="store_true", help="unregularised output bias")
    p.add_argument("--model", required=True, help="output network (.npz is appended if missing)")
    p.add_argument("--certificate", help="output .json certificate (default: MODEL.json)")
    p.add_argument("--plot", help="output .png: fit (1-D data) or predictions vs targets")
    p.set_defaults(func=_cmd_fit)


# The solvers of the ReLU program (8); "group-lasso" solves the gated program only.
_FIT_SOLVERS = ("auto", "fast", "cvxpy", "cvxpy-scs", "relu-pgd")


def _add_certify(sub: Any) -> None:
    p = sub.add_parser(
        "certify",
        help="bound a saved network's distance to the optimum",
        description="Certify a saved network (.npz from `convexnn fit`, or a PyTorch state "
        "dict of nn.Sequential(Linear, ReLU, Linear)) on DATA: lower bound, gap and scope. "
        "With the --patterns, --n-patterns and --random-state of `fit` (or its pattern file) "
        "it certifies over the same patterns.",
    )
    p.add_argument("network", help=".npz network or .pt/.pth state dict")
    _add_data_args(p)
    _add_problem_args(
        p,
        max_default="default 200000; with exact, more are streamed through the pricing "
        "oracle, not stored, and the certificate stays global",
    )
    p.add_argument("--json", help="also write the certificate as JSON here")
    p.set_defaults(func=_cmd_certify)


def _add_patterns(sub: Any) -> None:
    p = sub.add_parser(
        "patterns",
        help="count, enumerate or sample activation patterns",
        description="Activation patterns 1[X u >= 0] of the data: count them exactly, "
        "enumerate all, or sample some; enumerate/sample write an (n, P) bool .npy, which "
        "`fit --patterns FILE.npy` and `certify --patterns FILE.npy` take.",
    )
    p.add_argument("action", choices=["count", "enumerate", "sample"])
    _add_data_args(p, target_default=None)
    p.add_argument("--hidden-bias", action="store_true", help="use [X, 1] (hidden bias)")
    p.add_argument("--n-patterns", type=int, help="number of patterns to sample")
    p.add_argument(
        "--max-patterns",
        type=int,
        default=2_000_000,
        help="count/enumerate limit: refuse, before the work, when the bound "
        "2*sum_{k<rank} C(n-1, k) on the number of patterns exceeds it (default 2000000)",
    )
    p.add_argument("--random-state", type=int, default=0, help="seed for sampling")
    p.add_argument(
        "--output", "-o", default="patterns.npy", help="output .npy file (.npy is appended)"
    )
    p.set_defaults(func=_cmd_patterns)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed check, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if getattr(args, "beta", 1.0) is not None and getattr(args, "beta", 1.0) <= 0:
        print(
            f"convexnn {args.command}: error: --beta must be > 0, got {args.beta}; pass a "
            "positive weight decay.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except CLIError as exc:
        print(f"convexnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file that cannot be read or written
        print(f"convexnn {args.command}: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
