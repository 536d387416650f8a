"""The fine-tuning job: CTC fine-tuning of a pre-trained backbone, or from scratch (the baseline).

``run_finetune(cfg, exp_dir)`` builds the tokenizer, datasets and model, trains with greedy dev
WER/CER validation (``checkpoint_best`` has the lowest dev WER) and writes ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from speechssl.data.dataset import AudioDataset
from speechssl.decode.emissions import greedy_score
from speechssl.finetune.config import FinetuneConfig
from speechssl.io.kaldi_dir import read_table
from speechssl.models.backbone import build_backbone
from speechssl.objectives.ctc import CTCObjective, finetune_backbone_config
from speechssl.text.tokenizer import Tokenizer, TokenizerError, build_tokenizer, load_tokenizer, parse_units
from speechssl.train.checkpoint import load_pretrained_backbone_weights, read_backbone_config, resolve_checkpoint
from speechssl.train.distributed import close_world, init_world, seed_everything
from speechssl.train.mfu import training_flops_fn
from speechssl.train.monitor import read_jsonl
from speechssl.train.run import run_training
from speechssl.train.rundir import RunDir

logger = logging.getLogger("speechssl.finetune")


def encode_transcripts(data_dir: str, tokenizer: Tokenizer) -> None:
    """Encode every transcript once so a bad one (unknown characters, empty) fails here, before
    any training, naming its utterance and file."""
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
    if not best:
        return {"best_dev_wer": None, "best_dev_cer": None, "best_update": None}
    records = [r for r in read_jsonl(exp_dir / "valid.jsonl") if r.get("update") == best["update"]]
    record = records[-1] if records else {}
    return {"best_dev_wer": record.get("dev_wer", best["value"]), "best_dev_cer": record.get("dev_cer"),
            "best_update": best["update"]}


def _with_backbone(cfg: FinetuneConfig) -> tuple[FinetuneConfig, str, Path | None]:
    """(cfg with the backbone it fine-tunes, objective name or ``scratch``, pre-trained weights or None)."""
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
    return dataclasses.replace(cfg, model=finetune_backbone_config(model, cfg.ctc)), objective_name, weights


def _tokenizer(cfg: FinetuneConfig, exp_dir: Path, resume: bool) -> Tokenizer:
    """The run's tokenizer (kept on resume), checked against every transcript of train and dev."""
    if resume and (exp_dir / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(exp_dir)
        if tokenizer.kind != parse_units(cfg.units)[0]:
            raise ValueError(f"{exp_dir} was fine-tuned on {tokenizer.kind} units, not {cfg.units}")
    else:
        transcripts = list(read_table(Path(cfg.data.train) / "text").values())
        tokenizer = build_tokenizer(cfg.units, transcripts, exp_dir)
    for data_dir in (cfg.data.train, cfg.data.valid):
        encode_transcripts(data_dir, tokenizer)
    return tokenizer


def build_ctc_model(cfg: FinetuneConfig, weights: Path | None, objective_name: str, vocab_size: int) -> CTCObjective:
    """The CTC model: a fresh backbone, the pre-trained weights loaded, top layers re-initialised."""
    seed_everything(cfg.trainer.seed)
    backbone = build_backbone(cfg.model)
    if weights is not None:
        backbone.load_state_dict(load_pretrained_backbone_weights(weights), strict=True)
        logger.info("backbone initialised from %s (%s)", weights, objective_name)
        if cfg.ctc.reinit_top_layers:
            backbone.encoder.reinit_top_layers(cfg.ctc.reinit_top_layers)
            logger.info("top %d Transformer layers re-initialised", cfg.ctc.reinit_top_layers)
    return CTCObjective(backbone, cfg.ctc, vocab_size)


def run_finetune(cfg: FinetuneConfig, exp_dir: str | os.PathLike, resume: bool = False) -> dict | None:
    """Fine-tune into ``exp_dir``; the ``summary.json`` record (None on ranks other than the first).

    Raises:
        TrainingDiverged: the loss stayed non-finite (see ``speechssl.train.trainer``).
        ValueError / TokenizerError: bad config or transcripts, naming the file.
    """
    cfg, objective_name, weights = _with_backbone(cfg)
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    world = init_world(cfg.trainer.device)
    tokenizer = _tokenizer(cfg, exp_dir, resume)
    t = cfg.trainer
    # Never cropped: a crop would cut the audio away from its transcript.
    train_set = AudioDataset(cfg.data.train, target_fn=tokenizer.encode, max_sample_size=None,
                             min_sample_size=t.min_sample_size, random_crop=False, seed=t.seed)
    valid_set = AudioDataset(cfg.data.valid, target_fn=tokenizer.encode, max_sample_size=None, random_crop=False)
    objective = build_ctc_model(cfg, weights, objective_name, tokenizer.vocab_size)

    def validate(model: CTCObjective) -> dict:
        device = next(model.parameters()).device
        result = greedy_score(model, valid_set, tokenizer, t.max_tokens, device)
        return {"dev_wer": result.wer, "dev_cer": result.cer}

    logger.info("%s units (%d), %d train / %d dev utterances, %d trainable parameters", tokenizer.kind,
                tokenizer.vocab_size, len(train_set), len(valid_set),
                sum(p.numel() for p in objective.trainable_parameters()))
    try:
        summary = run_training(
            objective, train_set, valid_set, t, cfg.optim, cfg.schedule, exp_dir, resume=resume,
            validate=validate, best_metric="dev_wer", flops_fn=training_flops_fn(objective),
            config=cfg, world=world,
        )
    finally:
        close_world()
    if not world.is_main:
        return None
    summary.update(
        name=exp_dir.name, objective=objective_name, pretrained=cfg.pretrained,
        pretrained_checkpoint=str(weights) if weights else None, units=cfg.units,
        vocab_size=tokenizer.vocab_size, **best_dev_scores(exp_dir, summary.get("best")),
    )
    RunDir(exp_dir).write_summary(summary)
    return summary
