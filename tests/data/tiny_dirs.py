"""Tiny generated Kaldi data dirs (random-noise wav files) for dataset, sampler and trainer tests.

Audio is float32 WAV so a test can plant a NaN sample; nothing is committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from speechssl.io.kaldi_dir import DataDir


def make_data_dir(
    root: Path,
    num_utts: int = 12,
    min_len: int = 2000,
    max_len: int = 9000,
    seed: int = 0,
    nan_utts: tuple[str, ...] = (),
) -> Path:
    """Write ``root/audio/*.wav`` and a data dir ``root/data`` (wav.scp, text, utt2num_samples).

    Utterance ``i`` is ``spk{i % 2}-utt{i:03d}`` (white noise); ``nan_utts`` get one NaN sample.
    """
    rng = np.random.default_rng(seed)
    data = DataDir()
    (root / "audio").mkdir(parents=True, exist_ok=True)
    for i in range(num_utts):
        utt = f"spk{i % 2}-utt{i:03d}"
        length = int(rng.integers(min_len, max_len + 1))
        audio = (0.1 * rng.standard_normal(length)).astype(np.float32)
        if utt in nan_utts:
            audio[length // 2] = np.nan
        path = root / "audio" / f"{utt}.wav"
        soundfile.write(path, audio, 16000, subtype="FLOAT")
        data.wav_scp[utt] = str(path)
        data.text[utt] = "HELLO WORLD" if i % 2 else "A B"
        data.utt2spk[utt] = f"spk{i % 2}"
        data.utt2num_samples[utt] = length
    data.save(root / "data")
    return root / "data"
