"""MFCC + delta + delta-delta features (39-d, 100 Hz): HuBERT's first-iteration k-means input.

Two backends compute the 13 static coefficients: Kaldi's recipe via torchaudio (default) and
python-speech-features (``psf``); both share the same torchaudio deltas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as audio_functional

BACKENDS = ("kaldi", "psf")


@dataclass
class MfccConfig:
    """Settings of the MFCC dump (Kaldi defaults, as fairseq's HuBERT ``dump_mfcc_feature``).

    Attributes:
        backend: ``kaldi`` (torchaudio.compliance.kaldi.mfcc) or ``psf`` (python-speech-features).
        sample_rate: audio sample rate in Hz.
        num_ceps: static cepstral coefficients (C0 is kept; ``use_energy`` is off).
        num_mel_bins: triangular mel filters.
        frame_length_ms, frame_shift_ms: analysis window and hop (25 ms / 10 ms = 100 Hz).
        low_freq: lowest filter edge in Hz (the high edge is Nyquist).
        preemphasis: pre-emphasis coefficient.
        cepstral_lifter: sinusoidal lifter coefficient.
        delta_window: window of ``compute_deltas`` (frames); deltas and delta-deltas triple the dim.
    """

    backend: str = "kaldi"
    sample_rate: int = 16000
    num_ceps: int = 13
    num_mel_bins: int = 23
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq: float = 20.0
    preemphasis: float = 0.97
    cepstral_lifter: float = 22.0
    delta_window: int = 5

    @property
    def window_samples(self) -> int:
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def hop_samples(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    @property
    def dim(self) -> int:
        return 3 * self.num_ceps

    @property
    def frame_rate(self) -> float:
        return 1000.0 / self.frame_shift_ms


def num_mfcc_frames(num_samples: int, config: MfccConfig) -> int:
    """Frames of ``num_samples`` samples with Kaldi's ``snip_edges`` framing (0 if too short)."""
    if num_samples < config.window_samples:
        return 0
    return 1 + (num_samples - config.window_samples) // config.hop_samples


def kaldi_static_mfcc(samples: torch.Tensor, config: MfccConfig) -> torch.Tensor:
    """Kaldi MFCC of one utterance.

    Args:
        samples: shape (num_samples,), float in [-1, 1] as soundfile reads it. fairseq's HuBERT dump
            feeds this scale (not int16 values) to the Kaldi function, and so do we.
    Returns:
        shape (frames, num_ceps), float32.
    """
    return kaldi.mfcc(
        samples.float().view(1, -1),
        sample_frequency=config.sample_rate,
        frame_length=config.frame_length_ms,
        frame_shift=config.frame_shift_ms,
        num_ceps=config.num_ceps,
        num_mel_bins=config.num_mel_bins,
        low_freq=config.low_freq,
        preemphasis_coefficient=config.preemphasis,
        cepstral_lifter=config.cepstral_lifter,
        use_energy=False,
        dither=0.0,
    )


def _povey_window(length: int) -> np.ndarray:
    """Kaldi's default analysis window: a Hann window raised to the power 0.85, shape (length,)."""
    return np.power(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1)), 0.85)


def psf_static_mfcc(samples: torch.Tensor, config: MfccConfig) -> torch.Tensor:
    """python-speech-features MFCC of one utterance, set up to match Kaldi as closely as it allows.

    Same window (Povey), filters, lifter, pre-emphasis and framing as Kaldi. Remaining differences:
    psf pre-emphasises the whole signal instead of each frame, does not remove the per-frame DC
    offset and places filter edges on FFT bins. psf's power spectrum is divided by the FFT size,
    which shifts every log mel energy by ``log(nfft)``; an orthonormal DCT turns that constant into
    ``sqrt(num_mel_bins) * log(nfft)`` on C0 only, which we add back so C0 is on Kaldi's scale.

    Args:
        samples: shape (num_samples,), float in [-1, 1].
    Returns:
        shape (frames, num_ceps), float32, frames as ``num_mfcc_frames``.
    """
    import python_speech_features as psf

    window = config.window_samples
    nfft = 1 << (window - 1).bit_length()  # Kaldi rounds the window up to a power of two
    signal = samples.double().numpy()
    ceps = psf.mfcc(
        signal,
        samplerate=config.sample_rate,
        winlen=config.frame_length_ms / 1000,
        winstep=config.frame_shift_ms / 1000,
        numcep=config.num_ceps,
        nfilt=config.num_mel_bins,
        nfft=nfft,
        lowfreq=config.low_freq,
        highfreq=config.sample_rate / 2,
        preemph=config.preemphasis,
        ceplifter=config.cepstral_lifter,
        appendEnergy=False,
        winfunc=_povey_window,
    )
    # psf zero-pads a last partial frame; Kaldi's snip_edges framing drops it.
    ceps = ceps[: num_mfcc_frames(len(signal), config)]
    ceps[:, 0] += math.sqrt(config.num_mel_bins) * math.log(nfft)
    return torch.from_numpy(ceps.astype(np.float32))


def add_deltas(static: torch.Tensor, window: int = 5) -> torch.Tensor:
    """Append deltas and delta-deltas.

    Args:
        static: shape (frames, C).
    Returns:
        shape (frames, 3 * C): ``[static, delta, delta-delta]`` per frame.
    """
    by_channel = static.transpose(0, 1)  # compute_deltas works along the last axis
    deltas = audio_functional.compute_deltas(by_channel, win_length=window)
    delta_deltas = audio_functional.compute_deltas(deltas, win_length=window)
    return torch.cat([by_channel, deltas, delta_deltas], dim=0).transpose(0, 1).contiguous()


def mfcc_features(samples: np.ndarray | torch.Tensor, config: MfccConfig) -> torch.Tensor:
    """39-d MFCC features of one utterance.

    Args:
        samples: shape (num_samples,), float in [-1, 1], at ``config.sample_rate``.
    Returns:
        shape (num_mfcc_frames(num_samples), 3 * num_ceps), float32.
    Raises:
        ValueError: unknown backend, or audio shorter than one analysis window.
    """
    if config.backend not in BACKENDS:
        raise ValueError(f"MFCC backend {config.backend!r}: expected one of {', '.join(BACKENDS)}")
    samples = torch.as_tensor(samples)
    if samples.numel() < config.window_samples:
        raise ValueError(
            f"audio of {samples.numel()} samples is shorter than one "
            f"{config.frame_length_ms:g} ms window ({config.window_samples} samples)"
        )
    with torch.no_grad():
        compute = kaldi_static_mfcc if config.backend == "kaldi" else psf_static_mfcc
        return add_deltas(compute(samples, config), config.delta_window)


class MfccExtractor:
    """``FeatureExtractor`` of MFCC features for ``speechssl.features.dump.dump_shard``."""

    def __init__(self, config: MfccConfig | None = None) -> None:
        self.config = config or MfccConfig()
        self.kind = f"mfcc-{self.config.backend}"
        self.dim = self.config.dim
        self.frame_rate = self.config.frame_rate

    def num_frames(self, num_samples: int) -> int:
        return num_mfcc_frames(num_samples, self.config)

    def extract(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Each (samples,) -> (frames, 39) float32."""
        return [mfcc_features(samples, self.config).numpy() for samples in batch]
