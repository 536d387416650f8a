"""Audio reading with the checks every stage needs: 16 kHz, mono, non-empty, decodable, and
samples that are finite and not all zero (NaN/Inf or silent files poison every loss)."""

from __future__ import annotations

import os

import numpy as np
import soundfile

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file and says what is wrong."""


def read_audio(path: str | os.PathLike, expected_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a mono audio file as float32 samples in [-1, 1].

    Returns:
        samples: shape (num_samples,), float32.
    Raises:
        AudioError: missing, undecodable, empty, multi-channel or wrong sample-rate file, or
            samples that are NaN/Inf or all zero (``sample_problem``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: audio file not found")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path}: empty audio file (0 bytes)")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for corrupt data
        raise AudioError(f"{path}: cannot decode audio ({error})") from None
    if rate != expected_rate:
        raise AudioError(f"{path}: sample rate {rate} Hz, expected {expected_rate} Hz (resample it)")
    if samples.shape[1] != 1:
        raise AudioError(f"{path}: {samples.shape[1]} channels, expected mono (downmix it)")
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    _, problem = sample_problem(samples[:, 0])
    if problem:
        raise AudioError(f"{path}: {problem}")
    return samples[:, 0]


def sample_problem(samples: np.ndarray) -> tuple[str, str]:
    """(``non-finite audio`` or ``silent audio``, one-line detail) of decoded ``samples`` (shape
    (num_samples,)) that cannot be used, or ("", "") when they are fine.

    Non-finite samples (NaN/Inf, possible in float WAV files) turn every loss and feature into
    NaN; an all-zero file has no signal to learn from (and a zero variance to normalise by).
    """
    finite = np.isfinite(samples)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        kind = "NaN" if np.isnan(samples[bad[0]]) else "Inf"
        return "non-finite audio", (
            f"{len(bad)} non-finite sample(s) ({kind} first at sample {bad[0]}); re-encode the "
            "file or drop it with `speechssl data validate DIR --fix OUT`"
        )
    if not samples.any():
        return "silent audio", (
            "silent audio (every sample is 0); drop it with `speechssl data validate DIR --fix OUT`"
        )
    return "", ""


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """Header facts without decoding: (sample_rate, channels, num_frames). Raises AudioError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: audio file not found")
    try:
        info = soundfile.info(path)
    except Exception as error:
        raise AudioError(f"{path}: cannot decode audio ({error})") from None
    return info.samplerate, info.channels, info.frames
