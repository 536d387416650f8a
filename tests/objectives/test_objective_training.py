"""Every objective in the table builds from a dict and lowers its loss on a fixed batch."""

import pytest
import torch

from speechssl.config import to_dict
from speechssl.objectives import OBJECTIVES, build_objective, objective_config

CONFIGS = {
    "wav2vec2": {"num_negatives": 5, "latent_vars": 16, "final_dim": 32, "mask_prob": 0.5},
    "hubert": {"num_classes": 12, "final_dim": 32},
    "data2vec": {"average_top_k_layers": 2},
    "data2vec2": {"average_top_k_layers": 2, "clone_batch": 2, "decoder": {"dim": 32, "input_dropout": 0.0}},
}


def _eval_loss(objective, batch) -> float:
    """Per-unit loss with a fixed seed, so masks and Gumbel noise repeat across calls."""
    torch.manual_seed(1234)
    with torch.no_grad():
        out = objective(batch)
    return float(out.loss) / out.sample_size


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_short_training_lowers_loss(name, tiny_backbone, batch):
    objective = build_objective(name, tiny_backbone(), CONFIGS.get(name))  # others: their defaults
    objective.train()
    before = _eval_loss(objective, batch)
    optimizer = torch.optim.Adam(objective.trainable_parameters(), lr=5e-4)
    for step in range(1, 31):
        torch.manual_seed(step)
        out = objective(batch)
        optimizer.zero_grad()
        (out.loss / out.sample_size).backward()
        optimizer.step()
        objective.after_update(step)
        assert torch.isfinite(out.loss)
    after = _eval_loss(objective, batch)
    assert after < 0.9 * before, (name, before, after)


def test_table_rejects_unknown_names_and_keys(tiny_backbone):
    with pytest.raises(ValueError, match="unknown objective 'bert'"):
        build_objective("bert", tiny_backbone())
    with pytest.raises(ValueError, match="mask_probability"):
        build_objective("wav2vec2", tiny_backbone(), {"mask_probability": 0.5})


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_config_round_trips_through_a_dict(name):
    config = objective_config(name, CONFIGS.get(name))
    assert objective_config(name, to_dict(config)) == config
    defaults = objective_config(name)
    assert 0 < defaults.mask_prob < 1 and defaults.mask_length >= 1
