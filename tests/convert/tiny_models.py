"""Tiny torchaudio and speechssl models with random weights, shared by the converter tests.

Normalisation weights and biases are perturbed so that a wrong name mapping changes outputs.
"""

import torch
from torchaudio.models import wav2vec2_model

from speechssl.models import BackboneConfig, build_backbone

CONV = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]


def torchaudio_kwargs(extractor_mode: str, layer_norm_first: bool) -> dict:
    return dict(
        extractor_mode=extractor_mode,
        extractor_conv_layer_config=[tuple(c) for c in CONV],
        extractor_conv_bias=extractor_mode == "layer_norm",
        encoder_embed_dim=64,
        encoder_projection_dropout=0.1,
        encoder_pos_conv_kernel=16,
        encoder_pos_conv_groups=4,
        encoder_num_layers=2,
        encoder_num_heads=4,
        encoder_attention_dropout=0.1,
        encoder_ff_interm_features=128,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.1,
        encoder_layer_norm_first=layer_norm_first,
        encoder_layer_drop=0.05,
        aux_num_out=None,
    )


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Perturb every parameter so that norms and biases are not their trivial init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def make_torchaudio(extractor_mode: str, layer_norm_first: bool, seed: int = 0):
    torch.manual_seed(seed)
    return randomise(wav2vec2_model(**torchaudio_kwargs(extractor_mode, layer_norm_first)), seed)


def small_config(**changes) -> BackboneConfig:
    values = dict(
        conv_layers=CONV,
        embed_dim=64,
        num_layers=2,
        num_heads=4,
        ffn_dim=128,
        pos_conv_kernel=16,
        pos_conv_groups=4,
    )
    values.update(changes)
    return BackboneConfig(**values)


def make_ours(seed: int = 0, **changes):
    torch.manual_seed(seed)
    return randomise(build_backbone(small_config(**changes)), seed)


VARIANTS = [("group_norm", False), ("layer_norm", True), ("layer_norm", False), ("group_norm", True)]
