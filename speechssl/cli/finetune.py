"""``speechssl finetune``: CTC fine-tuning of a pre-trained backbone (or from scratch, the baseline).

Validation is greedy dev WER/CER; ``checkpoint_best`` has the lowest dev WER. Writes ``summary.json``.
The job is ``speechssl.finetune.job.run_finetune``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from speechssl.cli.main import CommandError
from speechssl.cli.options import add_overrides_argument, check_exp_dir


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML run config, e.g. conf/finetune/tiny_letters.yaml")
    parser.add_argument("--pretrained", default=None,
                        help="pre-training folder or .safetensors checkpoint; 'none' = from scratch")
    parser.add_argument("--exp-dir", required=True, help="output folder: checkpoints, logs, summary.json")
    parser.add_argument("--units", default=None, help="letters or bpe:N (overrides the config)")
    add_overrides_argument(parser, "trainer.max_updates=200")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --exp-dir")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.finetune import load_finetune_config
    from speechssl.finetune.job import run_finetune
    from speechssl.train.trainer import TrainingDiverged

    check_exp_dir(args.exp_dir, args.resume)
    cfg = load_finetune_config(args.config, args.overrides)
    if args.units:
        cfg = dataclasses.replace(cfg, units=args.units)
    if args.pretrained is not None:
        cfg = dataclasses.replace(cfg, pretrained="" if args.pretrained.lower() == "none" else args.pretrained)
    try:
        summary = run_finetune(cfg, args.exp_dir, resume=args.resume)
    except TrainingDiverged as error:
        raise CommandError(f"{args.exp_dir}: {error}") from None
    if summary is not None:
        wer, exp_dir = summary["best_dev_wer"], Path(args.exp_dir)
        print(f"{exp_dir}: best dev WER {100 * wer:.2f}%" if wer is not None else f"{exp_dir}: done")
    return 0
