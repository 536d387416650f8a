"""Libri-light unlabelled audio (``<subset>/<speaker>/<book>/<file>.flac``) cut into training chunks.

Each recording is cut at energy-VAD silences (``vad.py``) into FLAC chunks of at most 30 s; the
chunks of all subsets become one Kaldi data dir (no ``text``) and a fairseq ``.tsv`` manifest.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from speechssl.io.atomic import atomic_path, atomic_write_text
from speechssl.io.audio import SAMPLE_RATE, AudioError
from speechssl.io.kaldi_dir import DataDir
from speechssl.corpora.librispeech.prep import PrepError
from speechssl.corpora.librispeech.vad import VadConfig, chunk_segments, speech_segments

logger = logging.getLogger(__name__)

LISTING = ".chunks"  # per-recording list of its chunks, written last: its presence = recording done


@dataclass
class SegmentPlan:
    """What to cut and where.

    sources: subset folders (``downloads/small`` ...). audio_out: where chunk FLACs go
    (``<audio_out>/<subset>/<speaker>/<book>/<file>_<k>.flac``). vad: VAD and chunk settings.
    workers: recordings cut in parallel.
    """

    sources: list[Path] = field(default_factory=list)
    audio_out: Path = Path("downloads/chunks")
    vad: VadConfig = field(default_factory=VadConfig)
    workers: int = 1


def _safe(name: str) -> str:
    """A name usable inside a Kaldi utterance id (no spaces, no '-' that would fake a speaker)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def find_recordings(source: Path) -> list[Path]:
    """Every ``<speaker>/<book>/<file>.flac`` under a subset folder, sorted."""
    if not source.is_dir():
        raise PrepError(f"{source}: not found; download the Libri-light subset first (stage 0)")
    flacs = sorted(source.glob("*/*/*.flac"))
    if not flacs:
        raise PrepError(f"{source}: no '<speaker>/<book>/<file>.flac' found; is this a Libri-light subset?")
    return flacs


def cut_recording(flac: Path, source: Path, plan: SegmentPlan) -> list[tuple[str, str, int]]:
    """Cut one recording into chunk FLACs; returns (utt, path, samples) of each chunk.

    Skips the work when the recording's listing exists (a finished earlier run). Chunks hold the
    original 16-bit samples (read and written as PCM_16: no re-quantisation).
    """
    speaker, book = flac.parent.parent.name, flac.parent.name
    out_dir = plan.audio_out / source.name / speaker / book
    listing = out_dir / f"{flac.stem}{LISTING}"
    if listing.is_file():
        rows = [line.split("\t") for line in listing.read_text(encoding="utf-8").splitlines() if line]
        return [(utt, path, int(samples)) for utt, path, samples in rows]
    try:
        audio, rate = soundfile.read(flac, dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioError(f"{flac}: unreadable ({error}); download the subset again") from None
    if rate != SAMPLE_RATE or audio.shape[1] != 1 or len(audio) == 0:
        raise AudioError(f"{flac}: {rate} Hz, {audio.shape[1]} channel(s), {len(audio)} samples; expected 16 kHz mono")
    audio = audio[:, 0]
    chunks = chunk_segments(speech_segments(audio.astype(np.float32) / 32768, rate, plan.vad), rate, plan.vad)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (start, end) in enumerate(chunks):
        path = out_dir / f"{flac.stem}_{index:04d}.flac"
        with atomic_path(path) as tmp:
            soundfile.write(tmp, audio[start:end], rate, format="FLAC", subtype="PCM_16")
        utt = f"{_safe(speaker)}-{_safe(book)}-{_safe(flac.stem)}_{index:04d}"
        rows.append((utt, str(path.resolve()), end - start))
    atomic_write_text(listing, "".join(f"{u}\t{p}\t{n}\n" for u, p, n in rows))
    return rows


def _cut_task(task: tuple[Path, Path, SegmentPlan]) -> list[tuple[str, str, int]]:
    return cut_recording(*task)


def segment_unlabelled(plan: SegmentPlan) -> DataDir:
    """Cut every recording of ``plan.sources``; the DataDir of all chunks (speaker = reader id).

    Re-running after an interruption cuts only the recordings without a listing.
    """
    tasks = [(flac, source, plan) for source in plan.sources for flac in find_recordings(source)]
    data = DataDir()
    bar = tqdm(total=len(tasks), desc="VAD cut", unit="file")
    if plan.workers > 1:
        with multiprocessing.get_context("spawn").Pool(plan.workers) as pool:
            results = list(_consume(pool.imap(_cut_task, tasks, chunksize=4), bar))
    else:
        results = list(_consume(map(_cut_task, tasks), bar))
    bar.close()
    for rows in results:
        for utt, path, samples in rows:
            if utt in data.wav_scp:
                raise PrepError(f"utterance '{utt}' made twice ({path}, {data.wav_scp[utt]}); rename one recording")
            data.wav_scp[utt] = path
            data.utt2spk[utt] = utt.split("-")[0]
            data.utt2num_samples[utt] = samples
            data.utt2dur[utt] = samples / SAMPLE_RATE
    if not data.wav_scp:
        raise PrepError(f"{', '.join(map(str, plan.sources))}: the VAD found no speech chunk of at least "
                        f"{plan.vad.drop_seconds} s")
    return data


def _consume(results, bar: tqdm):
    for rows in results:
        bar.update(1)
        yield rows
