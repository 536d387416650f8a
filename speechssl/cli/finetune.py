"""``speechssl finetune``: CTC fine-tuning of a pre-trained backbone (or from scratch, the baseline).

Validation is greedy dev WER/CER; ``checkpoint_best`` has the lowest dev WER. Writes ``summary.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from speechssl.cli.main import CommandError
from speechssl.cli.options import add_overrides_argument, check_exp_dir

logger = logging.getLogger("speechssl.finetune")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML run config, e.g. conf/finetune/tiny_letters.yaml")
    parser.add_argument("--pretrained", default=None,
                        help="pre-training folder or .safetensors checkpoint; 'none' = from scratch")
    parser.add_argument("--exp-dir", required=True, help="output folder: checkpoints, logs, summary.json")
    parser.add_argument("--units", default=None, help="letters or bpe:N (overrides the config)")
    add_overrides_argument(parser, "trainer.max_updates=200")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --exp-dir")
    parser.set_defaults(run=run)


def encode_transcripts(data_dir: str, tokenizer) -> None:
    """Encode every transcript once so a bad one (unknown characters, empty) fails here, before
    any training, naming its utterance and file."""
    from speechssl.io.kaldi_dir import read_table
    from speechssl.text.tokenizer import TokenizerError

    text = Path(data_dir) / "text"
    for utt, transcript in read_table(text).items():
        if not transcript.strip():
            raise TokenizerError(
                f"{text}: utterance '{utt}' has an empty transcript; give its words or drop it "
                f"with `speechssl data validate {data_dir} --fix OUT`"
            )
        try:
            tokenizer.encode(transcript, utt)
        except TokenizerError as error:
            raise TokenizerError(f"{text}: {error}") from None


def best_dev_scores(exp_dir: Path, best: dict | None) -> dict:
    """Dev WER/CER of the validation that made ``checkpoint_best`` (from ``valid.jsonl``)."""
    from speechssl.train.monitor import read_jsonl

    if not best:
        return {"best_dev_wer": None, "best_dev_cer": None, "best_update": None}
    records = [r for r in read_jsonl(exp_dir / "valid.jsonl") if r.get("update") == best["update"]]
    record = records[-1] if records else {}
    return {"best_dev_wer": record.get("dev_wer", best["value"]), "best_dev_cer": record.get("dev_cer"),
            "best_update": best["update"]}


def run(args: argparse.Namespace) -> int:
    from speechssl.data.dataset import AudioDataset
    from speechssl.decode.emissions import greedy_score
    from speechssl.finetune import load_finetune_config
    from speechssl.io.atomic import atomic_write_text
    from speechssl.io.kaldi_dir import read_table
    from speechssl.models.backbone import build_backbone
    from speechssl.objectives.ctc import CTCObjective, finetune_backbone_config
    from speechssl.text.tokenizer import build_tokenizer, load_tokenizer, parse_units
    from speechssl.train.checkpoint import (
        load_pretrained_backbone_weights,
        read_backbone_config,
        resolve_checkpoint,
    )
    from speechssl.train.distributed import close_world, init_world, seed_everything
    from speechssl.train.mfu import training_flops_fn
    from speechssl.train.run import run_training
    from speechssl.train.trainer import TrainingDiverged

    check_exp_dir(args.exp_dir, args.resume)
    cfg = load_finetune_config(args.config, args.overrides)
    if args.units:
        cfg = dataclasses.replace(cfg, units=args.units)
    if args.pretrained is not None:
        cfg = dataclasses.replace(cfg, pretrained="" if args.pretrained.lower() == "none" else args.pretrained)
    model, objective_name, weights = cfg.model, "scratch", None
    if cfg.pretrained:
        weights, pretrain_config = resolve_checkpoint(cfg.pretrained, prefer_best=False)
        model, objective_name = read_backbone_config(pretrain_config)
    else:
        # Nothing pre-trained to protect or re-initialise: the Transformer trains from the first
        # update. The feature encoder follows ctc.freeze_feature_encoder like every model's: a
        # frozen random conv encoder fine-tunes better than a trained one at a few hundred updates
        # (docs/mini_diagnosis.md, section 6); set it false for long runs.
        cfg = dataclasses.replace(
            cfg, ctc=dataclasses.replace(cfg.ctc, freeze_updates=0, reinit_top_layers=0)
        )
        logger.info("from scratch: ctc.freeze_updates=0, ctc.reinit_top_layers=0, feature encoder %s",
                    "frozen at its random initialisation" if cfg.ctc.freeze_feature_encoder else "trained")
    cfg = dataclasses.replace(cfg, model=finetune_backbone_config(model, cfg.ctc))
    exp_dir = Path(args.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    world = init_world(cfg.trainer.device)
    if args.resume and (exp_dir / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(exp_dir)
        if tokenizer.kind != parse_units(cfg.units)[0]:
            raise ValueError(f"{exp_dir} was fine-tuned on {tokenizer.kind} units, not {cfg.units}")
    else:
        transcripts = list(read_table(Path(cfg.data.train) / "text").values())
        tokenizer = build_tokenizer(cfg.units, transcripts, exp_dir)
    for data_dir in (cfg.data.train, cfg.data.valid):
        encode_transcripts(data_dir, tokenizer)
    t = cfg.trainer
    # Never cropped: a crop would cut the audio away from its transcript.
    train_set = AudioDataset(cfg.data.train, target_fn=tokenizer.encode, max_sample_size=None,
                             min_sample_size=t.min_sample_size, random_crop=False, seed=t.seed)
    valid_set = AudioDataset(cfg.data.valid, target_fn=tokenizer.encode, max_sample_size=None, random_crop=False)
    seed_everything(t.seed)
    backbone = build_backbone(cfg.model)
    if weights is not None:
        backbone.load_state_dict(load_pretrained_backbone_weights(weights), strict=True)
        logger.info("backbone initialised from %s (%s)", weights, objective_name)
        if cfg.ctc.reinit_top_layers:
            backbone.encoder.reinit_top_layers(cfg.ctc.reinit_top_layers)
            logger.info("top %d Transformer layers re-initialised", cfg.ctc.reinit_top_layers)
    objective = CTCObjective(backbone, cfg.ctc, tokenizer.vocab_size)

    def validate(model: CTCObjective) -> dict:
        device = next(model.parameters()).device
        result = greedy_score(model, valid_set, tokenizer, t.max_tokens, device)
        return {"dev_wer": result.wer, "dev_cer": result.cer}

    logger.info("%s units (%d), %d train / %d dev utterances, %d trainable parameters", tokenizer.kind,
                tokenizer.vocab_size, len(train_set), len(valid_set),
                sum(p.numel() for p in objective.trainable_parameters()))
    try:
        summary = run_training(
            objective, train_set, valid_set, t, cfg.optim, cfg.schedule, exp_dir, resume=args.resume,
            validate=validate, best_metric="dev_wer", flops_fn=training_flops_fn(objective),
            config=cfg, world=world,
        )
    except TrainingDiverged as error:
        raise CommandError(f"{exp_dir}: {error}") from None
    finally:
        close_world()
    if world.is_main:
        summary.update(
            name=exp_dir.name, objective=objective_name, pretrained=cfg.pretrained,
            pretrained_checkpoint=str(weights) if weights else None, units=cfg.units,
            vocab_size=tokenizer.vocab_size, **best_dev_scores(exp_dir, summary.get("best")),
        )
        atomic_write_text(exp_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        wer = summary["best_dev_wer"]
        print(f"{exp_dir}: best dev WER {100 * wer:.2f}%" if wer is not None else f"{exp_dir}: done")
    return 0
