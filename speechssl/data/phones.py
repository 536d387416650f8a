"""The ``phones`` table of a data dir: the true phone segments of each utterance, in its audio.

One line per aligned utterance, ``utt PHONE:START:END ...`` (seconds, 3 decimals, phones from
``speechssl.text.arpabet.ALIGNMENT_PHONES``); see docs/alignments.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from speechssl.io.kaldi_dir import read_table, write_table
from speechssl.text.arpabet import PHONE_INDEX, SILENCE

PHONES_FILE = "phones"
TIME_DECIMALS = 3


class PhoneTableError(ValueError):
    """A malformed ``phones`` table; the message names the file, line and utterance."""


@dataclass(frozen=True)
class PhoneSegment:
    """One phone of an utterance: ``phone`` in ALIGNMENT_PHONES, ``start`` < ``end`` in seconds."""

    phone: str
    start: float
    end: float


def format_segments(segments: Sequence[PhoneSegment]) -> str:
    """``SIL:0.000:0.184 DH:0.184:0.236 ...``: the value of one ``phones`` line."""
    digits = TIME_DECIMALS
    return " ".join(f"{s.phone}:{s.start:.{digits}f}:{s.end:.{digits}f}" for s in segments)


def parse_segments(value: str) -> list[PhoneSegment]:
    """The segments of one ``phones`` line value (the part after the utterance id).

    Raises:
        ValueError: a field that is not ``PHONE:START:END``, a phone outside ALIGNMENT_PHONES,
            a segment that does not end after it starts, overlapping segments, or no segment.
    """
    segments: list[PhoneSegment] = []
    for field in value.split():
        parts = field.split(":")
        if len(parts) != 3:
            raise ValueError(f"field '{field}' is not PHONE:START:END")
        phone, start_text, end_text = parts
        if phone not in PHONE_INDEX:
            raise ValueError(f"field '{field}': '{phone}' is not one of the 39 phones or {SILENCE}")
        try:
            start, end = float(start_text), float(end_text)
        except ValueError:
            raise ValueError(f"field '{field}': times are not numbers") from None
        if not 0 <= start < end:
            raise ValueError(f"field '{field}': times must satisfy 0 <= start < end")
        if segments and start < segments[-1].end - 1e-6:
            raise ValueError(f"field '{field}' starts before the previous phone ends")
        segments.append(PhoneSegment(phone, start, end))
    if not segments:
        raise ValueError("no phone segments")
    return segments


def has_phone_alignments(data_dir: str | os.PathLike) -> bool:
    """Whether ``data_dir`` holds a ``phones`` table."""
    return (Path(data_dir) / PHONES_FILE).is_file()


def read_phone_alignments(data_dir: str | os.PathLike) -> dict[str, list[PhoneSegment]]:
    """utt -> its phone segments, for every utterance of ``data_dir/phones`` (sorted by utt).

    Utterances whose synthesiser gives no timings (espeak-ng) have no line.
    Raises:
        PhoneTableError: no table, or a malformed line (named by file, line and utterance).
    """
    path = Path(data_dir) / PHONES_FILE
    if not path.is_file():
        raise PhoneTableError(
            f"{path}: no phone alignments; make them with 'speechssl data synth' (same plan, seed "
            "and --out as the corpus: it adds the table without re-rendering audio)"
        )
    table = read_table(path)
    alignments = {}
    for number, (utt, value) in enumerate(table.items(), 1):
        try:
            alignments[utt] = parse_segments(value)
        except ValueError as error:
            raise PhoneTableError(f"{path}: utterance '{utt}' (entry {number}): {error}") from None
    return alignments


def write_phone_alignments(
    data_dir: str | os.PathLike, alignments: Mapping[str, Sequence[PhoneSegment]]
) -> Path:
    """Write ``data_dir/phones`` (sorted by utt, atomically); returns its path."""
    path = Path(data_dir) / PHONES_FILE
    write_table(path, {utt: format_segments(segs) for utt, segs in alignments.items()})
    return path


def frame_phone_labels(
    segments: Sequence[PhoneSegment], num_frames: int, frame_rate: float
) -> np.ndarray:
    """The phone at each frame centre ``(i + 0.5) / frame_rate``, as an index into ALIGNMENT_PHONES.

    A centre in a gap between segments takes the next segment's phone; centres past the last
    segment take the last one's.
    Returns:
        shape (num_frames,) int64.
    """
    if not segments:
        raise ValueError("frame_phone_labels needs at least one segment")
    if frame_rate <= 0:
        raise ValueError(f"frame_rate must be positive, got {frame_rate}")
    ends = np.array([s.end for s in segments])
    phones = np.array([PHONE_INDEX[s.phone] for s in segments], dtype=np.int64)
    centres = (np.arange(num_frames) + 0.5) / frame_rate
    index = np.minimum(np.searchsorted(ends, centres, side="right"), len(segments) - 1)
    return phones[index]
