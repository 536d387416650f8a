"""Gumbel quantizer: temperature schedule, perplexity / diversity loss, straight-through codes."""

import math

import torch

from speechssl.objectives.quantizer import GumbelQuantizer, diversity_loss, perplexity, temperature_at


def test_temperature_schedule_values():
    assert temperature_at(0) == 2.0
    assert math.isclose(temperature_at(1000), 2.0 * 0.999995**1000, rel_tol=1e-12)
    assert math.isclose(temperature_at(1000), 1.990025, abs_tol=1e-6)
    # reaches the floor after ln(4) / 5e-6 ~ 277k updates
    assert temperature_at(1_000_000) == 0.5
    assert temperature_at(270_000) > 0.5 and temperature_at(280_000) == 0.5


def test_diversity_loss_uniform_vs_one_hot():
    groups, num_vars = 2, 320
    uniform = torch.full((groups, num_vars), 1.0 / num_vars)
    ppl = perplexity(uniform)
    assert torch.isclose(ppl, torch.tensor(640.0), rtol=1e-4)
    assert abs(float(diversity_loss(ppl, groups * num_vars))) < 1e-3
    one_hot = torch.zeros(groups, num_vars)
    one_hot[:, 7] = 1.0
    ppl = perplexity(one_hot)
    assert torch.isclose(ppl, torch.tensor(2.0), atol=1e-4)
    assert math.isclose(float(diversity_loss(ppl, groups * num_vars)), 638 / 640, rel_tol=1e-5)


def test_quantizer_outputs_codevectors_and_gradients():
    torch.manual_seed(0)
    q = GumbelQuantizer(input_dim=12, num_groups=2, num_vars=5, vq_dim=8)
    x = torch.randn(30, 12, requires_grad=True)
    q.eval()
    out = q(x)
    assert out.quantized.shape == (30, 8)
    # eval: argmax codes; each half of the output is exactly one codevector of its group
    codes = q.weight_proj(x).view(30, 2, 5).argmax(-1)
    books = q.codevectors.view(2, 5, 4)
    expected = torch.cat([books[0][codes[:, 0]], books[1][codes[:, 1]]], dim=1)
    assert torch.allclose(out.quantized, expected)
    assert 2.0 <= float(out.code_perplexity) <= 10.0
    q.train()
    q.set_temperature(0.5)
    out = q(x)
    rows = out.quantized.view(30, 2, 4)
    for g in range(2):  # hard straight-through: still exact codevectors in the forward pass
        dist = (rows[:, g, None].detach() - books[g][None]).abs().sum(-1).min(dim=1).values
        assert float(dist.max().detach()) < 1e-6
    out.quantized.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
