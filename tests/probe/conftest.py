"""Probe fixtures: a very small backbone config (YAML) and a trigram KenLM of the smoke corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from small_model import small_backbone_config

from speechssl.config import save_config

@pytest.fixture(scope="session")
def small_model_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "small.yaml"
    save_config(small_backbone_config(), path)
    return path


@pytest.fixture(scope="session")
def smoke_lm(smoke_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LM folder (lm.bin, lexicon.txt) of a trigram over the smoke corpus's LM text."""
    from speechssl.lm.build import build_lm

    out = tmp_path_factory.mktemp("lm") / "lm"
    build_lm(smoke_corpus / "lm" / "text.txt", 3, out, memory="32M")
    return out
