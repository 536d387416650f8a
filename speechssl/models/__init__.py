"""The shared speech backbone (conv feature encoder + Transformer) and its configuration.

``build_backbone(load_backbone_config("tiny"))`` is the usual entry point.
"""

from speechssl.models.backbone import Backbone, build_backbone
from speechssl.models.config import BackboneConfig, load_backbone_config
from speechssl.models.transformer import EncoderOutput

__all__ = ["Backbone", "BackboneConfig", "EncoderOutput", "build_backbone", "load_backbone_config"]
