"""Dump one feature shard of a Kaldi data dir with any extractor (MFCC, model layer).

Sizes the shard from utterance lengths first, then writes batches as they come (resumable).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
from speechssl.progress import progress_bar

from speechssl.features.shards import (
    ShardMeta,
    is_done,
    shard_paths,
    shard_utterances,
    write_shard,
)
from speechssl.io.audio import AudioError, audio_info, read_audio
from speechssl.io.kaldi_dir import DataDir

logger = logging.getLogger(__name__)


class FeatureExtractor(Protocol):
    """What ``dump_shard`` needs from a feature kind."""

    kind: str
    dim: int
    frame_rate: float

    def num_frames(self, num_samples: int) -> int:
        """Frames this extractor produces for ``num_samples`` samples."""

    def extract(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Features of a batch of utterances: each (samples,) float32 -> (frames, dim) float32."""


@dataclass
class Utterance:
    """One utterance of a shard: id, audio path, sample count."""

    utt: str
    path: str
    num_samples: int


def load_utterances(data_dir: str | os.PathLike) -> list[Utterance]:
    """Utterances of a data dir in ``wav.scp`` order with their sample counts.

    Counts come from ``utt2num_samples`` when present, otherwise from each file's header.
    Relative paths in ``wav.scp`` are taken relative to the current directory, as Kaldi does.
    """
    data = DataDir.load(data_dir)
    utterances = []
    for utt, path in data.wav_scp.items():
        count = data.utt2num_samples.get(utt)
        if count is None:
            count = audio_info(path)[2]
        utterances.append(Utterance(utt, path, count))
    return utterances


def length_batches(utterances: list[Utterance], max_batch_samples: int) -> list[list[Utterance]]:
    """Group utterances sorted by length so each batch pads to at most ``max_batch_samples``.

    A batch costs ``len(batch) * longest`` samples; an utterance longer than the budget is alone.
    """
    batches: list[list[Utterance]] = []
    current: list[Utterance] = []
    for utt in sorted(utterances, key=lambda u: u.num_samples):
        if current and (len(current) + 1) * utt.num_samples > max_batch_samples:
            batches.append(current)
            current = []
        current.append(utt)
    if current:
        batches.append(current)
    return batches


def _read_checked(utt: Utterance) -> np.ndarray:
    """Samples of ``utt``. Audio that cannot be used (unreadable, NaN/Inf, silent) stops the dump
    instead of being skipped: labels must cover every utterance of the data dir."""
    try:
        samples = read_audio(utt.path)
    except AudioError as error:
        raise AudioError(f"utterance '{utt.utt}': {error}") from None
    if len(samples) != utt.num_samples:
        raise AudioError(
            f"{utt.path}: utterance '{utt.utt}' has {len(samples)} samples but utt2num_samples "
            f"says {utt.num_samples}; fix the data dir"
        )
    return samples


def dump_shard(
    data_dir: str | os.PathLike,
    feat_dir: str | os.PathLike,
    rank: int,
    nshard: int,
    extractor: FeatureExtractor,
    max_batch_samples: int = 1,
) -> Path:
    """Extract features of shard ``rank``/``nshard`` of ``data_dir`` into ``feat_dir``.

    Args:
        max_batch_samples: padded samples per batch (``length_batches``); 1 = one utterance a batch.
    Returns:
        path of the shard's .npy. A shard with a done marker is skipped (resume).
    Raises:
        AudioError / ValueError naming the utterance: unreadable audio, or audio too short for one
        feature frame.
    """
    npy_path = shard_paths(feat_dir, rank, nshard)[0]
    if is_done(feat_dir, rank, nshard):
        logger.info("%s is done; skipping (delete its .done file to recompute)", npy_path)
        return npy_path
    all_utts = load_utterances(data_dir)
    wanted = set(shard_utterances([u.utt for u in all_utts], rank, nshard))
    utterances = [u for u in all_utts if u.utt in wanted]
    frame_counts = [(u.utt, extractor.num_frames(u.num_samples)) for u in utterances]
    for (utt, frames), u in zip(frame_counts, utterances):
        if frames < 1:
            raise ValueError(
                f"{u.path}: utterance '{utt}' ({u.num_samples} samples) is too short for one "
                f"{extractor.kind} frame; remove it from {data_dir}"
            )
    batches = length_batches(utterances, max_batch_samples)

    def chunks() -> Iterator[tuple[str, np.ndarray]]:
        progress = progress_bar(total=len(utterances), desc=f"{extractor.kind} {rank}_{nshard}", unit="utt")
        with progress:
            for batch in batches:
                feats = extractor.extract([_read_checked(u) for u in batch])
                for u, f in zip(batch, feats):
                    yield u.utt, f
                progress.update(len(batch))

    meta = ShardMeta(
        extractor.kind, extractor.dim, extractor.frame_rate, source=getattr(extractor, "source", "")
    )
    meta = write_shard(feat_dir, rank, nshard, frame_counts, chunks(), meta)
    logger.info("wrote %s: %d utterances, %d frames", npy_path, meta.num_utts, meta.num_frames)
    return npy_path
