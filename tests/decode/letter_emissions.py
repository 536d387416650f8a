"""Hand-made letter emissions and the tiny LM text of the decoding tests."""

from __future__ import annotations

import torch

from speechssl.text.tokenizer import LetterTokenizer

LM_TEXT = "THE CAT SAT ON THE MAT\nTHE DOG SAT ON THE LOG\nA CAT AND A DOG\nTHE CAT SAW THE DOG\n"


def letter_emissions(frames: list[dict[str, float]]) -> torch.Tensor:
    """(frames, 29) log-probabilities; each frame gives probabilities of a few letters, the rest
    share a small floor. ``"-"`` names the blank."""
    tokenizer = LetterTokenizer()
    index = {token: i for i, token in enumerate(tokenizer.tokens)}
    index["-"] = tokenizer.blank
    rows = []
    for frame in frames:
        probs = torch.full((tokenizer.vocab_size,), 1e-4)
        for token, p in frame.items():
            probs[index[token]] = p
        rows.append((probs / probs.sum()).log())
    return torch.stack(rows)


def spelled(word_frames: str) -> list[dict[str, float]]:
    """Confident frames for a letter string; ``-`` = blank, ``|`` = word boundary."""
    return [{ch: 0.95} for ch in word_frames]
