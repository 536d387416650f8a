"""The probe tasks: PR (CMUdict phones, linear head, PER) and ASR (letters, BiLSTM, CER/WER).

A task turns a data dir's ``text`` into CTC targets, builds its head and turns ids back into text.
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from speechssl.io.kaldi_dir import read_table
from speechssl.probe.heads import BiLSTMHead, LinearHead
from speechssl.text.arpabet import PHONES
from speechssl.text.cmudict_phones import phone_transcripts
from speechssl.text.tokenizer import LetterTokenizer, TokenizerError

logger = logging.getLogger(__name__)


@dataclass
class TaskTargets:
    """CTC targets of one split.

    Attributes:
        targets: ``utt -> token ids`` (blank = 0 never appears).
        references: ``utt -> reference text`` (phones or words separated by spaces) for scoring.
        skipped: utterances the task cannot use (PR: a word outside CMUdict), sorted.
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

    @abc.abstractmethod
    def targets(self, data_dir: str | os.PathLike) -> TaskTargets:
        """Targets of the utterances of ``data_dir/text`` the task can use."""

    @abc.abstractmethod
    def build_head(self, input_dim: int) -> nn.Module:
        """The CTC head: (B, T, input_dim) -> logits (B, T, vocab_size)."""

    @abc.abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of collapsed CTC ids (blanks already removed)."""


def _read_text(data_dir: str | os.PathLike) -> dict[str, str]:
    path = Path(data_dir) / "text"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: transcripts not found (probes train on labelled data dirs)")
    return read_table(path)


class PhoneRecognition(ProbeTask):
    """SUPERB PR: CTC over CMUdict's 39 phones + blank, linear head, Adam 1e-2 (s3prl libriphone)."""

    name = "pr"
    metric = "per"
    default_lr = 1e-2
    vocab_size = len(PHONES) + 1

    def __init__(self) -> None:
        self._index = {phone: i + 1 for i, phone in enumerate(PHONES)}

    def targets(self, data_dir: str | os.PathLike) -> TaskTargets:
        transcripts = phone_transcripts(_read_text(data_dir))
        if transcripts.skipped:
            common = ", ".join(w for w, _ in transcripts.oov_words.most_common(5))
            logger.info("%s: %d utterance(s) skipped, words outside CMUdict (most common: %s)",
                        data_dir, len(transcripts.skipped), common)
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

    def targets(self, data_dir: str | os.PathLike) -> TaskTargets:
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


TASKS: dict[str, type[ProbeTask]] = {"pr": PhoneRecognition, "asr": LetterRecognition}


def get_task(name: str, asr_hidden_size: int = 256) -> ProbeTask:
    """The task called ``name`` (``asr_hidden_size``: BiLSTM units per direction of ``asr``);
    ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown probe task {name!r}; known: {', '.join(TASKS)}")
    if TASKS[name] is LetterRecognition:
        return LetterRecognition(hidden_size=asr_hidden_size)
    return TASKS[name]()
