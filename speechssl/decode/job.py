"""The decoding job: greedy and KenLM lexicon beam-search decoding of a fine-tuned CTC model.

``run_decode(DecodeConfig(...))`` writes ``OUT/greedy/text``, ``OUT/lm/text`` (with an LM),
``OUT/text`` (the best system) and ``OUT/decode.json``, and returns that record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from speechssl.decode.beam import BeamConfig, BeamDecoder, find_lm_binary, prepare_lexicon
from speechssl.decode.emissions import cached_emissions, fingerprint, greedy_texts
from speechssl.decode.tune import load_tuning, parse_grid, save_tuning, tune_lm_weights, tuning_key
from speechssl.finetune import load_finetuned
from speechssl.io.kaldi_dir import read_table, write_table
from speechssl.score import score_texts
from speechssl.train.rundir import RunDir, write_decode_record

logger = logging.getLogger("speechssl.decode")


@dataclass
class DecodeConfig:
    """One decoding of a data dir with a fine-tuned model.

    Attributes:
        exp_dir: fine-tuning folder (config.yaml, tokenizer, checkpoints).
        data: Kaldi data dir to decode (scored when it has ``text``).
        out: output folder.
        checkpoint: ``best``, ``last`` or a checkpoint name.
        lm: LM folder from ``speechssl lm build`` (beam search); empty = greedy only.
        lm_weight, word_score, beam_size, beam_threshold: the beam search (without tuning).
        tune_on: dev data dir on which ``lm_weights`` x ``word_scores`` are grid-searched first.
        lm_weights, word_scores: the tuning grids, comma-separated.
        device: ``auto`` (CUDA when there is one), ``cpu`` or ``cuda``.
        max_tokens: padded samples per batch.
    """

    exp_dir: str
    data: str
    out: str
    checkpoint: str = "best"
    lm: str = ""
    lm_weight: float = 2.0
    word_score: float = 0.0
    beam_size: int = 50
    beam_threshold: float = 25.0
    tune_on: str = ""
    lm_weights: str = "0,0.5,1,1.5,2,3"
    word_scores: str = "-1,0,1,2"
    device: str = "auto"
    max_tokens: int = 1_600_000


def _cache_path(exp_dir: Path, checkpoint: str, data_dir: str) -> Path:
    """Emissions cache of one (checkpoint, data dir) inside the fine-tuning folder."""
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:8]
    return exp_dir / "emissions" / f"{Path(data_dir).name}-{checkpoint}-{digest}.safetensors"


def _write_text(path: Path, hypotheses: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(path, hypotheses)


def _references(data_dir: str) -> dict[str, str] | None:
    """``utt -> transcript`` of a data dir, or None when it has no ``text`` (nothing to score)."""
    text = Path(data_dir) / "text"
    return read_table(text) if text.is_file() else None


def _tuned_beam(cfg: DecodeConfig, checkpoint: Path, lm_path: Path, beam, make_decoder, emissions_of) -> tuple:
    """(beam config with the LM weight / word score tuned on ``cfg.tune_on``, its report entry).

    One tuning per (model, dev set, LM, grid) is kept in ``EXP/lm_tuning/``; decoding the other
    splits of the same model reuses it instead of searching the grid again.
    """
    dev_refs = _references(cfg.tune_on)
    if dev_refs is None:
        raise ValueError(f"--tune-on {cfg.tune_on}: no text file to tune against")
    grids = parse_grid(cfg.lm_weights, "--lm-weights"), parse_grid(cfg.word_scores, "--word-scores")
    record = Path(cfg.exp_dir) / "lm_tuning" / f"{Path(cfg.tune_on).name}-{cfg.checkpoint}.json"
    text = (Path(cfg.tune_on) / "text").stat()  # new references are a new tuning too
    source = f"{fingerprint(checkpoint, cfg.tune_on)}:{text.st_size}:{text.st_mtime_ns}"
    key = tuning_key(source, lm_path, beam, *grids)
    tuned = load_tuning(record, key, beam)
    reused = tuned is not None
    if tuned is None:
        tuned = tune_lm_weights(emissions_of(cfg.tune_on), dev_refs, make_decoder, beam, *grids)
        save_tuning(record, key, tuned)
    logger.info("LM weight %g, word score %g (%s %s)", tuned.best.lm_weight, tuned.best.word_score,
                "reused from" if reused else "tuned, saved in", record)
    entry = {"data": str(cfg.tune_on), "best_wer": tuned.best_wer, "best_cer": tuned.best_cer,
             "trials": tuned.trials, "record": str(record), "reused": reused}
    return tuned.best, entry


def _beam_search(cfg: DecodeConfig, tokenizer, out: Path, checkpoint: Path, emissions: dict, emissions_of,
                 refs: dict | None, report: dict) -> dict[str, str]:
    """LM beam search of ``emissions`` (tuned first with ``tune_on``): its texts; fills ``report``."""
    lexicon, tokens = prepare_lexicon(cfg.lm, tokenizer, out)
    lm_path = find_lm_binary(cfg.lm)
    beam = BeamConfig(beam_size=cfg.beam_size, beam_threshold=cfg.beam_threshold,
                      lm_weight=cfg.lm_weight, word_score=cfg.word_score)

    def make_decoder(config: BeamConfig) -> BeamDecoder:
        return BeamDecoder(lexicon, tokens, tokenizer, lm_path, config)

    if cfg.tune_on:
        beam, report["tuning"] = _tuned_beam(cfg, checkpoint, lm_path, beam, make_decoder, emissions_of)
    final = make_decoder(beam).decode_all(emissions, desc=f"beam {Path(cfg.data).name}")
    _write_text(out / "lm" / "text", final)
    report["lm"] = {"lm_dir": str(cfg.lm), "lm": str(lm_path), **dataclasses.asdict(beam)}
    report["lm"]["unk_score"] = str(beam.unk_score)  # JSON has no -inf
    if refs is not None:
        report["lm"].update(score_texts(refs, final, str(out / "lm" / "text")).to_dict())
        logger.info("LM beam: WER %.2f%% CER %.2f%%", 100 * report["lm"]["wer"], 100 * report["lm"]["cer"])
    return final


def run_decode(cfg: DecodeConfig) -> dict:
    """Decode ``cfg.data``; the ``decode.json`` record (``greedy`` / ``lm``: WER and CER when scored)."""
    exp_dir, out = Path(cfg.exp_dir), Path(cfg.out)
    if cfg.tune_on and not cfg.lm:
        raise ValueError("--tune-on needs --lm (tuning searches the LM weight and word score)")
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device
    device = "cpu" if device == "auto" else device
    objective, tokenizer, _ = load_finetuned(exp_dir, cfg.checkpoint)
    objective.to(device)
    checkpoint = RunDir(exp_dir).finetuned_weights(cfg.checkpoint)

    def emissions_of(data_dir: str) -> dict:
        cache = _cache_path(exp_dir, cfg.checkpoint, data_dir)
        return cached_emissions(objective, checkpoint, data_dir, cache, cfg.max_tokens, device)

    emissions = emissions_of(cfg.data)
    refs = _references(cfg.data)
    report: dict = {
        "exp_dir": str(exp_dir), "checkpoint": str(checkpoint), "data": str(cfg.data),
        "split": Path(cfg.data).name, "num_utterances": len(emissions), "units": tokenizer.kind,
    }
    greedy = greedy_texts(emissions, tokenizer)
    _write_text(out / "greedy" / "text", greedy)
    final = greedy
    if refs is not None:
        report["greedy"] = score_texts(refs, greedy, str(out / "greedy" / "text")).to_dict()
        logger.info("greedy: WER %.2f%% CER %.2f%%", 100 * report["greedy"]["wer"], 100 * report["greedy"]["cer"])
    if cfg.lm:
        final = _beam_search(cfg, tokenizer, out, checkpoint, emissions, emissions_of, refs, report)
    _write_text(out / "text", final)
    write_decode_record(out, report)
    return report
