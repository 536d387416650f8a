"""Fixtures of the feature tests: a tiny data dir of synthetic 16 kHz FLAC (chirps + noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechssl.io.kaldi_dir import DataDir

DURATIONS = [0.62, 1.0, 0.41, 1.33, 0.8]


def synthetic_audio(seconds: float, seed: int) -> np.ndarray:
    """A chirp with a tone burst and a little noise, shape (samples,) float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    start = 150 + 100 * seed
    wave = 0.3 * np.sin(2 * np.pi * (start + 400 * t) * t)
    wave += 0.1 * np.sin(2 * np.pi * 1500 * t) * (t > seconds / 2)
    wave += 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """Data dir with 5 utterances (0.41-1.33 s) written as 16-bit FLAC; wav.scp paths absolute."""
    data = DataDir()
    for index, seconds in enumerate(DURATIONS):
        utt = f"spk{index % 2}-utt{index}"
        path = tmp_path / "audio" / f"{utt}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        samples = synthetic_audio(seconds, index)
        soundfile.write(path, samples, 16000, subtype="PCM_16")
        data.wav_scp[utt] = str(path)
        data.utt2spk[utt] = utt.split("-")[0]
        data.utt2num_samples[utt] = len(samples)
        data.text[utt] = "HELLO WORLD" if index % 2 else "A TEST"
    data.save(tmp_path / "data")
    return tmp_path / "data"
