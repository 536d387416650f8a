"""``speechssl report``: RESULTS.md, results.json and plots comparing every objective with scratch.

Reads ``EXP/pretrain/*``, ``EXP/finetune/*`` (with ``decode_*``) and label ``quality.json`` files.
"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment root (holds pretrain/ and finetune/)")
    parser.add_argument("--out", default=None, help="output folder (default: the experiment root)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.report.render import render_report

    out = args.out or args.exp
    results = render_report(args.exp, out)
    print(f"{out}/RESULTS.md: {len(results['rows'])} models, splits {', '.join(results['splits']) or '-'}, "
          f"{len(results['plots'])} plots")
    return 0
