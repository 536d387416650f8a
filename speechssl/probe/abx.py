"""ABX phone discriminability of frame features, within and across speakers (ZeroSpeech 2021 /
Libri-light ``eval/ABX_src`` definition, own code), from true phone alignments.

Items are triphones (three consecutive non-silence phones of an utterance: context = the outer two).
For A and B of the same context and speaker differing in their centre phone, and X with A's
triphone, the error is the fraction of (a, b, x) where x is closer to b than to a (ties count
half), distances being DTW over frame-wise angular distances. Within: x from A's speaker (x != a);
across: x from another speaker. Errors are averaged over contexts (and X speakers), then speakers,
then (A, B) phone pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from speechssl.progress import progress_bar

from speechssl.data.phones import PhoneSegment
from speechssl.probe.dtw import DEFAULT_BATCH, pair_distances, unit_frames
from speechssl.text.arpabet import SILENCE


@dataclass
class AbxConfig:
    """Sampling of the ABX triplets (Libri-light's defaults: 10 items per cell, 5 X speakers)."""

    max_items_per_group: int = 10  # items of one (context, speaker, phone) kept, drawn with seed
    max_x_speakers: int = 5  # across: other speakers X is drawn from, per (A, B) cell
    seed: int = 0
    batch_pairs: int = DEFAULT_BATCH


@dataclass(frozen=True)
class AbxCounts:
    """What an ABX score was averaged over."""

    utterances: int = 0  # with features, speaker and alignment
    unaligned_utts: int = 0  # with features but without an alignment or speaker: left out
    items: int = 0  # triphone items kept (after the per-group cap)
    within_cells: int = 0  # (speaker, A, B, context) cells
    across_cells: int = 0  # (speaker, A, B, context, X speaker) cells
    within_phone_pairs: int = 0
    across_phone_pairs: int = 0


@dataclass(frozen=True)
class AbxResult:
    """ABX error rates in [0, 1] (0.5 = chance; NaN when no triplet could be formed)."""

    within: float = math.nan
    across: float = math.nan
    counts: AbxCounts = field(default_factory=AbxCounts)


@dataclass(frozen=True)
class Item:
    """One triphone: frames ``[start, stop)`` of ``utt``."""

    utt: str
    start: int
    stop: int
    context: tuple[str, str]
    phone: str
    speaker: str


def triphone_items(
    alignments: Mapping[str, Sequence[PhoneSegment]],
    speakers: Mapping[str, str],
    num_frames: Mapping[str, int],
    frame_rate: float,
) -> list[Item]:
    """Every triphone of three non-silence phones, over the frames whose centres fall inside it
    (Libri-light's indexing: frames ``ceil(rate * onset - 0.5)`` to ``floor(rate * offset - 0.5)``,
    the end excluded)."""
    items = []
    for utt in sorted(num_frames):
        if utt not in alignments or utt not in speakers:
            continue
        segments = alignments[utt]
        for prev, centre, after in zip(segments, segments[1:], segments[2:]):
            if SILENCE in (prev.phone, centre.phone, after.phone):
                continue
            start = max(0, math.ceil(frame_rate * prev.start - 0.5))
            stop = min(num_frames[utt], math.floor(frame_rate * after.end - 0.5))
            if stop > start:
                context = (prev.phone, after.phone)
                items.append(Item(utt, start, stop, context, centre.phone, speakers[utt]))
    return items


Cell = tuple[str, str, str, tuple[str, str]]  # (speaker, phone A, phone B, context)


@dataclass
class Triplets:
    """The ABX cells to score: item index arrays (A, B, X) per cell, and the item pairs needed."""

    within: dict[Cell, tuple[np.ndarray, np.ndarray]]  # X = A
    across: dict[tuple[Cell, str], tuple[np.ndarray, np.ndarray, np.ndarray]]
    pairs: np.ndarray  # (Q, 2) item indices, first < second


def build_triplets(items: list[Item], config: AbxConfig) -> tuple[Triplets, list[int]]:
    """Group items by (context, speaker, phone), cap each group with the seed, form the cells.

    Returns:
        (triplets, the kept item indices; cell arrays index into ``items``).
    """
    rng = np.random.default_rng(config.seed)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[(item.context, item.speaker, item.phone)].append(index)
    capped = {}
    for key in sorted(groups):
        members = np.array(groups[key])
        if len(members) > config.max_items_per_group:
            members = np.sort(rng.choice(members, config.max_items_per_group, replace=False))
        capped[key] = members
    by_context_speaker: dict[tuple, dict[str, np.ndarray]] = defaultdict(dict)
    speakers_of: dict[tuple, list[str]] = defaultdict(list)  # (context, phone) -> speakers
    for (context, speaker, phone), members in capped.items():
        by_context_speaker[(context, speaker)][phone] = members
        speakers_of[(context, phone)].append(speaker)
    within, across = {}, {}
    for (context, speaker), phones in sorted(by_context_speaker.items()):
        if len(phones) < 2:
            continue
        for phone_a, a in phones.items():
            others = sorted(s for s in speakers_of[(context, phone_a)] if s != speaker)
            if len(others) > config.max_x_speakers:
                others = sorted(rng.choice(others, config.max_x_speakers, replace=False))
            for phone_b, b in phones.items():
                if phone_b == phone_a:
                    continue
                cell = (speaker, phone_a, phone_b, context)
                if len(a) > 1:
                    within[cell] = (a, b)
                for other in others:
                    across[(cell, other)] = (a, b, capped[(context, other, phone_a)])
    pairs = set()
    for a, b in within.values():
        pairs.update(_pairs(a, a) | _pairs(a, b))
    for a, b, x in across.values():
        pairs.update(_pairs(x, a) | _pairs(x, b))
    kept = sorted({int(i) for members in capped.values() for i in members})
    pair_array = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return Triplets(within, across, pair_array), kept


def _pairs(first: np.ndarray, second: np.ndarray) -> set[tuple[int, int]]:
    return {(min(int(p), int(q)), max(int(p), int(q))) for p in first for q in second if p != q}


def _theta_error(d_xa: np.ndarray, d_xb: np.ndarray, same: bool) -> float:
    """1 - P(d(x, a) < d(x, b)) (ties half) over all (x, a, b); ``same``: X is A, skip x == a.

    Args:
        d_xa: shape (|X|, |A|), d_xb: shape (|X|, |B|).
    """
    closer = (d_xa[:, :, None] < d_xb[:, None, :]) + 0.5 * (d_xa[:, :, None] == d_xb[:, None, :])
    if same:
        keep = ~np.eye(d_xa.shape[0], dtype=bool)
        return 1.0 - float(closer[keep].mean())
    return 1.0 - float(closer.mean())


def _average(errors: dict[tuple, float]) -> tuple[float, int]:
    """Libri-light's averaging of cell errors keyed (speaker, A, B, ...): mean over the rest of
    the key, then over speakers, then over (A, B). Returns (error, number of (A, B) pairs)."""
    by_speaker: dict[tuple, list[float]] = defaultdict(list)
    for key, error in errors.items():
        by_speaker[key[:3]].append(error)
    by_pair: dict[tuple, list[float]] = defaultdict(list)
    for (speaker, a, b), values in by_speaker.items():
        by_pair[(a, b)].append(float(np.mean(values)))
    if not by_pair:
        return math.nan, 0
    return float(np.mean([np.mean(v) for v in by_pair.values()])), len(by_pair)


def _score(
    triplets: Triplets, distance: dict[tuple[int, int], float]
) -> tuple[float, float, int, int]:
    """(within error, across error, within phone pairs, across phone pairs) from item distances."""

    def matrix(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.array(
            [[distance[(min(r, c), max(r, c))] if r != c else 0.0 for c in cols] for r in rows]
        )

    within = {
        cell: _theta_error(matrix(a, a), matrix(a, b), True)
        for cell, (a, b) in triplets.within.items()
    }
    across = {
        (*cell, other): _theta_error(matrix(x, a), matrix(x, b), False)
        for (cell, other), (a, b, x) in triplets.across.items()
    }
    (within_error, within_pairs), (across_error, across_pairs) = _average(within), _average(across)
    return within_error, across_error, within_pairs, across_pairs


def abx_errors(
    layers: Mapping[str, Mapping[str, np.ndarray]],
    frame_rate: float,
    alignments: Mapping[str, Sequence[PhoneSegment]],
    speakers: Mapping[str, str],
    config: AbxConfig | None = None,
) -> dict[str, AbxResult]:
    """ABX within and across speakers of several feature sets of the same utterances (the layers
    of one model): the same items and triplets for every layer, so layers compare on equal terms.

    Args:
        layers: layer name -> utt -> features (frames, dim) at ``frame_rate`` Hz; every layer has
            the same utterances and frame counts.
        alignments: utt -> phone segments (``speechssl.data.phones.read_phone_alignments``).
        speakers: utt -> speaker (utt2spk).
    Raises:
        ValueError: no layer, or layers whose utterances or frame counts differ.
    """
    config = config or AbxConfig()
    if not layers:
        raise ValueError("abx_errors needs at least one layer of features")
    names = list(layers)
    num_frames = {utt: len(f) for utt, f in layers[names[0]].items()}
    for name in names[1:]:
        if {utt: len(f) for utt, f in layers[name].items()} != num_frames:
            raise ValueError(
                f"layer '{name}' has other utterances or frame counts than '{names[0]}'"
            )
    items = triphone_items(alignments, speakers, num_frames, frame_rate)
    triplets, kept = build_triplets(items, config)
    used = {u for u in num_frames if u in alignments and u in speakers}
    results = {}
    for name in progress_bar(names, desc="abx", unit="layer", disable=len(names) < 2):
        features = layers[name]
        sequences = [unit_frames(features[i.utt][i.start : i.stop]) for i in items]
        values = pair_distances(sequences, triplets.pairs, config.batch_pairs)
        distance = {(int(p), int(q)): float(v) for (p, q), v in zip(triplets.pairs, values)}
        within, across, within_pairs, across_pairs = _score(triplets, distance)
        counts = AbxCounts(
            len(used), len(num_frames) - len(used), len(kept), len(triplets.within),
            len(triplets.across), within_pairs, across_pairs,
        )  # fmt: skip
        results[name] = AbxResult(within, across, counts)
    return results


def abx_error(
    features: Mapping[str, np.ndarray],
    frame_rate: float,
    alignments: Mapping[str, Sequence[PhoneSegment]],
    speakers: Mapping[str, str],
    config: AbxConfig | None = None,
) -> AbxResult:
    """ABX within and across speakers of one feature set: utt -> (frames, dim) at ``frame_rate``."""
    return abx_errors({"features": features}, frame_rate, alignments, speakers, config)["features"]
