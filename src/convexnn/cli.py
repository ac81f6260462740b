"""Command line: ``convexnn reproduce | fit | certify | patterns`` (also ``python -m convexnn``).

Exit codes: 0 success; 1 an invariant check of `reproduce` failed (a NOT reproduced claim of
the paper is reported but does not fail the command); 2 bad options or input files
(the message says what to fix).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
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
    if target is not None:
        return _read_xy(path, target)[0]
    from .datasets import _read_csv

    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path} does not exist.")
    _, rows = _read_csv(p.read_text(encoding="utf-8", errors="replace"))
    try:
        X = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise CLIError(f"{path} has a non-numeric entry or ragged rows ({exc}).") from None
    if X.ndim != 2 or X.size == 0:
        raise CLIError(f"{path} holds no (n, d) numeric table.")
    return X


def save_network(network: Any, path: str | Path) -> Path:
    """Save a :class:`convexnn.TwoLayerReLU` as ``.npz`` (arrays ``U``, ``alpha``, ``b``, ``c``).

    Missing biases are stored as empty arrays.
    """
    path = Path(path)
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
    from .network import TwoLayerReLU

    path = Path(path)
    if not path.exists():
        raise CLIError(f"{path} does not exist.")
    if path.suffix == ".npz":
        try:
            with np.load(path) as z:
                U, alpha, b, c = z["U"], z["alpha"], z["b"], z["c"]
        except (KeyError, ValueError, OSError) as exc:
            raise CLIError(
                f"{path} is not a network saved by `convexnn fit` (needs arrays U, alpha, b, c): "
                f"{exc}"
            ) from None
        return TwoLayerReLU(
            U,
            alpha.reshape(-1) if alpha.ndim <= 1 else alpha,
            b=None if b.size == 0 else b,
            c=None if c.size == 0 else float(c) if c.ndim == 0 else c,
        )
    return _load_state_dict(path)


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
            f"state dict (torch.load said: {exc or type(exc).__name__}). The network file "
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
    out = None if args.out is None else Path(args.out)
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


def _cmd_fit(args: argparse.Namespace) -> int:
    from .solve import solve

    X, y = _read_xy(args.data, args.target)
    patterns: Any = None if args.patterns == "auto" else args.patterns
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sol = solve(
                X,
                y,
                args.beta,
                patterns=patterns,
                loss=args.loss,
                solver=None if args.solver == "auto" else args.solver,
                hidden_bias=args.hidden_bias,
                output_bias=args.output_bias,
                n_patterns=args.n_patterns,
                random_state=args.random_state,
            )
        except (ValueError, TypeError) as exc:
            raise CLIError(str(exc)) from None
    elapsed = time.perf_counter() - start
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(sol.summary())
    model = save_network(sol.network, args.model)
    print(f"network saved to {model}")
    cert_path = Path(args.certificate or Path(args.model).with_suffix(".json"))
    info = _cert_json(
        sol.certificate,
        {
            "objective": sol.objective,
            "n_neurons": sol.n_neurons,
            "beta": args.beta,
            "loss": args.loss,
            "solver": sol.solver,
            "pattern_source": sol.pattern_source,
            "time_s": elapsed,
            "data": str(args.data),
        },
    )
    cert_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(f"certificate saved to {cert_path}")
    if args.plot:
        _fit_plot(sol.network, X, y, Path(args.plot))
        print(f"plot saved to {args.plot}")
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

    network = load_network(args.network)
    X, y = _read_xy(args.data, args.target)
    patterns: Any = None if args.patterns == "auto" else args.patterns
    try:
        cert = certify(
            network,
            X,
            y,
            args.beta,
            patterns=patterns,
            loss=args.loss,
            random_state=args.random_state,
        )
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    print(cert)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                _cert_json(cert, {"network": str(args.network), "beta": args.beta}), indent=2
            ),
            encoding="utf-8",
        )
        print(f"certificate saved to {args.json}")
    return EXIT_OK


def _cmd_patterns(args: argparse.Namespace) -> int:
    from .patterns import count_cells, enumerate_patterns, sample_patterns

    X = _read_x(args.data, args.target)
    try:
        if args.action == "count":
            print(count_cells(X, hidden_bias=args.hidden_bias))
            return EXIT_OK
        if args.action == "enumerate":
            D = enumerate_patterns(X, hidden_bias=args.hidden_bias, max_patterns=args.max_patterns)
        else:
            if args.n_patterns is None:
                raise CLIError("patterns sample needs --n-patterns N.")
            D = sample_patterns(
                X,
                args.n_patterns,
                method="gaussian",
                hidden_bias=args.hidden_bias,
                random_state=args.random_state,
            )
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.asarray(D, dtype=bool))
    print(f"{D.shape[1]} patterns of {D.shape[0]} samples ({args.action}) saved to {out}")
    return EXIT_OK


# -- parser ---------------------------------------------------------------------------------


def _add_data_args(p: argparse.ArgumentParser, *, target_default: str | None = "-1") -> None:
    p.add_argument("data", help="CSV / whitespace-separated / ARFF file of numbers")
    p.add_argument(
        "--target",
        default=target_default,
        help="target column: index (negative counts from the end) or header name"
        + (" (default: the last column)" if target_default else " (default: none, all are X)"),
    )


def _add_problem_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beta", type=float, required=True, help="weight decay of eq. (2), > 0")
    p.add_argument(
        "--loss",
        default="squared",
        help="squared, hinge, logistic, squared_hinge, huber, ... (default: squared)",
    )
    p.add_argument(
        "--patterns",
        choices=["auto", "exact", "sampled"],
        default="auto",
        help="activation patterns: exact (global certificate), sampled, or auto",
    )
    p.add_argument("--random-state", type=int, default=0, help="seed for sampled patterns")


def build_parser() -> argparse.ArgumentParser:
    """The ``convexnn`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="convexnn",
        description="Globally optimal two-layer ReLU networks via the convex program (8) of "
        "Pilanci & Ergen (ICML 2020), with certified optimality gaps.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    p = sub.add_parser(
        "fit",
        help="train a network to the global optimum on a CSV file",
        description="Solve the convex program (8) on DATA; save the network (.npz) and its "
        "optimality certificate (.json).",
    )
    _add_data_args(p)
    _add_problem_args(p)
    p.add_argument(
        "--solver",
        default="auto",
        help="auto (default: fast for smooth losses, cvxpy otherwise), fast, cvxpy, "
        "cvxpy-scs, group-lasso, relu-pgd",
    )
    p.add_argument("--hidden-bias", action="store_true", help="regularised hidden-layer bias")
    p.add_argument("--output-bias", action="store_true", help="unregularised output bias")
    p.add_argument("--n-patterns", type=int, default=1000, help="patterns when sampling")
    p.add_argument("--model", required=True, help="output .npz network")
    p.add_argument("--certificate", help="output .json certificate (default: MODEL.json)")
    p.add_argument("--plot", help="output .png: fit (1-D data) or predictions vs targets")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "certify",
        help="bound a saved network's distance to the optimum",
        description="Certify a saved network (.npz from `convexnn fit`, or a PyTorch state "
        "dict of nn.Sequential(Linear, ReLU, Linear)) on DATA: lower bound, gap and scope.",
    )
    p.add_argument("network", help=".npz network or .pt/.pth state dict")
    _add_data_args(p)
    _add_problem_args(p)
    p.add_argument("--json", help="also write the certificate as JSON here")
    p.set_defaults(func=_cmd_certify)

    p = sub.add_parser(
        "patterns",
        help="count, enumerate or sample activation patterns",
        description="Activation patterns 1[X u >= 0] of the data: count them exactly, "
        "enumerate all, or sample some; enumerate/sample write an (n, P) bool .npy.",
    )
    p.add_argument("action", choices=["count", "enumerate", "sample"])
    _add_data_args(p, target_default=None)
    p.add_argument("--hidden-bias", action="store_true", help="use [X, 1] (hidden bias)")
    p.add_argument("--n-patterns", type=int, help="number of patterns to sample")
    p.add_argument("--max-patterns", type=int, default=2_000_000, help="enumeration limit")
    p.add_argument("--random-state", type=int, default=0, help="seed for sampling")
    p.add_argument("--output", "-o", default="patterns.npy", help="output .npy file")
    p.set_defaults(func=_cmd_patterns)
    return parser


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
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
