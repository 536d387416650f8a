"""Offline synthetic speech corpus: text from Debian packages, voices from flite/festival/espeak-ng.

Entry point: ``generate(get_plan("mini"), seed, out, nj)`` (CLI: ``speechssl data synth``).
"""

from speechssl.corpora.mini.generate import corpus_digest, generate
from speechssl.corpora.mini.plans import (
    PLANS,
    SPLITS,
    CorpusPlan,
    SplitPlan,
    get_plan,
    plan_fingerprint,
)

__all__ = [
    "PLANS",
    "SPLITS",
    "CorpusPlan",
    "SplitPlan",
    "corpus_digest",
    "generate",
    "get_plan",
    "plan_fingerprint",
]
