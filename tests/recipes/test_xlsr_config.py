"""The XLS-R 300M pre-training config: fairseq's LARGE pre-LN values, 315M backbone parameters,
documented in docs/xlsr.md, and run.sh's --model xlsr_300m switch."""

from __future__ import annotations

from pathlib import Path

import torch

from speechssl.models.backbone import build_backbone
from speechssl.objectives import build_objective, objective_config
from speechssl.train.config import load_pretrain_config
from tests.recipes.test_run_sh import run_recipe

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "recipes/librispeech/conf/pretrain/wav2vec2_xlsr_300m.yaml"


def test_xlsr_300m_values_and_size():
    cfg = load_pretrain_config(CONFIG)
    model, typed = cfg.model, objective_config(cfg.objective, cfg.objective_config)
    assert (model.num_layers, model.embed_dim, model.ffn_dim, model.num_heads) == (24, 1024, 4096, 16)
    assert model.layer_norm_first and model.conv_norm == "layer_norm" and model.conv_bias
    assert model.normalize_waveform and model.feature_grad_mult == 1.0
    assert (model.dropout, model.attention_dropout, model.dropout_input, model.layerdrop) == (0.0, 0.0, 0.0, 0.0)
    assert (typed.mask_prob, typed.mask_length, typed.final_dim, typed.latent_temp) == (0.65, 10, 768, (2.0, 0.1, 0.999995))
    assert (typed.diversity_weight, typed.feature_pen_weight, typed.num_negatives) == (0.1, 0.0, 100)
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay) == (5e-3, (0.9, 0.98), 1e-6, 0.01)
    assert (cfg.schedule.name, cfg.schedule.warmup_updates, cfg.trainer.max_updates) == ("polynomial", 32_000, 1_000_000)
    assert (cfg.trainer.max_tokens, cfg.trainer.max_sample_size, cfg.trainer.min_sample_size) == (1_200_000, 320_000, 32_000)
    with torch.device("meta"):
        backbone = build_backbone(model)
        objective = build_objective(cfg.objective, backbone, typed)
    assert sum(p.numel() for p in backbone.parameters()) == 315_438_720
    assert sum(p.numel() for p in objective.trainable_parameters()) == 317_390_592


def test_docs_table_names_every_value():
    text = (ROOT / "docs" / "xlsr.md").read_text()
    assert "conf/pretrain/wav2vec2_xlsr_300m.yaml" in text
    for value in ("1,200,000", "320,000", "5e-3", "32,000", "1,000,000", "768", "(2.0, 0.1, 0.999995)",
                  "[0.1, 0]", "128", "315,438,720"):
        assert value in text, value
    assert "conf/pretrain/wav2vec2_xlsr_300m.yaml" in (ROOT / "docs" / "librispeech_configs.md").read_text()


def test_run_sh_model_size_needs_wav2vec2(tmp_path):
    result = run_recipe(tmp_path, "--objective", "hubert", "--model", "xlsr_300m", "--stage", "9",
                        "--stop-stage", "0")
    assert result.returncode == 1 and "needs --objective wav2vec2" in result.stderr
    result = run_recipe(tmp_path, "--model", "huge", "--stage", "9", "--stop-stage", "0")
    assert result.returncode == 1 and "--model must be base, large or xlsr_300m" in result.stderr
    result = run_recipe(tmp_path, "--model", "xlsr_300m", "--ngpu", "3", "--stage", "3", "--stop-stage", "3")
    assert result.returncode != 0 and "reference batch is 128 GPU-batches" in result.stderr
