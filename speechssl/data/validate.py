"""Check a Kaldi data dir like Kaldi's validate_data_dir.sh; write a copy without bad utterances.

Each problem is one line naming the data dir, utterance and file; every audio file is decoded;
the optional ``phones`` table (speechssl.data.phones) is checked when present.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile
from tqdm import tqdm

from speechssl.data.phones import PHONES_FILE, parse_segments
from speechssl.io.audio import SAMPLE_RATE
from speechssl.io.kaldi_dir import DataDir, write_table
from speechssl.text.normalize import ALLOWED

TABLES = ("wav.scp", "text", "utt2spk", "utt2dur", "utt2num_samples")
# Reasons that are repaired by rewriting the tables; no utterance is dropped for them.
REWRITTEN = frozenset({"unsorted", "spk2utt mismatch", "missing table"})
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
class _Table:
    path: Path
    rows: dict[str, tuple[int, str]]  # key -> (line number, value); first occurrence


def _read_lenient(path: Path, problems: list[Problem], data_dir: str) -> _Table:
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


def _check_audio(utt: str, path: str, expected: int | None, data_dir: str) -> list[Problem]:
    """Decode one file fully; check 16 kHz, mono, non-empty and the sample count."""

    def problem(reason: str, detail: str) -> list[Problem]:
        return [Problem(data_dir, reason, detail, utt, path)]

    if not os.path.isfile(path):
        return problem("missing audio", "audio file not found")
    if os.path.getsize(path) == 0:
        return problem("empty audio", "empty audio file (0 bytes)")
    try:
        info = soundfile.info(path)
        samples, _ = soundfile.read(path, dtype="int16", always_2d=True)
    except Exception as error:  # libsndfile raises several types for corrupt data
        return problem("corrupt audio", f"cannot decode audio ({' '.join(str(error).split())})")
    if samples.shape[0] == 0:
        return problem("empty audio", "empty audio (0 samples)")
    found = []
    if info.samplerate != SAMPLE_RATE:
        found += problem(
            "sample rate", f"sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz"
        )
    if samples.shape[1] != 1:
        found += problem("channels", f"{samples.shape[1]} channels, expected mono")
    if samples.shape[0] != info.frames:
        found += problem(
            "corrupt audio", f"decoded {samples.shape[0]} samples, header says {info.frames}"
        )
    elif expected is not None and samples.shape[0] != expected:
        found += problem(
            "sample count", f"{samples.shape[0]} samples, utt2num_samples says {expected}"
        )
    return found


def validate_data_dir(
    directory: str | os.PathLike, progress: bool = True, jobs: int = 2
) -> list[Problem]:
    """All problems of a data dir (empty list when it is clean), decoding audio in ``jobs``
    threads. Relative audio paths are read relative to the current directory, as every stage
    reads them."""
    directory = Path(directory)
    name = str(directory)
    problems: list[Problem] = []
    if not directory.is_dir():
        return [Problem(name, "missing table", "data dir not found")]
    tables: dict[str, _Table] = {}
    for table in TABLES + ("spk2utt",):
        path = directory / table
        if not path.is_file():
            problems.append(Problem(name, "missing table", "file not found", None, str(path)))
        else:
            tables[table] = _read_lenient(path, problems, name)
    if "wav.scp" not in tables:
        return problems
    utts = tables["wav.scp"].rows
    for table in TABLES[1:]:
        if table not in tables:
            continue
        rows = tables[table].rows
        for utt in sorted(utts.keys() - rows.keys()):
            problems.append(
                Problem(name, "missing entry", f"no line in {table}", utt, str(tables[table].path))
            )
        for utt in sorted(rows.keys() - utts.keys()):
            problems.append(
                Problem(
                    name,
                    "missing entry",
                    f"in {table} but not in wav.scp",
                    utt,
                    f"{tables[table].path} line {rows[utt][0]}",
                )
            )
    problems += _check_text_and_speakers(name, tables)
    counts = _numbers(tables.get("utt2num_samples"), int)
    durations = _numbers(tables.get("utt2dur"), float)
    ids = sorted(utts)
    paths = [utts[utt][1] for utt in ids]
    expected = [counts.get(utt) for utt in ids]
    # libsndfile releases the GIL while decoding, so threads use several cores.
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        found = pool.map(_check_audio, ids, paths, expected, [name] * len(ids))
        bar = tqdm(
            found,
            total=len(ids),
            desc=f"validate {name}",
            unit="file",
            leave=False,
            disable=not progress,
            mininterval=1.0,
        )
        for problems_of_file in bar:
            problems += problems_of_file
    for utt in ids:
        if utt in counts and utt in durations:
            seconds = counts[utt] / SAMPLE_RATE
            if abs(seconds - durations[utt]) > DURATION_TOLERANCE_S:
                detail = f"utt2dur says {durations[utt]} s, utt2num_samples gives {seconds:.4f} s"
                problems.append(Problem(name, "duration", detail, utt, str(directory / "utt2dur")))
    if (directory / PHONES_FILE).is_file():
        phones = _read_lenient(directory / PHONES_FILE, problems, name)
        problems += _check_phones(name, phones, utts.keys(), durations)
    return problems


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
        if not ALLOWED.match(text) or "  " in text:
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


def fix_data_dir(
    directory: str | os.PathLike, out_dir: str | os.PathLike, problems: list[Problem] | None = None
) -> str:
    """Write a sorted copy of ``directory`` into ``out_dir`` without the bad utterances.

    Utterances with any problem (bad audio or text, duplicated key, missing from a table) are
    dropped; spk2utt is rebuilt. The source is never modified. Returns a one-line summary.
    """
    directory, out_dir = Path(directory), Path(out_dir)
    if out_dir.resolve() == directory.resolve():
        raise ValueError(f"{out_dir}: --fix must write to another folder than the one it checks")
    problems = validate_data_dir(directory) if problems is None else problems
    if not (directory / "wav.scp").is_file():
        raise ValueError(f"{directory / 'wav.scp'}: file not found, nothing to fix")
    reasons = bad_utterances(problems)
    tables = {
        t: _read_lenient(directory / t, [], str(directory)).rows
        for t in TABLES
        if (directory / t).is_file()
    }
    keep = [u for u in sorted(tables["wav.scp"]) if u not in reasons]
    value = {t: {u: tables[t][u][1] for u in keep if u in tables[t]} for t in tables}
    DataDir(
        wav_scp=value["wav.scp"],
        text=value.get("text", {}),
        utt2spk=value.get("utt2spk", {}),
        utt2dur={u: float(v) for u, v in value.get("utt2dur", {}).items()},
        utt2num_samples={u: int(v) for u, v in value.get("utt2num_samples", {}).items()},
    ).save(out_dir)
    if (directory / PHONES_FILE).is_file():
        phones = _read_lenient(directory / PHONES_FILE, [], str(directory)).rows
        write_table(out_dir / PHONES_FILE, {u: phones[u][1] for u in keep if u in phones})
    counts = Counter(reason for utt_reasons in reasons.values() for reason in sorted(utt_reasons))
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
    total = len(tables["wav.scp"].keys() | reasons.keys())
    return f"{out_dir}: kept {len(keep)} of {total} utterances, dropped {len(reasons)}" + (
        f" ({why})" if why else ""
    )
