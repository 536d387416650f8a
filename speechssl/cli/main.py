"""Entry point of the ``speechssl`` command; lists the subcommand families."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (subcommand, module, one-line help). Modules are imported only when their subcommand runs, so
# `speechssl data ...` does not pay for importing torch models.
FAMILIES = [
    ("data", "speechssl.cli.data", "synthesise the mini corpus, validate and fix Kaldi data dirs"),
    ("features", "speechssl.cli.features", "dump MFCC or model-layer features in shards"),
    ("kmeans", "speechssl.cli.kmeans", "fit k-means, assign HuBERT labels, measure label quality"),
    ("pretrain", "speechssl.cli.pretrain", "self-supervised pre-training with one objective"),
    ("finetune", "speechssl.cli.finetune", "CTC fine-tuning on letters or subword units"),
    ("lm", "speechssl.cli.lm", "build a KenLM n-gram and a lexicon from LM text"),
    ("decode", "speechssl.cli.decode", "greedy or KenLM beam-search CTC decoding"),
    ("score", "speechssl.cli.score", "WER/CER of hypotheses against references"),
    ("report", "speechssl.cli.report", "collect experiments into RESULTS.md, results.json, plots"),
    ("convert", "speechssl.cli.convert", "convert checkpoints: fairseq, HF, torchaudio, speechssl"),
    ("librispeech", "speechssl.cli.librispeech", "download and prepare LibriSpeech / Libri-light"),
    ("estimate", "speechssl.cli.estimate", "estimate wall time of recipe stages from throughput"),
    ("probe", "speechssl.cli.probe", "SUPERB-style PR/ASR probes of frozen upstreams (checkpoint, random, fbank)"),
]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="speechssl", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    requested = next((a for a in argv if not a.startswith("-")), None)
    for name, module_name, help_text in FAMILIES:
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == requested:
            importlib.import_module(module_name).register(sub)
    return parser


def _close_progress_bars() -> None:
    """Close the bars a failing stage left open, so its error line starts a line of its own."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.run(args)
    except (CommandError, ValueError, FileNotFoundError) as error:
        _close_progress_bars()
        print(f"speechssl {args.command}: error: {error}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
