"""``speechssl report``: RESULTS.md, results.json and plots comparing every objective with scratch.

Reads ``EXP/pretrain/*``, ``EXP/finetune/*`` (with ``decode_*``), ``EXP/probe/*/result.json`` and label
``quality.json`` files.
"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp", required=True, help="experiment root (holds pretrain/ and finetune/)")
    parser.add_argument("--out", default=None, help="output folder (default: the experiment root)")
    parser.add_argument("--best-upstream", metavar="TASK", default=None,
                        help="only print the checkpoint of the pre-trained model with the lowest dev "
                        "error on probe TASK (e.g. pr) and write nothing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.report.probes import best_upstream
    from speechssl.report.render import render_report

    if args.best_upstream:
        print(best_upstream(args.exp, args.best_upstream))
        return 0
    out = args.out or args.exp
    results = render_report(args.exp, out)
    print(f"{out}/RESULTS.md: {len(results['rows'])} models, splits {', '.join(results['splits']) or '-'}, "
          f"{len(results['plots'])} plots, {len(results.get('probes', []))} probe scores")
    return 0
