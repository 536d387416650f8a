"""Decoding fixtures: a tiny KenLM built by lmplz over ``LM_TEXT``."""

from __future__ import annotations

from pathlib import Path

import pytest

from letter_emissions import LM_TEXT
from speechssl.lm.build import build_lm


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """LM folder (lm.bin, lexicon.txt, tokens.txt) of a trigram over ``LM_TEXT``."""
    root = tmp_path_factory.mktemp("lm")
    (root / "text.txt").write_text(LM_TEXT)
    build_lm(root / "text.txt", 3, root / "lm", memory="32M")
    return root / "lm"
