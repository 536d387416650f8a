"""On-the-fly pre-training augmentation of the student's input (Sriram et al. 2022, Wav2Vec-Aug).

Speed perturbation, reverberation, additive noise at a random SNR and band limits, each drawn with
its probability from a generator seeded by (seed, epoch, utterance index), so resumable mid-epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal

from speechssl.config import ConfigError
from speechssl.data.synth.channel import band_limit, colored_noise, resample, room_impulse
from speechssl.io.audio import SAMPLE_RATE, AudioError, read_audio
from speechssl.io.kaldi_dir import read_table

NOISE_KINDS = ("white", "pink", "brown")
STREAM = 0xA06  # separates the augmentation draws from the crop draws of the same (seed, epoch, index)


def _check_range(where: str, values: tuple[float, float], low: float, high: float) -> None:
    if not low <= values[0] <= values[1] <= high:
        raise ConfigError(f"data.augment.{where}: expected {low} <= min <= max <= {high}, got {list(values)}")


def _check_prob(where: str, prob: float) -> None:
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"data.augment.{where}.prob must be in [0, 1], got {prob}")


@dataclass
class NoiseConfig:
    """Additive noise at an SNR drawn uniformly in ``snr_db`` (relative to the utterance's power).

    Attributes:
        kinds: synthesised colours to draw from (white, pink, brown), used when ``data_dir`` is empty.
        data_dir: a Kaldi data dir of noise recordings (16 kHz); a random one at a random offset,
            looped to the utterance's length.
    """

    prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 20.0)
    kinds: list[str] = field(default_factory=lambda: ["white", "pink"])
    data_dir: str = ""

    def __post_init__(self) -> None:
        _check_prob("noise", self.prob)
        _check_range("noise.snr_db", self.snr_db, -30.0, 80.0)
        unknown = [k for k in self.kinds if k not in NOISE_KINDS]
        if unknown or not self.kinds:
            raise ConfigError(f"data.augment.noise.kinds: expected some of {NOISE_KINDS}, got {self.kinds}")


@dataclass
class ReverbConfig:
    """Convolution with a synthetic room impulse response whose -60 dB decay is drawn in ``decay_s``."""

    prob: float = 0.3
    decay_s: tuple[float, float] = (0.2, 0.8)

    def __post_init__(self) -> None:
        _check_prob("reverb", self.prob)
        _check_range("reverb.decay_s", self.decay_s, 0.01, 3.0)


@dataclass
class SpeedConfig:
    """Resampling by a factor drawn in ``factor`` (pitch and tempo both change, like sox ``speed``);
    a factor above 1 shortens the audio, below 1 lengthens it (then cut to the crop's length)."""

    prob: float = 0.3
    factor: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        _check_prob("speed", self.prob)
        _check_range("speed.factor", self.factor, 0.5, 2.0)


@dataclass
class BandConfig:
    """4th-order Butterworth high-pass and low-pass with cut-offs drawn in the ranges (codec-like)."""

    prob: float = 0.3
    highpass_hz: tuple[float, float] = (50.0, 300.0)
    lowpass_hz: tuple[float, float] = (3400.0, 7500.0)

    def __post_init__(self) -> None:
        _check_prob("band", self.prob)
        _check_range("band.highpass_hz", self.highpass_hz, 1.0, SAMPLE_RATE / 2 - 1)
        _check_range("band.lowpass_hz", self.lowpass_hz, self.highpass_hz[1], SAMPLE_RATE / 2 - 1)


@dataclass
class AugmentConfig:
    """Pre-training augmentation of the training set (``data.augment``); off unless ``enabled``.

    Applied in order speed -> reverb -> noise -> band limits. The student sees the result; an
    objective with a teacher sees ``clean_audio``: the same crop after speed perturbation only
    (the teacher's frames must line up with the student's).
    """

    enabled: bool = False
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    band: BandConfig = field(default_factory=BandConfig)


@dataclass
class Augmented:
    """One augmented utterance.

    Attributes:
        audio: shape (samples,), float32, the student's input.
        clean: shape (samples,), float32, same length: the crop after speed perturbation only.
        speed: the speed factor applied (1.0 when none).
    """

    audio: np.ndarray
    clean: np.ndarray
    speed: float


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` (T,) plus ``noise`` (T,) scaled so that power(x) / power(added) is ``snr_db``."""
    speech_power = float(np.mean(x.astype(np.float64) ** 2))
    noise_power = max(float(np.mean(noise.astype(np.float64) ** 2)), 1e-20)
    return x + noise * np.sqrt(speech_power / noise_power * 10 ** (-snr_db / 10))


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` (T,) played ``factor`` times faster: (round(T / factor),) samples."""
    return resample(x, SAMPLE_RATE * factor)


def reverberate(x: np.ndarray, decay_s: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` (T,) convolved with a synthetic room impulse, cut to T samples, level kept."""
    wet = signal.fftconvolve(x, room_impulse(decay_s, rng))[: len(x)]
    dry_rms, wet_rms = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(wet**2)))
    return wet * (dry_rms / wet_rms) if wet_rms > 0 else wet


class Augmenter:
    """Applies an AugmentConfig to utterances; ``__call__`` is a pure function of its arguments."""

    def __init__(self, config: AugmentConfig):
        self.config = config
        self.noise_files: list[tuple[str, str]] = []
        if config.noise.data_dir:
            scp = Path(config.noise.data_dir) / "wav.scp"
            self.noise_files = sorted(read_table(scp).items())
            if not self.noise_files:
                raise ConfigError(f"{scp}: no noise recording listed (data.augment.noise.data_dir)")

    def noise(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """Unit-RMS noise (length,): synthesised, or a recording of ``noise.data_dir`` looped."""
        if not self.noise_files:
            kind = self.config.noise.kinds[int(rng.integers(len(self.config.noise.kinds)))]
            return colored_noise(kind, length, rng, np.zeros(0))
        utt, path = self.noise_files[int(rng.integers(len(self.noise_files)))]
        try:
            recording = read_audio(path).astype(np.float64)
        except AudioError as error:
            raise AudioError(f"noise recording '{utt}' of {self.config.noise.data_dir}: {error}") from None
        start = int(rng.integers(0, len(recording)))
        noise = np.resize(np.roll(recording, -start), length)
        return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)

    def __call__(self, audio: np.ndarray, seed: int, epoch: int, index: int) -> Augmented:
        """Augment ``audio`` (T,) with the draws of (seed, epoch, index); T' <= T samples out."""
        cfg = self.config
        rng = np.random.default_rng([seed, epoch, index, STREAM])
        # Every parameter is drawn whether or not its transform fires, so changing one transform's
        # probability does not change the other transforms' parameters.
        fire = rng.random(4) < np.array([cfg.speed.prob, cfg.reverb.prob, cfg.noise.prob, cfg.band.prob])
        factor = rng.uniform(*cfg.speed.factor)
        decay, snr = rng.uniform(*cfg.reverb.decay_s), rng.uniform(*cfg.noise.snr_db)
        highpass, lowpass = rng.uniform(*cfg.band.highpass_hz), rng.uniform(*cfg.band.lowpass_hz)
        x = audio.astype(np.float64)
        if not fire[0]:
            factor = 1.0
        if factor != 1.0:
            x = change_speed(x, factor)[: len(audio)]
        clean = x.copy()
        if fire[1]:
            x = reverberate(x, decay, rng)
        if fire[2]:
            x = add_noise(x, self.noise(len(x), rng), snr)
        if fire[3]:
            x = band_limit(x, highpass, lowpass)
        return Augmented(audio=x.astype(np.float32), clean=clean.astype(np.float32), speed=factor)


def stretch_labels(labels: np.ndarray, frames: int) -> np.ndarray:
    """Nearest-frame resampling of frame labels (L,) to ``frames`` labels (speed perturbation)."""
    if frames == len(labels) or len(labels) == 0:
        return labels[:frames]
    source = np.minimum((np.arange(frames) * len(labels) / frames).astype(np.int64), len(labels) - 1)
    return labels[source]

