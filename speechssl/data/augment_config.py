"""Typed config of the on-the-fly pre-training augmentation (``data.augment``; speechssl.data.augment).

Kept apart from the transforms so that loading a config does not import scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechssl.config import ConfigError
from speechssl.io.audio import SAMPLE_RATE

NOISE_KINDS = ("white", "pink", "brown")


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
