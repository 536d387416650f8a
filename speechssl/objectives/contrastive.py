"""Cosine-similarity logits and negative sampling shared by the contrastive objectives.

wav2vec 2.0 draws distractors from other masked steps; HuBERT scores every label embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_logits_table(x: torch.Tensor, table: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cosine similarity of every row of ``x`` (N, C) with every row of ``table`` (V, C), divided
    by ``temperature`` (kappa), as one matrix product of normalised rows: (N, V) float32.
    """
    x = F.normalize(x.float(), dim=-1, eps=1e-8)
    table = F.normalize(table.float(), dim=-1, eps=1e-8)
    return x @ table.t() / temperature


def sample_negatives(
    time_mask: torch.Tensor, num_negatives: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw distractors uniformly from the other masked steps of the same utterance.

    Masked steps are numbered in row-major order (as ``x[time_mask]`` lists them). For a masked
    step with rank r among the n masked steps of its row, an index is drawn uniformly from the
    n - 1 others by sampling u in [0, n-2] and skipping r (u >= r -> u + 1), so the positive is
    never drawn. Rows with a single masked step have no distractor: ``valid`` is False there.

    Args:
        time_mask: shape (B, T) bool, True at masked steps.
        num_negatives: K distractors per masked step.

    Returns:
        indices: shape (N, K) int64 into the N masked steps (flattened over the batch).
        valid: shape (N, K) bool, False where a row had no other masked step.
    """
    counts = time_mask.sum(dim=1)  # (B,)
    row_of = time_mask.nonzero(as_tuple=True)[0]  # (N,) row of each masked step
    offsets = torch.cumsum(counts, dim=0) - counts  # (B,) first flat index of each row
    rank = torch.arange(row_of.numel(), device=time_mask.device) - offsets[row_of]
    others = (counts[row_of] - 1).clamp(min=0)  # (N,)
    rand = torch.rand(
        (row_of.numel(), num_negatives), generator=generator, device=time_mask.device
    )
    draw = (rand * others[:, None]).long().clamp(max=(others[:, None] - 1).clamp(min=0))
    draw = draw + (draw >= rank[:, None]).long()
    valid = (others > 0)[:, None].expand_as(draw)
    # rows without another masked step point at the positive itself; callers mask them out
    indices = offsets[row_of][:, None] + torch.where(valid, draw, rank[:, None].expand_as(draw))
    return indices, valid


def contrastive_logits(
    pred: torch.Tensor,
    targets: torch.Tensor,
    neg_indices: torch.Tensor,
    neg_valid: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Logits over [positive, K negatives] for each masked step; the positive is class 0.

    A negative identical to its positive (e.g. the same quantized code) or invalid gets -inf,
    so it can neither be picked nor push the positive away.

    Args:
        pred: shape (N, C) predictions at masked steps.
        targets: shape (N, C) true targets (positives) at the same steps.
        neg_indices: shape (N, K) indices into ``targets`` (from ``sample_negatives``).
        neg_valid: shape (N, K) bool.

    Returns:
        shape (N, 1 + K) float32 logits.
    """
    # Every masked step against every target in one (N, N) product, then a gather: the same values
    # as per-pair cosines of gathered (N, 1 + K, C) candidates, with GEMM-shaped work only.
    similarity = cosine_logits_table(pred, targets, temperature)  # (N, N)
    positive = torch.arange(targets.shape[0], device=targets.device).unsqueeze(1)
    logits = similarity.gather(1, torch.cat([positive, neg_indices], dim=1))  # (N, 1 + K)
    with torch.no_grad():  # exact equality via row ids: identical targets share one id
        row_ids = torch.unique(targets.detach(), dim=0, return_inverse=True)[1]
        same = (row_ids[neg_indices] == row_ids.unsqueeze(1)) | ~neg_valid
    return torch.cat([logits[:, :1], logits[:, 1:].masked_fill(same, float("-inf"))], dim=1)
