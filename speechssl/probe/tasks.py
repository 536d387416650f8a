"""The trained probe tasks: PR (CMUdict phones, linear head, PER), ASR (letters, BiLSTM, CER/WER)
and PC (true frame phones, linear head, frame error).

A task turns a data dir into targets, builds its head, gives the loss and turns ids back into text.
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from speechssl.data.phones import frame_phone_labels, read_phone_alignments
from speechssl.io.kaldi_dir import read_table
from speechssl.probe.heads import BiLSTMHead, LinearHead
from speechssl.probe.losses import ctc_loss, frame_cross_entropy
from speechssl.text.arpabet import ALIGNMENT_PHONES, PHONES
from speechssl.text.cmudict_phones import phone_transcripts
from speechssl.text.tokenizer import LetterTokenizer, TokenizerError

logger = logging.getLogger(__name__)


@dataclass
class TaskTargets:
    """Targets of one split.

    Attributes:
        targets: ``utt -> token ids`` (CTC tasks; blank = 0 never appears) or ``utt -> one label a
            frame`` (frame tasks).
        references: ``utt -> reference text`` (phones or words separated by spaces) for scoring.
        skipped: utterances the task cannot use (PR: a word outside CMUdict; PC: no alignment), sorted.
    """

    targets: dict[str, list[int]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


class ProbeTask(abc.ABC):
    """What the probe loop needs from a task."""

    name: str = ""
    metric: str = ""  # the result's headline metric (a key of the scores)
    default_lr: float = 1e-3
    vocab_size: int = 0
    frame_level: bool = False  # scored per frame (argmax), not by CTC decoding

    @abc.abstractmethod
    def targets(self, data_dir: str | os.PathLike, num_frames: Mapping[str, int] | None = None,
                frame_rate: float = 0.0) -> TaskTargets:
        """Targets of the utterances of ``data_dir`` the task can use.

        Args:
            num_frames, frame_rate: the upstream's frames per utterance and rate (frame tasks).
        """

    @abc.abstractmethod
    def build_head(self, input_dim: int) -> nn.Module:
        """The head: (B, T, input_dim) -> logits (B, T, vocab_size)."""

    def loss(self, log_probs: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
        """The training loss of a batch: log_probs (B, T, vocab), lengths (B,); CTC by default."""
        return ctc_loss(log_probs, lengths, targets)

    @abc.abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of collapsed CTC ids (blanks already removed), or of frame labels (frame tasks)."""


def _read_text(data_dir: str | os.PathLike) -> dict[str, str]:
    path = Path(data_dir) / "text"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: transcripts not found (probes train on labelled data dirs)")
    return read_table(path)


def _first(utts: list[str], count: int = 5) -> str:
    """The first ``count`` utterance ids, for a log line."""
    return ", ".join(utts[:count]) + (f" and {len(utts) - count} more" if len(utts) > count else "")


class PhoneRecognition(ProbeTask):
    """SUPERB PR: CTC over CMUdict's 39 phones + blank, linear head, Adam 1e-2 (s3prl libriphone)."""

    name = "pr"
    metric = "per"
    default_lr = 1e-2
    vocab_size = len(PHONES) + 1

    def __init__(self) -> None:
        self._index = {phone: i + 1 for i, phone in enumerate(PHONES)}

    def targets(self, data_dir: str | os.PathLike, num_frames: Mapping[str, int] | None = None,
                frame_rate: float = 0.0) -> TaskTargets:
        transcripts = phone_transcripts(_read_text(data_dir))
        if transcripts.skipped:
            common = ", ".join(w for w, _ in transcripts.oov_words.most_common(5))
            logger.info("%s: %d utterance(s) skipped, no phones or words outside CMUdict (most common: "
                        "%s): %s", data_dir, len(transcripts.skipped), common, _first(transcripts.skipped))
        return TaskTargets(
            targets={u: [self._index[p] for p in ph] for u, ph in transcripts.phones.items()},
            references={u: " ".join(ph) for u, ph in transcripts.phones.items()},
            skipped=transcripts.skipped,
        )

    def build_head(self, input_dim: int) -> nn.Module:
        return LinearHead(input_dim, self.vocab_size)

    def decode(self, ids: list[int]) -> str:
        return " ".join(PHONES[i - 1] for i in ids if i > 0)


class LetterRecognition(ProbeTask):
    """SUPERB ASR scaled down: 2-layer BiLSTM (256 units) CTC on letters (26 + ``'`` + word boundary
    + blank), Adam 1e-3 (s3prl's 1e-4 is for 200k updates; the probes run 1,500)."""

    name = "asr"
    metric = "cer"
    default_lr = 1e-3

    def __init__(self, hidden_size: int = 256) -> None:
        self.tokenizer = LetterTokenizer()
        self.vocab_size = self.tokenizer.vocab_size
        self.hidden_size = hidden_size

    def targets(self, data_dir: str | os.PathLike, num_frames: Mapping[str, int] | None = None,
                frame_rate: float = 0.0) -> TaskTargets:
        texts = _read_text(data_dir)
        result = TaskTargets()
        for utt, text in texts.items():
            try:
                result.targets[utt] = self.tokenizer.encode(text, utt)
            except TokenizerError as error:
                raise TokenizerError(f"{Path(data_dir) / 'text'}: {error}") from None
            result.references[utt] = " ".join(text.split())
        return result

    def build_head(self, input_dim: int) -> nn.Module:
        return BiLSTMHead(input_dim, self.vocab_size, hidden_size=self.hidden_size)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)


class FramePhoneClassification(ProbeTask):
    """Frame phone classification against the true alignments (``data/<split>/phones``): linear head
    over 39 phones + SIL, cross-entropy per frame, Adam 1e-3, frame error (1 - frame accuracy).
    The most sensitive linear probe: no CTC blank plateau to leave first."""

    name = "pc"
    metric = "frame_error"
    default_lr = 1e-3
    vocab_size = len(ALIGNMENT_PHONES)
    frame_level = True

    def targets(self, data_dir: str | os.PathLike, num_frames: Mapping[str, int] | None = None,
                frame_rate: float = 0.0) -> TaskTargets:
        """The phone of each frame of every aligned utterance of ``num_frames``; the others skipped."""
        if num_frames is None or frame_rate <= 0:
            raise ValueError("the pc task needs the upstream's frame counts and frame rate")
        alignments = read_phone_alignments(data_dir)
        result = TaskTargets()
        for utt, frames in sorted(num_frames.items()):
            if utt not in alignments:
                result.skipped.append(utt)
                continue
            labels = frame_phone_labels(alignments[utt], frames, frame_rate).tolist()
            result.targets[utt] = labels
            result.references[utt] = " ".join(ALIGNMENT_PHONES[i] for i in labels)
        if result.skipped:
            logger.info("%s: %d utterance(s) skipped, no phone alignment (espeak-ng voices): %s",
                        data_dir, len(result.skipped), _first(result.skipped))
        return result

    def build_head(self, input_dim: int) -> nn.Module:
        return LinearHead(input_dim, self.vocab_size)

    def loss(self, log_probs: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
        return frame_cross_entropy(log_probs, lengths, targets)

    def decode(self, ids: list[int]) -> str:
        return " ".join(ALIGNMENT_PHONES[i] for i in ids)


TASKS: dict[str, type[ProbeTask]] = {
    "pr": PhoneRecognition, "asr": LetterRecognition, "pc": FramePhoneClassification,
}


def get_task(name: str, asr_hidden_size: int = 256) -> ProbeTask:
    """The task called ``name`` (``asr_hidden_size``: BiLSTM units per direction of ``asr``);
    ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown probe task {name!r}; known: {', '.join(TASKS)}")
    if TASKS[name] is LetterRecognition:
        return LetterRecognition(hidden_size=asr_hidden_size)
    return TASKS[name]()
