"""All masking: fairseq-style time spans, channel spans and data2vec 2.0's multi-mask clones.

Vectorised over the batch and drawn on the mask's device (no host synchronisation on a GPU); every
random draw comes from an optional ``torch.Generator`` (else the device's global stream).
"""

from __future__ import annotations

import torch


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0,1) numbers drawn on ``device`` (the global stream of that device when no generator is
    given); a generator of another device draws there and the numbers are copied over."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def _pick_first_ranked(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B,N) scores, (B,) counts -> (B,N) bool marking the ``counts[b]`` highest scores of each row."""
    order = scores.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(scores.shape[1], device=scores.device).expand_as(order))
    return ranks < counts[:, None]


def _spans_from_starts(starts: torch.Tensor, mask_length: int) -> torch.Tensor:
    """(B,T) bool span starts -> (B,T) bool, True on ``mask_length`` frames from each start (cut at T)."""
    counts = starts.long().cumsum(dim=1)
    shifted = torch.nn.functional.pad(counts, (mask_length, 0))[:, : counts.shape[1]]
    return (counts - shifted) > 0


def _equalise_counts(mask: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Unmask random frames of rows above the smallest row count, so every row has the same count."""
    counts = mask.sum(dim=1)
    target = counts.min()
    scores = torch.where(
        mask, _uniform(mask.shape, generator, mask.device), torch.full_like(mask, -1.0, dtype=torch.float)
    )
    return _pick_first_ranked(scores, target.expand_as(counts)) & mask


def compute_span_mask(
    shape: tuple[int, int],
    padding_mask: torch.Tensor | None,
    mask_prob: float,
    mask_length: int,
    min_masks: int = 0,
    no_overlap: bool = False,
    min_space: int = 0,
    require_same_masks: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Span masking with fairseq's ``compute_mask_indices`` semantics.

    Each row of valid length ``n`` gets ``int(mask_prob * n / mask_length + U[0,1))`` spans (at least
    ``min_masks``) whose starts are drawn without replacement from ``[0, n - mask_length]``; spans may
    overlap, so 0.65 / 10 masks about 49% of frames. ``no_overlap`` instead places the spans
    uniformly among the layouts where they are at least ``min_space`` frames apart (fewer spans when
    they do not fit). Padding is never masked. ``require_same_masks`` then unmasks random frames so
    that every row has as many masked frames as the emptiest row.

    Args:
        shape: (B, T).
        padding_mask: (B,T) bool, True = padding, or None.
    Returns:
        (B,T) bool, True = masked.
    """
    batch, frames = shape
    if device is None:
        device = padding_mask.device if padding_mask is not None else torch.device("cpu")
    device = torch.device(device)
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1, got {mask_length}")
    if padding_mask is None:
        lengths = torch.full((batch,), frames, dtype=torch.long, device=device)
    else:
        lengths = (~padding_mask).sum(dim=1).to(device)
    if mask_prob <= 0 or frames == 0:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    rounding = _uniform((batch,), generator, device)
    num_spans = (mask_prob * lengths.float() / mask_length + rounding).long().clamp(min=min_masks)
    positions = torch.arange(frames, device=device)
    if no_overlap:
        # the layouts are drawn over the longest row: without padding that is T, known on the host
        longest = frames if padding_mask is None else None
        starts = _non_overlapping_starts(lengths, num_spans, mask_length, min_space, generator, longest)
    else:
        # fairseq: starts in [0, n - L]; when that leaves too few slots, allow num_spans + 1 of them.
        num_slots = torch.maximum(lengths - mask_length + 1, num_spans + 1).clamp(max=lengths)
        num_spans = torch.minimum(num_spans, num_slots)
        scores = _uniform((batch, frames), generator, device)
        scores = scores.masked_fill(positions[None, :] >= num_slots[:, None], -1.0)
        starts = _pick_first_ranked(scores, num_spans)
    mask = _spans_from_starts(starts, mask_length) & (positions[None, :] < lengths[:, None])
    if require_same_masks and batch > 1:
        mask = _equalise_counts(mask, generator)
    return mask


def _non_overlapping_starts(
    lengths: torch.Tensor,
    num_spans: torch.Tensor,
    mask_length: int,
    min_space: int,
    generator: torch.Generator | None,
    longest: int | None = None,
) -> torch.Tensor:
    """(B,) lengths and span counts -> (B,T) bool starts of spans at least ``min_space`` apart.

    ``longest`` is ``lengths.max()`` when the caller knows it (saves a device -> host read).

    Stars and bars: a layout is ``k`` blocks of ``L + min_space`` frames among ``slack`` free
    frames, chosen as ``k`` sorted positions out of ``slack + k``.
    """
    block = mask_length + min_space
    fit = torch.div(lengths + min_space, block, rounding_mode="floor")
    num_spans = torch.minimum(num_spans, fit)
    slack = lengths + min_space - num_spans * block
    items = slack + num_spans
    batch = lengths.shape[0]
    if longest is None:
        longest = int(lengths.max()) if lengths.numel() else 0
    frames = max(longest, 1)
    positions = torch.arange(frames + 1, device=lengths.device)
    scores = _uniform((batch, frames + 1), generator, lengths.device)
    scores = scores.masked_fill(positions[None, :] >= items[:, None], -1.0)
    chosen = _pick_first_ranked(scores, num_spans)
    # k-th chosen item (in order) starts at (its index - k) free frames + k blocks.
    rank = chosen.long().cumsum(dim=1) - 1
    start = positions[None, :] - rank + rank * block
    starts = torch.zeros(batch, frames + 1, dtype=torch.bool, device=lengths.device)
    starts.scatter_(1, torch.where(chosen, start, frames).clamp(max=frames), chosen)
    return starts[:, :frames]


def compute_channel_mask(
    batch: int,
    channels: int,
    mask_prob: float,
    mask_length: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Channel (feature) masking: (B,C) bool, spans over channels, applied to every frame."""
    return compute_span_mask(
        (batch, channels), None, mask_prob, mask_length, generator=generator, device=device
    )


def compute_clone_masks(
    shape: tuple[int, int],
    padding_mask: torch.Tensor | None,
    num_clones: int,
    mask_prob: float,
    mask_length: int,
    min_masks: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """data2vec 2.0 multi-mask: ``num_clones`` independent masks per utterance.

    Row ``b * num_clones + m`` is clone ``m`` of utterance ``b``. Every row has the SAME number of
    masked frames (``require_same_masks`` over all B*M rows), so every row also keeps the same number
    ``U`` of unmasked frames, which ``gather_unmasked`` packs into a dense (B*M, U, D) tensor.
    data2vec 2.0 audio uses plain (not inverse) span masking, mask_length 5, mask_prob 0.5 + 0.05.

    Args:
        shape: (B, T); padding_mask (B,T) bool or None.
    Returns:
        (B*M, T) bool, True = masked.
    """
    batch, frames = shape
    padding = None if padding_mask is None else padding_mask.repeat_interleave(num_clones, dim=0)
    return compute_span_mask(
        (batch * num_clones, frames),
        padding,
        mask_prob,
        mask_length,
        min_masks=min_masks,
        require_same_masks=True,
        generator=generator,
        device=device,
    )


def unmasked_indices(mask: torch.Tensor) -> torch.Tensor:
    """(B,T) bool mask with equal counts per row -> (B,U) long indices of unmasked frames, ascending."""
    keep = ~mask
    counts = keep.sum(dim=1)
    # U is a shape, so the host must read it: one read of (min, max) per call, the check included
    fewest, most = torch.stack([counts.min(), counts.max()]).tolist()
    if fewest != most:
        raise ValueError(f"rows keep different numbers of frames {counts.tolist()}; use require_same_masks")
    order = torch.argsort(keep.to(torch.int8), dim=1, descending=True, stable=True)
    return order[:, :fewest]


def gather_unmasked(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B,T,D), mask (B,T) -> (unmasked frames (B,U,D), their indices (B,U))."""
    index = unmasked_indices(mask)
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2])), index
