"""Speaker and channel effects in float numpy, quantised once at the end so output is bit-exact.

Vocal-tract scaling by resampling, band limits, room reverb, padding, noise at an SNR, level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from speechssl.corpora.mini.voices import Speaker
from speechssl.io.audio import SAMPLE_RATE


@dataclass
class ChannelConfig:
    """Per-utterance ranges shared by every speaker (see shared/DATA_NOTES.md)."""

    pad_min_s: float = 0.05
    pad_max_s: float = 0.5
    snr_spread_db: float = 6.0  # per-utterance SNR = speaker centre +- spread, clipped to range
    snr_min_db: float = 8.0
    snr_max_db: float = 40.0
    peak_min_dbfs: float = -18.0
    peak_max_dbfs: float = -3.0
    scale_jitter: float = 0.02  # per-utterance pitch/formant jitter (relative)


def resample_ratio(rate_in: float, rate_out: int = SAMPLE_RATE) -> Fraction:
    """The rational factor ``resample`` applies: ``rate_out / rate_in``, denominator <= 400."""
    return Fraction(rate_out / rate_in).limit_denominator(400)


def resample(samples: np.ndarray, rate_in: float, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling from ``rate_in`` (any real rate) to ``rate_out``: (T,) -> (T',)."""
    ratio = resample_ratio(rate_in, rate_out)
    if ratio == 1:
        return samples
    return signal.resample_poly(samples, ratio.numerator, ratio.denominator)


def shift_vocal_tract(samples: np.ndarray, rate: int, scale: float) -> np.ndarray:
    """Play ``samples`` ``scale`` times faster and resample to 16 kHz.

    Formants and pitch both move by ``scale`` and duration by 1/scale; the engine's speaking rate
    is set beforehand to compensate the duration change.
    """
    return resample(samples, rate * scale)


def vocal_tract_time_scale(rate: int, scale: float) -> float:
    """How ``shift_vocal_tract`` stretches time: engine second ``t`` lasts ``t * this`` seconds.

    Sample i of the engine's audio at ``rate`` Hz becomes sample ``i * ratio`` at 16 kHz
    (resample_poly is zero-phase, so nothing shifts); about 1 / scale.
    """
    return float(rate * resample_ratio(rate * scale)) / SAMPLE_RATE


def band_limit(samples: np.ndarray, highpass_hz: float, lowpass_hz: float) -> np.ndarray:
    """4th-order Butterworth high-pass and low-pass, like a cheap microphone and codec."""
    sos = np.concatenate(
        [
            signal.butter(4, highpass_hz, "highpass", fs=SAMPLE_RATE, output="sos"),
            signal.butter(4, lowpass_hz, "lowpass", fs=SAMPLE_RATE, output="sos"),
        ]
    )
    return signal.sosfilt(sos, samples)


def room_impulse(decay_s: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room impulse response (L,): direct path then exponentially decaying noise."""
    length = int(decay_s * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / decay_s)  # -60 dB at decay_s
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0
    impulse = 0.3 * tail / np.sqrt(np.sum(tail**2))
    impulse[0] = 1.0
    return impulse


def colored_noise(
    kind: str, length: int, rng: np.random.Generator, babble: np.ndarray
) -> np.ndarray:
    """Unit-RMS noise (length,): white, pink (1/f), brown (1/f^2) or babble from ``babble``."""
    if kind == "babble":
        if len(babble) == 0:
            raise ValueError("babble noise needs a non-empty babble recording")
        start = int(rng.integers(0, len(babble)))
        noise = np.resize(np.roll(babble, -start), length)
    else:
        white = rng.standard_normal(length)
        if kind == "white":
            noise = white
        else:
            exponent = {"pink": 0.5, "brown": 1.0}[kind]
            spectrum = np.fft.rfft(white)
            freqs = np.maximum(np.fft.rfftfreq(length, 1 / SAMPLE_RATE), 20.0)
            noise = np.fft.irfft(spectrum / freqs**exponent, n=length)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def rendered_length(
    raw_length: int, raw_rate: int, scale: float, room_length: int, pads: tuple[int, int]
) -> int:
    """Samples ``render`` makes of ``raw_length`` engine samples, without rendering: the resampled
    length, the kept reverberation tail (``room_length // 4``, 0 for a dry channel) and padding."""
    ratio = resample_ratio(raw_rate * scale)
    resampled = raw_length if ratio == 1 else math.ceil(raw_length * ratio)
    return pads[0] + resampled + room_length // 4 + pads[1]


def draw_pads(rng: np.random.Generator, config: ChannelConfig) -> tuple[int, int]:
    """Leading and trailing silence of one utterance in samples: ``render``'s first draws."""
    pads = rng.uniform(config.pad_min_s, config.pad_max_s, size=2)
    return int(pads[0] * SAMPLE_RATE), int(pads[1] * SAMPLE_RATE)


def render(
    raw: np.ndarray,
    raw_rate: int,
    speaker: Speaker,
    scale_jitter: float,
    rng: np.random.Generator,
    babble: np.ndarray,
    config: ChannelConfig,
    room: np.ndarray | None = None,
    pads: tuple[int, int] | None = None,
) -> np.ndarray:
    """Turn raw engine audio (T,) into a finished 16 kHz utterance (T',) of int16 samples.

    ``scale_jitter`` multiplies the speaker's formant scale for this utterance; ``room`` is the
    speaker's impulse response (None for a dry channel). All randomness comes from ``rng``;
    ``pads`` are ``draw_pads(rng, config)`` when the caller drew them already (to know the timing).
    """
    x = raw / max(float(np.max(np.abs(raw))), 1e-9)
    x = shift_vocal_tract(x, raw_rate, speaker.formant_scale * scale_jitter)
    x = band_limit(x, speaker.highpass_hz, speaker.lowpass_hz)
    if room is not None:
        x = signal.fftconvolve(x, room)[: len(x) + len(room) // 4]
    lead, trail = draw_pads(rng, config) if pads is None else pads
    x = np.concatenate([np.zeros(lead), x, np.zeros(trail)])
    speech_rms = float(np.sqrt(np.mean(x**2)))
    snr = np.clip(
        speaker.snr_db + rng.uniform(-1, 1) * config.snr_spread_db,
        config.snr_min_db,
        config.snr_max_db,
    )
    x = x + colored_noise(speaker.noise, len(x), rng, babble) * speech_rms * 10 ** (-snr / 20)
    peak_dbfs = rng.uniform(config.peak_min_dbfs, config.peak_max_dbfs)
    x = x * (10 ** (peak_dbfs / 20) / max(float(np.max(np.abs(x))), 1e-9))
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
