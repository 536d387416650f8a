"""Lexicon-constrained CTC beam search with a KenLM n-gram (torchaudio's flashlight decoder).

Words come from the lexicon only; the LM weight and word insertion score trade LM against acoustics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from speechssl.lm.lexicon import read_lexicon_words, write_lexicon, write_tokens
from speechssl.progress import progress_bar
from speechssl.text.tokenizer import WORD_BOUNDARY, Tokenizer


@dataclass
class BeamConfig:
    """Beam-search settings (torchaudio ``ctc_decoder`` names).

    Attributes:
        beam_size: hypotheses kept after each frame.
        beam_size_token: tokens considered per frame (0 = all).
        beam_threshold: drop hypotheses scoring this much below the best.
        lm_weight: weight of the LM log-probability (0 = lexicon only).
        word_score: added per emitted word (word insertion bonus).
        sil_score: added per silence (word boundary) token.
        unk_score: score of out-of-lexicon words (-inf = never emitted).
    """

    beam_size: int = 50
    beam_size_token: int = 0
    beam_threshold: float = 25.0
    lm_weight: float = 2.0
    word_score: float = 0.0
    sil_score: float = 0.0
    unk_score: float = float("-inf")


def prepare_lexicon(
    lm_dir: str | os.PathLike, tokenizer: Tokenizer, out_dir: str | os.PathLike
) -> tuple[Path, Path]:
    """Spell the LM's words in the model's units; write ``lexicon.txt`` + ``tokens.txt`` in out_dir.

    The LM folder's lexicon is spelled in letters; a subword model needs its own spelling, so the
    decoder always reads a lexicon made from the tokenizer it decodes with.
    """
    out_dir = Path(out_dir)
    lexicon, tokens = out_dir / "lexicon.txt", out_dir / "tokens.txt"
    words = read_lexicon_words(Path(lm_dir) / "lexicon.txt")
    write_lexicon(words, tokenizer, lexicon, source=str(Path(lm_dir) / "lexicon.txt"))
    write_tokens(tokenizer, tokens)
    return lexicon, tokens


def find_lm_binary(lm_dir: str | os.PathLike) -> Path:
    """``lm.bin`` (or ``lm.arpa``) of an LM folder made by ``speechssl lm build``."""
    for name in ("lm.bin", "lm.arpa"):
        path = Path(lm_dir) / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{lm_dir}: no lm.bin or lm.arpa (build it with 'speechssl lm build')")


class BeamDecoder:
    """Wraps ``torchaudio.models.decoder.ctc_decoder`` for one lexicon, token list and LM."""

    def __init__(
        self,
        lexicon: str | os.PathLike,
        tokens: str | os.PathLike,
        tokenizer: Tokenizer,
        lm: str | os.PathLike | None,
        config: BeamConfig,
    ) -> None:
        from torchaudio.models.decoder import ctc_decoder

        silence = WORD_BOUNDARY if WORD_BOUNDARY in tokenizer.tokens else tokenizer.tokens[0]
        self.config = config
        self.decoder = ctc_decoder(
            lexicon=str(lexicon),
            tokens=str(tokens),
            lm=str(lm) if lm is not None else None,
            nbest=1,
            beam_size=config.beam_size,
            beam_size_token=config.beam_size_token or None,
            beam_threshold=config.beam_threshold,
            lm_weight=config.lm_weight,
            word_score=config.word_score,
            unk_score=config.unk_score,
            sil_score=config.sil_score,
            log_add=False,
            blank_token=tokenizer.tokens[0],
            sil_token=silence,
        )

    def decode(self, emissions: torch.Tensor) -> str:
        """Best word sequence of one utterance; emissions shape (frames, vocab) log-probabilities."""
        emissions = emissions.float().contiguous().cpu()[None]
        lengths = torch.tensor([emissions.shape[1]], dtype=torch.int32)
        hypotheses = self.decoder(emissions, lengths)[0]
        if not hypotheses:
            return ""
        return " ".join(word for word in hypotheses[0].words if word)

    def decode_all(self, emissions: dict[str, torch.Tensor], desc: str = "beam search") -> dict[str, str]:
        """Decode every utterance of ``utt -> (frames, vocab)``; returns ``utt -> text``."""
        return {
            utt: self.decode(emissions[utt])
            for utt in progress_bar(sorted(emissions), desc=desc, leave=False, unit="utt")
        }
