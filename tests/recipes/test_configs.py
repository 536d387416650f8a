"""The recipe's BASE configs load into the trainer's dataclasses with fairseq's values, and the docs list them."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechssl.finetune import load_finetune_config
from speechssl.objectives import objective_config
from speechssl.train.config import load_pretrain_config

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "recipes" / "librispeech" / "conf"

# name: (objective, max_updates, max_tokens, lr, schedule, warmup_updates, mask_prob)
PRETRAIN = {
    "wav2vec2_base": ("wav2vec2", 400_000, 1_400_000, 5e-4, "polynomial", 32_000, 0.65),
    "hubert_base_iter1": ("hubert", 250_000, 1_400_000, 5e-4, "polynomial", 20_000, 0.8),
    "hubert_base_iter2": ("hubert", 400_000, 1_400_000, 5e-4, "polynomial", 32_000, 0.8),
    "data2vec_base": ("data2vec", 400_000, 3_800_000, 5e-4, "tri_stage", 0, 0.65),
    "data2vec2_base": ("data2vec2", 400_000, 1_000_000, 7.5e-4, "cosine", 8_000, 0.55),
}
# split: (max_updates, lr, freeze_updates, mask_channel_prob, layerdrop, train dir)
FINETUNE = {
    "10m": (13_000, 5e-5, 10_000, 0.25, 0.1, "data/train_10m"),
    "1h": (13_000, 5e-5, 10_000, 0.25, 0.1, "data/train_1h"),
    "10h": (20_000, 5e-5, 10_000, 0.5, 0.05, "data/train_10h"),
    "100h": (80_000, 3e-5, 0, 0.5, 0.1, "data/train_100h"),
}


@pytest.mark.parametrize("name", sorted(PRETRAIN))
def test_pretrain_configs(name):
    cfg = load_pretrain_config(CONF / "pretrain" / f"{name}.yaml")
    objective, updates, tokens, lr, schedule, warmup, mask_prob = PRETRAIN[name]
    typed = objective_config(cfg.objective, cfg.objective_config)
    assert (cfg.objective, cfg.trainer.max_updates, cfg.trainer.max_tokens) == (objective, updates, tokens)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.eps, cfg.optim.weight_decay) == ("adamw", lr, 1e-6, 0.01)
    assert (cfg.schedule.name, cfg.schedule.warmup_updates, typed.mask_prob) == (schedule, warmup, mask_prob)
    assert (cfg.model.embed_dim, cfg.model.num_layers, cfg.model.ffn_dim) == (768, 12, 3072)
    assert cfg.data.train == "data/train_960" and cfg.trainer.update_freq == 1
    data2vec = objective.startswith("data2vec")
    assert cfg.model.conv_norm == ("layer_norm" if data2vec else "group_norm")
    assert cfg.model.feature_grad_mult == (1.0 if data2vec else 0.1)
    assert cfg.trainer.max_sample_size == (320_000 if data2vec else 250_000)


def test_hubert_iterations_and_data2vec_details():
    it1 = objective_config("hubert", load_pretrain_config(CONF / "pretrain/hubert_base_iter1.yaml").objective_config)
    it2 = objective_config("hubert", load_pretrain_config(CONF / "pretrain/hubert_base_iter2.yaml").objective_config)
    assert (it1.num_classes, it1.label_rate, it2.num_classes, it2.label_rate) == (100, 100.0, 500, 50.0)
    d2v = load_pretrain_config(CONF / "pretrain/data2vec_base.yaml")
    assert d2v.schedule.phase_ratio == (0.03, 0.9, 0.07) and d2v.model.pos_conv_depth == 5
    d2v2 = load_pretrain_config(CONF / "pretrain/data2vec2_base.yaml")
    typed = objective_config("data2vec2", d2v2.objective_config)
    assert (typed.clone_batch, typed.ema_end_decay, typed.ema_anneal_end_step) == (8, 0.99999, 75_000)
    assert d2v2.model.use_alibi and typed.decoder.dim == 384 and typed.decoder.layers == 4


# name: (objective, max_updates, max_tokens, lr, clip_norm, max_sample_size, final_dim, conv_bias)
LARGE = {
    "wav2vec2_large_ll60k": ("wav2vec2", 1_000_000, 1_200_000, 5e-3, 0.0, 320_000, 768, True),
    "hubert_large_ll60k": ("hubert", 400_000, 900_000, 1.5e-3, 1.0, 250_000, 768, False),
}


@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_ll60k_configs(name):
    cfg = load_pretrain_config(CONF / "pretrain" / f"{name}.yaml")
    objective, updates, tokens, lr, clip, crop, final_dim, conv_bias = LARGE[name]
    typed = objective_config(cfg.objective, cfg.objective_config)
    assert (cfg.objective, cfg.trainer.max_updates, cfg.trainer.max_tokens, cfg.optim.lr) == (objective, updates, tokens, lr)
    assert (cfg.optim.clip_norm, cfg.trainer.max_sample_size, typed.final_dim) == (clip, crop, final_dim)
    m = cfg.model
    assert (m.embed_dim, m.num_layers, m.num_heads, m.ffn_dim, m.conv_norm) == (1024, 24, 16, 4096, "layer_norm")
    assert m.layer_norm_first and m.normalize_waveform and m.feature_grad_mult == 1.0 and m.conv_bias == conv_bias
    assert (m.dropout, m.attention_dropout, m.dropout_input, m.dropout_features, m.layerdrop) == (0.0,) * 5
    assert cfg.data.train == "data/ll_60k" and cfg.schedule.warmup_updates == 32_000
    gpus = dict(line.split() for line in (CONF / "reference_gpus.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert gpus[name] == "128" and set(gpus) >= {p.stem for p in CONF.glob("pretrain/*.yaml")}
    table = (ROOT / "docs" / "librispeech_large.md").read_text()
    assert f"conf/pretrain/{name}.yaml" in table and f"{tokens:,}" in table


@pytest.mark.parametrize("split", sorted(FINETUNE))
def test_finetune_configs(split):
    cfg = load_finetune_config(CONF / "finetune" / f"{split}.yaml")
    updates, lr, freeze, channel, layerdrop, train = FINETUNE[split]
    assert (cfg.trainer.max_updates, cfg.optim.lr, cfg.ctc.freeze_updates) == (updates, lr, freeze)
    assert (cfg.ctc.mask_channel_prob, cfg.ctc.layerdrop, cfg.data.train) == (channel, layerdrop, train)
    assert (cfg.ctc.mask_prob, cfg.ctc.mask_channel_length, cfg.ctc.activation_dropout) == (0.65, 64, 0.1)
    assert (cfg.optim.name, cfg.optim.eps, cfg.optim.weight_decay) == ("adam", 1e-8, 0.0)
    assert (cfg.schedule.name, cfg.schedule.phase_ratio, cfg.schedule.final_lr_scale) == (
        "tri_stage", (0.1, 0.4, 0.5), 0.05)
    assert (cfg.trainer.max_tokens, cfg.trainer.update_freq, cfg.units) == (3_200_000, 4, "letters")
    assert cfg.ctc.freeze_feature_encoder and cfg.data.valid == "data/dev_other"


def test_docs_table_covers_every_config():
    text = (ROOT / "docs" / "librispeech_configs.md").read_text()
    for path in sorted(CONF.glob("*/*.yaml")):
        stem = path.stem.replace("_iter1", "_iter{1,2}").replace("_iter2", "_iter{1,2}")
        folder = path.parent.name
        assert f"conf/{folder}/{stem}.yaml" in text or (folder == "finetune" and "{10m,1h,10h,100h}" in text), path
    for value in ("1,400,000", "3,800,000", "7.5e-4", "13,000", "80,000", "freeze_finetune_updates"):
        assert value in text
