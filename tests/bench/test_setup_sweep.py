"""bench.setup_sweep: every variant's overrides load as a valid config that differs from the recipe in
the one named setting (or the variant is left out where the objective lacks the setting), and a
hybrid checkpoint takes its front end from one source and its Transformer from the other."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from bench.compute_curve_runs import config_path
from bench.setup_sweep import FRONT_END, VARIANTS, write_hybrid
from speechssl.models.backbone import build_backbone
from speechssl.models.config import load_backbone_config
from speechssl.objectives import objective_config
from speechssl.probe.upstreams import build_upstream
from speechssl.train.config import load_pretrain_config

CONF = Path(__file__).resolve().parents[2] / "conf"


def _variant_configs(objective: str):
    recipe = load_pretrain_config(config_path(objective))
    for variant in VARIANTS:
        overrides = variant.overrides(recipe, objective_config(recipe.objective, recipe.objective_config))
        changed = None if overrides is None else load_pretrain_config(config_path(objective), overrides)
        yield variant.name, recipe, changed


def test_each_variant_changes_its_one_setting():
    configs = {name: (recipe, changed) for name, recipe, changed in _variant_configs("hubert")}
    recipe, _ = configs["recipe"]
    assert configs["recipe"][1] == recipe
    assert configs["lr_x2"][1].optim.lr == 2 * recipe.optim.lr
    assert configs["lr_x0.5"][1].optim.lr == recipe.optim.lr / 2
    assert configs["mask_half"][1].objective_config["mask_prob"] == 0.4  # HuBERT's 0.8 halved
    assert configs["crop_2s"][1].trainer.max_sample_size == 32000 < recipe.trainer.max_sample_size
    assert configs["fgm_0.1"][1].model.feature_grad_mult == 0.1 != recipe.model.feature_grad_mult
    assert configs["fgm_0"][1].model.feature_grad_mult == 0.0
    assert configs["pre_ln"][1].model.layer_norm_first and not recipe.model.layer_norm_first
    assert configs["dense"][1].objective_config["pred_nomask_weight"] == 1.0
    for name, (_, changed) in configs.items():  # every variant differs from the recipe
        if name != "recipe":
            assert changed != recipe, name


def test_a_variant_the_objective_lacks_is_left_out():
    configs = {name: changed for name, _, changed in _variant_configs("data2vec")}
    assert configs["dense"] is None  # data2vec has no unmasked-frame loss weight
    assert configs["mask_half"].objective_config["mask_prob"] == 0.325


@pytest.fixture()
def pretrained(tmp_path):
    """A tiny backbone saved as an objective checkpoint (``backbone.*`` keys) with its config."""
    from safetensors.torch import save_file

    torch.manual_seed(7)
    state = {f"backbone.{k}": v for k, v in build_backbone(load_backbone_config("tiny")).state_dict().items()}
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(CONF / "model" / "tiny.yaml", run / "config.yaml")
    save_file(state, str(run / "checkpoint_5.safetensors"))
    return run / "checkpoint_5.safetensors"


def test_hybrids_swap_front_end_and_transformer(pretrained, tmp_path):
    source = build_upstream(str(pretrained)).backbone.state_dict()
    random = build_upstream("random", seed=1).backbone.state_dict()
    front = build_upstream(str(write_hybrid(pretrained, None, 1, tmp_path / "front"))).backbone.state_dict()
    rest = build_upstream(str(write_hybrid(None, pretrained, 1, tmp_path / "rest"))).backbone.state_dict()
    front_keys = [k for k in source if f"backbone.{k}".startswith(FRONT_END)]
    assert front_keys and len(front_keys) < len(source)
    for key in source:
        is_front = key in front_keys
        assert torch.equal(front[key], source[key] if is_front else random[key]), key
        assert torch.equal(rest[key], random[key] if is_front else source[key]), key
