"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse


def add_overrides_argument(parser: argparse.ArgumentParser, example: str, what: str = "a config value") -> None:
    """Add the repeatable ``--set KEY=VALUE`` option, stored in ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what}, e.g. --set {example} (repeatable)",
    )


def check_exp_dir(exp_dir: str, resume: bool) -> None:
    """Refuse, before any model is built or file written, an ``--exp-dir`` that is a file or that
    already holds checkpoints when ``--resume`` is not given (its outputs would be overwritten)."""
    from pathlib import Path

    from speechssl.train.checkpoint import latest_checkpoint

    path = Path(exp_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--exp-dir {path}: is a file; give a folder for the run's outputs")
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is not None and not resume:
        raise ValueError(f"{path} already holds {latest.name}: pass --resume, or use a new --exp-dir")
