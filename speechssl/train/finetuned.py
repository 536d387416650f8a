"""Reading a fine-tuning folder back: which checkpoint, and the CTC model with its tokenizer.

Below the fine-tuning job, so that decoding and the k-means reference alignment load a model
without depending on it. The folder holds ``config.yaml``, ``tokenizer.json`` and checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.config import from_dict, read_yaml_mapping
from speechssl.models.backbone import build_backbone
from speechssl.objectives.ctc import CTCConfig, CTCObjective
from speechssl.text.tokenizer import Tokenizer, load_tokenizer
from speechssl.train import checkpoint as ckpt


def find_checkpoint(exp_dir: str | os.PathLike, name: str = "best") -> Path:
    """``checkpoint_best`` (``name='best'``), ``last`` (newest numbered) or a named checkpoint."""
    exp_dir = Path(exp_dir)
    if name == "last":
        path = ckpt.latest_checkpoint(exp_dir)
        if path is None:
            raise FileNotFoundError(f"{exp_dir}: no complete checkpoint_N.safetensors")
        return path
    stem = ckpt.BEST_NAME if name == "best" else name
    path = exp_dir / f"{stem}{ckpt.WEIGHTS_SUFFIX}"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (did fine-tuning finish a validation?)")
    return path


def load_ctc_model(exp_dir: str | os.PathLike, checkpoint: str = "best") -> tuple[CTCObjective, Tokenizer]:
    """The fine-tuned CTC model of ``exp_dir`` in eval mode (``model`` and ``ctc`` of its
    ``config.yaml``, weights of ``find_checkpoint(exp_dir, checkpoint)``) and its tokenizer."""
    exp_dir = Path(exp_dir)
    config_path = exp_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found ({exp_dir} is not a fine-tuning folder)")
    model, _ = ckpt.read_backbone_config(config_path)
    ctc = from_dict(CTCConfig, read_yaml_mapping(config_path).get("ctc", {}), where=f"{config_path}:ctc")
    tokenizer = load_tokenizer(exp_dir)
    objective = CTCObjective(build_backbone(model), ctc, tokenizer.vocab_size)
    path = find_checkpoint(exp_dir, checkpoint)
    missing, unexpected = objective.load_state_dict(ckpt.load_weights(path), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: does not match the model in {config_path}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    return objective.eval(), tokenizer
