"""Who says what: draws each split's speakers and assigns sentences to utterances.

Pure planning, no audio: everything follows from the plan and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechssl.corpora.mini.plans import SPLITS, CorpusPlan, VoiceSet
from speechssl.corpora.mini.texts import TextPools
from speechssl.corpora.mini.voices import ENGINES, Speaker, draw_speaker

# Distinct streams of numpy's SeedSequence, so that no two uses of the seed share random numbers.
STREAM_SPEAKER, STREAM_ROOM, STREAM_BABBLE, STREAM_TEXT, STREAM_UTT = 100, 200, 300, 400, 500


@dataclass(frozen=True)
class Utterance:
    """One utterance to make; ``number`` is its position in the split (seeds its randomness)."""

    utt_id: str
    split: str
    number: int
    text: str


@dataclass
class WorkUnit:
    """Utterances of one speaker rendered together (one festival process for festival voices)."""

    split: str
    speaker: Speaker
    speaker_number: int
    utterances: list[Utterance]


def _draw_split_speakers(
    counts: dict[str, int], voices: VoiceSet, first_number: int, seed: int, voice_offset: int = 0
) -> list[tuple[int, Speaker]]:
    """Speakers numbered from ``first_number``; base voices cycle from ``voice_offset``."""
    speakers = []
    number = first_number
    for engine in ENGINES:
        names = getattr(voices, engine)
        for k in range(counts[engine]):
            rng = np.random.default_rng([seed, STREAM_SPEAKER, number])
            voice = names[(k + voice_offset) % len(names)]
            speakers.append((number, draw_speaker(f"spk{number:03d}", engine, voice, rng)))
            number += 1
    return speakers


def draw_speakers(plan: CorpusPlan, seed: int) -> dict[str, list[tuple[int, Speaker]]]:
    """(speaker number, Speaker) per split. Train speakers are a subset of pretrain speakers;
    dev and test speakers are new, with held-out base voices."""
    result: dict[str, list[tuple[int, Speaker]]] = {}
    number = 0
    # test starts each held-out voice list one entry later than dev, so the two sound different.
    for split, offset in (("pretrain", 0), ("dev", 0), ("test", 1)):
        split_plan = plan.split(split)
        voices = plan.train_voices if split == "pretrain" else plan.heldout_voices
        counts = {engine: getattr(split_plan, engine) for engine in ENGINES}
        result[split] = _draw_split_speakers(counts, voices, number, seed, offset)
        number += split_plan.num_speakers
    train = []
    for engine in ENGINES:
        wanted = getattr(plan.train, engine)
        pool = [pair for pair in result["pretrain"] if pair[1].engine == engine]
        if wanted > len(pool):
            raise ValueError(
                f"plan {plan.name}: train wants {wanted} {engine} speakers, "
                f"pretrain has {len(pool)}"
            )
        train.extend(pool[:wanted])
    result["train"] = train
    return {split: result[split] for split in SPLITS}


def assign_utterances(
    plan: CorpusPlan, speakers: dict[str, list[tuple[int, Speaker]]], pools: TextPools, seed: int
) -> dict[str, list[WorkUnit]]:
    """Work units per split. Utterance ids are ``<spk>-<nnnn>``, numbered per speaker across
    splits (pretrain first) so that a speaker's pretrain and train utterances never share an id."""
    next_index: dict[str, int] = {}
    units: dict[str, list[WorkUnit]] = {}
    for split_code, split in enumerate(SPLITS):
        pool = getattr(pools, split)
        split_plan = plan.split(split)
        needed = len(speakers[split]) * split_plan.utts_per_speaker
        if needed > len(pool):
            raise ValueError(
                f"plan {plan.name}: split {split} needs {needed} sentences, "
                f"its books give {len(pool)}"
            )
        order = np.random.default_rng([seed, STREAM_TEXT, split_code]).permutation(len(pool))
        sentences = iter(pool[i] for i in order[:needed])
        units[split] = []
        number = 0
        for speaker_number, speaker in speakers[split]:
            utterances = []
            for _ in range(split_plan.utts_per_speaker):
                index = next_index.get(speaker.spk_id, 0)
                next_index[speaker.spk_id] = index + 1
                utterances.append(
                    Utterance(f"{speaker.spk_id}-{index:04d}", split, number, next(sentences))
                )
                number += 1
            for start in range(0, len(utterances), plan.chunk_size):
                units[split].append(
                    WorkUnit(
                        split, speaker, speaker_number, utterances[start : start + plan.chunk_size]
                    )
                )
    return units
