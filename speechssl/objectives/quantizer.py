"""Gumbel-softmax product quantizer of wav2vec 2.0: G codebooks of V entries, concatenated.

Also the temperature schedule and the codebook diversity loss that go with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def temperature_at(
    num_updates: int, max_temp: float = 2.0, min_temp: float = 0.5, decay: float = 0.999995
) -> float:
    """Gumbel temperature after ``num_updates`` updates: ``max(max_temp * decay**n, min_temp)``."""
    return max(max_temp * decay**num_updates, min_temp)


def perplexity(probs: torch.Tensor) -> torch.Tensor:
    """Sum over groups of exp(entropy) of each group's distribution.

    Args:
        probs: shape (groups, vars), each row sums to one.

    Returns:
        scalar tensor in [groups, groups * vars].
    """
    entropy = -(probs * torch.log(probs + 1e-7)).sum(dim=-1)
    return torch.exp(entropy).sum()


def diversity_loss(prob_perplexity: torch.Tensor, num_codes: int) -> torch.Tensor:
    """(G*V - perplexity) / (G*V): 0 when every code is used equally, near 1 when one is."""
    return (num_codes - prob_perplexity) / num_codes


@dataclass
class QuantizerOutput:
    """Quantized vectors plus monitors.

    Attributes:
        quantized: shape (N, vq_dim), concatenation of one codevector per group.
        code_perplexity: perplexity of the hard (argmax) code choice over the N inputs.
        prob_perplexity: perplexity of the softmax probabilities averaged over the N inputs
            (differentiable; feeds the diversity loss).
        num_codes: G * V.
    """

    quantized: torch.Tensor
    code_perplexity: torch.Tensor
    prob_perplexity: torch.Tensor
    num_codes: int


class GumbelQuantizer(nn.Module):
    """Product quantizer: logits ``Linear(input_dim, G*V)``, one codevector per group.

    Training uses the hard straight-through Gumbel softmax at the current temperature (forward
    one-hot, backward soft); evaluation picks the argmax code.

    Args:
        input_dim: size of the inputs (conv feature dim C).
        num_groups: G (2 in wav2vec 2.0).
        num_vars: V entries per group (320).
        vq_dim: size of the output vector; each group contributes vq_dim / G.
    """

    def __init__(self, input_dim: int, num_groups: int = 2, num_vars: int = 320, vq_dim: int = 256):
        super().__init__()
        if vq_dim % num_groups:
            raise ValueError(f"quantizer: vq_dim {vq_dim} is not divisible by {num_groups} groups")
        self.num_groups = num_groups
        self.num_vars = num_vars
        self.codevectors = nn.Parameter(torch.empty(num_groups * num_vars, vq_dim // num_groups))
        nn.init.uniform_(self.codevectors)
        self.weight_proj = nn.Linear(input_dim, num_groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        # A buffer, so that a resumed run continues with the annealed temperature.
        self.register_buffer("temperature", torch.tensor(2.0, dtype=torch.float64))

    @property
    def num_codes(self) -> int:
        return self.num_groups * self.num_vars

    def set_temperature(self, temperature: float) -> None:
        self.temperature.fill_(temperature)

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize ``x`` of shape (N, input_dim) into (N, vq_dim)."""
        n = x.shape[0]
        logits = self.weight_proj(x).float().view(n, self.num_groups, self.num_vars)
        hard = F.one_hot(logits.argmax(dim=-1), self.num_vars).to(logits.dtype)
        code_perplexity = perplexity(hard.mean(dim=0))
        prob_perplexity = perplexity(torch.softmax(logits, dim=-1).mean(dim=0))
        if self.training:
            # the temperature stays a device tensor: reading it back would stall a GPU step
            choice = F.gumbel_softmax(logits, tau=self.temperature, hard=True, dim=-1)
        else:
            choice = hard
        # per group a (N, V) @ (V, d) product: (G, N, V) @ (G, V, d) -> (G, N, d)
        books = self.codevectors.view(self.num_groups, self.num_vars, -1)
        quantized = torch.bmm(choice.transpose(0, 1).type_as(books), books).transpose(0, 1).reshape(n, -1)
        return QuantizerOutput(quantized, code_perplexity, prob_perplexity, self.num_codes)
