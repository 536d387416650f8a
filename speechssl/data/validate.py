"""Check a Kaldi data dir like Kaldi's validate_data_dir.sh (``speechssl.data.fix`` repairs it).

Each problem is one line naming the data dir, utterance and file; every audio file is decoded;
the optional ``phones`` table (speechssl.data.phones) is checked when present.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile
from speechssl.progress import progress_bar

from speechssl.data.phones import PHONES_FILE, parse_segments
from speechssl.io.audio import SAMPLE_RATE, sample_problem
from speechssl.io.kaldi_dir import DataDir
from speechssl.text.normalize import ALLOWED

TABLES = ("wav.scp", "text", "utt2spk", "utt2dur", "utt2num_samples")
LENGTH_TABLES = ("utt2dur", "utt2num_samples")  # written from the audio by complete / --fix
# Reasons repaired by rewriting the tables (a duplicated key keeps its first line; lengths are
# taken from the decoded audio); no utterance is dropped for them.
REWRITTEN = frozenset(
    {"unsorted", "spk2utt mismatch", "missing table", "duplicated key", "missing length"}
)
DURATION_TOLERANCE_S = 0.01
PHONES_TOLERANCE_S = 0.02  # a phone alignment may end this far past utt2dur (ms rounding)


@dataclass(frozen=True)
class Problem:
    """One problem: ``reason`` is a short category used for the --fix summary."""

    data_dir: str
    reason: str
    detail: str
    utt: str | None = None
    where: str = ""  # audio file, or table file and line

    def message(self) -> str:
        if self.utt:
            return f"{self.data_dir}: utt {self.utt} ({self.where}): {self.detail}"
        if self.where:
            return f"{self.data_dir}: {self.where}: {self.detail}"
        return f"{self.data_dir}: {self.detail}"


@dataclass
class DirCheck:
    """What ``check_data_dir`` found: the problems, and the sample count of every audio file it
    decoded (``utt -> samples``, what ``--fix`` writes to ``utt2num_samples``)."""

    problems: list[Problem]
    num_samples: dict[str, int]


@dataclass
class _Table:
    path: Path
    rows: dict[str, tuple[int, str]]  # key -> (line number, value); first occurrence


def read_lenient(path: Path, problems: list[Problem], data_dir: str) -> _Table:
    """Read a table, reporting (instead of raising on) bad lines, repeated and unsorted keys."""
    rows: dict[str, tuple[int, str]] = {}
    previous = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            key, _, value = line.rstrip("\n").partition(" ")
            where = f"{path} line {number}"
            if not key:
                problems.append(
                    Problem(data_dir, "malformed line", "empty or indented line", None, where)
                )
                continue
            if key in rows:
                detail = f"duplicated key (first on line {rows[key][0]})"
                problems.append(Problem(data_dir, "duplicated key", detail, key, where))
                continue
            if previous is not None and key.encode() < previous.encode():
                detail = f"not sorted: comes after '{previous}' (sort with LC_ALL=C)"
                problems.append(Problem(data_dir, "unsorted", detail, key, where))
            rows[key] = (number, value.strip())
            previous = key
    return _Table(path, rows)


def _check_audio(
    utt: str, path: str, expected: int | None, data_dir: str
) -> tuple[list[Problem], int | None]:
    """Decode one file fully; check 16 kHz, mono, non-empty, finite, not silent and the sample
    count. Returns the problems and the decoded sample count (None when it cannot be used)."""

    def problem(reason: str, detail: str) -> list[Problem]:
        return [Problem(data_dir, reason, detail, utt, path)]

    if not os.path.isfile(path):
        return problem("missing audio", "audio file not found"), None
    if os.path.getsize(path) == 0:
        return problem("empty audio", "empty audio file (0 bytes)"), None
    try:
        info = soundfile.info(path)
        samples, _ = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile raises several types for corrupt data
        return problem("corrupt audio", f"cannot decode audio ({' '.join(str(error).split())})"), None
    if samples.shape[0] == 0:
        return problem("empty audio", "empty audio (0 samples)"), None
    found = []
    if info.samplerate != SAMPLE_RATE:
        found += problem(
            "sample rate", f"sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz"
        )
    if samples.shape[1] != 1:
        found += problem("channels", f"{samples.shape[1]} channels, expected mono")
    reason, detail = sample_problem(samples.reshape(-1))
    if reason:
        found += problem(reason, detail)
    if samples.shape[0] != info.frames:
        found += problem(
            "corrupt audio", f"decoded {samples.shape[0]} samples, header says {info.frames}"
        )
    elif expected is not None and samples.shape[0] != expected:
        found += problem(
            "sample count", f"{samples.shape[0]} samples, utt2num_samples says {expected}"
        )
    return found, None if found else samples.shape[0]


def validate_data_dir(
    directory: str | os.PathLike, progress: bool = True, jobs: int = 2
) -> list[Problem]:
    """All problems of a data dir (empty list when it is clean); see ``check_data_dir``."""
    return check_data_dir(directory, progress, jobs).problems


def check_data_dir(directory: str | os.PathLike, progress: bool = True, jobs: int = 2) -> DirCheck:
    """Check every table and decode every audio file in ``jobs`` threads. Relative audio paths
    are read relative to the current directory, as every stage reads them."""
    directory = Path(directory)
    name = str(directory)
    if not directory.is_dir():
        what = "is a file, not a data dir" if directory.exists() else "data dir not found"
        return DirCheck([Problem(name, "missing table", what)], {})
    problems, tables = _read_tables(directory, name)
    if "wav.scp" not in tables:
        return DirCheck(problems, {})
    utts = tables["wav.scp"].rows
    for table in TABLES[1:]:
        if table not in tables:
            continue
        rows = tables[table].rows
        reason = "missing length" if table in LENGTH_TABLES else "missing entry"
        for utt in sorted(utts.keys() - rows.keys()):
            problems.append(
                Problem(name, reason, f"no line in {table}", utt, str(tables[table].path))
            )
        for utt in sorted(rows.keys() - utts.keys()):
            where = f"{tables[table].path} line {rows[utt][0]}"
            problems.append(Problem(name, "missing entry", f"in {table} but not in wav.scp", utt, where))
    problems += _check_text_and_speakers(name, tables)
    counts = _numbers(tables.get("utt2num_samples"), int)
    durations = _numbers(tables.get("utt2dur"), float)
    ids = sorted(utts)
    paths = [utts[utt][1] for utt in ids]
    expected = [counts.get(utt) for utt in ids]
    decoded: dict[str, int] = {}
    # libsndfile releases the GIL while decoding, so threads use several cores.
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        found = pool.map(_check_audio, ids, paths, expected, [name] * len(ids))
        bar = progress_bar(found, total=len(ids), desc=f"validate {name}", unit="file", leave=False,
                   disable=not progress, mininterval=1.0)
        for utt, (problems_of_file, count) in zip(ids, bar):
            problems += problems_of_file
            if count is not None:
                decoded[utt] = count
    for utt in ids:
        if utt in counts and utt in durations:
            seconds = counts[utt] / SAMPLE_RATE
            if abs(seconds - durations[utt]) > DURATION_TOLERANCE_S:
                detail = f"utt2dur says {durations[utt]} s, utt2num_samples gives {seconds:.4f} s"
                problems.append(Problem(name, "duration", detail, utt, str(directory / "utt2dur")))
    if (directory / PHONES_FILE).is_file():
        phones = read_lenient(directory / PHONES_FILE, problems, name)
        problems += _check_phones(name, phones, utts.keys(), durations)
    return DirCheck(problems, decoded)


def _check_phones(name: str, phones: _Table, utts, durations: dict[str, float]) -> list[Problem]:
    """The optional ``phones`` table: known utterances, well-formed increasing segments that end
    within the audio (utt2dur + PHONES_TOLERANCE_S). Utterances without a line are fine."""
    problems = []
    for utt, (line, value) in phones.rows.items():
        where = f"{phones.path} line {line}"
        if utt not in utts:
            detail = "in phones but not in wav.scp"
            problems.append(Problem(name, "missing entry", detail, utt, where))
            continue
        try:
            segments = parse_segments(value)
        except ValueError as error:
            problems.append(Problem(name, "bad phones", str(error), utt, where))
            continue
        if utt in durations and segments[-1].end > durations[utt] + PHONES_TOLERANCE_S:
            detail = f"phones end at {segments[-1].end:.3f} s, after the audio ({durations[utt]} s)"
            problems.append(Problem(name, "bad phones", detail, utt, where))
    return problems


def _read_tables(directory: Path, name: str) -> tuple[list[Problem], dict[str, _Table]]:
    """Problems of reading every table, and the tables found. Missing length tables (a plain
    4-file Kaldi dir) are one problem saying how to write them."""
    problems: list[Problem] = []
    tables: dict[str, _Table] = {}
    for table in TABLES + ("spk2utt",):
        path = directory / table
        if path.is_file():
            tables[table] = read_lenient(path, problems, name)
        elif table == "spk2utt":
            detail = f"file not found (`speechssl data complete {name}` writes it from utt2spk)"
            problems.append(Problem(name, "missing table", detail, None, str(path)))
        elif table not in LENGTH_TABLES:
            problems.append(Problem(name, "missing table", "file not found", None, str(path)))
    missing = [t for t in LENGTH_TABLES if t not in tables]
    if missing:
        detail = (
            f"no {' or '.join(missing)}: run `speechssl data complete {name}` to write "
            f"{'them' if len(missing) > 1 else 'it'} from the audio"
        )
        problems.append(Problem(name, "missing table", detail))
    return problems, tables


def _numbers(table: _Table | None, kind: type) -> dict:
    """The values of a numeric table that parse (bad ones are reported elsewhere)."""
    values = {}
    for utt, (_, value) in (table.rows if table else {}).items():
        try:
            values[utt] = kind(value)
        except ValueError:
            pass
    return values


def _check_text_and_speakers(name: str, tables: dict[str, _Table]) -> list[Problem]:
    problems = []
    for utt, (line, text) in tables.get("text", _Table(Path(), {})).rows.items():
        if not text:
            detail = "empty transcript: give its words, or drop it with --fix"
            problems.append(
                Problem(name, "empty text", detail, utt, f"{tables['text'].path} line {line}")
            )
        elif not ALLOWED.match(text) or "  " in text:
            bad = sorted({c for c in text if not ALLOWED.match(c)})
            detail = (
                f"text has characters outside A-Z, apostrophe and space: {' '.join(map(repr, bad))}"
                if bad
                else "text has repeated spaces"
            )
            problems.append(
                Problem(name, "bad text", detail, utt, f"{tables['text'].path} line {line}")
            )
    for table, kind in (("utt2num_samples", int), ("utt2dur", float)):
        for utt, (line, value) in tables.get(table, _Table(Path(), {})).rows.items():
            try:
                kind(value)
            except ValueError:
                problems.append(
                    Problem(
                        name,
                        "malformed line",
                        f"'{value}' is not a number",
                        utt,
                        f"{tables[table].path} line {line}",
                    )
                )
    if "utt2spk" not in tables:
        return problems
    utt2spk = {utt: spk for utt, (_, spk) in tables["utt2spk"].rows.items()}
    for utt, spk in utt2spk.items():
        if not utt.startswith(spk):
            problems.append(
                Problem(
                    name,
                    "speaker prefix",
                    f"utterance id does not start with speaker id '{spk}'",
                    utt,
                    str(tables["utt2spk"].path),
                )
            )
    if "spk2utt" in tables:
        expected = DataDir(utt2spk=utt2spk).spk2utt()
        found = {spk: utts for spk, (_, utts) in tables["spk2utt"].rows.items()}
        for spk in sorted(expected.keys() | found.keys()):
            if expected.get(spk) != found.get(spk):
                problems.append(
                    Problem(
                        name,
                        "spk2utt mismatch",
                        f"speaker {spk}: spk2utt does not match utt2spk",
                        None,
                        str(tables["spk2utt"].path),
                    )
                )
    return problems


def bad_utterances(problems: list[Problem]) -> dict[str, set[str]]:
    """Utterances that --fix drops, each with its reasons (unsorted tables are just rewritten)."""
    reasons: dict[str, set[str]] = defaultdict(set)
    for problem in problems:
        if problem.utt and problem.reason not in REWRITTEN:
            reasons[problem.utt].add(problem.reason)
    return reasons
