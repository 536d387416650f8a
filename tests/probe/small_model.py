"""The very small backbone config of the probe tests (2 layers of 32 dims, 50 Hz like every model)."""

from __future__ import annotations

from speechssl.models import BackboneConfig

SMALL_CONV = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]


def small_backbone_config(**changes) -> BackboneConfig:
    values = dict(conv_layers=SMALL_CONV, embed_dim=32, num_layers=2, num_heads=2, ffn_dim=64,
                  pos_conv_kernel=16, pos_conv_groups=4)
    values.update(changes)
    return BackboneConfig(**values)
