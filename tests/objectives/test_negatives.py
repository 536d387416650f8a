"""Negative sampling: never the positive, always another masked step of the same utterance."""

import torch
import torch.nn.functional as F

from speechssl.objectives.contrastive import contrastive_logits, cosine_logits_table, sample_negatives


def per_pair_cosine(x: torch.Tensor, candidates: torch.Tensor, temperature: float) -> torch.Tensor:
    """Reference: cosine of x (N, C) with each of its candidates (N, K, C), over temperature."""
    return F.cosine_similarity(x.unsqueeze(-2), candidates, dim=-1, eps=1e-8) / temperature


def test_negatives_exclude_positive_and_stay_in_row():
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(3, 40, dtype=torch.bool)
    mask[0, 5:25] = True
    mask[1, [1, 3, 30]] = True
    mask[2, 0:40:2] = True
    idx, valid = sample_negatives(mask, 100, generator=g)
    n = int(mask.sum())
    assert idx.shape == (n, 100) and bool(valid.all())
    rows = mask.nonzero(as_tuple=True)[0]
    own = torch.arange(n)
    assert not bool((idx == own[:, None]).any())
    assert bool((rows[idx] == rows[:, None]).all())
    # uniform over the others: row 1 has 3 masked steps, each draws both others about evenly
    first = idx[rows == 1][0]
    counts = torch.bincount(first, minlength=n)
    offset = int(mask[0].sum())
    assert counts[offset] == 0 and 30 <= counts[offset + 1] <= 70 and 30 <= counts[offset + 2] <= 70


def test_single_masked_step_has_no_valid_negative():
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 2] = True
    mask[1, [1, 4]] = True
    idx, valid = sample_negatives(mask, 4)
    assert not bool(valid[0].any()) and bool(valid[1:].all())
    targets = torch.randn(3, 5)
    logits = contrastive_logits(targets, targets, idx, valid, temperature=0.1)
    assert torch.isinf(logits[0, 1:]).all() and torch.isclose(logits[0, 0], torch.tensor(10.0))
    assert torch.isfinite(logits[1:]).all()


def test_cosine_logits_and_identical_negative():
    x = torch.tensor([[1.0, 0.0]])
    cands = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]]])
    assert torch.allclose(cosine_logits_table(x, cands[0], 0.1), torch.tensor([[10.0, 0.0, -10.0]]))
    targets = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    idx = torch.tensor([[1, 2], [0, 2], [0, 1]])
    logits = contrastive_logits(targets, targets, idx, torch.ones(3, 2, dtype=torch.bool), 0.1)
    assert torch.isinf(logits[0, 1]) and torch.isfinite(logits[0, 2])


def test_contrastive_logits_match_per_pair_cosine():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(3, 40, generator=generator) < 0.5
    idx, valid = sample_negatives(mask, 7, generator=generator)
    n = int(mask.sum())
    pred, targets = torch.randn(n, 16, generator=generator), torch.randn(n, 16, generator=generator)
    logits = contrastive_logits(pred, targets, idx, valid, temperature=0.1)
    candidates = torch.cat([targets.unsqueeze(1), targets[idx]], dim=1)
    assert torch.allclose(logits, per_pair_cosine(pred, candidates, 0.1), atol=1e-5)
