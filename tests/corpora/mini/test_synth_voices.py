"""Speakers, plans and channel effects of the synthetic corpus (no full corpus needed)."""

import numpy as np
import pytest

from speechssl.corpora.mini.channel import (
    ChannelConfig,
    band_limit,
    colored_noise,
    render,
    resample,
    room_impulse,
)
from speechssl.corpora.mini.corpus import draw_speakers
from speechssl.corpora.mini.plans import get_plan
from speechssl.corpora.mini.voices import (
    Speaker,
    SynthesisError,
    check_flite_voices,
    draw_speaker,
    espeak_data_dir,
    synthesize,
)


def test_mini_plan_speakers():
    plan = get_plan("mini")
    speakers = draw_speakers(plan, seed=0)
    ids = {split: [s.spk_id for _, s in pairs] for split, pairs in speakers.items()}
    assert len(ids["pretrain"]) >= 40
    assert set(ids["train"]) < set(ids["pretrain"])
    assert not (set(ids["dev"]) | set(ids["test"])) & set(ids["pretrain"])
    train_voices = {s.voice for _, s in speakers["pretrain"]}
    held_out = {s.voice for split in ("dev", "test") for _, s in speakers[split]}
    assert "awb" in held_out and not train_voices & held_out
    all_ids = [i for split in ids.values() for i in split]
    assert all(len(i) == len(all_ids[0]) for i in all_ids)  # fixed width: sorts consistently
    with pytest.raises(ValueError, match="unknown corpus plan 'huge'"):
        get_plan("huge")


def test_espeak_variants_are_really_used(tmp_path):
    one = draw_speaker("spk001", "espeak", "en-us", np.random.default_rng(1))
    two = draw_speaker("spk002", "espeak", "en-us", np.random.default_rng(2))
    path = espeak_data_dir(tmp_path, [one, two])
    text = ["THE BIRCH CANOE SLID ON THE SMOOTH PLANKS"]
    ((a, rate_a, _),) = synthesize(one, text, [1.0], path)
    ((b, _, _),) = synthesize(two, text, [1.0], path)
    ((a2, _, _),) = synthesize(one, text, [1.0], path)
    assert rate_a == 22050 and len(a) > rate_a  # over a second of speech
    assert np.array_equal(a, a2)
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_resample_and_filters():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(22050)
    assert abs(len(resample(x, 22050)) - 16000) <= 1
    assert abs(len(resample(x, 22050 * 1.1)) - 16000 / 1.1) <= 2
    tone = np.sin(2 * np.pi * 7500 * np.arange(16000) / 16000)
    assert np.std(band_limit(tone, 100, 4000)[4000:]) < 0.01 * np.std(tone)
    impulse = room_impulse(0.3, rng)
    assert impulse[0] == 1.0 and len(impulse) == 4800


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble"])
def test_noise_is_unit_rms(kind):
    rng = np.random.default_rng(0)
    noise = colored_noise(kind, 16000, rng, babble=rng.standard_normal(5000))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)


def test_pink_noise_has_more_low_frequency_energy():
    spectrum = np.abs(
        np.fft.rfft(colored_noise("pink", 16000, np.random.default_rng(0), np.zeros(0)))
    )
    assert spectrum[50:200].mean() > 5 * spectrum[5000:7000].mean()


def test_render_level_padding_and_determinism():
    config = ChannelConfig()
    speaker = Speaker(noise="pink", snr_db=20.0, formant_scale=1.1, reverb_s=0.2)
    raw = np.sin(2 * np.pi * 200 * np.arange(22050) / 22050)
    room = room_impulse(0.2, np.random.default_rng(3))
    out = render(raw, 22050, speaker, 1.0, np.random.default_rng(5), np.zeros(0), config, room)
    again = render(raw, 22050, speaker, 1.0, np.random.default_rng(5), np.zeros(0), config, room)
    assert out.dtype == np.int16 and np.array_equal(out, again)
    peak_dbfs = 20 * np.log10(np.abs(out).max() / 32767)
    assert config.peak_min_dbfs - 0.1 <= peak_dbfs <= config.peak_max_dbfs + 0.1
    speech = 16000 / 1.1
    assert speech + 0.1 * 16000 <= len(out) <= speech + 1.0 * 16000 + 0.2 * 16000 / 4 + 2


def test_unknown_flite_voice_is_an_error():
    # flite itself would silently speak with its default voice instead.
    with pytest.raises(SynthesisError, match="flite has no voice 'nosuch'"):
        check_flite_voices([Speaker(spk_id="spk009", engine="flite", voice="nosuch")])
    check_flite_voices([Speaker(engine="flite", voice="awb")])
