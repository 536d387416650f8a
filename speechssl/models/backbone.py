"""The one backbone shared by wav2vec 2.0, HuBERT, data2vec, data2vec 2.0 and CTC fine-tuning.

Objectives call ``front_end`` (audio -> projected frames) and ``encode`` (masks, positions,
Transformer), ``forward`` is the two in a row; data2vec 2.0 runs ``add_positions`` and
``transformer`` on gathered frames with ``attention_bias(x, positions)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from speechssl.models.config import BackboneConfig, load_backbone_config
from speechssl.models.feature_encoder import (
    FeatureEncoder,
    GradMultiply,
    lengths_to_padding_mask,
    normalize_waveform,
)
from speechssl.models.positional import ConvPositionalEncoding, alibi_bias, alibi_slopes
from speechssl.models.transformer import EncoderOutput, TransformerEncoder


@dataclass
class FrontEnd:
    """What ``Backbone.front_end`` makes of a batch, before masking.

    Attributes:
        features: (B, F, C) conv features before LayerNorm (wav2vec 2.0's L2 penalty is on these).
        padding_mask: (B, F) bool, True at padded frames.
        normed: (B, F, C) after the feature LayerNorm (wav2vec 2.0's quantizer input).
        projected: (B, F, D) after the projection, before ``dropout_input`` (the EMA teacher's input).
        x: (B, F, D) ``projected`` after ``dropout_input`` (the student's input).
    """

    features: torch.Tensor
    padding_mask: torch.Tensor
    normed: torch.Tensor
    projected: torch.Tensor
    x: torch.Tensor

    @property
    def frame_lengths(self) -> torch.Tensor:
        """(B,) valid frames per utterance."""
        return (~self.padding_mask).sum(dim=1)


class Backbone(nn.Module):
    """Conv feature encoder -> LayerNorm -> projection -> (masking) -> positions -> Transformer.

    Sub-modules: ``feature_encoder``, ``feature_norm`` (LayerNorm over C), ``projection``
    (C -> D), ``dropout_input``, ``dropout_features``, ``mask_embedding`` (D,), ``pos_conv``,
    ``encoder`` and, with ``use_alibi``, ``alibi_scale`` (H,).
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.feature_encoder = FeatureEncoder(config)
        self.feature_norm = nn.LayerNorm(config.conv_dim, eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim, config.embed_dim)
        self.dropout_input = nn.Dropout(config.dropout_input)
        self.dropout_features = nn.Dropout(config.dropout_features)
        self.mask_embedding = nn.Parameter(torch.empty(config.embed_dim).uniform_())
        self.pos_conv = ConvPositionalEncoding(config)
        self.encoder = TransformerEncoder(config)
        if config.use_alibi:
            self.alibi_scale = nn.Parameter(torch.ones(config.num_heads))

    def frame_lengths(self, audio_lengths: torch.Tensor) -> torch.Tensor:
        """(B,) samples -> (B,) frames the feature encoder produces from them."""
        return self.config.num_frames(audio_lengths)

    def extract_features(
        self, audio: torch.Tensor, audio_lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B,T), audio_lengths (B,) -> features (B,F,C) before LayerNorm, padding (B,F) True = pad.

        Gradients into the encoder are scaled by ``feature_grad_mult``; 0 runs it without a graph.
        """
        if audio.dim() != 2:
            raise ValueError(f"Backbone expects audio of shape (batch, samples), got {tuple(audio.shape)}")
        if audio_lengths is None:
            audio_lengths = torch.full((audio.shape[0],), audio.shape[1], device=audio.device)
        if self.config.normalize_waveform:
            audio = normalize_waveform(audio, audio_lengths, self.config.layer_norm_eps)
        mult = self.config.feature_grad_mult
        if mult == 0.0:
            with torch.no_grad():
                features, lengths = self.feature_encoder(audio, audio_lengths)
        else:
            features, lengths = self.feature_encoder(audio, audio_lengths)
            if mult != 1.0 and features.requires_grad:
                features = GradMultiply.apply(features, mult)
        return features, lengths_to_padding_mask(lengths, features.shape[1])

    def front_end(
        self, audio: torch.Tensor, audio_lengths: torch.Tensor | None = None, input_dropout: bool = True
    ) -> FrontEnd:
        """audio (B,T), audio_lengths (B,) -> ``FrontEnd``: conv features, LayerNorm, projection.

        ``input_dropout=False`` leaves ``x`` equal to ``projected`` and draws nothing from the RNG
        (the teacher's view of the clean audio).
        """
        features, padding_mask = self.extract_features(audio, audio_lengths)
        normed = self.feature_norm(features)
        projected = self.projection(normed)
        x = self.dropout_input(projected) if input_dropout else projected
        return FrontEnd(features, padding_mask, normed, projected, x)

    def apply_mask(
        self, x: torch.Tensor, time_mask: torch.Tensor | None, channel_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (B,F,D): frames where time_mask (B,F) is True become ``mask_embedding``; channels where
        channel_mask (B,D) is True are zeroed on every frame. Returns a new tensor."""
        if time_mask is not None:
            x = torch.where(time_mask[:, :, None], self.mask_embedding.to(x.dtype), x)
        if channel_mask is not None:
            x = x.masked_fill(channel_mask[:, None, :], 0.0)
        return x

    def add_positions(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """x (B,F,D) -> x + positional conv(x), padded frames zeroed first (as fairseq)."""
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[:, :, None], 0.0)
        return x + self.pos_conv(x, padding_mask)

    def attention_bias(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor | None:
        """The attention bias of the Transformer input x (B,F,D): None without ``use_alibi``, else the
        ALiBi bias of ``positions`` (B,F) (frames gathered from a longer sequence) or of 0..F-1."""
        if not self.config.use_alibi:
            return None
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)
        return self.alibi_bias(positions)

    def alibi_bias(self, positions: torch.Tensor) -> torch.Tensor:
        """(B,U) or (U,) original frame indices -> (B|1,H,U,U) ALiBi bias with the learned scale.

        data2vec 2.0 passes the positions of the unmasked frames it gathered.
        """
        if not self.config.use_alibi:
            raise ValueError("alibi_bias needs a model config with use_alibi: true")
        fixed = alibi_slopes(self.config.num_heads).to(self.alibi_scale.device, self.alibi_scale.dtype)
        slopes = fixed * self.alibi_scale.clamp(min=0.0)
        return alibi_bias(positions, slopes)

    def transformer(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None,
        attn_bias: torch.Tensor | None = None,
        output_layers: bool = False,
    ) -> EncoderOutput:
        """x (B,F,D) with positions -> EncoderOutput. Without ``attn_bias``, ``attention_bias(x)``."""
        if attn_bias is None:
            attn_bias = self.attention_bias(x)
        return self.encoder(x, padding_mask, attn_bias=attn_bias, output_layers=output_layers)

    def encode(
        self,
        front: FrontEnd,
        time_mask: torch.Tensor | None = None,
        channel_mask: torch.Tensor | None = None,
        output_layers: bool = False,
    ) -> EncoderOutput:
        """``front.x`` -> mask embedding at time_mask (B,F) frames, channel_mask (B,D) channels
        zeroed, positions, Transformer -> EncoderOutput (the student pass)."""
        x = self.apply_mask(front.x, time_mask, channel_mask)
        x = self.add_positions(x, front.padding_mask)
        return self.transformer(x, front.padding_mask, output_layers=output_layers)

    def forward(
        self,
        audio: torch.Tensor,
        audio_lengths: torch.Tensor | None = None,
        time_mask: torch.Tensor | None = None,
        channel_mask: torch.Tensor | None = None,
        output_layers: bool = False,
    ) -> tuple[EncoderOutput, torch.Tensor]:
        """audio (B,T), audio_lengths (B,) -> (EncoderOutput, padding_mask (B,F) True = pad)."""
        front = self.front_end(audio, audio_lengths)
        return self.encode(front, time_mask, channel_mask, output_layers), front.padding_mask


def build_backbone(config: BackboneConfig | str) -> Backbone:
    """A ``Backbone`` from a config or a config name/path (``tiny``, ``base``, ``large``)."""
    if not isinstance(config, BackboneConfig):
        config = load_backbone_config(config)
    return Backbone(config)
