"""Repair Kaldi data dirs: ``fix_data_dir`` writes a usable copy without the bad utterances,
``complete_data_dir`` adds the length tables a plain 4-file Kaldi dir lacks (Kaldi's get_utt2dur.sh).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from speechssl.progress import progress_bar

from speechssl.data.phones import PHONES_FILE
from speechssl.data.validate import (
    LENGTH_TABLES,
    TABLES,
    DirCheck,
    bad_utterances,
    check_data_dir,
    read_lenient,
)
from speechssl.io.audio import SAMPLE_RATE, AudioError, audio_info
from speechssl.io.kaldi_dir import DataDir, read_table, write_table


def check_fix_target(directory: Path, out_dir: Path) -> None:
    """Refuse an output folder that is the source itself or an existing file (one line)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: --fix needs a folder to write the fixed copy to, not a file")
    if out_dir.resolve() == directory.resolve():
        raise ValueError(f"{out_dir}: --fix must write to another folder than the one it checks")


def _seconds(num_samples: int) -> str:
    return f"{num_samples / SAMPLE_RATE:.4f}"


def fix_data_dir(
    directory: str | os.PathLike,
    out_dir: str | os.PathLike,
    check: DirCheck | None = None,
    progress: bool = True,
    jobs: int = 2,
) -> str:
    """Write a sorted copy of ``directory`` into ``out_dir`` that passes validation.

    Utterances with a problem (bad audio or text, missing from a table) are dropped; a duplicated
    key keeps its first line; ``utt2num_samples`` comes from the decoded audio and ``utt2dur``
    from the source or the audio; ``spk2utt`` is rebuilt. Every table is written, even when all
    utterances were dropped. The source is never modified. Returns a one-line summary.
    """
    directory, out_dir = Path(directory), Path(out_dir)
    check_fix_target(directory, out_dir)
    if not (directory / "wav.scp").is_file():
        raise ValueError(f"{directory / 'wav.scp'}: file not found, nothing to fix")
    check = check_data_dir(directory, progress, jobs) if check is None else check
    reasons = bad_utterances(check.problems)
    tables = {
        t: {u: v for u, (_, v) in read_lenient(directory / t, [], str(directory)).rows.items()}
        for t in TABLES
        if (directory / t).is_file()
    }
    keep = [u for u in sorted(tables["wav.scp"]) if u not in reasons and u in check.num_samples]
    out = {t: {u: tables[t][u] for u in keep} for t in ("wav.scp", "text", "utt2spk") if t in tables}
    out["utt2num_samples"] = {u: str(check.num_samples[u]) for u in keep}
    durations = tables.get("utt2dur", {})
    out["utt2dur"] = {u: durations.get(u) or _seconds(check.num_samples[u]) for u in keep}
    if "utt2spk" in out:
        out["spk2utt"] = DataDir(utt2spk=out["utt2spk"]).spk2utt()
    if (directory / PHONES_FILE).is_file():  # optional: kept for the utterances kept
        phones = read_table(directory / PHONES_FILE)
        out[PHONES_FILE] = {u: phones[u] for u in keep if u in phones}
    out_dir.mkdir(parents=True, exist_ok=True)
    for table, rows in out.items():
        write_table(out_dir / table, rows)
    dropped = Counter(reason for why in reasons.values() for reason in sorted(why))
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items()))
    total = len(tables["wav.scp"].keys() | reasons.keys())
    summary = f"{out_dir}: kept {len(keep)} of {total} utterances, dropped {len(reasons)}"
    summary += f" ({why})" if why else ""
    repaired = Counter(p.reason for p in check.problems if p.reason == "duplicated key")
    if repaired:
        summary += f"; {repaired['duplicated key']} duplicated key(s): first line kept"
    filled = [t for t in LENGTH_TABLES if t not in tables]
    if filled:
        summary += f"; {' and '.join(filled)} written from the audio"
    return summary


@dataclass
class Completion:
    """What ``complete_data_dir`` did: the tables it wrote, and one line per unreadable file."""

    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    num_utterances: int = 0

    def summary(self, directory: str | os.PathLike) -> str:
        if not self.written:
            return f"{directory}: complete already (utt2dur, utt2num_samples and spk2utt exist)"
        skipped = f"; {len(self.problems)} unreadable file(s) left out" if self.problems else ""
        return (
            f"{directory}: wrote {', '.join(self.written)} for {self.num_utterances} utterances"
            f"{skipped}; check it with `speechssl data validate {directory}`"
        )


def complete_data_dir(directory: str | os.PathLike, progress: bool = True) -> Completion:
    """Write the missing ``utt2num_samples`` / ``utt2dur`` (from each file's header, as Kaldi's
    ``get_utt2dur.sh``) and ``spk2utt`` (from ``utt2spk``) of a data dir; existing tables are
    kept. A file whose header cannot be read gets no entry (validation then names it)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a data dir (expected a folder holding wav.scp)")
    wav_scp = read_table(directory / "wav.scp")
    done = Completion(num_utterances=len(wav_scp))
    missing = [t for t in LENGTH_TABLES if not (directory / t).is_file()]
    if missing:
        counts = {}
        bar = progress_bar(sorted(wav_scp.items()), desc=f"complete {directory}", unit="file",
                   disable=not progress, leave=False, mininterval=1.0)
        for utt, path in bar:
            try:
                counts[utt] = audio_info(path)[2]
            except AudioError as error:
                done.problems.append(f"{directory}: utt {utt}: {error}")
        values = {
            "utt2num_samples": {u: str(n) for u, n in counts.items()},
            "utt2dur": {u: _seconds(n) for u, n in counts.items()},
        }
        for table in missing:
            write_table(directory / table, values[table])
            done.written.append(table)
    if (directory / "utt2spk").is_file() and not (directory / "spk2utt").is_file():
        write_table(directory / "spk2utt", DataDir(utt2spk=read_table(directory / "utt2spk")).spk2utt())
        done.written.append("spk2utt")
    return done
