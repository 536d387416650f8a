"""Objective-specific behaviour: student length in data2vec 2.0, teachers, temperature, labels."""

import pytest
import torch

from speechssl import masking
from speechssl.objectives import build_objective
from speechssl.objectives.data2vec2 import encode_unmasked
from objective_fixtures import synthetic_batch

D2V2 = {"average_top_k_layers": 2, "clone_batch": 3, "decoder": {"dim": 32}}


def test_data2vec2_student_sees_only_unmasked_frames(tiny_backbone, batch):
    objective = build_objective("data2vec2", tiny_backbone(), D2V2)
    seen, teacher_in = {}, {}

    def recorder(store):
        def hook(module, args, output):
            store["x"] = args[0].shape

        return hook

    objective.backbone.encoder.register_forward_hook(recorder(seen))
    objective.teacher.model.register_forward_hook(recorder(teacher_in))
    torch.manual_seed(3)
    out = objective(batch)
    frames = int(objective.backbone.frame_lengths(torch.tensor([16000]))[0])  # 49 for 1 s
    unmasked = frames - out.sample_size // 6  # 2 utterances x 3 clones, equal masked count
    assert out.sample_size % 6 == 0
    assert seen["x"] == (6, unmasked, 64)
    assert out.logs["student_frames"] == unmasked
    assert teacher_in["x"] == (2, frames, 64)  # the teacher runs once per utterance, full length


def test_data2vec2_encode_unmasked_length_matches_mask(tiny_backbone):
    objective = build_objective("data2vec2", tiny_backbone(), D2V2)
    utt_padding = torch.zeros(2, 30, dtype=torch.bool)
    utt_padding[1, 25:] = True
    gen = torch.Generator().manual_seed(0)
    mask = masking.compute_clone_masks((2, 30), utt_padding, 2, 0.6, 5, generator=gen)
    padding = utt_padding.repeat_interleave(2, dim=0)
    out = encode_unmasked(objective.backbone, torch.randn(4, 30, 64), padding, mask)
    assert out.shape == (4, int((~mask[0]).sum()), 64)


@pytest.mark.parametrize("name", ["data2vec", "data2vec2"])
def test_teacher_excluded_and_moved_by_after_update(name, tiny_backbone):
    objective = build_objective(name, tiny_backbone(), {"average_top_k_layers": 2, "ema_anneal_end_step": 10})
    trainable = {id(p) for p in objective.trainable_parameters()}
    assert not trainable & {id(p) for p in objective.teacher.parameters()}
    assert {id(p) for p in objective.backbone.parameters()} <= trainable
    student = objective.backbone.encoder.layers[0].ffn.fc1.weight
    teacher = objective.teacher.model.layers[0].ffn.fc1.weight
    with torch.no_grad():
        student.add_(1.0)
    before = teacher.clone()
    objective.after_update(5)  # decay 0.999 + (0.9999 - 0.999) / 2 = 0.99945 (data2vec)
    decay = objective.teacher.decay
    assert decay == pytest.approx(0.999 + (objective.config.ema_end_decay - 0.999) * 0.5)
    assert torch.allclose(teacher, decay * before + (1 - decay) * student, atol=1e-6)
    # conv feature encoder and positional conv are shared, not copied
    assert not hasattr(objective.teacher.model, "pos_conv")


def test_wav2vec2_temperature_follows_updates(tiny_backbone):
    objective = build_objective("wav2vec2", tiny_backbone(), {"latent_vars": 16, "final_dim": 32})
    assert objective.quantizer.temperature == 2.0
    objective.after_update(1000)
    assert objective.quantizer.temperature == pytest.approx(1.990025, abs=1e-6)
    objective.after_update(10**6)
    assert objective.quantizer.temperature == 0.5
    torch.manual_seed(0)
    out = objective(synthetic_batch())
    assert out.logs["temperature"] == 0.5 and 0.0 <= out.logs["accuracy"] <= 1.0
    assert 1.0 <= out.logs["code_perplexity"] <= 32.0


def test_hubert_100hz_labels_and_mismatch_error(tiny_backbone):
    objective = build_objective("hubert", tiny_backbone(), {"num_classes": 12, "label_rate": 100})
    torch.manual_seed(0)
    out = objective(synthetic_batch(label_rate=100))
    assert out.sample_size > 0 and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="utterance spk1-utt1: 50 labels at 100 Hz"):
        objective(synthetic_batch(label_rate=50))
    bad = build_objective("hubert", tiny_backbone(), {"num_classes": 5})
    with pytest.raises(ValueError, match="num_classes 5"):
        bad(synthetic_batch())


def test_data2vec_collapse_guard_raises(tiny_backbone, batch):
    objective = build_objective(
        "data2vec", tiny_backbone(), {"average_top_k_layers": 2, "min_pred_var": 100.0, "var_check_after": 3}
    )
    objective.after_update(3)
    objective(batch)  # not checked yet
    objective.after_update(4)
    with pytest.raises(RuntimeError, match="prediction variance"):
        objective(batch)
