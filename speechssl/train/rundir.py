"""A run folder (pre-training or fine-tuning): the one module that knows its layout and records.

Layout of ``RunDir(path)``::

    config.yaml                      the resolved run config (backbone sizes, objective, data)
    checkpoint_<N>.safetensors       numbered checkpoints (+ .state.pt: optimizer, RNG, sampler)
    checkpoint_best.safetensors      lowest validation metric (fine-tuning: dev WER)
    summary.json                     RunSummary (written once a run ends)
    progress.jsonl / valid.jsonl     training and validation logs
    tokenizer.json                   fine-tuning only
    decode_<split>/decode.json       DecodeRecord of ``speechssl decode --out DIR/decode_<split>``

Writers (the trainer, the fine-tuning and decoding jobs) and readers (the report) share the
records below, so a key is named in one place.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.config import ConfigError, read_yaml_mapping
from speechssl.io.atomic import atomic_write_text
from speechssl.train.finetuned import find_checkpoint

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
SUMMARY_NAME = "summary.json"
DECODE_NAME = "decode.json"
PROGRESS_NAME = "progress.jsonl"
DECODE_SYSTEMS = ("greedy", "lm")


def read_json(path: Path) -> dict | None:
    """A JSON object, or None (with a warning naming the file) when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        log.warning("%s: unreadable JSON (%s), skipped", path, error)
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, record: dict) -> None:
    """``record`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


@dataclass
class RunSummary:
    """The keys of ``summary.json`` that other stages read (the file holds more: monitors, skips).

    Attributes:
        wall_seconds, training_flops, updates: the compute of the run.
        objective: pre-training objective (fine-tuning: the one it started from, ``scratch`` if none).
        pretrained, pretrained_checkpoint: fine-tuning only: what the backbone was loaded from.
        best_dev_wer: fine-tuning only: greedy dev WER of ``checkpoint_best``.
        units: fine-tuning only: ``letters`` or ``bpe:N``.
    """

    wall_seconds: float | None = None
    training_flops: float | None = None
    updates: int | None = None
    objective: str | None = None
    pretrained: str | None = None
    pretrained_checkpoint: str | None = None
    best_dev_wer: float | None = None
    units: str | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "RunSummary":
        return cls(**{name: values.get(name) for name in cls.__dataclass_fields__})


@dataclass
class SystemScore:
    """One decoding system of a split: WER, CER and, for the LM beam, its settings."""

    wer: float
    cer: float | None = None
    lm_weight: float | None = None
    word_score: float | None = None
    beam_size: int | None = None


@dataclass
class DecodeRecord:
    """The scored systems (``greedy``, ``lm``) of one ``decode.json``."""

    split: str
    systems: dict[str, SystemScore] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict, default_split: str) -> "DecodeRecord":
        record = cls(split=str(values.get("split") or default_split))
        for system in DECODE_SYSTEMS:
            result = values.get(system)
            if isinstance(result, dict) and "wer" in result:
                settings = {k: result.get(k) for k in ("lm_weight", "word_score", "beam_size")} if system == "lm" else {}
                record.systems[system] = SystemScore(wer=result["wer"], cer=result.get("cer"), **settings)
        return record


def write_decode_record(out: str | os.PathLike, record: dict) -> None:
    """``OUT/decode.json`` (the full record ``speechssl.decode.job`` builds; DecodeRecord reads it)."""
    write_json(Path(out) / DECODE_NAME, record)


class RunDir:
    """A run folder; every path and record of it goes through here."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_NAME

    def config(self) -> dict:
        """``config.yaml`` as a mapping ({} when absent or not a mapping)."""
        if not self.config_path.is_file():
            return {}
        try:
            return read_yaml_mapping(self.config_path)
        except ConfigError:  # not a mapping: nothing to read
            return {}

    def finetuned_weights(self, name: str = "best") -> Path:
        """``best`` / ``last`` / a named checkpoint of a fine-tuning run (``find_checkpoint``)."""
        return find_checkpoint(self.path, name)

    def summary_record(self) -> dict | None:
        """The whole ``summary.json`` (None when absent or unreadable)."""
        return read_json(self.summary_path)

    def summary(self) -> RunSummary | None:
        record = self.summary_record()
        return None if record is None else RunSummary.from_dict(record)

    def write_summary(self, record: dict) -> None:
        write_json(self.summary_path, record)

    def decodes(self) -> list[DecodeRecord]:
        """Every ``decode*/decode.json``, oldest first (a later decode of a split supersedes)."""
        files = sorted(self.path.glob(f"decode*/{DECODE_NAME}"), key=lambda p: p.stat().st_mtime)
        return [DecodeRecord.from_dict(read_json(p) or {}, p.parent.name.removeprefix("decode_")) for p in files]
