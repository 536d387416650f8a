"""Masked spectrogram reconstruction (Audio-MAE style): encode the 20 % unmasked frames only,
a light conv decoder reconstructs the masked frames' per-patch normalised log-mel patches (MSE).

No teacher and no EMA: the targets come from the input itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torchaudio.functional as audio_functional
from torch import nn

from speechssl.data.batch import AudioBatch
from speechssl.io.audio import SAMPLE_RATE
from speechssl.models.flops import FlopCount
from speechssl.objectives.base import Objective, ObjectiveOutput
from speechssl.objectives.data2vec2 import encode_masked_clones
from speechssl.objectives.decoder import ConvDecoder, DecoderConfig
from speechssl.objectives.regression import feature_std, regression_loss

MEL_HOP = SAMPLE_RATE // 100  # 10 ms log-mel frames
MEL_WINDOW = SAMPLE_RATE // 40  # 25 ms


@dataclass
class MaeConfig:
    """Masked reconstruction settings (Audio-MAE: 80 % masked, per-patch normalised MSE).

    Attributes:
        mask_prob / mask_length / min_masks: span masking. Length 1 is Audio-MAE's unstructured
            masking, exactly ``mask_prob`` of the frames; longer spans overlap, masking
            ~1 - exp(-mask_prob).
        clone_batch: independently masked copies of each utterance (Audio-MAE: 1).
        n_mels: log-mel bins per 10 ms frame; a backbone frame stacks ``downsampling / 160`` of
            them (2 at 20 ms: 160-d patches).
        patch_norm_eps: added to each patch's variance before normalising.
        decoder: the conv decoder (data2vec 2.0's).
    """

    mask_prob: float = 0.8
    mask_length: int = 1
    min_masks: int = 1
    clone_batch: int = 1
    n_mels: int = 80
    patch_norm_eps: float = 1e-6
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


def log_mel_patches(audio: torch.Tensor, frames: int, stack: int, n_mels: int, eps: float = 1e-6) -> torch.Tensor:
    """Log-mel frames (25 ms window, 10 ms hop) stacked ``stack`` per backbone frame, each patch
    normalised to zero mean and unit variance over its ``stack * n_mels`` values.

    Args:
        audio: shape (B, T) waveforms (padding included: padded frames are scored nowhere).
        frames: F, backbone frames of the batch.

    Returns:
        shape (B, F, stack * n_mels) float32.
    """
    with torch.autocast(device_type=audio.device.type, enabled=False):
        # MEL_HOP more samples so that the last backbone frame has all of its mel frames
        padded = F.pad(audio.float(), (0, MEL_HOP))
        window = torch.hann_window(MEL_WINDOW, device=audio.device)
        spec = torch.stft(
            padded, MEL_WINDOW, MEL_HOP, window=window, center=False, return_complex=True
        ).abs().pow(2)  # (B, MEL_WINDOW // 2 + 1, M)
        banks = audio_functional.melscale_fbanks(
            spec.shape[1], 20.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, mel_scale="htk"
        ).to(spec.device)
        mel = (spec.transpose(1, 2) @ banks).clamp(min=1e-10).log()  # (B, M, n_mels)
        short = frames * stack - mel.shape[1]
        if short > 0:  # conv stacks with a receptive field wider than 25 ms + 10 ms hops
            mel = F.pad(mel.transpose(1, 2), (0, short), mode="replicate").transpose(1, 2)
        patches = mel[:, : frames * stack].reshape(audio.shape[0], frames, stack * n_mels)
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, unbiased=False, keepdim=True)
        return (patches - mean) / torch.sqrt(var + eps)


class MaeObjective(Objective):
    """Student: masked frames dropped before the Transformer; ``decoder`` predicts log-mel patches."""

    def __init__(self, backbone: nn.Module, config: MaeConfig | None = None):
        super().__init__()
        config = config or MaeConfig()
        if config.clone_batch < 1:
            raise ValueError(f"mae: clone_batch must be >= 1, got {config.clone_batch}")
        if backbone.config.downsampling % MEL_HOP:
            raise ValueError(
                f"mae: the backbone's frame step of {backbone.config.downsampling} samples is not a "
                f"multiple of the {MEL_HOP}-sample log-mel hop; change model.conv_layers strides"
            )
        self.backbone = backbone
        self.config = config
        self.stack = backbone.config.downsampling // MEL_HOP
        self.target_dim = self.stack * config.n_mels
        self.decoder = ConvDecoder(backbone.config.embed_dim, self.target_dim, config.decoder)

    def targets(self, batch: AudioBatch, frames: int) -> torch.Tensor:
        """(B, F, target_dim) normalised log-mel patches of the batch's audio."""
        return log_mel_patches(batch.audio, frames, self.stack, self.config.n_mels, self.config.patch_norm_eps)

    def decoder_flops(self, frames: float) -> float:
        """Forward FLOPs of the conv decoder over ``frames`` frames."""
        cfg = self.config.decoder
        in_dim = self.backbone.config.embed_dim
        per_frame = 0.0
        for index in range(cfg.layers):
            per_frame += 2.0 * cfg.kernel * (in_dim if index == 0 else cfg.dim) * cfg.dim / cfg.groups
        per_frame += 2.0 * cfg.dim * self.target_dim
        return per_frame * frames

    def kept_fraction(self) -> float:
        """Expected fraction of unmasked frames: 1 - mask_prob for single frames (drawn without
        replacement), exp(-mask_prob) for overlapping spans."""
        if self.config.mask_length == 1:
            return 1.0 - self.config.mask_prob
        return math.exp(-self.config.mask_prob)

    def training_flops(self, count: FlopCount) -> float:
        """Conv encoder once, the Transformer on each clone's unmasked frames and the decoder on
        every frame of each clone, forward + backward."""
        config = self.backbone.config
        frames = count.projection / (2.0 * config.conv_dim * config.embed_dim)
        clones = self.config.clone_batch
        kept = self.kept_fraction()
        once = count.training - 3.0 * count.transformer
        return once + 3.0 * clones * (kept * count.transformer + self.decoder_flops(frames))

    def forward(self, batch: AudioBatch) -> ObjectiveOutput:
        """MSE over the masked frames' patches (mean over a patch), summed; sample_size = their number."""
        cfg = self.config
        student = encode_masked_clones(self.backbone, batch, cfg)
        mask, encoded = student.mask, student.encoded
        frames = student.front.padding_mask.shape[1]
        pred = self.decoder(encoded, ~mask).flatten(0, 1)  # (B*M*T, target_dim)
        target = self.targets(batch, frames).repeat_interleave(cfg.clone_batch, dim=0).flatten(0, 1)
        weight = mask.flatten()
        loss = regression_loss(pred, target, scale=1.0 / self.target_dim, weight=weight)
        sample_size = weight.sum()
        logs = {
            "target_var": feature_std(target, weight),
            "pred_var": feature_std(pred, weight),
            "student_frames": float(encoded.shape[1]),
            "masked_pct": mask.float().mean(),
            "masked_frames": sample_size.float(),
        }
        return ObjectiveOutput(loss=loss, sample_size=sample_size, logs=logs)
