"""``speechssl score``: WER and CER (with substitution/deletion/insertion counts) of a text file.

Both files are Kaldi ``text`` files; every reference utterance needs a hypothesis and vice versa.
"""

from __future__ import annotations

import argparse
import json


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", required=True, help="reference text file (DATA_DIR/text)")
    parser.add_argument("--hyp", required=True, help="hypothesis text file (OUT/text)")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.score import score_files

    result = score_files(args.ref, args.hyp)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 0
