"""Typed configuration of the shared backbone (conv feature encoder + Transformer).

Defaults are fairseq's wav2vec 2.0 BASE; ``conf/model/{tiny,base,large}.yaml`` hold the named sizes.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.config import ConfigError, load_config

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"
CONV_NORMS = ("group_norm", "layer_norm")


def conv_output_length(length, kernel: int, stride: int):
    """Outputs of an unpadded conv (``kernel``, ``stride``) over ``length`` inputs, never negative:
    ``length`` an int (returns an int) or an integer tensor of any shape (returns one alike)."""
    frames = (length - int(kernel)) // int(stride) + 1
    return max(int(frames), 0) if isinstance(frames, numbers.Integral) else frames.clamp(min=0)


def _base_conv_layers() -> list[list[int]]:
    return [[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2


@dataclass
class BackboneConfig:
    """Every size and regularisation knob of the backbone.

    Attributes:
        conv_layers: feature encoder layers as ``[channels, kernel, stride]`` (320x = 50 Hz at BASE).
        conv_norm: ``group_norm`` (per-channel norm on the first layer only, w2v2/HuBERT BASE) or
            ``layer_norm`` (LayerNorm over channels after every conv, data2vec and LARGE models).
        conv_bias: bias in the feature encoder convolutions.
        feature_grad_mult: gradient scale into the feature encoder (0 = frozen, no graph kept).
        embed_dim, num_layers, num_heads, ffn_dim: Transformer sizes.
        dropout: residual/hidden dropout; attention_dropout on attention weights;
            activation_dropout after the FFN activation.
        dropout_input: after the feature projection; dropout_features: on the unmasked features
            that objectives use as targets (wav2vec 2.0 quantizer input).
        layerdrop: probability of skipping a whole Transformer layer in training.
        layer_norm_first: False = post-LN (BASE), True = pre-LN (LARGE "stable layer norm").
        pos_conv_kernel, pos_conv_groups: the single weight-normed positional convolution.
        pos_conv_depth: 1 = that single conv; >1 = data2vec's stack of ``pos_conv_depth`` convs of
            kernel ``max(3, pos_conv_width // pos_conv_depth)``, each followed by LayerNorm + GELU.
        pos_conv_width: total width of the data2vec stack (95 -> 5 layers of kernel 19).
        use_alibi: add data2vec 2.0's ALiBi attention bias with a learned scale per head.
        layer_norm_eps: epsilon of every LayerNorm / GroupNorm.
        normalize_waveform: make each utterance zero-mean, unit-variance over its valid samples
            before the conv encoder (fairseq's ``task.normalize``: data2vec, data2vec 2.0 and the
            LARGE models; fairseq normalises before cropping, here the crop is normalised).
    """

    conv_layers: list[list[int]] = field(default_factory=_base_conv_layers)
    conv_norm: str = "group_norm"
    conv_bias: bool = False
    feature_grad_mult: float = 0.1
    embed_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    dropout_input: float = 0.1
    dropout_features: float = 0.1
    layerdrop: float = 0.05
    layer_norm_first: bool = False
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    pos_conv_depth: int = 1
    pos_conv_width: int = 95
    use_alibi: bool = False
    layer_norm_eps: float = 1e-5
    normalize_waveform: bool = False

    def __post_init__(self) -> None:
        if self.conv_norm not in CONV_NORMS:
            raise ConfigError(f"conv_norm: expected one of {CONV_NORMS}, got {self.conv_norm!r}")
        if not self.conv_layers or any(len(layer) != 3 for layer in self.conv_layers):
            raise ConfigError("conv_layers: expected a non-empty list of [channels, kernel, stride]")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.embed_dim % self.pos_conv_groups:
            raise ConfigError(
                f"embed_dim {self.embed_dim} is not divisible by pos_conv_groups {self.pos_conv_groups}"
            )
        if self.pos_conv_depth < 1:
            raise ConfigError(f"pos_conv_depth must be >= 1, got {self.pos_conv_depth}")

    @property
    def conv_dim(self) -> int:
        """Channels of the last feature-encoder layer (input size of the feature LayerNorm)."""
        return int(self.conv_layers[-1][0])

    @property
    def stack_kernel(self) -> int:
        """Kernel of each layer of the data2vec positional conv stack."""
        return max(3, self.pos_conv_width // self.pos_conv_depth)

    def num_frames(self, num_samples):
        """Frames the conv feature encoder makes from ``num_samples`` samples: an int (320 * 50 + 80
        -> 50 at BASE; 0 below one receptive field of 400) or a (B,) integer tensor of lengths."""
        frames = num_samples
        for _, kernel, stride in self.conv_layers:
            frames = conv_output_length(frames, kernel, stride)
        return frames

    @property
    def downsampling(self) -> int:
        """Samples per frame (product of the conv strides): 320 = 50 frames/s at 16 kHz."""
        total = 1
        for _, _, stride in self.conv_layers:
            total *= int(stride)
        return total


def load_backbone_config(
    name_or_path: str | os.PathLike, overrides: list[str] | None = None
) -> BackboneConfig:
    """Load a named config (``tiny``, ``base``, ``large``: ``conf/model/NAME.yaml``) or a YAML path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = CONF_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            names = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
            raise ConfigError(f"unknown model config '{name_or_path}': choose one of {names} or a YAML path")
    return load_config(BackboneConfig, path, overrides)
