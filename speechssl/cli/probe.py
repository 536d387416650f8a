"""``speechssl probe``: SUPERB-style probe (PR, ASR, PC or ABX) of a frozen upstream (checkpoint, random,
fbank).

Example: ``speechssl probe --upstream random --upstream-seed 1 --task pr --train data/train
--dev data/dev --out exp/probe/random1-pr``. Writes ``OUT/result.json`` (speechssl.probe.job).
"""

from __future__ import annotations

import argparse

from speechssl.cli.options import add_overrides_argument

# flag -> ProbeConfig field; flags left out keep the --config file's (or the default) value.
_FLAGS = {
    "upstream": "upstream", "model_config": "model_config", "upstream_seed": "upstream_seed",
    "task": "task", "train": "train", "dev": "dev", "test": "test", "features_root": "features_root",
    "out": "out", "seed": "seed", "max_updates": "max_updates", "lr": "lr", "batch_size": "batch_size",
    "device": "device", "lm": "lm",
}  # fmt: skip


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", help="fbank, random, or a checkpoint folder/.safetensors file "
                        "(run folder or 'speechssl convert' output) (default fbank)")
    parser.add_argument("--model-config", help="backbone config of --upstream random (default tiny)")
    parser.add_argument("--upstream-seed", type=int, help="initialisation seed of random (default 1)")
    parser.add_argument("--task", choices=("pr", "asr", "pc", "abx"),
                        help="pr (phones, CTC), asr (letters, BiLSTM), pc (frame phones against the "
                        "true alignments) or abx (ABX per layer on --dev, no training)")
    parser.add_argument("--train", help="labelled training data dir (default data/train)")
    parser.add_argument("--dev", help="dev data dir (default data/dev)")
    parser.add_argument("--test", help="optional test data dir, scored too")
    parser.add_argument("--features-root", help="hidden-state cache (default exp/probe/features)")
    parser.add_argument("--out", required=True, help="output folder: result.json, layer weights, logs")
    parser.add_argument("--seed", type=int, help="probe seed (default 1)")
    parser.add_argument("--max-updates", type=int, help="probe updates (default 1500)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default: PR 1e-2, ASR 1e-3)")
    parser.add_argument("--batch-size", type=int, help="utterances per update (default 16)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"),
                        help="default cpu; auto = cuda when available")
    parser.add_argument("--lm", help="LM folder of 'speechssl lm build': ASR beam search, tuned on dev")
    parser.add_argument("--config", default=None, help="optional YAML of ProbeConfig fields")
    add_overrides_argument(parser, "normalize=false", "a ProbeConfig field")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.config import from_dict, load_config, to_dict
    from speechssl.probe.job import ProbeConfig, run_probe

    values = to_dict(load_config(ProbeConfig, args.config, args.overrides))
    values.update({field: getattr(args, flag) for flag, field in _FLAGS.items()
                   if getattr(args, flag) is not None})
    result = run_probe(from_dict(ProbeConfig, values, where="speechssl probe"))
    print(f"{args.out}: {result.summary()}")
    skipped = ", ".join(f"{split} {count}" for split, count in result.skipped.items() if count)
    if skipped:
        why = "no phone alignment" if result.task in ("pc", "abx") else "words outside CMUdict"
        print(f"{args.out}: utterances skipped ({why}): {skipped}")
    if result.best_layer is not None:
        print(f"{args.out}: best layer {result.best_layer}")
    return 0
