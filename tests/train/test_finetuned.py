"""Reading a fine-tuning folder back (``speechssl.train.finetuned``): checkpoint choice, the CTC
model with its ``ctc`` settings, failure messages, and no dependency of k-means on fine-tuning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechssl.config import save_config, to_dict
from speechssl.models import build_backbone, load_backbone_config
from speechssl.objectives.ctc import CTCConfig, CTCObjective
from speechssl.text.tokenizer import LetterTokenizer
from speechssl.train.checkpoint import save_checkpoint
from speechssl.train.finetuned import find_checkpoint, load_ctc_model

SIZES = ["num_layers=1", "embed_dim=32", "num_heads=2", "ffn_dim=64", "pos_conv_groups=4", "pos_conv_kernel=8"]


@pytest.fixture
def ctc_folder(tmp_path):
    """A fine-tuning folder: config.yaml (model + ctc), tokenizer.json, checkpoint_2, checkpoint_best."""
    torch.manual_seed(0)
    config = load_backbone_config("tiny", SIZES)
    ctc = CTCConfig(mask_prob=0.3, final_dropout=0.25)
    tokenizer = LetterTokenizer()
    folder = tmp_path / "ctc"
    first = CTCObjective(build_backbone(config), ctc, tokenizer.vocab_size)
    save_checkpoint(folder, "checkpoint_2", first.state_dict(), {})
    best = CTCObjective(build_backbone(config), ctc, tokenizer.vocab_size)
    save_checkpoint(folder, "checkpoint_best", best.state_dict(), {})
    save_config({"units": "letters", "model": to_dict(config), "ctc": to_dict(ctc)}, folder / "config.yaml")
    tokenizer.save(folder)
    return folder, first, best


def test_load_ctc_model_reads_weights_and_ctc_settings(ctc_folder):
    folder, first, best = ctc_folder
    model, tokenizer = load_ctc_model(folder)
    assert not model.training and tokenizer.kind == "letters"
    assert (model.config.mask_prob, model.config.final_dropout) == (0.3, 0.25)
    assert model.backbone.config.embed_dim == 32 and model.backbone.config.num_layers == 1
    for name, tensor in best.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    last, _ = load_ctc_model(folder, "last")
    name = "backbone.projection.weight"
    assert torch.equal(last.state_dict()[name], first.state_dict()[name])
    assert not torch.equal(first.state_dict()[name], best.state_dict()[name])


def test_find_checkpoint_choices_and_errors(ctc_folder, tmp_path):
    folder, _, _ = ctc_folder
    assert find_checkpoint(folder).name == "checkpoint_best.safetensors"
    assert find_checkpoint(folder, "last").name == "checkpoint_2.safetensors"
    assert find_checkpoint(folder, "checkpoint_2") == find_checkpoint(folder, "last")
    with pytest.raises(FileNotFoundError, match="checkpoint_9.safetensors: checkpoint not found"):
        find_checkpoint(folder, "checkpoint_9")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no complete checkpoint_N.safetensors"):
        find_checkpoint(tmp_path / "empty", "last")
    with pytest.raises(FileNotFoundError, match="is not a fine-tuning folder"):
        load_ctc_model(tmp_path / "empty")


def test_weights_of_another_model_are_refused(ctc_folder):
    folder, _, _ = ctc_folder
    other = CTCObjective(build_backbone(load_backbone_config("tiny", SIZES + ["num_layers=2"])), vocab_size=29)
    save_checkpoint(folder, "checkpoint_best", other.state_dict(), {})
    with pytest.raises(ValueError, match="does not match the model in .*config.yaml: missing \\[\\], unexpected"):
        load_ctc_model(folder)


def test_kmeans_alignment_does_not_import_the_finetuning_job():
    code = "import sys, speechssl.kmeans.align; print('speechssl.finetune' in sys.modules)"
    root = Path(__file__).resolve().parents[2]  # python -c imports this tree's package first
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
