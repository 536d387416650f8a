"""Shared test fixtures: the generated ``smoke`` corpus (made once per session, never committed).

Set ``SPEECHSSL_TEST_CACHE`` to a folder to keep the corpus between sessions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SMOKE_SEED = 0

# Fake LibriSpeech archives and a Range server: the corpus-prep tests and the shell-recipe tests use them.
pytest_plugins = ("tests.corpora.librispeech.fakes",)


@pytest.fixture(scope="session")
def smoke_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_ROOT of ``speechssl data synth --plan smoke --seed 0``: pretrain/train/dev/test data
    dirs, audio/, lm/text.txt and local/digest.txt. Read-only for tests: copy before changing."""
    from speechssl.corpora.mini import generate, get_plan, plan_fingerprint

    plan = get_plan("smoke")
    cache = os.environ.get("SPEECHSSL_TEST_CACHE")
    if cache:
        root = Path(cache) / f"smoke-seed{SMOKE_SEED}-{plan_fingerprint(plan)}"
    else:
        root = tmp_path_factory.mktemp("smoke")
    generate(plan, SMOKE_SEED, root, nj=1)
    return root
