"""Frozen upstreams of the probes: a checkpoint's backbone, a randomly initialised one, or fbank.

Each is a ``FeatureExtractor`` (speechssl.features.dump) whose frame is all its hidden states
flattened, (num_layers * layer_dim,), so one shard dump holds every layer at once.
"""

from __future__ import annotations

import abc
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi

from speechssl.config import to_dict
from speechssl.features.layer_features import load_backbone
from speechssl.io.audio import SAMPLE_RATE
from speechssl.models import Backbone, build_backbone
from speechssl.models.config import load_backbone_config
from speechssl.train.checkpoint import resolve_checkpoint

FBANK = "fbank"
RANDOM = "random"
FBANK_BINS = 80
FBANK_STACK = 2  # consecutive 10 ms frames stacked: 160-d at 50 Hz, SUPERB's FBANK row
_WINDOW, _HOP = 400, 160  # 25 ms / 10 ms at 16 kHz


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


class HiddenStateExtractor(abc.ABC):
    """Base of the upstreams: ``num_layers`` hidden states of ``layer_dim`` each, flattened per frame.

    Attributes:
        name: folder name of its feature cache (says what the upstream is, plus a digest).
        source: what the cache's ``.done`` marker records; a cache made from another source is
            refused, so a changed checkpoint never reuses stale features.
    """

    name: str = ""
    source: str = ""
    num_layers: int = 1
    layer_dim: int = 1
    frame_rate: float = SAMPLE_RATE / 320

    @property
    def kind(self) -> str:
        return f"hidden{self.num_layers}x{self.layer_dim}"

    @property
    def dim(self) -> int:
        return self.num_layers * self.layer_dim

    @abc.abstractmethod
    def num_frames(self, num_samples: int) -> int:
        """Frames produced from ``num_samples`` samples."""

    @abc.abstractmethod
    def hidden_states(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Each (samples,) float32 -> (num_layers, frames, layer_dim) float32."""

    def extract(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Each (samples,) -> (frames, num_layers * layer_dim): layers side by side per frame."""
        return [np.ascontiguousarray(h.transpose(1, 0, 2)).reshape(h.shape[1], -1)
                for h in self.hidden_states(batch)]


class BackboneHiddenStates(HiddenStateExtractor):
    """Layer 0 = the Transformer's input (projected conv features + positions, as HF's
    hidden_states[0]); layers 1..L = each Transformer layer's output. Eval mode, no gradients."""

    def __init__(self, backbone: Backbone, name: str, source: str, device: str = "cpu") -> None:
        self.backbone = backbone.to(device).eval()
        self.device = device
        self.name = name
        self.source = source
        self.num_layers = backbone.config.num_layers + 1
        self.layer_dim = backbone.config.embed_dim
        self.frame_rate = SAMPLE_RATE / backbone.config.downsampling

    def num_frames(self, num_samples: int) -> int:
        return self.backbone.config.num_frames(num_samples)

    @torch.no_grad()
    def forward_layers(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """audio (B,T), lengths (B,) -> hidden states (L+1, B, F, D)."""
        backbone = self.backbone
        front = backbone.front_end(audio, lengths)  # eval mode: dropout_input is the identity
        padding_mask = front.padding_mask
        x = backbone.add_positions(front.x, padding_mask)
        # Post-LN encoders normalise their input before the first layer; that is what layer 1 sees.
        first = x if backbone.config.layer_norm_first else backbone.encoder.layer_norm(x)
        output = backbone.transformer(x, padding_mask, output_layers=True)
        return torch.stack([first, *output.layer_outputs])

    def hidden_states(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        lengths = torch.tensor([len(x) for x in batch])
        audio = torch.zeros(len(batch), int(lengths.max()))
        for row, samples in enumerate(batch):
            audio[row, : len(samples)] = torch.from_numpy(samples)
        hidden = self.forward_layers(audio.to(self.device), lengths.to(self.device)).float().cpu()
        frames = self.backbone.frame_lengths(lengths).tolist()
        return [hidden[:, row, :n].numpy() for row, n in enumerate(frames)]


class FbankHiddenStates(HiddenStateExtractor):
    """80-d Kaldi log-mel fbank (25 ms / 10 ms, no dither), mean/variance normalised per utterance,
    two consecutive frames stacked -> one 160-d "layer" at 50 Hz."""

    def __init__(self) -> None:
        self.name = FBANK
        self.source = f"{FBANK}:{FBANK_BINS}x{FBANK_STACK}:cmvn"
        self.num_layers = 1
        self.layer_dim = FBANK_BINS * FBANK_STACK
        self.frame_rate = SAMPLE_RATE / _HOP / FBANK_STACK

    def num_frames(self, num_samples: int) -> int:
        frames = 1 + (num_samples - _WINDOW) // _HOP if num_samples >= _WINDOW else 0
        return frames // FBANK_STACK

    def hidden_states(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for samples in batch:
            # Kaldi works on 16-bit sample values; the scale only shifts log energies.
            wave = torch.from_numpy(samples)[None] * 32768.0
            feats = kaldi.fbank(wave, num_mel_bins=FBANK_BINS, frame_length=25.0, frame_shift=10.0,
                                dither=0.0, sample_frequency=SAMPLE_RATE)
            feats = (feats - feats.mean(0)) / (feats.std(0, unbiased=False) + 1e-5)
            frames = self.num_frames(len(samples))
            stacked = feats[: frames * FBANK_STACK].reshape(frames, self.layer_dim)
            out.append(stacked[None].numpy().astype(np.float32))
        return out


def random_upstream(model_config: str, seed: int, device: str = "cpu") -> BackboneHiddenStates:
    """The backbone of ``model_config`` (a name in conf/model or a YAML path) at its initialisation
    with ``torch.manual_seed(seed)``: the noise level of every probe number."""
    config = load_backbone_config(model_config)
    torch.manual_seed(seed)
    backbone = build_backbone(config)
    digest = _digest(json.dumps(to_dict(config), sort_keys=True))
    name = f"{RANDOM}-{Path(model_config).stem}-seed{seed}-{digest}"
    return BackboneHiddenStates(backbone, name, f"{RANDOM}:{model_config}:seed{seed}:{digest}", device)


def checkpoint_upstream(path: str, device: str = "cpu") -> BackboneHiddenStates:
    """The backbone of a run folder, checkpoint file or ``speechssl convert`` folder."""
    weights, _ = resolve_checkpoint(path, prefer_best=True)
    weights = weights.resolve()
    stat = weights.stat()
    source = f"{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    # hubert/checkpoint_300 -> hubert-checkpoint_300; a converted folder's model -> the folder
    stem = weights.stem
    if stem == "model":
        stem = weights.parent.name
    elif stem.startswith("checkpoint"):
        stem = f"{weights.parent.name}-{stem}"
    return BackboneHiddenStates(load_backbone(weights), f"{stem}-{_digest(source)}", source, device)


def build_upstream(spec: str, model_config: str = "tiny", seed: int = 1,
                   device: str = "cpu") -> HiddenStateExtractor:
    """``fbank``, ``random`` (``model_config`` at seed ``seed``) or a checkpoint path."""
    if spec == FBANK:
        return FbankHiddenStates()
    if spec == RANDOM:
        return random_upstream(model_config, seed, device)
    return checkpoint_upstream(spec, device)
