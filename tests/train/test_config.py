"""PretrainConfig: YAML + overrides, backbone names, and the saved config.yaml round trip."""

from __future__ import annotations

import pytest

from speechssl.config import ConfigError, save_config
from speechssl.train.config import load_pretrain_config


def test_overrides_and_round_trip(tmp_path):
    cfg = load_pretrain_config(
        "conf/pretrain/wav2vec2_tiny.yaml",
        [
            "trainer.max_updates=17",
            "optim.lr=0.002",
            "model.num_layers=2",
            "schedule.phase_ratio=[0.2,0.3,0.5]",
        ],
    )
    assert cfg.trainer.max_updates == 17 and cfg.optim.lr == 0.002
    assert cfg.model.num_layers == 2 and cfg.model.embed_dim == 256  # rest of the tiny backbone kept
    assert cfg.schedule.phase_ratio == (0.2, 0.3, 0.5)
    assert cfg.objective_config["latent_temp"] == [2.0, 0.5, 0.995]
    save_config(cfg, tmp_path / "config.yaml")
    assert load_pretrain_config(tmp_path / "config.yaml") == cfg


def test_model_name_switch_and_errors():
    cfg = load_pretrain_config("conf/pretrain/hubert_tiny.yaml", ["model=base", "model.num_layers=3"])
    assert cfg.model.embed_dim == 768 and cfg.model.num_layers == 3
    assert (cfg.data.train, cfg.data.valid, cfg.data.labels, cfg.data.valid_labels) == ("data/pretrain", "data/dev", "", "")
    with pytest.raises(ConfigError, match="unknown key"):
        load_pretrain_config(None, ["trainer.max_update=3"])
    with pytest.raises(ConfigError, match="precision"):
        load_pretrain_config(None, ["trainer.precision=fp8"])
    with pytest.raises(ConfigError, match="valid_labels"):
        load_pretrain_config(None, ["data.labels=exp/labels/x"])
