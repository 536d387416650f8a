"""``speechssl lm build``: a KenLM n-gram (ARPA + binary), letter lexicon and token list.

Needs ``lmplz`` and ``build_binary`` from ``local/install.sh`` (``tools/kenlm/bin``).
"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lm_command", metavar="SUBCOMMAND", required=True)
    build = sub.add_parser("build", help="lmplz + build_binary on LM text, plus lexicon.txt/tokens.txt")
    build.add_argument("--text", required=True, help="LM text, one normalised sentence a line")
    build.add_argument("--order", type=int, default=4, help="n-gram order (default 4)")
    build.add_argument("--out", required=True, help="output folder: lm.arpa, lm.bin, lexicon.txt, tokens.txt")
    build.add_argument("--memory", default="20%",
                       help="lmplz sorting memory (-S), e.g. 2G or 20%% (default 20%%)")
    build.set_defaults(run=run_build)


def run_build(args: argparse.Namespace) -> int:
    from speechssl.lm.build import build_lm

    files = build_lm(args.text, args.order, args.out, memory=args.memory)
    print(f"{args.out}: {files.order}-gram {files.binary.name}, lexicon of {files.num_words} words")
    return 0
