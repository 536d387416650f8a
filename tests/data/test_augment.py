"""Pre-training augmentation: each transform's effect on a known signal, determinism for a seed,
resume mid-epoch, labels under speed perturbation, and the teacher seeing clean audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechssl.config import ConfigError, from_dict
from speechssl.data.augment import Augmenter
from speechssl.data.augment_config import AugmentConfig
from speechssl.data.batch import AudioBatch
from speechssl.data.dataset import AudioDataset, stretch_labels
from speechssl.data.sampler import BucketBatchSampler
from speechssl.models.backbone import build_backbone
from speechssl.models.config import load_backbone_config
from speechssl.objectives import build_objective, objective_config
from speechssl.train.config import TrainerConfig
from speechssl.train.run import batch_stream
from tests.data.tiny_dirs import make_data_dir

RATE = 16000
OFF = {"prob": 0.0}


def only(name: str, **values) -> AugmentConfig:
    """An enabled AugmentConfig with just transform ``name`` always on."""
    sections = {k: dict(OFF) for k in ("speed", "reverb", "noise", "band")}
    sections[name] = {"prob": 1.0, **values}
    return from_dict(AugmentConfig, {"enabled": True, **sections})


def tones(*freqs: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


def power_at(x: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[np.abs(freqs - freq) < 30].sum())


def db(ratio: float) -> float:
    return 10 * np.log10(ratio)


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_noise_is_added_at_the_drawn_snr(kind):
    x = tones(440, 1200)
    for index in range(5):
        out = Augmenter(only("noise", snr_db=[5.0, 20.0], kinds=[kind]))(x, seed=3, epoch=1, index=index)
        added = out.audio.astype(np.float64) - x
        snr = db(np.mean(x.astype(np.float64) ** 2) / np.mean(added**2))
        assert 5.0 - 0.5 <= snr <= 20.0 + 0.5
        fixed = Augmenter(only("noise", snr_db=[12.0, 12.0], kinds=[kind]))(x, seed=3, epoch=1, index=index)
        added = fixed.audio.astype(np.float64) - x
        assert abs(db(np.mean(x.astype(np.float64) ** 2) / np.mean(added**2)) - 12.0) < 0.5
        assert np.array_equal(fixed.clean, x)


def test_noise_from_a_data_dir(tmp_path):
    noise_dir = make_data_dir(tmp_path / "noise", num_utts=3, min_len=4000, max_len=6000)
    x = tones(300)
    out = Augmenter(only("noise", snr_db=[0.0, 0.0], data_dir=str(noise_dir)))(x, seed=1, epoch=1, index=0)
    added = out.audio.astype(np.float64) - x
    assert abs(db(np.mean(x.astype(np.float64) ** 2) / np.mean(added**2))) < 0.5
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "wav.scp").write_text("")
    with pytest.raises(ConfigError, match="no noise recording"):
        Augmenter(only("noise", data_dir=str(empty)))


def test_speed_changes_length_and_pitch():
    x = tones(1000)
    faster = Augmenter(only("speed", factor=[1.25, 1.25]))(x, seed=1, epoch=1, index=0)
    assert len(faster.audio) == round(len(x) / 1.25) == len(faster.clean) and faster.speed == 1.25
    assert power_at(faster.audio, 1250) > 100 * power_at(faster.audio, 1000)
    slower = Augmenter(only("speed", factor=[0.8, 0.8]))(x, seed=1, epoch=1, index=0)
    assert len(slower.audio) == len(x)  # 1.25x longer, cut back to the crop the sampler packed
    assert power_at(slower.audio, 800) > 100 * power_at(slower.audio, 1000)
    # The teacher's clean copy is speed-perturbed too, so its frames line up with the student's.
    assert np.array_equal(slower.audio, slower.clean)


def test_low_pass_removes_a_high_tone_and_high_pass_a_low_one():
    x = tones(150, 1000, 6000)
    out = Augmenter(only("band", highpass_hz=[400.0, 400.0], lowpass_hz=[3000.0, 3000.0]))(x, 1, 1, 0).audio
    assert db(power_at(x, 6000) / power_at(out, 6000)) > 40
    assert db(power_at(x, 150) / power_at(out, 150)) > 20
    assert abs(db(power_at(x, 1000) / power_at(out, 1000))) < 1.0


def test_reverb_adds_a_decaying_tail_at_the_same_level():
    x = np.zeros(RATE, dtype=np.float32)
    x[1000] = 1.0
    out = Augmenter(only("reverb", decay_s=[0.5, 0.5]))(x, 1, 1, 0).audio.astype(np.float64)
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(x.astype(np.float64) ** 2)), rel=1e-5)
    early, late = np.sum(out[1100:2600] ** 2), np.sum(out[6000:7500] ** 2)
    assert early > 10 * late > 0  # energy keeps arriving after the direct path, decaying
    assert np.abs(out[:1000]).max() < 1e-9  # causal


def test_draws_are_a_function_of_seed_epoch_and_index():
    cfg = from_dict(AugmentConfig, {"enabled": True, "speed": {"prob": 0.5}, "reverb": {"prob": 0.5},
                                    "noise": {"prob": 0.5}, "band": {"prob": 0.5}})
    x = tones(500, 2500)
    first, again = Augmenter(cfg)(x, 7, 2, 5), Augmenter(cfg)(x, 7, 2, 5)
    assert np.array_equal(first.audio, again.audio) and first.speed == again.speed
    others = [Augmenter(cfg)(x, 7, 3, 5), Augmenter(cfg)(x, 7, 2, 6), Augmenter(cfg)(x, 8, 2, 5)]
    assert all(len(o.audio) != len(first.audio) or not np.array_equal(o.audio, first.audio) for o in others)
    with pytest.raises(ConfigError, match="speed.factor"):
        from_dict(AugmentConfig, {"speed": {"factor": [1.2, 0.9]}})
    with pytest.raises(ConfigError, match="noise.kinds"):
        from_dict(AugmentConfig, {"noise": {"kinds": ["purple"]}})


def test_labels_follow_speed_perturbation():
    assert stretch_labels(np.arange(4), 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert stretch_labels(np.arange(8), 4).tolist() == [0, 2, 4, 6]


def test_dataset_augments_reproducibly_and_resumes_mid_epoch(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=10, min_len=6000, max_len=9000)
    cfg = from_dict(AugmentConfig, {"enabled": True, "speed": {"prob": 0.5}})
    labels = {f"spk{i % 2}-utt{i:03d}": np.arange(60) % 7 for i in range(10)}

    def dataset():
        return AudioDataset(data, labels=labels, label_rate=100.0, max_sample_size=5000, seed=3, augment=cfg)

    one, two = dataset(), dataset()
    one.set_epoch(2), two.set_epoch(2)
    for i in range(10):
        a, b = one[i], two[i]
        assert np.array_equal(a.audio, b.audio) and np.array_equal(a.labels, b.labels)
        assert len(a.clean_audio) == len(a.audio) <= 5000
        assert abs(len(a.labels) - len(a.audio) * 100 / RATE) <= 1.5  # HuBERT's alignment allows 2 frames
    changed = sum(not np.array_equal(one[i].audio, one.clean_example(i).audio) for i in range(10))
    assert 0 < changed < 10  # speed perturbation drawn with probability 0.5
    trainer = TrainerConfig(num_workers=0, max_tokens=12000, seed=3, max_epochs=1, device="cpu")
    sampler = BucketBatchSampler(one.sizes, trainer.max_tokens, trainer.seed, 0, 1)
    whole = [batch for _, _, batch in batch_stream(one, sampler, trainer, torch.device("cpu"), 1, 0)]
    resumed = [batch for _, _, batch in batch_stream(two, sampler, trainer, torch.device("cpu"), 1, 2)]
    assert len(resumed) == len(whole) - 2 > 0
    for expected, batch in zip(whole[2:], resumed):
        assert expected.utt_ids == batch.utt_ids
        assert torch.equal(expected.audio, batch.audio) and torch.equal(expected.clean_audio, batch.clean_audio)
        assert torch.equal(expected.labels, batch.labels)
    plain = AudioDataset(data, max_sample_size=5000, seed=3)
    assert plain[0].clean_audio is None


def test_teacher_sees_the_clean_audio():
    """data2vec's targets depend on ``clean_audio`` only; the student's predictions on ``audio``."""
    backbone = build_backbone(load_backbone_config("tiny", ["num_layers=2", "dropout=0.0", "layerdrop=0.0"]))
    objective = build_objective("data2vec", backbone, objective_config("data2vec", {"average_top_k_layers": 2}))
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 16000, generator=generator)
    noisy = clean + 0.5 * torch.randn(2, 16000, generator=generator)
    lengths = torch.tensor([16000, 12000])

    def logs(audio, clean_audio):
        torch.manual_seed(5)  # the same span masks in every call
        return objective(AudioBatch(audio=audio, audio_lengths=lengths, clean_audio=clean_audio)).logs

    reference = logs(clean, None)
    augmented = logs(noisy, clean)
    assert augmented["target_var"] == reference["target_var"]
    assert augmented["pred_var"] != reference["pred_var"]
    assert logs(noisy, None)["target_var"] != reference["target_var"]
    batch = AudioBatch(audio=noisy, audio_lengths=lengths, clean_audio=clean)
    front = backbone.front_end(batch.audio, batch.audio_lengths)
    expected = backbone.front_end(clean, lengths).projected
    assert torch.equal(objective.teacher_input(batch, front), expected)
