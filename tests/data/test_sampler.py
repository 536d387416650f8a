"""Bucketing sampler: coverage over ranks, the max_tokens cap, determinism and mid-epoch resume."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from speechssl.data.sampler import BucketBatchSampler

SIZES = np.random.default_rng(0).integers(1000, 8000, size=101)


def _ranks(epoch: int, world: int = 2, **kwargs) -> list[list[list[int]]]:
    out = []
    for rank in range(world):
        sampler = BucketBatchSampler(SIZES, 20000, seed=5, rank=rank, world_size=world, **kwargs)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_cover_every_sample_once_plus_padding(world):
    ranks = _ranks(epoch=1, world=world)
    assert len({len(batches) for batches in ranks}) == 1  # same number of batches on every rank
    counts = Counter(i for batches in ranks for batch in batches for i in batch)
    assert set(counts) == set(range(len(SIZES)))  # nothing lost
    sampler = BucketBatchSampler(SIZES, 20000, seed=5, world_size=world)
    sampler.set_epoch(1)
    batches = sampler.all_batches()
    real = len({tuple(b) for b in batches})
    assert len(batches) - real < world
    # the only duplicates are the samples of the padding batches (repeats of the first ones)
    assert batches[real:] == batches[: len(batches) - real]
    assert sum(counts.values()) - len(SIZES) == sum(len(b) for b in batches[real:])


def test_every_batch_respects_max_tokens():
    for batches in _ranks(epoch=3):
        for batch in batches:
            assert len(batch) * max(SIZES[i] for i in batch) <= 20000


def test_order_depends_only_on_seed_and_epoch():
    assert _ranks(epoch=2) == _ranks(epoch=2)
    assert _ranks(epoch=2) != _ranks(epoch=3)
    sorted_batches = _ranks(epoch=2, shuffle=False)
    assert sorted_batches == _ranks(epoch=7, shuffle=False)


def test_resume_mid_epoch_yields_the_remaining_batches():
    sampler = BucketBatchSampler(SIZES, 20000, seed=5, rank=1, world_size=2)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, start=3)
    assert list(sampler) == full[3:]


def test_length_sorted_batches_are_homogeneous():
    sampler = BucketBatchSampler(SIZES, 20000, seed=1, length_noise=0.0)
    for batch in sampler:
        sizes = SIZES[batch]
        assert sizes.max() - sizes.min() < 2000


def test_example_longer_than_cap_is_an_error():
    with pytest.raises(ValueError, match="max_tokens 5000 is below the longest example"):
        BucketBatchSampler(SIZES, 5000)
