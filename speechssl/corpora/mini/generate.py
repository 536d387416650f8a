"""Render a corpus plan into FLAC files, Kaldi data dirs, LM text and a digest, in parallel.

Randomness comes from (seed, split, utterance number): output is bit-identical for any nj.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from speechssl.progress import progress_bar

from speechssl.data.phones import PHONES_FILE, PhoneSegment, write_phone_alignments
from speechssl.corpora.mini.channel import (
    ChannelConfig,
    draw_pads,
    render,
    rendered_length,
    resample,
    room_impulse,
    vocal_tract_time_scale,
)
from speechssl.corpora.mini.corpus import (
    STREAM_BABBLE,
    STREAM_ROOM,
    STREAM_UTT,
    Utterance,
    WorkUnit,
    assign_utterances,
    draw_speakers,
)
from speechssl.corpora.mini.plans import SPLITS, CorpusPlan, plan_fingerprint
from speechssl.corpora.mini.texts import build_pools
from speechssl.corpora.mini.timing import corpus_alignment
from speechssl.corpora.mini.voices import (
    EngineAudio,
    Speaker,
    SynthesisError,
    check_flite_voices,
    draw_speaker,
    espeak_data_dir,
    synthesize,
)
from speechssl.io.atomic import atomic_path, atomic_write_text
from speechssl.io.audio import SAMPLE_RATE
from speechssl.io.kaldi_dir import DataDir, read_table, write_table

logger = logging.getLogger(__name__)
BABBLE_TALKERS = 6
TIMED_ENGINES = ("flite", "festival")  # espeak-ng gives no phone timings without mbrola


@dataclass
class WorkerContext:
    """What every worker needs besides its work unit."""

    out: Path = Path("data")
    seed: int = 0
    espeak_path: Path = Path("data/local")
    babble: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,) at 16 kHz
    channel: ChannelConfig = field(default_factory=ChannelConfig)


_CONTEXT: WorkerContext | None = None


def _init_worker(context: WorkerContext) -> None:
    global _CONTEXT
    _CONTEXT = context


def audio_path(out: Path, split: str, utt_id: str) -> Path:
    """Where an utterance's FLAC lives: ``out/audio/<split>/<spk>/<utt>.flac``."""
    return out / "audio" / split / utt_id.split("-")[0] / f"{utt_id}.flac"


def samples_sha256(samples: np.ndarray) -> str:
    """sha256 of int16 samples (T,) as little-endian bytes."""
    return hashlib.sha256(samples.astype("<i2").tobytes()).hexdigest()


@dataclass(frozen=True)
class RenderedUtterance:
    """What a worker returns for one utterance (``phones``: None for an engine without timings)."""

    utt_id: str
    num_samples: int
    sha256: str
    phones: list[PhoneSegment] | None


def _utterance_draws(
    context: WorkerContext, unit: WorkUnit, utterances: list[Utterance]
) -> list[tuple[np.random.Generator, float, float]]:
    """Per utterance: its generator, speaking-rate jitter and vocal-tract scale jitter (drawn)."""
    split_code = SPLITS.index(unit.split)
    draws = []
    for utt in utterances:
        rng = np.random.default_rng([context.seed, STREAM_UTT, split_code, utt.number])
        rate = float(rng.uniform(0.95, 1.05))
        scale = 1 + float(rng.uniform(-1, 1)) * context.channel.scale_jitter
        draws.append((rng, rate, scale))
    return draws


def render_unit(unit: WorkUnit) -> list[RenderedUtterance]:
    """Synthesise and write one unit's missing utterances, and time the phones of every utterance
    whose engine gives timings (existing files are re-timed by the engine, not re-rendered)."""
    context = _CONTEXT
    speaker = unit.speaker
    timed = speaker.engine in TIMED_ENGINES
    existing: dict[str, np.ndarray] = {}
    for utt in unit.utterances:
        path = audio_path(context.out, unit.split, utt.utt_id)
        if path.is_file():  # written atomically, so an existing file is complete
            existing[utt.utt_id] = soundfile.read(path, dtype="int16")[0]
    results = [
        RenderedUtterance(u, len(x), samples_sha256(x), None)
        for u, x in existing.items()
        if not timed
    ]
    todo = [u for u in unit.utterances if timed or u.utt_id not in existing]
    if not todo:
        return results
    draws = _utterance_draws(context, unit, todo)
    # The engine speaks slower by the vocal-tract scale, which resampling then speeds up again.
    rates = [speaker.rate * rate / (speaker.formant_scale * scale) for _, rate, scale in draws]
    raws = synthesize(speaker, [u.text for u in todo], rates, context.espeak_path)
    room = None
    if speaker.reverb_s > 0:
        room_rng = np.random.default_rng([context.seed, STREAM_ROOM, unit.speaker_number])
        room = room_impulse(speaker.reverb_s, room_rng)
    for utt, raw, (rng, _, jitter) in zip(todo, raws, draws):
        pads = draw_pads(rng, context.channel)
        samples = existing.get(utt.utt_id)
        if samples is None:
            samples = render(
                raw.samples, raw.rate, speaker, jitter, rng, context.babble, context.channel,
                room, pads,
            )  # fmt: skip
            with atomic_path(audio_path(context.out, unit.split, utt.utt_id)) as tmp:
                soundfile.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
        else:
            _check_retimed(utt, raw, speaker.formant_scale * jitter, room, pads, len(samples))
        phones = utterance_phones(raw, speaker.formant_scale * jitter, pads[0], len(samples))
        results.append(RenderedUtterance(utt.utt_id, len(samples), samples_sha256(samples), phones))
    return results


def _check_retimed(
    utt: Utterance, raw: EngineAudio, scale: float, room: np.ndarray | None,
    pads: tuple[int, int], num_samples: int,
) -> None:  # fmt: skip
    """Refuse to time an existing file with engine output that would not have made it."""
    room_length = 0 if room is None else len(room)
    expected = rendered_length(len(raw.samples), raw.rate, scale, room_length, pads)
    if expected != num_samples:
        raise SynthesisError(
            f"utterance {utt.utt_id}: the engine now gives audio of {expected} samples after the "
            f"channel, its FLAC has {num_samples}; the engine changed since the corpus was made, "
            "so its timings would not fit: re-make the corpus in a new folder"
        )


def utterance_phones(
    raw: EngineAudio, vocal_tract_scale: float, lead_samples: int, num_samples: int
) -> list[PhoneSegment] | None:
    """The engine's phones in the timeline of the utterance ``render`` makes of ``raw`` with
    that vocal-tract scale, leading padding and final length; None for an engine without timings."""
    if raw.phones is None:
        return None
    return corpus_alignment(
        raw.phones,
        len(raw.samples) / raw.rate,
        vocal_tract_time_scale(raw.rate, vocal_tract_scale),
        lead_samples / SAMPLE_RATE,
        num_samples / SAMPLE_RATE,
    )


def babble_talkers(seed: int) -> list[Speaker]:
    """espeak talkers used only inside babble noise (never corpus speakers)."""
    return [
        draw_speaker(f"bab{k}", "espeak", "en-us", np.random.default_rng([seed, STREAM_BABBLE, k]))
        for k in range(BABBLE_TALKERS)
    ]


def make_babble(
    seed: int, sentences: list[str], espeak_path: Path, length_s: float = 8.0
) -> np.ndarray:
    """Babble noise (T,) at 16 kHz: several espeak talkers talking at once."""
    length = int(length_s * SAMPLE_RATE)
    babble = np.zeros(length)
    for k, speaker in enumerate(babble_talkers(seed)):
        text = " ".join(sentences[3 * k : 3 * k + 3])
        raw = synthesize(speaker, [text], [1.0], espeak_path)[0]
        voice = np.resize(resample(raw.samples, raw.rate), length)
        babble += voice / max(float(np.sqrt(np.mean(voice**2))), 1e-9)
    return babble / np.sqrt(BABBLE_TALKERS)


def _stamp(plan: CorpusPlan, seed: int) -> str:
    """Names the corpus a folder holds; the fingerprint catches a plan edited since."""
    return f"plan {plan.name}\nseed {seed}\nplan_sha256 {plan_fingerprint(plan)}\n"


def _check_stamp(out: Path, plan: CorpusPlan, seed: int) -> None:
    """Refuse to mix two corpora in one folder; remember which one this folder holds."""
    stamp = out / "local" / "plan.txt"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") != _stamp(plan, seed):
        held = " ".join(stamp.read_text(encoding="utf-8").split())
        raise ValueError(f"{out} holds another corpus ({held}); remove it or choose another --out")
    if not stamp.is_file():
        atomic_write_text(stamp, _stamp(plan, seed))


def _run_units(units: list[WorkUnit], context: WorkerContext, nj: int, desc: str):
    """Yield each unit's results as workers finish (order does not matter: results are keyed)."""
    # Festival units are slowest; starting them first balances the workers.
    units = sorted(units, key=lambda u: (u.speaker.engine != "festival", -len(u.utterances)))
    total = sum(len(u.utterances) for u in units)
    with progress_bar(total=total, desc=desc, unit="utt", mininterval=1.0) as bar:
        if nj <= 1:
            _init_worker(context)
            results = map(render_unit, units)
            for result in results:
                bar.update(len(result))
                yield result
            return
        with multiprocessing.get_context("fork").Pool(nj, _init_worker, (context,)) as pool:
            for result in pool.imap_unordered(render_unit, units):
                bar.update(len(result))
                yield result


def _save_split(
    out: Path, split: str, units: list[WorkUnit], rendered: dict[str, RenderedUtterance]
) -> None:
    data = DataDir()
    for unit in units:
        for utt in unit.utterances:
            num_samples = rendered[utt.utt_id].num_samples
            data.wav_scp[utt.utt_id] = str(audio_path(out, split, utt.utt_id).resolve())
            data.text[utt.utt_id] = utt.text
            data.utt2spk[utt.utt_id] = unit.speaker.spk_id
            data.utt2dur[utt.utt_id] = num_samples / SAMPLE_RATE
            data.utt2num_samples[utt.utt_id] = num_samples
    data.save(out / split)
    write_table(out / "local" / f"{split}.utt2sha256", {k: v.sha256 for k, v in rendered.items()})


def _save_phones(out: Path, split: str, rendered: dict[str, RenderedUtterance]) -> None:
    """Write ``<split>/phones`` for the utterances with timings; log how many are left out."""
    alignments = {utt: r.phones for utt, r in rendered.items() if r.phones is not None}
    path = write_phone_alignments(out / split, alignments)
    untimed = len(rendered) - len(alignments)
    logger.info(
        "%s: phone alignments of %d of %d utterances (%d espeak-ng utterances left out: "
        "espeak-ng gives no phone timings)", path, len(alignments), len(rendered), untimed,
    )  # fmt: skip


def save_speakers(out: Path, speakers: dict[str, list[tuple[int, Speaker]]]) -> None:
    """Write ``local/speakers.tsv``: split, speaker and its voice settings, for inspection."""
    fields = [
        "spk_id",
        "engine",
        "voice",
        "formant_scale",
        "rate",
        "highpass_hz",
        "lowpass_hz",
        "reverb_s",
        "noise",
        "snr_db",
    ]
    lines = ["split\t" + "\t".join(fields)]
    for split, pairs in speakers.items():
        for _, speaker in pairs:
            values = [getattr(speaker, f) for f in fields]
            lines.append(
                "\t".join([split] + [f"{v:.3f}" if isinstance(v, float) else v for v in values])
            )
    atomic_write_text(out / "local" / "speakers.tsv", "\n".join(lines) + "\n")


def corpus_digest(out: Path, plan: CorpusPlan, seed: int) -> str:
    """sha256 over plan, seed and, per split in order and utterance in sorted order, the id,
    the sha256 of its int16 samples and its transcript."""
    digest = hashlib.sha256(_stamp(plan, seed).encode())
    for split in SPLITS:
        text = read_table(out / split / "text")
        shas = read_table(out / "local" / f"{split}.utt2sha256")
        for utt in sorted(text):
            digest.update(f"{split} {utt} {shas[utt]} {text[utt]}\n".encode())
    return digest.hexdigest()


def generate(plan: CorpusPlan, seed: int, out: str | Path, nj: int = 1) -> str:
    """Make (or finish) the corpus of ``plan`` and ``seed`` under ``out``; returns its digest.

    A split whose ``local/<split>.done`` marker exists is not made again; inside an unfinished
    split, existing FLAC files are kept. A finished split without a ``phones`` table (a corpus
    made before alignments existed) gets one from the engines' timings, its audio untouched.
    Writes ``out/<split>/`` data dirs (with ``phones``), ``out/audio/``, ``out/lm/text.txt`` and
    ``out/local/digest.txt``.
    """
    out = Path(out)
    _check_stamp(out, plan, seed)
    done = {split: out / "local" / f"{split}.done" for split in SPLITS}
    lm_path, digest_path = out / "lm" / "text.txt", out / "local" / "digest.txt"
    untimed = [split for split in SPLITS if not (out / split / PHONES_FILE).is_file()]
    finished = all(m.is_file() for m in done.values()) and lm_path.is_file()
    if finished and digest_path.is_file() and not untimed:
        logger.info("%s: corpus already complete", out)
        return corpus_digest(out, plan, seed)
    pools = build_pools(
        plan.train_books,
        plan.labelled_books,
        plan.dev_books,
        plan.test_books,
        seed,
        plan.min_words,
        plan.max_words,
    )
    speakers = draw_speakers(plan, seed)
    save_speakers(out, speakers)
    units = assign_utterances(plan, speakers, pools, seed)
    every_speaker = [s for pairs in speakers.values() for _, s in pairs] + babble_talkers(seed)
    check_flite_voices(every_speaker)
    espeak_path = espeak_data_dir(out / "local", every_speaker)
    context = WorkerContext(
        out, seed, espeak_path, make_babble(seed, pools.lm, espeak_path), plan.channel
    )
    for split in SPLITS:
        if done[split].is_file() and split not in untimed:
            continue
        verb = "time phones of" if done[split].is_file() else "synth"
        rendered: dict[str, RenderedUtterance] = {}
        for results in _run_units(units[split], context, nj, f"{verb} {plan.name} {split}"):
            rendered.update({r.utt_id: r for r in results})
        if not done[split].is_file():
            _save_split(out, split, units[split], rendered)
        _save_phones(out, split, rendered)
        atomic_write_text(done[split], "")
    atomic_write_text(lm_path, "".join(f"{s}\n" for s in pools.lm))
    digest = corpus_digest(out, plan, seed)
    atomic_write_text(digest_path, f"{_stamp(plan, seed)}sha256 {digest}\n")
    return digest
