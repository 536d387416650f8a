"""On-the-fly pre-training augmentation of the student's input (Sriram et al. 2022, Wav2Vec-Aug).

Speed perturbation, reverberation, additive noise at a random SNR and band limits, each drawn with
its probability from a generator seeded by (seed, epoch, utterance index), so resumable mid-epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from speechssl.config import ConfigError
from speechssl.data.augment_config import AugmentConfig
from speechssl.corpora.mini.channel import band_limit, colored_noise, resample, room_impulse
from speechssl.io.audio import SAMPLE_RATE, AudioError, read_audio
from speechssl.io.kaldi_dir import read_table

STREAM = 0xA06  # separates the augmentation draws from the crop draws of the same (seed, epoch, index)


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

