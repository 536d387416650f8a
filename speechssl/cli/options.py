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
