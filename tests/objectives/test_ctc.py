"""CTC fine-tuning objective: loss decreases, freezing, sample size, decoding outputs."""

import dataclasses

import pytest
import torch

from speechssl.data.batch import LABEL_PAD
from speechssl.models import build_backbone, load_backbone_config
from speechssl.objectives.ctc import CTCConfig, CTCObjective, finetune_backbone_config


@pytest.fixture
def ctc_batch(batch):
    """The shared two-utterance batch with letter targets (lengths 6 and 4)."""
    targets = torch.tensor([[10, 7, 14, 14, 17, 1], [5, 3, 18, 1, LABEL_PAD, LABEL_PAD]])
    return dataclasses.replace(batch, targets=targets, target_lengths=torch.tensor([6, 4]))


@pytest.fixture
def make_objective(tiny_backbone):
    """``make_objective(**CTCConfig overrides)``: a CTC model on the tiny test backbone."""
    sizes = tiny_backbone().config

    def make(**overrides):
        config = CTCConfig(mask_channel_length=8, layerdrop=0.0, activation_dropout=0.0, **overrides)
        torch.manual_seed(0)
        return CTCObjective(build_backbone(finetune_backbone_config(sizes, config)), config, vocab_size=29)

    return make


def test_loss_decreases_on_a_tiny_batch(make_objective, ctc_batch):
    torch.manual_seed(0)
    objective = make_objective()
    batch = ctc_batch
    optimizer = torch.optim.Adam(objective.trainable_parameters(), lr=2e-3)
    losses = []
    for update in range(10):
        objective.train()
        output = objective(batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        objective.after_update(update + 1)
        losses.append(float(output.loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.6 * losses[0]


def test_transformer_frozen_for_first_updates_and_encoder_always(make_objective, ctc_batch):
    objective = make_objective(freeze_updates=2)
    trainable = {id(p) for p in objective.trainable_parameters()}
    encoder_params = list(objective.backbone.feature_encoder.parameters())
    assert not any(id(p) in trainable for p in encoder_params)
    layer = objective.backbone.encoder.layers[0].ffn.fc1.weight
    batch = ctc_batch
    for update, frozen in ((0, True), (1, True), (2, False), (3, False)):
        objective.after_update(update)
        objective.zero_grad(set_to_none=True)
        output = objective.train()(batch)
        output.loss.backward()
        assert output.logs["frozen"] == float(frozen)
        assert (layer.grad is None) == frozen
        assert objective.head.weight.grad is not None
        assert all(p.grad is None for p in encoder_params)


def test_frozen_state_travels_with_the_weights(make_objective):
    objective = make_objective(freeze_updates=5)
    objective.after_update(7)
    restored = make_objective(freeze_updates=5)
    assert restored.transformer_frozen
    restored.load_state_dict(objective.state_dict())
    assert not restored.transformer_frozen


def test_sample_size_sentences_or_tokens(make_objective, ctc_batch):
    batch = ctc_batch
    assert make_objective(sentence_avg=True)(batch).sample_size == 2
    output = make_objective(sentence_avg=False)(batch)
    assert output.sample_size == 10
    assert output.logs["ntokens"] == 10.0


def test_log_probs_for_decoding(make_objective, ctc_batch):
    objective = make_objective().eval()
    batch = ctc_batch
    log_probs, lengths = objective.log_probs(batch)
    expected = objective.backbone.frame_lengths(batch.audio_lengths)
    assert log_probs.shape == (2, int(expected.max()), 29)
    assert lengths.tolist() == expected.tolist()
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, log_probs.shape[1]))
    again, _ = objective.log_probs(batch)
    torch.testing.assert_close(log_probs, again)  # eval: no masking, no dropout


def test_missing_targets_is_an_error(make_objective, batch):
    with pytest.raises(ValueError, match="no targets"):
        make_objective()(batch)


def test_finetune_backbone_config_replaces_regularisation():
    pretrained = load_backbone_config("tiny")
    config = CTCConfig(dropout=0.05, layerdrop=0.2, freeze_feature_encoder=True)
    model = finetune_backbone_config(pretrained, config)
    assert (model.dropout, model.layerdrop, model.feature_grad_mult) == (0.05, 0.2, 0.0)
    assert model.embed_dim == pretrained.embed_dim
    keep = finetune_backbone_config(pretrained, dataclasses.replace(config, freeze_feature_encoder=False))
    assert keep.feature_grad_mult == pretrained.feature_grad_mult
