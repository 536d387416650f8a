"""Analytic FLOP count of the backbone per audio-second, for throughput and MFU estimates.

Counts multiply-adds of convolutions, linear layers and attention matmuls (1 MAC = 2 FLOPs).
"""

from __future__ import annotations

from dataclasses import dataclass

from speechssl.io.audio import SAMPLE_RATE
from speechssl.models.config import BackboneConfig, conv_output_length


@dataclass
class FlopCount:
    """Forward FLOPs of one utterance by part; ``training`` = forward + backward.

    Backward costs twice the forward (gradients w.r.t. inputs and weights), except that the first
    conv needs no input gradient and a frozen feature encoder (feature_grad_mult 0) needs no backward.
    Norms, activations, softmax, dropout and the objective heads are not counted (< 2% at BASE).
    Every layer is counted: layers LayerDrop skips in a step still count (model FLOPs), which is why
    ``bench/mfu.py`` times its steps with LayerDrop off.
    """

    conv: float
    projection: float
    pos_conv: float
    transformer: float
    training: float

    @property
    def forward(self) -> float:
        return self.conv + self.projection + self.pos_conv + self.transformer


def count_flops(config: BackboneConfig, num_samples: int = SAMPLE_RATE) -> FlopCount:
    """FLOPs for one utterance of ``num_samples`` samples (default one second at 16 kHz)."""
    length, in_dim, conv = num_samples, 1, 0.0
    first_conv = 0.0
    for index, (dim, kernel, stride) in enumerate(config.conv_layers):
        length = conv_output_length(length, kernel, stride)
        macs = length * dim * in_dim * kernel
        conv += 2.0 * macs
        if index == 0:
            first_conv = 2.0 * macs
        in_dim = dim
    frames, d = length, config.embed_dim
    projection = 2.0 * frames * config.conv_dim * d
    if config.pos_conv_depth == 1:
        pos_conv = 2.0 * frames * d * (d // config.pos_conv_groups) * config.pos_conv_kernel
    else:
        per_layer = frames * d * (d // config.pos_conv_groups) * config.stack_kernel
        pos_conv = 2.0 * per_layer * config.pos_conv_depth
    per_layer = frames * (4 * d * d + 2 * d * config.ffn_dim) + 2 * frames * frames * d
    transformer = 2.0 * per_layer * config.num_layers
    rest = projection + pos_conv + transformer
    if config.feature_grad_mult == 0.0:
        conv_training = conv
    else:
        conv_training = 3.0 * conv - first_conv
    return FlopCount(conv, projection, pos_conv, transformer, conv_training + 3.0 * rest)
