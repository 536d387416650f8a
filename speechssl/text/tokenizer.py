"""CTC output units: letters (blank, ``|``, ``'``, A-Z) or SentencePiece subwords.

Both tokenizers share one interface (``encode``, ``decode``, ``spell``, ``tokens``, ``save``), index 0 is blank.
"""

from __future__ import annotations

import abc
import io
import json
import os
import string
from pathlib import Path

from speechssl.io.atomic import atomic_write_bytes, atomic_write_text

BLANK = "<blank>"
WORD_BOUNDARY = "|"
LETTERS = [WORD_BOUNDARY, "'", *string.ascii_uppercase]
TOKENIZER_FILE = "tokenizer.json"
SPM_MODEL_FILE = "spm.model"


class TokenizerError(ValueError):
    """Text the tokenizer cannot encode; the message names the utterance and the characters."""


def _where(utt_id: str | None) -> str:
    return f"utterance '{utt_id}'" if utt_id else "text"


class Tokenizer(abc.ABC):
    """Base class: ``tokens[0]`` is the CTC blank; subclasses fill ``tokens`` and define ``spell``."""

    kind = ""
    tokens: list[str]

    @property
    def blank(self) -> int:
        return 0

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @abc.abstractmethod
    def spell(self, word: str, utt_id: str | None = None) -> list[str]:
        """Token strings of one word, as a lexicon entry spells it (word boundary included)."""

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:
        """Token ids of a transcript (words separated by spaces). Raises TokenizerError."""
        index = self._index()
        return [index[token] for word in text.split() for token in self.spell(word, utt_id)]

    def decode(self, ids: list[int]) -> str:
        """Text of token ids (blanks dropped; repeats are NOT collapsed: that is the decoder's job)."""
        pieces = [self.tokens[i] for i in ids if i != self.blank]
        return self._join(pieces)

    @abc.abstractmethod
    def _join(self, pieces: list[str]) -> str:
        """Text of token strings (blanks already removed)."""

    def _index(self) -> dict[str, int]:
        if getattr(self, "_token_index", None) is None:
            self._token_index = {token: i for i, token in enumerate(self.tokens)}
        return self._token_index

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` (kind and token list) into ``directory``, atomically."""
        info = {"kind": self.kind, "tokens": self.tokens}
        atomic_write_text(Path(directory) / TOKENIZER_FILE, json.dumps(info, indent=1) + "\n")


class LetterTokenizer(Tokenizer):
    """fairseq-style letters: blank=0, ``|`` (end of every word), ``'``, A-Z; 29 symbols."""

    kind = "letters"

    def __init__(self) -> None:
        self.tokens = [BLANK, *LETTERS]
        self._allowed = set(LETTERS) - {WORD_BOUNDARY}

    def spell(self, word: str, utt_id: str | None = None) -> list[str]:
        bad = sorted(set(word) - self._allowed)
        if bad:
            raise TokenizerError(
                f"{_where(utt_id)}: characters {''.join(bad)!r} in {word!r} are not letters "
                "(A-Z, '); normalise the text with speechssl.text.normalize"
            )
        return [*word, WORD_BOUNDARY]

    def _join(self, pieces: list[str]) -> str:
        return " ".join("".join(pieces).replace(WORD_BOUNDARY, " ").split())


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece BPE units; id = piece id + 1 (blank at 0). ``▁`` starts each word."""

    kind = "bpe"

    def __init__(self, model_path: str | os.PathLike) -> None:
        import sentencepiece

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise TokenizerError(f"{self.model_path}: SentencePiece model not found")
        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(self.model_path))
        pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
        self.tokens = [BLANK, *pieces]
        self._unk = self._sp.unk_id()

    @classmethod
    def train(
        cls, transcripts: list[str], vocab_size: int, directory: str | os.PathLike
    ) -> "SentencePieceTokenizer":
        """Train a BPE model of ``vocab_size`` pieces on transcripts; saves ``spm.model`` there."""
        import sentencepiece

        if not transcripts:
            raise TokenizerError("no transcripts to train the SentencePiece model on")
        model = io.BytesIO()
        # hard_vocab_limit=False: tiny training texts may not support vocab_size pieces.
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(transcripts),
            model_writer=model,
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=1.0,
            hard_vocab_limit=False,
            bos_id=-1,
            eos_id=-1,
            unk_id=0,
            minloglevel=2,
        )
        path = Path(directory) / SPM_MODEL_FILE
        atomic_write_bytes(path, model.getvalue())
        return cls(path)

    def spell(self, word: str, utt_id: str | None = None) -> list[str]:
        ids = self._sp.encode(word)
        if self._unk in ids:
            unknown = sorted({ch for ch in word if self._sp.piece_to_id(ch) == self._unk})
            raise TokenizerError(
                f"{_where(utt_id)}: characters {''.join(unknown) or word!r} in {word!r} are not in "
                f"the SentencePiece model {self.model_path}"
            )
        return [self._sp.id_to_piece(i) for i in ids]

    def _join(self, pieces: list[str]) -> str:
        return " ".join("".join(pieces).replace("\u2581", " ").split())

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` and a copy of ``spm.model`` into ``directory``."""
        target = Path(directory) / SPM_MODEL_FILE
        if target.resolve() != self.model_path.resolve():
            atomic_write_bytes(target, self.model_path.read_bytes())
        super().save(directory)


def parse_units(units: str) -> tuple[str, int]:
    """``letters`` -> ("letters", 0); ``bpe:N`` -> ("bpe", N). Raises TokenizerError otherwise."""
    if units == "letters":
        return "letters", 0
    kind, _, size = units.partition(":")
    if kind == "bpe" and size.isdigit() and int(size) > 1:
        return "bpe", int(size)
    raise TokenizerError(f"--units {units!r}: expected 'letters' or 'bpe:N' (e.g. bpe:300)")


def build_tokenizer(
    units: str, transcripts: list[str], directory: str | os.PathLike
) -> Tokenizer:
    """Make the tokenizer for ``units`` (training SentencePiece on ``transcripts``) and save it."""
    kind, size = parse_units(units)
    tokenizer: Tokenizer
    if kind == "letters":
        tokenizer = LetterTokenizer()
    else:
        tokenizer = SentencePieceTokenizer.train(transcripts, size, directory)
    tokenizer.save(directory)
    return tokenizer


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """Load the tokenizer saved in ``directory`` by ``build_tokenizer``; checks the token list."""
    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise TokenizerError(f"{path}: tokenizer file not found (was the model fine-tuned here?)")
    info = json.loads(path.read_text(encoding="utf-8"))
    tokenizer: Tokenizer
    if info.get("kind") == "letters":
        tokenizer = LetterTokenizer()
    elif info.get("kind") == "bpe":
        tokenizer = SentencePieceTokenizer(Path(directory) / SPM_MODEL_FILE)
    else:
        raise TokenizerError(f"{path}: unknown tokenizer kind {info.get('kind')!r}")
    if tokenizer.tokens != info.get("tokens"):
        raise TokenizerError(f"{path}: token list does not match the {tokenizer.kind} tokenizer")
    return tokenizer
