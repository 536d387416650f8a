"""``speechssl pretrain``: self-supervised pre-training of the backbone with one objective.

Runs alone or under ``torchrun``; ``--resume`` continues the newest checkpoint of ``--exp-dir``.
The job is ``speechssl.train.pretrain_job.run_pretrain``.
"""

from __future__ import annotations

import argparse

from speechssl.cli.main import CommandError
from speechssl.cli.options import add_overrides_argument, check_exp_dir
from speechssl.train.config import load_pretrain_config


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="YAML run config, e.g. conf/pretrain/hubert_tiny.yaml (required)"
    )
    parser.add_argument("--objective", default=None, help="override the config's objective name")
    add_overrides_argument(parser, "trainer.max_updates=200")
    parser.add_argument("--exp-dir", default=None, help="output folder: checkpoints, logs, config.yaml (required)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --exp-dir"
    )
    parser.add_argument(
        "--list-objectives",
        action="store_true",
        help="print 'NAME NEEDS_LABELS ITERATIONS' for every objective (for recipes) and exit",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.train.pretrain_job import run_pretrain
    from speechssl.train.trainer import TrainingDiverged

    if args.list_objectives:
        from speechssl.objectives import describe_objectives

        print("\n".join(describe_objectives()))
        return 0
    if not args.config or not args.exp_dir:
        raise ValueError("--config and --exp-dir are required (or --list-objectives)")
    check_exp_dir(args.exp_dir, args.resume)
    overrides = list(args.overrides) + ([f"objective={args.objective}"] if args.objective else [])
    cfg = load_pretrain_config(args.config, overrides)
    try:
        run_pretrain(cfg, args.exp_dir, resume=args.resume)
    except TrainingDiverged as error:
        raise CommandError(f"{args.exp_dir}: {error}") from None
    return 0
