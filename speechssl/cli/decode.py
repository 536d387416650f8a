"""``speechssl decode``: greedy and KenLM lexicon beam-search decoding of a fine-tuned CTC model.

Writes ``OUT/greedy/text``, ``OUT/lm/text`` (with ``--lm``), ``OUT/text`` (the best) and ``decode.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

logger = logging.getLogger("speechssl.decode")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", required=True, help="fine-tuning folder (config.yaml, tokenizer, checkpoints)")
    parser.add_argument("--data", required=True, help="Kaldi data dir to decode (scored when it has text)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint name")
    parser.add_argument("--lm", default=None, help="LM folder from 'speechssl lm build' (beam search)")
    parser.add_argument("--lm-weight", type=float, default=2.0, help="LM weight (default 2.0)")
    parser.add_argument("--word-score", type=float, default=0.0, help="word insertion score (default 0)")
    parser.add_argument("--beam-size", type=int, default=50, help="beam size (default 50)")
    parser.add_argument("--beam-threshold", type=float, default=25.0, help="beam score threshold (default 25)")
    parser.add_argument("--tune-on", default=None, metavar="DEV_DIR",
                        help="grid-search --lm-weights x --word-scores on this data dir first")
    parser.add_argument("--lm-weights", default="0,0.5,1,1.5,2,3", help="tuning grid (default 0,0.5,1,1.5,2,3)")
    parser.add_argument("--word-scores", default="-1,0,1,2", help="tuning grid (default -1,0,1,2)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto")
    parser.add_argument("--max-tokens", type=int, default=1_600_000, help="padded samples per batch")
    parser.set_defaults(run=run)


def _cache_path(exp_dir: Path, checkpoint: str, data_dir: str) -> Path:
    """Emissions cache of one (checkpoint, data dir) inside the fine-tuning folder."""
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:8]
    return exp_dir / "emissions" / f"{Path(data_dir).name}-{checkpoint}-{digest}.safetensors"


def _write_text(path: Path, hypotheses: dict[str, str]) -> None:
    from speechssl.io.kaldi_dir import write_table

    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(path, hypotheses)


def _references(data_dir: str) -> dict[str, str] | None:
    """``utt -> transcript`` of a data dir, or None when it has no ``text`` (nothing to score)."""
    from speechssl.io.kaldi_dir import read_table

    text = Path(data_dir) / "text"
    return read_table(text) if text.is_file() else None


def _tuned_beam(args, exp_dir: Path, checkpoint: Path, lm_path: Path, beam, make_decoder, emissions_of) -> tuple:
    """(beam config with the LM weight / word score tuned on ``--tune-on``, its report entry).

    One tuning per (model, dev set, LM, grid) is kept in ``EXP/lm_tuning/``; decoding the other
    splits of the same model reuses it instead of searching the grid again.
    """
    from speechssl.decode.emissions import fingerprint
    from speechssl.decode.tune import load_tuning, parse_grid, save_tuning, tune_lm_weights, tuning_key

    dev_refs = _references(args.tune_on)
    if dev_refs is None:
        raise ValueError(f"--tune-on {args.tune_on}: no text file to tune against")
    grids = parse_grid(args.lm_weights, "--lm-weights"), parse_grid(args.word_scores, "--word-scores")
    record = exp_dir / "lm_tuning" / f"{Path(args.tune_on).name}-{args.checkpoint}.json"
    text = (Path(args.tune_on) / "text").stat()  # new references are a new tuning too
    source = f"{fingerprint(checkpoint, args.tune_on)}:{text.st_size}:{text.st_mtime_ns}"
    key = tuning_key(source, lm_path, beam, *grids)
    tuned = load_tuning(record, key, beam)
    reused = tuned is not None
    if tuned is None:
        tuned = tune_lm_weights(emissions_of(args.tune_on), dev_refs, make_decoder, beam, *grids)
        save_tuning(record, key, tuned)
    logger.info("LM weight %g, word score %g (%s %s)", tuned.best.lm_weight, tuned.best.word_score,
                "reused from" if reused else "tuned, saved in", record)
    entry = {"data": str(args.tune_on), "best_wer": tuned.best_wer, "best_cer": tuned.best_cer,
             "trials": tuned.trials, "record": str(record), "reused": reused}
    return tuned.best, entry


def run(args: argparse.Namespace) -> int:
    import torch

    from speechssl.decode.beam import (
        BeamConfig,
        BeamDecoder,
        find_lm_binary,
        prepare_lexicon,
    )
    from speechssl.decode.emissions import cached_emissions, greedy_texts
    from speechssl.finetune import load_finetuned
    from speechssl.io.atomic import atomic_write_text
    from speechssl.score import score_texts
    from speechssl.train.finetuned import find_checkpoint

    exp_dir, out = Path(args.exp_dir), Path(args.out)
    if args.tune_on and not args.lm:
        raise ValueError("--tune-on needs --lm (tuning searches the LM weight and word score)")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    objective, tokenizer, _ = load_finetuned(exp_dir, args.checkpoint)
    objective.to(device)
    checkpoint = find_checkpoint(exp_dir, args.checkpoint)

    def emissions_of(data_dir: str) -> dict:
        cache = _cache_path(exp_dir, args.checkpoint, data_dir)
        return cached_emissions(objective, checkpoint, data_dir, cache, args.max_tokens, device)

    emissions = emissions_of(args.data)
    refs = _references(args.data)
    report: dict = {
        "exp_dir": str(exp_dir), "checkpoint": str(checkpoint), "data": str(args.data),
        "split": Path(args.data).name, "num_utterances": len(emissions), "units": tokenizer.kind,
    }
    greedy = greedy_texts(emissions, tokenizer)
    _write_text(out / "greedy" / "text", greedy)
    final = greedy
    if refs is not None:
        report["greedy"] = score_texts(refs, greedy, str(out / "greedy" / "text")).to_dict()
        logger.info("greedy: WER %.2f%% CER %.2f%%", 100 * report["greedy"]["wer"], 100 * report["greedy"]["cer"])
    if args.lm:
        lexicon, tokens = prepare_lexicon(args.lm, tokenizer, out)
        lm_path = find_lm_binary(args.lm)
        beam = BeamConfig(
            beam_size=args.beam_size, beam_threshold=args.beam_threshold,
            lm_weight=args.lm_weight, word_score=args.word_score,
        )

        def make_decoder(config: BeamConfig) -> BeamDecoder:
            return BeamDecoder(lexicon, tokens, tokenizer, lm_path, config)

        if args.tune_on:
            beam, report["tuning"] = _tuned_beam(
                args, exp_dir, checkpoint, lm_path, beam, make_decoder, emissions_of)
        final = make_decoder(beam).decode_all(emissions, desc=f"beam {Path(args.data).name}")
        _write_text(out / "lm" / "text", final)
        report["lm"] = {"lm_dir": str(args.lm), "lm": str(lm_path), **dataclasses.asdict(beam)}
        report["lm"]["unk_score"] = str(beam.unk_score)  # JSON has no -inf
        if refs is not None:
            report["lm"].update(score_texts(refs, final, str(out / "lm" / "text")).to_dict())
            logger.info("LM beam: WER %.2f%% CER %.2f%%", 100 * report["lm"]["wer"], 100 * report["lm"]["cer"])
    _write_text(out / "text", final)
    atomic_write_text(out / "decode.json", json.dumps(report, indent=2) + "\n")
    for system in ("greedy", "lm"):
        if isinstance(report.get(system), dict) and "wer" in report[system]:
            print(f"{out} {system}: WER {100 * report[system]['wer']:.2f}% CER {100 * report[system]['cer']:.2f}%")
    return 0
