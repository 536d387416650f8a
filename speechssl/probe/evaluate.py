"""Scoring a trained probe: greedy CTC decoding (PER, or CER/WER), frame error (PC) and, for ASR,
KenLM beam search.

The LM weight and word score are tuned on dev emissions (speechssl.decode.tune), then applied to
every split.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from speechssl.decode.beam import BeamConfig, BeamDecoder, find_lm_binary, prepare_lexicon
from speechssl.decode.greedy import best_path
from speechssl.decode.tune import tune_lm_weights
from speechssl.probe.losses import frame_error
from speechssl.probe.tasks import LetterRecognition, ProbeTask, TaskTargets
from speechssl.probe.train import ProbeModel, pad_hidden
from speechssl.score import score_texts


@torch.no_grad()
def compute_emissions(model: ProbeModel, hidden: dict[str, torch.Tensor], utts: list[str],
                      device: str = "cpu", batch_size: int = 16) -> dict[str, torch.Tensor]:
    """``utt -> (frames, vocab)`` log-probabilities on CPU, batched by length, eval mode."""
    model.eval()
    ordered = sorted(utts, key=lambda u: hidden[u].shape[1])
    emissions: dict[str, torch.Tensor] = {}
    for start in range(0, len(ordered), batch_size):
        batch = ordered[start : start + batch_size]
        x, lengths = pad_hidden([hidden[u] for u in batch])
        log_probs = model(x.to(device), lengths.to(device)).float().cpu()
        for row, utt in enumerate(batch):
            emissions[utt] = log_probs[row, : int(lengths[row])].contiguous()
    return emissions


def greedy_hypotheses(emissions: dict[str, torch.Tensor], task: ProbeTask) -> dict[str, str]:
    """Best-path text of every utterance (phones or words separated by spaces)."""
    return {utt: task.decode(best_path(e, blank=0)) for utt, e in emissions.items()}


def greedy_scores(task: ProbeTask, hypotheses: dict[str, str], references: dict[str, str],
                  name: str) -> dict[str, float]:
    """PR: ``{"per"}`` (edit distance over phone sequences); ASR: ``{"cer", "wer"}``; fractions."""
    result = score_texts(references, hypotheses, hyp_name=name)
    if task.metric == "per":
        return {"per": result.wer}
    return {"cer": result.cer, "wer": result.wer}


def split_scores(task: ProbeTask, emissions: dict[str, torch.Tensor], targets: TaskTargets,
                 name: str) -> dict[str, float]:
    """The task's scores of one split: ``{task.metric: frame error}`` for frame tasks, else greedy."""
    if task.frame_level:
        return {task.metric: frame_error(emissions, targets.targets)}
    return greedy_scores(task, greedy_hypotheses(emissions, task), targets.references, name)


@dataclasses.dataclass
class LMSettings:
    """KenLM beam search of the ASR probe: the grids tuned on dev and the beam size."""

    lm_weights: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0)
    word_scores: tuple[float, ...] = (-1.0, 0.0, 1.0)
    beam_size: int = 50


def lm_scores(
    task: LetterRecognition,
    emissions: dict[str, dict[str, torch.Tensor]],
    references: dict[str, dict[str, str]],
    lm_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: LMSettings,
) -> tuple[dict[str, dict[str, float]], dict]:
    """Tune the LM weight and word score on ``emissions["dev"]``, then beam-search every split.

    Args:
        emissions / references: ``split -> utt -> ...``; must include ``dev``.
    Returns:
        (``split -> {"cer_lm", "wer_lm"}``, the tuning record: best settings and every trial).
    """
    lexicon, tokens = prepare_lexicon(lm_dir, task.tokenizer, out_dir)
    lm_path = find_lm_binary(lm_dir)

    def make_decoder(config: BeamConfig) -> BeamDecoder:
        return BeamDecoder(lexicon, tokens, task.tokenizer, lm_path, config)

    tuned = tune_lm_weights(emissions["dev"], references["dev"], make_decoder,
                            BeamConfig(beam_size=settings.beam_size),
                            list(settings.lm_weights), list(settings.word_scores))
    decoder = make_decoder(tuned.best)
    scores = {}
    for split, split_emissions in emissions.items():
        hypotheses = decoder.decode_all(split_emissions, desc=f"beam {split}")
        result = score_texts(references[split], hypotheses, hyp_name=f"{split} LM hypotheses")
        scores[split] = {"cer_lm": result.cer, "wer_lm": result.wer}
    record = {"lm_dir": str(Path(lm_dir)), "lm": str(lm_path), "lm_weight": tuned.best.lm_weight,
              "word_score": tuned.best.word_score, "dev_wer": tuned.best_wer, "trials": tuned.trials}
    return scores, record
