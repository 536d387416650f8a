"""Kaldi data directories: sorted ``key value`` text files keyed by utterance id.

A data dir holds ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``utt2dur`` and ``utt2num_samples``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.io.atomic import atomic_write_text


class DataDirError(ValueError):
    """A data dir file is missing or malformed; the message names the file and line."""


def read_table(path: str | os.PathLike) -> dict[str, str]:
    """Read a Kaldi ``key value...`` file into an insertion-ordered dict.

    Raises DataDirError naming the file and line on a line without a value or a repeated key.
    """
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: file not found")
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            key, _, value = line.partition(" ")
            if key in table:
                raise DataDirError(f"{path}:{number}: duplicated key '{key}'")
            table[key] = value.strip()
    return table


def write_table(path: str | os.PathLike, table: dict[str, str]) -> None:
    """Write ``table`` sorted by key (C locale order, as ``sort`` with LC_ALL=C), atomically."""
    lines = [f"{key} {table[key]}".rstrip() + "\n" for key in sorted(table)]
    atomic_write_text(path, "".join(lines))


@dataclass
class DataDir:
    """In-memory view of a Kaldi data dir; every table is keyed by utterance id."""

    wav_scp: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    utt2dur: dict[str, float] = field(default_factory=dict)
    utt2num_samples: dict[str, int] = field(default_factory=dict)

    @property
    def utt_ids(self) -> list[str]:
        return sorted(self.wav_scp)

    def spk2utt(self) -> dict[str, str]:
        speakers: dict[str, list[str]] = defaultdict(list)
        for utt in sorted(self.utt2spk):
            speakers[self.utt2spk[utt]].append(utt)
        return {spk: " ".join(utts) for spk, utts in speakers.items()}

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "DataDir":
        """Load a data dir; ``wav.scp`` is required, the other files are read when present."""
        directory = Path(directory)
        data = cls(wav_scp=read_table(directory / "wav.scp"))
        if (directory / "text").is_file():
            data.text = read_table(directory / "text")
        if (directory / "utt2spk").is_file():
            data.utt2spk = read_table(directory / "utt2spk")
        if (directory / "utt2dur").is_file():
            data.utt2dur = {k: float(v) for k, v in read_table(directory / "utt2dur").items()}
        if (directory / "utt2num_samples").is_file():
            data.utt2num_samples = {
                k: int(v) for k, v in read_table(directory / "utt2num_samples").items()
            }
        return data

    def save(self, directory: str | os.PathLike) -> None:
        """Write every non-empty table (and ``spk2utt``) sorted, each file atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_table(directory / "wav.scp", self.wav_scp)
        if self.text:
            write_table(directory / "text", self.text)
        if self.utt2spk:
            write_table(directory / "utt2spk", self.utt2spk)
            write_table(directory / "spk2utt", self.spk2utt())
        if self.utt2dur:
            write_table(directory / "utt2dur", {k: f"{v:.4f}" for k, v in self.utt2dur.items()})
        if self.utt2num_samples:
            write_table(
                directory / "utt2num_samples", {k: str(v) for k, v in self.utt2num_samples.items()}
            )

    def subset(self, utt_ids: list[str]) -> "DataDir":
        """A new DataDir restricted to ``utt_ids`` (tables that lack an id simply skip it)."""
        keep = set(utt_ids)

        def pick(table: dict) -> dict:
            return {k: v for k, v in table.items() if k in keep}

        return DataDir(
            wav_scp=pick(self.wav_scp),
            text=pick(self.text),
            utt2spk=pick(self.utt2spk),
            utt2dur=pick(self.utt2dur),
            utt2num_samples=pick(self.utt2num_samples),
        )
