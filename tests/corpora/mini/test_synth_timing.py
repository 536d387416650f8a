"""Phone timings of the synthetic corpus: engine output parsing, the time mapping, and the
alignments checked against the audio they describe."""

import csv
import shutil

import numpy as np
import pytest
import soundfile

from speechssl.data.phones import PhoneSegment, read_phone_alignments
from speechssl.corpora.mini import generate, get_plan
from speechssl.corpora.mini.channel import (
    ChannelConfig,
    draw_pads,
    render,
    rendered_length,
    room_impulse,
    vocal_tract_time_scale,
)
from speechssl.corpora.mini.generate import utterance_phones
from speechssl.corpora.mini.plans import SPLITS
from speechssl.corpora.mini.timing import corpus_alignment, parse_festival_segs, parse_flite_durations
from speechssl.corpora.mini.voices import Speaker, synthesize
from speechssl.io.audio import SAMPLE_RATE
from speechssl.io.kaldi_dir import DataDir

SENTENCES = ["THE BIRCH CANOE SLID ON THE SMOOTH PLANKS", "RICE IS OFTEN SERVED IN ROUND BOWLS"]


def test_parse_engine_outputs():
    assert parse_flite_durations("pau:0.184 dh:0.236 ax:0.3\n", "x") == (
        ("pau", 0.184), ("dh", 0.236), ("ax", 0.3),
    )  # fmt: skip
    segs = "separator ;\nnfields 1\n#\n0.2200 100 pau\n0.3415 100 s\n\n0.4926 100 ae\n"
    assert parse_festival_segs(segs, "x") == (("pau", 0.22), ("s", 0.3415), ("ae", 0.4926))
    with pytest.raises(ValueError, match="flite -psdur printed 'dh', not PHONE:END"):
        parse_flite_durations("pau:0.1 dh", "x")
    with pytest.raises(ValueError, match="x: festival saved no segments"):
        parse_festival_segs("#\n", "x")


def test_corpus_alignment_by_hand():
    # engine: pau to 0.2, hh to 0.3, ax to 0.35, pau to 0.6 but the audio stops at 0.55;
    # time halves (scale 0.5), 0.1 s of leading padding, the utterance lasts 0.6 s.
    engine = (("pau", 0.2), ("hh", 0.3), ("ax", 0.35), ("pau", 0.6))
    segments = corpus_alignment(engine, 0.55, 0.5, 0.1, 0.6)
    assert segments == [
        PhoneSegment("SIL", 0.0, 0.2),
        PhoneSegment("HH", 0.2, 0.25),
        PhoneSegment("AH", 0.25, 0.275),
        PhoneSegment("SIL", 0.275, 0.6),
    ]
    # a phone shorter than the rounding disappears; boundaries stay contiguous
    tiny = corpus_alignment((("pau", 0.1), ("t", 0.1004), ("s", 0.2)), 0.3, 1.0, 0.0, 0.3)
    assert [s.phone for s in tiny] == ["SIL", "S", "SIL"] and tiny[1].start == 0.1
    with pytest.raises(ValueError, match="'qq' is not an ARPAbet phone"):
        corpus_alignment((("qq", 0.1),), 0.2, 1.0, 0.0, 0.2)


def _speech_edges(x: np.ndarray, rate: int, below_peak_db: float = 35.0) -> tuple[float, float]:
    """First and last 5 ms frame within ``below_peak_db`` of the loudest one (seconds)."""
    hop = rate // 200
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    active = np.flatnonzero(level > level.max() - below_peak_db)
    return active[0] * hop / rate, (active[-1] + 1) * hop / rate


@pytest.mark.parametrize(
    "engine, voice", [("flite", "slt"), ("flite", "awb"), ("flite", "kal16"), ("festival", "kal_diphone")]
)
def test_alignment_follows_the_audio(engine, voice):
    """Noise-free, dry renders with a strong vocal-tract shift and a slow speaking rate: the engine's
    speech end lands where the rendered speech ends, and the last aligned phone ends within 20 ms
    of the last audio 40 dB below the peak (festival's ked_diphone, left out here, ends its last
    phones up to ~70 ms after its audio does: docs/alignments.md)."""
    scale = 1.12
    speaker = Speaker(engine=engine, voice=voice, formant_scale=scale)
    quiet = ChannelConfig(snr_min_db=200.0, snr_max_db=200.0, snr_spread_db=0.0)
    raws = synthesize(speaker, SENTENCES, [0.85 / scale] * len(SENTENCES), None)
    for k, raw in enumerate(raws):
        rng = np.random.default_rng(k)
        pads = draw_pads(rng, quiet)
        x = render(raw.samples, raw.rate, speaker, 1.0, rng, np.zeros(0), quiet, None, pads)
        assert rendered_length(len(raw.samples), raw.rate, scale, 0, pads) == len(x)
        segments = utterance_phones(raw, scale, pads[0], len(x))
        assert segments[0].start == 0.0 and segments[-1].end == round(len(x) / SAMPLE_RATE, 3)
        assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
        _, raw_end = _speech_edges(raw.samples, raw.rate)
        start, end = _speech_edges(x.astype(np.float64), SAMPLE_RATE)
        mapped = pads[0] / SAMPLE_RATE + raw_end * vocal_tract_time_scale(raw.rate, scale)
        assert mapped == pytest.approx(end, abs=0.01)
        last_phone = [s for s in segments if s.phone != "SIL"][-1]
        _, faint_end = _speech_edges(x.astype(np.float64), SAMPLE_RATE, below_peak_db=40.0)
        assert last_phone.end == pytest.approx(faint_end, abs=0.02), (voice, SENTENCES[k])
        assert segments[0].phone == "SIL" and segments[0].end >= pads[0] / SAMPLE_RATE - 1e-3
        assert segments[0].end == pytest.approx(start, abs=0.06)  # weak first consonants


def test_rendered_length_with_a_room():
    speaker = Speaker(engine="flite", voice="slt", formant_scale=0.93, reverb_s=0.3)
    (raw,) = synthesize(speaker, SENTENCES[:1], [1.0], None)
    room = room_impulse(0.3, np.random.default_rng(0))
    rng = np.random.default_rng(3)
    pads = draw_pads(rng, ChannelConfig())
    x = render(raw.samples, raw.rate, speaker, 1.02, rng, np.zeros(0), ChannelConfig(), room, pads)
    assert rendered_length(len(raw.samples), raw.rate, 0.93 * 1.02, len(room), pads) == len(x)


def _engines(root):
    with open(root / "local" / "speakers.tsv") as f:
        return {row["spk_id"]: row["engine"] for row in csv.DictReader(f, delimiter="\t")}


def test_smoke_alignments_match_their_audio(smoke_corpus):
    engines = _engines(smoke_corpus)
    for split in SPLITS:
        data = DataDir.load(smoke_corpus / split)
        alignments = read_phone_alignments(smoke_corpus / split)
        timed = {u for u in data.wav_scp if engines[data.utt2spk[u]] != "espeak"}
        assert set(alignments) == timed and timed  # espeak-ng utterances are left out
        for utt, segments in alignments.items():
            assert segments[-1].end == pytest.approx(data.utt2dur[utt], abs=1e-3)
            x, _ = soundfile.read(data.wav_scp[utt], dtype="float64")
            hop = SAMPLE_RATE // 100
            level = 10 * np.log10(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, 1) + 1e-20)
            centres = (np.arange(len(level)) + 0.5) / 100
            silent = np.zeros(len(level), bool)
            for s in segments:
                if s.phone == "SIL":
                    silent |= (centres >= s.start) & (centres < s.end)
            # noise (SNR >= 8 dB) and reverberation tails fill the silences, speech is louder
            assert level[~silent].mean() > level[silent].mean() + 10, utt


def test_phones_are_added_to_an_existing_corpus_without_touching_audio(smoke_corpus, tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(smoke_corpus, copy, symlinks=True)
    audio = {p: p.read_bytes() for p in (copy / "audio").rglob("*.flac")}
    (copy / "dev" / "phones").unlink()
    digest = (copy / "local" / "digest.txt").read_text()
    generate(get_plan("smoke"), 0, copy, nj=1)
    for split in SPLITS:
        assert (copy / split / "phones").read_bytes() == (smoke_corpus / split / "phones").read_bytes()
    assert (copy / "local" / "digest.txt").read_text() == digest
    assert {p: p.read_bytes() for p in (copy / "audio").rglob("*.flac")} == audio
    # audio the engines would not make now (another engine version): refused, named
    (copy / "dev" / "phones").unlink()
    flac = sorted((copy / "audio" / "dev").rglob("*.flac"))
    timed = [p for p in flac if _engines(copy)[p.parent.name] != "espeak"][0]
    samples, _ = soundfile.read(timed, dtype="int16")
    soundfile.write(timed, samples[:-1], SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    with pytest.raises(ValueError, match=f"utterance {timed.stem}: the engine now gives audio"):
        generate(get_plan("smoke"), 0, copy, nj=1)
