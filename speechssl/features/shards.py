"""Feature shards on disk: frames of many utterances concatenated in one memory-mappable .npy.

Format of shard ``r`` of ``n`` in ``FEAT_DIR`` (every file written atomically):
  ``r_n.npy``   float32 array (total_frames, dim): the utterances' frames, one after the other;
  ``r_n.len``   one line per utterance, ``utt num_frames``, in data-dir order (the rows of .npy);
  ``r_n.done``  JSON written last (kind, dim, frame_rate, num_utts, num_frames): a shard without
                it is unfinished and is recomputed; one with it is skipped on a rerun.
Shard ``r`` holds the contiguous block ``[r*N//n, (r+1)*N//n)`` of the data dir's N utterances.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from speechssl.io.atomic import atomic_path, atomic_write_text

SHARD_NAME = re.compile(r"^(\d+)_(\d+)\.npy$")


class ShardError(ValueError):
    """A shard is missing, unfinished, truncated or inconsistent; the message names the file."""


@dataclass
class ShardMeta:
    """What the ``.done`` marker records about a finished shard."""

    kind: str = ""
    dim: int = 0
    frame_rate: float = 0.0
    num_utts: int = 0
    num_frames: int = 0
    source: str = ""  # the checkpoint layer features come from ("" for MFCC)


def shard_paths(feat_dir: str | os.PathLike, rank: int, nshard: int) -> tuple[Path, Path, Path]:
    """(features .npy, lengths .len, done marker) of shard ``rank`` of ``nshard``."""
    stem = Path(feat_dir) / f"{rank}_{nshard}"
    return stem.with_suffix(".npy"), stem.with_suffix(".len"), stem.with_suffix(".done")


def shard_utterances(utt_ids: list[str], rank: int, nshard: int) -> list[str]:
    """The contiguous block of ``utt_ids`` that shard ``rank`` of ``nshard`` holds."""
    if nshard < 1 or not 0 <= rank < nshard:
        raise ShardError(f"shard rank {rank} of {nshard}: need 0 <= rank < nshard")
    count = len(utt_ids)
    return utt_ids[rank * count // nshard : (rank + 1) * count // nshard]


def is_done(feat_dir: str | os.PathLike, rank: int, nshard: int) -> bool:
    """True when the shard's done marker and both data files exist."""
    return all(p.is_file() for p in shard_paths(feat_dir, rank, nshard))


def write_shard(
    feat_dir: str | os.PathLike,
    rank: int,
    nshard: int,
    frame_counts: list[tuple[str, int]],
    chunks: Iterator[tuple[str, np.ndarray]],
    meta: ShardMeta,
) -> ShardMeta:
    """Write one shard incrementally into a pre-sized memory map; nothing else is held in memory.

    Args:
        frame_counts: ``(utt, frames)`` predicted for every utterance, in data-dir order; they size
            the file and fix each utterance's rows, so ``chunks`` may come in any order (batches
            sorted by length).
        chunks: yields ``(utt, features (frames, meta.dim))`` once per utterance.
        meta: kind, dim and frame_rate; the counts are filled in here.
    Raises:
        ShardError: an unknown or repeated utterance, a frame count other than predicted, or an
            utterance that never arrived.
    """
    npy_path, len_path, done_path = shard_paths(feat_dir, rank, nshard)
    rows: dict[str, tuple[int, int]] = {}
    total = 0
    for utt, frames in frame_counts:
        rows[utt] = (total, frames)
        total += frames
    with atomic_path(npy_path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, meta.dim))
        for utt, feats in chunks:
            if utt not in rows:
                raise ShardError(f"{npy_path}: utterance '{utt}' is not in this shard or came twice")
            offset, frames = rows.pop(utt)
            if feats.shape != (frames, meta.dim):
                raise ShardError(
                    f"{npy_path}: utterance '{utt}' gave features of shape {tuple(feats.shape)}, "
                    f"expected ({frames}, {meta.dim})"
                )
            array[offset : offset + frames] = feats
        if rows:
            raise ShardError(f"{npy_path}: no features for utterance(s) {sorted(rows)[:5]}")
        array.flush()
        del array
    atomic_write_text(len_path, "".join(f"{utt} {n}\n" for utt, n in frame_counts))
    meta = ShardMeta(meta.kind, meta.dim, meta.frame_rate, len(frame_counts), total, meta.source)
    atomic_write_text(done_path, json.dumps(meta.__dict__) + "\n")
    return meta


def read_lengths(len_path: Path) -> list[tuple[str, int]]:
    """Parse a ``.len`` file into ``(utt, frames)`` pairs. Raises ShardError on a bad line."""
    if not len_path.is_file():
        raise ShardError(f"{len_path}: lengths file not found (rerun the feature dump)")
    pairs = []
    for number, line in enumerate(len_path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ShardError(f"{len_path}:{number}: expected 'utt num_frames', got {line!r}")
        pairs.append((parts[0], int(parts[1])))
    return pairs


@dataclass
class Shard:
    """A finished shard opened read-only.

    Attributes:
        path: the .npy file.
        features: memory-mapped float32 array (num_frames, dim); rows are read on access only, but
            pages once touched count in the process's RSS until the map is dropped, so bulk passes
            use ``read_rows`` instead.
        lengths: ``(utt, frames)`` per utterance, in row order.
        meta: the done marker's record.
    """

    path: Path
    features: np.memmap
    lengths: list[tuple[str, int]]
    meta: ShardMeta

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` copied into memory, shape (stop - start, dim) float32.

        Maps only that window and unmaps it before returning, so a pass over the shard in windows
        keeps the resident memory at one window.
        """
        count = max(0, stop - start)
        if count == 0:
            return np.zeros((0, self.meta.dim), dtype=np.float32)
        offset = self.features.offset + start * self.meta.dim * 4
        window = np.memmap(self.path, np.float32, "r", offset=offset, shape=(count, self.meta.dim))
        rows = np.array(window)
        del window
        return rows

    def windows(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, rows [start, start + size))`` over the whole shard, each window read with
        ``read_rows``, so one window is in memory at a time."""
        total = self.meta.num_frames
        for start in range(0, total, size):
            yield start, self.read_rows(start, min(start + size, total))

    def read_ranges(self, ranges: list[tuple[int, int]]) -> np.ndarray:
        """Rows of the ``[start, stop)`` ranges, one after the other, shape (sum of sizes, dim) float32.

        One ``preadv`` per range straight into the result, no memory map: a map would leave the
        touched pages (and the kernel's fault-around neighbours) in the process's RSS, which for
        ranges scattered over the shard grows with the shard.

        Raises:
            ShardError: a range outside the shard or the file ending early.
        """
        sizes = [stop - start for start, stop in ranges]
        out = np.empty((sum(sizes), self.meta.dim), dtype=np.float32)
        row_bytes = self.meta.dim * 4
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        filled = 0
        with open(self.path, "rb", buffering=0) as handle:
            for (start, stop), size in zip(ranges, sizes):
                if not 0 <= start <= stop <= self.meta.num_frames:
                    raise ShardError(f"{self.path}: rows [{start}, {stop}) outside its "
                                     f"{self.meta.num_frames} rows")
                target = buffer[filled * row_bytes : (filled + size) * row_bytes]
                position = self.features.offset + start * row_bytes
                if os.preadv(handle.fileno(), [target], position) != len(target):
                    raise ShardError(
                        f"{self.path}: truncated, rows [{start}, {stop}) are past the end of the file"
                    )
                filled += size
        return out

    def utterances(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(utt, features (frames, dim))`` views, in order."""
        offset = 0
        for utt, frames in self.lengths:
            yield utt, self.features[offset : offset + frames]
            offset += frames


def open_shard(feat_dir: str | os.PathLike, rank: int, nshard: int) -> Shard:
    """Open shard ``rank`` of ``nshard`` memory-mapped, checking it is finished and consistent.

    Raises:
        ShardError: unfinished (no done marker), truncated .npy, or lengths that disagree with the
            array or the marker.
    """
    npy_path, len_path, done_path = shard_paths(feat_dir, rank, nshard)
    if not done_path.is_file():
        raise ShardError(f"{npy_path}: shard is unfinished (no {done_path.name}); rerun the dump")
    meta = ShardMeta(**json.loads(done_path.read_text(encoding="utf-8")))
    try:
        features = np.load(npy_path, mmap_mode="r")
    except FileNotFoundError:
        raise ShardError(f"{npy_path}: features file not found; rerun the dump") from None
    except ValueError as error:  # numpy: "mmap length is greater than file size" and friends
        raise ShardError(f"{npy_path}: truncated or corrupt .npy ({error}); rerun the dump") from None
    lengths = read_lengths(len_path)
    total = sum(n for _, n in lengths)
    if features.ndim != 2 or features.dtype != np.float32:
        raise ShardError(f"{npy_path}: expected a 2-D float32 array, got {features.dtype} "
                         f"{features.shape}")
    if features.shape != (total, meta.dim) or len(lengths) != meta.num_utts:
        raise ShardError(
            f"{npy_path}: array {features.shape} does not match {len_path.name} "
            f"({len(lengths)} utterances, {total} frames) and {done_path.name} "
            f"({meta.num_utts} utterances, dim {meta.dim}); delete the shard and rerun the dump"
        )
    return Shard(npy_path, features, lengths, meta)


def find_shards(feat_dir: str | os.PathLike) -> list[tuple[int, int]]:
    """All ``(rank, nshard)`` of a feature dir, sorted by rank; checks that none is missing.

    Raises:
        ShardError: no shard, shards of different ``nshard``, or a missing rank.
    """
    feat_dir = Path(feat_dir)
    if not feat_dir.is_dir():
        raise ShardError(f"{feat_dir}: feature directory not found")
    found = sorted(
        (int(m.group(1)), int(m.group(2)))
        for m in (SHARD_NAME.match(p.name) for p in feat_dir.iterdir())
        if m
    )
    if not found:
        raise ShardError(f"{feat_dir}: no feature shards (<rank>_<nshard>.npy); dump features first")
    nshards = {n for _, n in found}
    if len(nshards) != 1:
        raise ShardError(f"{feat_dir}: shards of several sizes {sorted(nshards)}; keep one set")
    nshard = nshards.pop()
    missing = sorted(set(range(nshard)) - {r for r, _ in found})
    if missing:
        raise ShardError(f"{feat_dir}: shard(s) {missing} of {nshard} missing; run those ranks")
    return found


def open_all_shards(feat_dir: str | os.PathLike) -> list[Shard]:
    """Every shard of ``feat_dir`` opened and checked, in rank order (hence data-dir order)."""
    shards = [open_shard(feat_dir, rank, nshard) for rank, nshard in find_shards(feat_dir)]
    kinds = {(s.meta.kind, s.meta.dim, s.meta.frame_rate) for s in shards}
    if len(kinds) != 1:
        raise ShardError(f"{feat_dir}: shards disagree on (kind, dim, frame_rate): {sorted(kinds)}")
    return shards
