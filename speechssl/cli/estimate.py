"""``speechssl estimate``: measure training throughput here and print the expected time of each stage.

Example: ``speechssl estimate --config conf/pretrain/wav2vec2_base.yaml --reference-gpus 64 --gpus 8``.
"""

from __future__ import annotations

import argparse

from speechssl.cli.options import add_overrides_argument


def run(args: argparse.Namespace) -> int:
    import torch

    from speechssl.finetune import load_finetune_config
    from speechssl.train.estimate import (
        format_estimate,
        measure_finetune,
        measure_pretrain,
        run_stage,
    )
    from speechssl.train.config import load_pretrain_config
    from speechssl.train.distributed import resolve_device

    if args.gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {args.gpus}")
    if args.measure_seconds <= 0:
        raise ValueError(f"--measure-seconds must be positive, got {args.measure_seconds}")
    cfg = load_pretrain_config(args.config, args.overrides)
    finetunes = [(path, load_finetune_config(path, args.finetune_overrides)) for path in args.finetune_config]
    stages = [run_stage("pre-training", cfg.trainer, args.reference_gpus)]
    stages += [run_stage(f"fine-tuning {path}", ft.trainer, args.finetune_reference_gpus) for path, ft in finetunes]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    speeds = [measure_pretrain(cfg, args.measure_seconds, device, args.batch_samples)]
    speeds += [measure_finetune(ft, cfg.model, args.measure_seconds, device, args.batch_samples)
               for _, ft in finetunes]
    for stage, speed in zip(stages, speeds):
        for line in format_estimate(stage, speed, args.gpus):
            print(line)
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pre-training YAML (its model is also fine-tuned)")
    add_overrides_argument(parser, "trainer.max_tokens=1400000", "a pre-training config value")
    parser.add_argument("--reference-gpus", type=int, default=1,
                        help="GPUs the pre-training batch is written for (fairseq BASE: wav2vec2 64, "
                        "hubert 32, data2vec 16, data2vec2 8): samples/update = this x max_tokens x update_freq")
    parser.add_argument("--finetune-config", action="append", default=[], metavar="YAML",
                        help="also estimate this fine-tuning config (repeatable)")
    parser.add_argument("--finetune-set", dest="finetune_overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a fine-tuning config value (repeatable)")
    parser.add_argument("--finetune-reference-gpus", type=int, default=1,
                        help="GPUs the fine-tuning batch is written for (fairseq: 2)")
    parser.add_argument("--measure-seconds", type=float, default=20.0,
                        help="time spent measuring each stage, after one untimed warm-up step (default 20)")
    parser.add_argument("--gpus", type=int, default=1, help="devices like this one the run will use")
    parser.add_argument("--batch-samples", type=int, default=None,
                        help="measure with this many samples per step instead of trainer.max_tokens "
                        "(smaller fits a small GPU or the CPU; the speed is then extrapolated)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)")
    parser.set_defaults(run=run)
