import numpy as np
import pytest
import soundfile

from speechssl.io.audio import AudioError, audio_info, read_audio


def test_reads_mono_16k(tmp_path):
    samples = (np.sin(np.arange(1600) / 5) * 0.5).astype(np.float32)
    soundfile.write(tmp_path / "a.flac", samples, 16000, subtype="PCM_16")
    audio = read_audio(tmp_path / "a.flac")
    assert audio.dtype == np.float32 and audio.shape == (1600,)
    assert np.abs(audio - samples).max() < 1e-4
    assert audio_info(tmp_path / "a.flac") == (16000, 1, 1600)


@pytest.mark.parametrize(
    "rate, channels, frames, message",
    [(8000, 1, 800, "sample rate 8000 Hz"), (16000, 2, 800, "2 channels"), (16000, 1, 0, "empty audio")],
)
def test_bad_audio_is_named(tmp_path, rate, channels, frames, message):
    path = tmp_path / "bad.wav"
    soundfile.write(path, np.zeros((frames, channels), np.float32), rate)
    with pytest.raises(AudioError, match=message) as error:
        read_audio(path)
    assert str(path) in str(error.value)


def test_corrupt_and_missing(tmp_path):
    (tmp_path / "c.flac").write_bytes(b"fLaC not really")
    with pytest.raises(AudioError, match="cannot decode"):
        read_audio(tmp_path / "c.flac")
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.flac")
