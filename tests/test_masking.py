"""Span, channel and clone masking: statistics, padding, equal counts, determinism."""

import pytest
import torch

from speechssl.masking import (
    compute_channel_mask,
    compute_clone_masks,
    compute_span_mask,
    gather_unmasked,
    unmasked_indices,
)


def _runs(row: torch.Tensor) -> list[tuple[int, int]]:
    """(start, end) of the True runs of a 1-D bool tensor."""
    padded = torch.nn.functional.pad(row.int(), (1, 1))
    diff = padded[1:] - padded[:-1]
    return list(zip((diff == 1).nonzero().flatten().tolist(), (diff == -1).nonzero().flatten().tolist()))


def test_masked_fraction_matches_fairseq_statistic():
    g = torch.Generator().manual_seed(1)
    mask = compute_span_mask((64, 2000), None, 0.65, 10, require_same_masks=False, generator=g)
    # 130 overlapping spans of 10 among 1991 starts cover 1 - (1 - 10/1991)^130 ~ 48% of frames.
    assert 0.46 < mask.float().mean().item() < 0.50


def test_spans_are_at_least_mask_length_and_never_cover_padding():
    g = torch.Generator().manual_seed(2)
    lengths = torch.tensor([300, 211, 57, 12])
    padding = torch.arange(300)[None, :] >= lengths[:, None]
    mask = compute_span_mask((4, 300), padding, 0.65, 10, require_same_masks=False, generator=g)
    assert not (mask & padding).any()
    for row, length in zip(mask, lengths.tolist()):
        assert row.any()
        for start, end in _runs(row):
            assert end - start >= min(10, length)


def test_require_same_masks_equalises_counts():
    g = torch.Generator().manual_seed(3)
    padding = torch.zeros(5, 400, dtype=torch.bool)
    padding[2, 250:] = True
    mask = compute_span_mask((5, 400), padding, 0.65, 10, generator=g)
    counts = mask.sum(dim=1)
    assert (counts == counts[0]).all() and counts[0] > 0


def test_no_overlap_keeps_min_space():
    g = torch.Generator().manual_seed(4)
    mask = compute_span_mask(
        (6, 500), None, 0.5, 10, no_overlap=True, min_space=3, require_same_masks=False, generator=g
    )
    for row in mask:
        runs = _runs(row)
        assert all(end - start == 10 for start, end in runs)
        assert all(b[0] - a[1] >= 3 for a, b in zip(runs, runs[1:]))
        assert 23 <= len(runs) <= 26


def test_generator_makes_masks_reproducible():
    a = compute_span_mask((3, 200), None, 0.65, 10, generator=torch.Generator().manual_seed(7))
    b = compute_span_mask((3, 200), None, 0.65, 10, generator=torch.Generator().manual_seed(7))
    c = compute_span_mask((3, 200), None, 0.65, 10, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_channel_mask_shape_and_fraction():
    mask = compute_channel_mask(16, 512, 0.25, 16, generator=torch.Generator().manual_seed(5))
    assert mask.shape == (16, 512)
    assert 0.15 < mask.float().mean().item() < 0.30


def test_clone_masks_have_equal_counts_and_gather_densely():
    g = torch.Generator().manual_seed(6)
    padding = torch.zeros(3, 120, dtype=torch.bool)
    padding[1, 90:] = True
    masks = compute_clone_masks((3, 120), padding, 4, 0.55, 5, generator=g)
    assert masks.shape == (12, 120)
    counts = masks.sum(dim=1)
    assert (counts == counts[0]).all()
    assert not (masks[4:8] & padding[1]).any()
    assert not torch.equal(masks[0], masks[1])  # clones differ
    x = torch.arange(12 * 120, dtype=torch.float).view(12, 120, 1)
    kept, index = gather_unmasked(x, masks)
    assert kept.shape == (12, 120 - int(counts[0]), 1)
    assert torch.equal(kept[..., 0], x[..., 0][~masks].view(12, -1))
    assert (index.diff(dim=1) > 0).all()


def test_unmasked_indices_rejects_unequal_rows():
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, :3] = True
    with pytest.raises(ValueError, match="different numbers"):
        unmasked_indices(mask)
