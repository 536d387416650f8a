"""Bucketing batch sampler: length-sorted batches under a ``max_tokens`` cap, sharded over ranks.

Batch order is a pure function of (seed, epoch); the sampler resumes mid-epoch from a batch count.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def round_up_sizes(sizes: Sequence[int] | np.ndarray, static_lengths: Sequence[int]) -> np.ndarray:
    """Each size (examples,) rounded up to the smallest of ``static_lengths`` that holds it.

    With no static lengths the sizes come back unchanged. Batches packed on these sizes and padded
    to them (``collate(..., static_lengths)``) take one of a few shapes, so a compiled or
    CUDA-graphed step is built once per shape instead of once per batch.

    Raises:
        ValueError: when an example is longer than the longest static length.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if not len(static_lengths):
        return sizes
    bounds = np.asarray(static_lengths, dtype=np.int64)
    if len(sizes) and int(sizes.max()) > int(bounds[-1]):
        raise ValueError(
            f"an example of {int(sizes.max())} samples is longer than the longest static length "
            f"{int(bounds[-1])}: add a longer one or lower max_sample_size"
        )
    return bounds[np.searchsorted(bounds, sizes, side="left")]


def pack_batches(
    sizes: np.ndarray, order: np.ndarray, max_tokens: int, max_batch_size: int
) -> list[list[int]]:
    """Greedily cut ``order`` into batches with ``len(batch) * max(size) <= max_tokens``.

    Args:
        sizes: shape (examples,), samples per example after cropping.
        order: shape (examples,), example indices in packing order (length sorted).
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order.tolist():
        size = int(sizes[index])
        grown = max(longest, size)
        if current and (grown * (len(current) + 1) > max_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current, grown = [], size
        current.append(index)
        longest = grown
    if current:
        batches.append(current)
    return batches


class BucketBatchSampler(Sampler[list[int]]):
    """Yields this rank's batches (lists of dataset indices) of one epoch.

    Examples are sorted by size times a small random factor (``length_noise``, so batches differ
    between epochs), packed under ``max_tokens`` samples per batch (padding included), and the batch
    order is shuffled; both depend only on (seed, epoch). Batch ``i`` goes to rank ``i % world_size``.
    When the count is not a multiple of ``world_size`` the first batches are repeated so every rank
    gets the same number: the only duplicated samples of an epoch, and none is ever dropped.
    """

    def __init__(
        self,
        sizes: Sequence[int] | np.ndarray,
        max_tokens: int,
        seed: int = 1,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        length_noise: float = 0.05,
        max_batch_size: int = 1_000_000,
    ):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        if len(self.sizes) == 0:
            raise ValueError("BucketBatchSampler: the dataset is empty")
        if int(self.sizes.max()) > max_tokens:
            raise ValueError(
                f"max_tokens {max_tokens} is below the longest example ({int(self.sizes.max())} samples):"
                " raise max_tokens or lower max_sample_size"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.max_tokens = max_tokens
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.length_noise = length_noise
        self.max_batch_size = max_batch_size
        self.epoch = 0
        self.start = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select ``epoch`` and skip its first ``start`` batches of this rank (mid-epoch resume)."""
        self.epoch = epoch
        self.start = start

    def all_batches(self) -> list[list[int]]:
        """Every batch of the epoch before sharding, padded to a multiple of world_size."""
        if self._cache is None or self._cache[0] != self.epoch:
            self._cache = (self.epoch, self._make_batches())
        return self._cache[1]

    def _make_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            noise = np.exp(rng.uniform(-self.length_noise, self.length_noise, len(self.sizes)))
            tiebreak = rng.permutation(len(self.sizes))
            order = np.lexsort((tiebreak, self.sizes * noise))
        else:
            order = np.argsort(self.sizes, kind="stable")
        batches = pack_batches(self.sizes, order, self.max_tokens, self.max_batch_size)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        missing = -len(batches) % self.world_size
        return batches + [batches[i % len(batches)] for i in range(missing)]

    def rank_batches(self) -> list[list[int]]:
        """This rank's batches of the epoch, all of them (ignores ``start``)."""
        return self.all_batches()[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.rank_batches()[self.start :]

    def __len__(self) -> int:
        """Batches per rank in a whole epoch."""
        return len(self.all_batches()) // self.world_size
