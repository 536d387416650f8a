"""Corpus plans: how many speakers of each engine, utterances and which books each split gets.

``smoke`` (~2 min of audio, seconds to make) feeds the tests; ``mini`` (~2.8 h) the CPU recipe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from speechssl.config import to_dict

from speechssl.corpora.mini.channel import ChannelConfig

SPLITS = ("pretrain", "train", "dev", "test")


@dataclass
class SplitPlan:
    """Speakers per engine and utterances per speaker of one split.

    For ``train`` the counts pick speakers out of the pretrain speakers of that engine.
    """

    flite: int = 0
    festival: int = 0
    espeak: int = 0
    utts_per_speaker: int = 1

    @property
    def num_speakers(self) -> int:
        return self.flite + self.festival + self.espeak


@dataclass
class VoiceSet:
    """Base voices of each engine; dev/test use a set disjoint from pretrain/train."""

    flite: tuple[str, ...] = ("slt", "rms", "kal16")
    # festival's HTS voice (cmu_us_slt_arctic_hts) runs at ~3x real time: too slow for the budget.
    festival: tuple[str, ...] = ("kal_diphone",)
    espeak: tuple[str, ...] = ("en-us", "en", "en-gb-x-rp", "en-029")


@dataclass
class CorpusPlan:
    """Everything that decides the corpus apart from the seed."""

    name: str = "mini"
    pretrain: SplitPlan = field(default_factory=lambda: SplitPlan(18, 4, 26, 36))
    train: SplitPlan = field(default_factory=lambda: SplitPlan(8, 2, 14, 11))
    dev: SplitPlan = field(default_factory=lambda: SplitPlan(3, 1, 4, 14))
    test: SplitPlan = field(default_factory=lambda: SplitPlan(3, 1, 4, 14))
    train_voices: VoiceSet = field(default_factory=VoiceSet)
    heldout_voices: VoiceSet = field(
        default_factory=lambda: VoiceSet(
            ("awb",), ("ked_diphone",), ("en-gb-scotland", "en-us-nyc")
        )
    )
    train_books: tuple[str, ...] = (
        "emma",
        "mansfieldpark",
        "prideprejudice",
        "sensesensibility",
        "mobydick",
        "fortunes",
    )
    labelled_books: tuple[str, ...] = ("harvard",)  # labelled train split and LM only
    dev_books: tuple[str, ...] = ("northangerabbey",)
    test_books: tuple[str, ...] = ("persuasion",)
    min_words: int = 4
    max_words: int = 25
    chunk_size: int = 20  # utterances per work unit (one festival process each)
    channel: ChannelConfig = field(default_factory=ChannelConfig)

    def split(self, name: str) -> SplitPlan:
        return getattr(self, name)


def smoke_plan() -> CorpusPlan:
    """About two minutes of audio over all splits; short sentences so it is made in seconds."""
    return CorpusPlan(
        name="smoke",
        pretrain=SplitPlan(flite=2, festival=1, espeak=3, utts_per_speaker=4),
        train=SplitPlan(flite=1, festival=0, espeak=2, utts_per_speaker=2),
        dev=SplitPlan(flite=1, festival=0, espeak=1, utts_per_speaker=2),
        test=SplitPlan(flite=1, festival=0, espeak=1, utts_per_speaker=2),
        min_words=4,
        max_words=12,
        chunk_size=4,
    )


PLANS = {"smoke": smoke_plan, "mini": CorpusPlan}


def get_plan(name: str) -> CorpusPlan:
    """The named plan; raises ValueError listing the known ones."""
    if name not in PLANS:
        raise ValueError(f"unknown corpus plan '{name}'; known: {', '.join(PLANS)}")
    return PLANS[name]()


def plan_fingerprint(plan: CorpusPlan) -> str:
    """Short sha256 of every plan setting: folders made from an edited plan are told apart."""
    return hashlib.sha256(repr(to_dict(plan)).encode()).hexdigest()[:16]
