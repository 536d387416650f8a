"""Tune the LM weight and word insertion score on dev emissions by grid search.

Emissions are computed once; each grid point re-runs only the beam search. Best = lowest dev WER.
The result is saved with a key (model, dev set, LM, grid), so decoding every test split reuses one
tuning per model instead of searching the grid again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from speechssl.decode.beam import BeamConfig, BeamDecoder
from speechssl.io.atomic import atomic_write_text
from speechssl.score import score_texts

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """Outcome of a grid search.

    Attributes:
        best: the beam config with the lowest dev WER (ties: lower CER, then first tried).
        best_wer, best_cer: its dev error rates (fractions).
        trials: one ``{"lm_weight", "word_score", "wer", "cer"}`` per grid point, in search order.
    """

    best: BeamConfig
    best_wer: float
    best_cer: float
    trials: list[dict] = field(default_factory=list)


def parse_grid(text: str, name: str) -> list[float]:
    """``"0,0.5,1"`` -> [0.0, 0.5, 1.0]; raises ValueError naming the option on bad input."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected comma-separated numbers") from None
    if not values:
        raise ValueError(f"{name}: empty list")
    return values


def tune_lm_weights(
    emissions: dict[str, torch.Tensor],
    references: dict[str, str],
    make_decoder: Callable[[BeamConfig], BeamDecoder],
    base: BeamConfig,
    lm_weights: list[float],
    word_scores: list[float],
) -> TuneResult:
    """Decode ``emissions`` (utt -> (frames, vocab)) at every (lm_weight, word_score) pair.

    ``make_decoder(config)`` builds a decoder for one setting; ``references`` is ``utt -> text``
    for the same utterances.
    """
    best: TuneResult | None = None
    trials = []
    total = len(lm_weights) * len(word_scores)
    for lm_weight in lm_weights:
        for word_score in word_scores:
            config = dataclasses.replace(base, lm_weight=lm_weight, word_score=word_score)
            hypotheses = make_decoder(config).decode_all(
                emissions, desc=f"tune {len(trials) + 1}/{total}"
            )
            result = score_texts(references, hypotheses, hyp_name="dev hypotheses")
            trials.append(
                {"lm_weight": lm_weight, "word_score": word_score, "wer": result.wer, "cer": result.cer}
            )
            log.info("lm_weight %.2f word_score %.2f: %s", lm_weight, word_score, result.summary())
            if best is None or (result.wer, result.cer) < (best.best_wer, best.best_cer):
                best = TuneResult(best=config, best_wer=result.wer, best_cer=result.cer)
    assert best is not None, "parse_grid guarantees at least one grid point"
    best.trials = trials
    return best


def tuning_key(source: str, lm: str | os.PathLike, base: BeamConfig, lm_weights: list[float],
               word_scores: list[float]) -> str:
    """What a tuning depends on: ``source`` (checkpoint + dev set fingerprint), the LM file
    version, the grid and the beam settings other than the two tuned values."""
    stat = Path(lm).stat()
    fixed = {k: str(v) for k, v in dataclasses.asdict(base).items() if k not in ("lm_weight", "word_score")}
    text = json.dumps([source, str(Path(lm).resolve()), stat.st_size, stat.st_mtime_ns, fixed,
                       lm_weights, word_scores])
    return hashlib.sha1(text.encode()).hexdigest()


def save_tuning(path: str | os.PathLike, key: str, result: TuneResult) -> None:
    """Write ``result`` with its ``key`` to ``path`` (JSON, atomic)."""
    record = {"key": key, "lm_weight": result.best.lm_weight, "word_score": result.best.word_score,
              "best_wer": result.best_wer, "best_cer": result.best_cer, "trials": result.trials}
    atomic_write_text(Path(path), json.dumps(record, indent=2) + "\n")


def load_tuning(path: str | os.PathLike, key: str, base: BeamConfig) -> TuneResult | None:
    """The tuning saved at ``path`` applied to ``base``, or None when absent or made for another key
    (another checkpoint version, dev set, LM or grid)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        log.warning("%s: unreadable tuning record; tuning again", path)
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    best = dataclasses.replace(base, lm_weight=float(record["lm_weight"]), word_score=float(record["word_score"]))
    return TuneResult(best=best, best_wer=float(record["best_wer"]), best_cer=float(record["best_cer"]),
                      trials=list(record["trials"]))
