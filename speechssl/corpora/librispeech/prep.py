"""Kaldi data dirs from the LibriSpeech folder layout (``<spk>/<chapter>/<utt>.flac`` + ``.trans.txt``).

Sample counts come from the FLAC headers; each written dir goes through the data validator.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from speechssl.io.audio import SAMPLE_RATE, AudioError, audio_info
from speechssl.io.kaldi_dir import DataDir
from speechssl.progress import progress_bar

logger = logging.getLogger(__name__)

_TEXT_OK = re.compile(r"^[A-Z' ]+$")


class PrepError(ValueError):
    """The source tree does not look like LibriSpeech; the message names the file."""


def read_transcripts(trans: Path) -> dict[str, str]:
    """Read ``<spk>-<chapter>.trans.txt``: ``UTT-ID TEXT`` a line, text upper-case A-Z, ' and space.

    Raises PrepError naming the file and line for a foreign id, bad characters or a repeat.
    """
    prefix = trans.name[: -len(".trans.txt")] + "-"
    table: dict[str, str] = {}
    for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        utt, _, text = line.strip().partition(" ")
        text = " ".join(text.split())
        if not utt.startswith(prefix):
            raise PrepError(f"{trans}:{number}: utterance '{utt}' does not start with '{prefix}'")
        if not _TEXT_OK.match(text):
            raise PrepError(f"{trans}:{number}: text of '{utt}' is empty or not A-Z/'/space: '{text}'")
        if utt in table:
            raise PrepError(f"{trans}:{number}: utterance '{utt}' listed twice")
        table[utt] = text
    return table


def scan_chapter_tree(root: Path, desc: str = "") -> DataDir:
    """Read every ``<spk>/<chapter>/`` under ``root`` into a DataDir (absolute FLAC paths).

    The speaker of an utterance is its reader id (the first field of ``spk-chapter-utt``). Checks
    that each listed FLAC exists, is 16 kHz mono and non-empty, and that each FLAC has a transcript.
    """
    transcripts = sorted(root.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise PrepError(f"{root}: no '<speaker>/<chapter>/*.trans.txt' found; is this a LibriSpeech part?")
    data = DataDir()
    for trans in progress_bar(transcripts, desc=desc or f"scan {root.name}", unit="chapter", leave=False):
        chapter_dir = trans.parent
        texts = read_transcripts(trans)
        flacs = {p.stem for p in chapter_dir.glob("*.flac")}
        unlisted = sorted(flacs - set(texts))
        if unlisted:
            raise PrepError(f"{chapter_dir / (unlisted[0] + '.flac')}: audio without a line in {trans.name}")
        for utt, text in texts.items():
            flac = chapter_dir / f"{utt}.flac"
            if utt not in flacs:
                raise PrepError(f"{flac}: listed in {trans.name} but the file is missing")
            rate, channels, frames = audio_info(flac)
            if rate != SAMPLE_RATE or channels != 1 or frames == 0:
                raise AudioError(f"{flac}: {rate} Hz, {channels} channel(s), {frames} samples; expected 16 kHz mono")
            data.wav_scp[utt] = str(flac.resolve())
            data.text[utt] = text
            data.utt2spk[utt] = utt.split("-")[0]
            data.utt2num_samples[utt] = frames
            data.utt2dur[utt] = frames / SAMPLE_RATE
    return data


def merge(parts: list[DataDir]) -> DataDir:
    """One DataDir holding every utterance of ``parts``; a repeated utterance id is an error."""
    merged = DataDir()
    for part in parts:
        repeated = set(part.wav_scp) & set(merged.wav_scp)
        if repeated:
            raise PrepError(f"utterance '{sorted(repeated)[0]}' appears in two of the merged parts")
        for name in ("wav_scp", "text", "utt2spk", "utt2dur", "utt2num_samples"):
            getattr(merged, name).update(getattr(part, name))
    return merged


def librispeech_part(src: Path, part: str) -> DataDir:
    """The DataDir of LibriSpeech part ``part`` (``train-clean-100``...) under download root ``src``.

    Accepts ``src`` pointing at the download root (holding ``LibriSpeech/``) or at ``LibriSpeech/``.
    """
    for candidate in (src / "LibriSpeech" / part, src / part):
        if candidate.is_dir():
            return scan_chapter_tree(candidate, desc=f"scan {part}")
    raise PrepError(f"{src}: neither LibriSpeech/{part} nor {part} exists; run the download stage first")


def validate_written(directory: Path, unlabelled: bool = False) -> None:
    """Run the toolkit's data validator on ``directory`` (decodes every file).

    ``unlabelled``: the dir has no ``text`` on purpose (Libri-light chunks for pre-training).
    Raises PrepError with the first problem's message and the number of problems.
    """
    from speechssl.data.validate import validate_data_dir

    problems = validate_data_dir(directory)
    if unlabelled:
        no_text = str(directory / "text")
        problems = [p for p in problems if not (p.reason == "missing table" and p.where == no_text)]
    if problems:
        raise PrepError(f"{problems[0].message()} ({len(problems)} problem(s); "
                        f"see 'speechssl data validate {directory}')")


def write_data_dir(data: DataDir, out: Path, validate: bool = True) -> None:
    """Save ``data`` as a sorted Kaldi dir at ``out`` and validate it (no ``text``: unlabelled)."""
    if not data.wav_scp:
        raise PrepError(f"{out}: no utterances to write")
    data.save(out)
    if validate:
        validate_written(out, unlabelled=not data.text)
    hours = sum(data.utt2dur.values()) / 3600
    logger.info("wrote %s: %d utterances, %.2f h, %d speakers", out, len(data.wav_scp), hours,
                len(set(data.utt2spk.values())))
