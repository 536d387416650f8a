"""Energy voice-activity detection and the cut of long recordings into ~10-30 s chunks at silences.

Same idea as Libri-light's ``cut_by_vad.py`` (pieces made of consecutive voice activity, never a cut
inside speech when a pause exists), with our own frame-energy VAD instead of its shipped VAD files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VadConfig:
    """Energy VAD and chunking settings (seconds unless named otherwise).

    Attributes:
        frame_seconds, hop_seconds: analysis window and step of the frame log-energy (25 / 10 ms).
        floor_percentile: the recording's noise floor is this percentile of its frame energies.
        margin_db: a frame is speech when its energy exceeds the floor by this many dB ...
        dynamic_range_db: ... or lies within this many dB of the loud frames (95th percentile),
            whichever threshold is higher (digital-silence floors do not make noise "speech").
        min_speech: speech runs shorter than this are clicks, turned into silence.
        min_silence: pauses shorter than this are not cut points (breaths inside a sentence).
        pad: speech margin kept on each side of a cut (never more than half the pause).
        max_seconds: a chunk never exceeds this; unbroken speech longer than it is cut evenly.
            A chunk ends earlier only where the next speech run does not fit or the recording
            ends, so with sentence-length runs (< 20 s) chunks are 10-30 s long.
        drop_seconds: shorter chunks are dropped (pre-training's ``min_sample_size``, 2 s, would
            drop them anyway).
    """

    frame_seconds: float = 0.025
    hop_seconds: float = 0.010
    floor_percentile: float = 1.0
    margin_db: float = 12.0
    dynamic_range_db: float = 40.0
    min_speech: float = 0.15
    min_silence: float = 0.3
    pad: float = 0.1
    max_seconds: float = 30.0
    drop_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.drop_seconds <= self.max_seconds:
            raise ValueError(f"VAD: need 0 <= drop_seconds <= max_seconds, got {self.drop_seconds}, {self.max_seconds}")
        if self.hop_seconds <= 0 or self.frame_seconds < self.hop_seconds:
            raise ValueError("VAD: need 0 < hop_seconds <= frame_seconds")


def frame_energies_db(audio: np.ndarray, rate: int, config: VadConfig) -> np.ndarray:
    """Log-energy (dB) of each analysis frame of ``audio`` (samples,) -> (frames,)."""
    frame, hop = int(config.frame_seconds * rate), int(config.hop_seconds * rate)
    audio = np.asarray(audio, dtype=np.float32)
    if len(audio) < frame:
        audio = np.pad(audio, (0, frame - len(audio)))
    count = 1 + (len(audio) - frame) // hop
    # Sum of squares per frame from one cumulative sum: no (frames, window) copy of long files.
    cumulative = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    starts = np.arange(count) * hop
    power = (cumulative[starts + frame] - cumulative[starts]) / frame
    return 10.0 * np.log10(power + 1e-10)


def _runs(flags: np.ndarray) -> list[tuple[bool, int, int]]:
    """(value, start, end) of each run of equal values in a bool array."""
    edges = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(flags)]
    return [(bool(flags[a]), a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def speech_frames(energies: np.ndarray, config: VadConfig) -> np.ndarray:
    """Bool (frames,) speech mask: threshold, then clicks removed and short pauses filled."""
    floor = np.percentile(energies, config.floor_percentile)
    threshold = max(floor + config.margin_db, np.percentile(energies, 95) - config.dynamic_range_db)
    speech = energies > threshold
    hop = config.hop_seconds
    for value, start, end in _runs(speech):
        if value and (end - start) * hop < config.min_speech:
            speech[start:end] = False
    for value, start, end in _runs(speech):
        inner = 0 < start and end < len(speech)
        if not value and inner and (end - start) * hop < config.min_silence:
            speech[start:end] = True
    return speech


def speech_segments(audio: np.ndarray, rate: int, config: VadConfig) -> list[tuple[int, int]]:
    """(start, end) samples of each speech run, padded by ``pad`` into the surrounding pauses."""
    speech = speech_frames(frame_energies_db(audio, rate, config), config)
    hop, frame = int(config.hop_seconds * rate), int(config.frame_seconds * rate)
    runs = [(a * hop, min(b * hop + frame - hop, len(audio))) for v, a, b in _runs(speech) if v]
    pad = int(config.pad * rate)
    padded = []
    for index, (start, end) in enumerate(runs):
        previous_end = runs[index - 1][1] if index else 0
        next_start = runs[index + 1][0] if index + 1 < len(runs) else len(audio)
        padded.append((max(start - pad, (previous_end + start) // 2 if index else 0),
                       min(end + pad, (end + next_start) // 2 if index + 1 < len(runs) else len(audio))))
    return padded


def chunk_segments(segments: list[tuple[int, int]], rate: int, config: VadConfig) -> list[tuple[int, int]]:
    """Group consecutive speech segments into chunks of at most ``max_seconds``.

    A chunk grows while its span (pauses inside included) stays within ``max_seconds``; a single
    segment longer than that is cut into equal pieces. Chunks under ``drop_seconds`` are dropped.
    Returns (start, end) samples, in order, non-overlapping.
    """
    limit = int(config.max_seconds * rate)
    pieces: list[tuple[int, int]] = []
    for start, end in segments:
        count = -(-(end - start) // limit)  # ceil: unbroken speech longer than the limit
        bounds = np.linspace(start, end, count + 1).astype(int)
        pieces += list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    chunks: list[tuple[int, int]] = []
    for start, end in pieces:
        if chunks and end - chunks[-1][0] <= limit:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return [(a, b) for a, b in chunks if b - a >= config.drop_seconds * rate]
