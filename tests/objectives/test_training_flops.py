"""Per-objective training FLOPs: what the report compares objectives by."""

import math

import pytest

from speechssl.models.flops import count_flops
from speechssl.objectives import build_objective

HUBERT = {"num_classes": 12, "label_rate": 50}


def test_plain_objectives_cost_the_backbone_training(tiny_backbone):
    for name, config in (("wav2vec2", None), ("hubert", HUBERT)):
        objective = build_objective(name, tiny_backbone(), config)
        count = count_flops(objective.backbone.config, 16000)
        assert objective.training_flops(count) == count.training


def test_data2vec_adds_one_teacher_forward(tiny_backbone):
    objective = build_objective("data2vec", tiny_backbone(), {"average_top_k_layers": 2})
    count = count_flops(objective.backbone.config, 16000)
    assert objective.training_flops(count) == pytest.approx(count.training + count.transformer)


def test_data2vec2_counts_clones_of_unmasked_frames(tiny_backbone):
    config = {"average_top_k_layers": 2, "clone_batch": 4, "mask_prob": 0.5}
    objective = build_objective("data2vec2", tiny_backbone(), config)
    count = count_flops(objective.backbone.config, 16000)
    once = count.training - 3 * count.transformer
    expected = once + 3 * 4 * math.exp(-0.5) * count.transformer + count.transformer
    assert objective.training_flops(count) == pytest.approx(expected)
    assert objective.training_flops(count) > count.training


def test_ctc_counts_forward_only_while_the_transformer_is_frozen(tiny_backbone):
    from speechssl.objectives.ctc import CTCConfig, CTCObjective

    objective = CTCObjective(tiny_backbone(), CTCConfig(freeze_updates=2), vocab_size=29)
    count = count_flops(objective.backbone.config, 16000)
    assert objective.training_flops(count) == pytest.approx(count.forward)
    objective.after_update(2)
    assert objective.training_flops(count) == pytest.approx(count.training)
