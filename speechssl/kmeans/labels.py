"""HuBERT frame-label directories: write them, read them back with every consistency check.

A label dir holds ``labels.txt`` (``utt l1 l2 ...`` per line, wav.scp order), ``dict.txt``
(``label count`` per line, as fairseq's ``dict.km.txt``; line i is class i) and ``label_rate`` (Hz).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from speechssl.io.atomic import atomic_path, atomic_write_text
from speechssl.io.audio import SAMPLE_RATE
from speechssl.io.kaldi_dir import DataDir

LABELS_FILE = "labels.txt"
DICT_FILE = "dict.txt"
RATE_FILE = "label_rate"
DEFAULT_TOLERANCE_S = 0.05


class LabelError(ValueError):
    """Labels that do not fit their dictionary or their audio; the message names the utterance."""


def resample_labels(labels: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    """Frame labels at ``from_rate`` Hz -> ``to_rate`` Hz by nearest earlier frame.

    Output frame j takes input frame ``floor(j * from_rate / to_rate)``; there are
    ``ceil(n * to_rate / from_rate)`` of them (100 -> 50 Hz keeps frames 0, 2, 4...; 50 -> 100 Hz
    repeats each label twice).

    Args:
        labels: shape (n,).
    Returns:
        shape (ceil(n * to_rate / from_rate),), same dtype.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise LabelError(f"label rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return labels
    count = math.ceil(len(labels) * to_rate / from_rate - 1e-9)
    index = np.floor(np.arange(count) * (from_rate / to_rate) + 1e-9).astype(np.int64)
    return labels[np.minimum(index, len(labels) - 1)]


def write_label_dir(
    label_dir: str | os.PathLike,
    items: Iterable[tuple[str, np.ndarray]],
    symbols: list[str],
    label_rate: float,
    filename: str = LABELS_FILE,
) -> np.ndarray:
    """Write a label dir, streaming ``items`` (one line each) so no table is held in memory.

    Args:
        items: ``(utt, class indices (frames,) int)`` in data-dir order.
        symbols: class i is written as ``symbols[i]`` (``"0".."K-1"`` for k-means).
        filename: name of the label file (``labels.txt``; ``ref.txt`` for reference alignments).
    Returns:
        counts per class, shape (len(symbols),) int64 (also written to ``dict.txt``).
    """
    label_dir = Path(label_dir)
    counts = np.zeros(len(symbols), dtype=np.int64)
    with atomic_path(label_dir / filename) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for utt, labels in items:
            labels = np.asarray(labels, dtype=np.int64)
            counts += np.bincount(labels, minlength=len(symbols))[: len(symbols)]
            out.write(" ".join([utt, *(symbols[i] for i in labels)]) + "\n")
    atomic_write_text(label_dir / DICT_FILE, "".join(f"{s} {c}\n" for s, c in zip(symbols, counts)))
    atomic_write_text(label_dir / RATE_FILE, f"{label_rate:g}\n")
    return counts


def read_dictionary(label_dir: str | os.PathLike) -> list[str]:
    """Class symbols of ``dict.txt`` in order. Raises LabelError when missing or empty."""
    path = Path(label_dir) / DICT_FILE
    if not path.is_file():
        raise LabelError(f"{path}: label dictionary not found")
    symbols = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not symbols:
        raise LabelError(f"{path}: label dictionary is empty; re-run 'speechssl kmeans assign'")
    if len(set(symbols)) != len(symbols):
        raise LabelError(f"{path}: label dictionary repeats a symbol")
    return symbols


def read_label_rate(label_dir: str | os.PathLike) -> float:
    """The ``label_rate`` file as a positive number. Raises LabelError otherwise."""
    path = Path(label_dir) / RATE_FILE
    if not path.is_file():
        raise LabelError(f"{path}: label rate file not found")
    try:
        rate = float(path.read_text(encoding="utf-8").strip())
    except ValueError:
        raise LabelError(f"{path}: label rate is not a number") from None
    if rate <= 0:
        raise LabelError(f"{path}: label rate must be positive, got {rate:g}")
    return rate


def _integer_parser(symbols: list[str]):
    """Fast C parser for k-means labels ``0..K-1``; returns None for a line it cannot vouch for."""
    num_classes = len(symbols)

    def parse(text: str) -> np.ndarray | None:
        try:
            labels = np.fromstring(text, dtype=np.int64, sep=" ")
        except ValueError:
            return None
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            return None
        return labels

    return parse


def _lookup(tokens: list[str], index: dict[str, int], where: str) -> np.ndarray:
    """Class indices of label symbols. Raises LabelError naming the first unknown symbol."""
    try:
        return np.fromiter((index[t] for t in tokens), np.int64, len(tokens))
    except KeyError as error:
        raise LabelError(
            f"{where} has label {error.args[0]!r} that is not in {DICT_FILE} ({len(index)} classes)"
        ) from None


def read_label_table(
    label_dir: str | os.PathLike, filename: str = LABELS_FILE
) -> tuple[dict[str, np.ndarray], float, list[str]]:
    """Read a label dir without a data dir: (utt -> class indices (frames,) int64, rate, symbols).

    Raises:
        LabelError: missing file, repeated utterance, or a label that is not in ``dict.txt``.
    """
    label_dir = Path(label_dir)
    symbols = read_dictionary(label_dir)
    rate = read_label_rate(label_dir)
    path = label_dir / filename
    if not path.is_file():
        raise LabelError(f"{path}: label file not found")
    parse = _integer_parser(symbols) if symbols == [str(i) for i in range(len(symbols))] else None
    index = {s: i for i, s in enumerate(symbols)}
    table: dict[str, np.ndarray] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            utt, _, rest = line.strip().partition(" ")
            if not utt:
                continue
            if utt in table:
                raise LabelError(f"{path}:{number}: utterance '{utt}' appears twice")
            labels = parse(rest) if parse else None
            if labels is None:  # symbolic labels, or an integer line with a bad label
                labels = _lookup(rest.split(), index, f"{path}:{number}: utterance '{utt}'")
            table[utt] = labels
    return table, rate, symbols


def check_durations(
    table: dict[str, np.ndarray],
    rate: float,
    data_dir: str | os.PathLike,
    where: str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Every utterance of ``data_dir`` has labels covering its duration within ``tolerance_s``.

    Durations come from ``utt2num_samples`` (16 kHz), else ``utt2dur``.
    Raises:
        LabelError: a missing utterance, or a label count off by more than the tolerance.
    """
    data = DataDir.load(data_dir)
    if data.utt2num_samples:
        seconds = {u: n / SAMPLE_RATE for u, n in data.utt2num_samples.items()}
    elif data.utt2dur:
        seconds = dict(data.utt2dur)
    else:
        raise LabelError(f"{data_dir}: needs utt2num_samples or utt2dur to check label lengths")
    for utt in data.wav_scp:
        if utt not in table:
            raise LabelError(f"{where}: no labels for utterance '{utt}' of {data_dir}")
        if utt not in seconds:
            raise LabelError(f"{data_dir}: utterance '{utt}' has no duration in utt2num_samples")
        expected = seconds[utt] * rate
        if abs(len(table[utt]) - expected) > tolerance_s * rate:
            raise LabelError(
                f"{where}: utterance '{utt}' has {len(table[utt])} labels but its audio "
                f"({seconds[utt]:.3f} s at {rate:g} Hz) needs {expected:.1f} (tolerance "
                f"{tolerance_s:g} s); were the labels made from another data dir?"
            )


def read_labels(
    label_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> tuple[dict[str, np.ndarray], float, int]:
    """Labels of every utterance of ``data_dir``, checked against the dictionary and the audio.

    Returns:
        (utt -> class indices (frames,) int64, label_rate in Hz, num_classes = len(dict.txt)).
        Utterances of the label dir outside ``data_dir`` are left out (one label dir may serve
        several splits).
    Raises:
        LabelError: missing/empty dictionary, a label not in it, an utterance of the data dir
            without labels, or a label count that does not fit the audio duration.
    """
    table, rate, symbols = read_label_table(label_dir)
    check_durations(table, rate, data_dir, str(Path(label_dir) / LABELS_FILE), tolerance_s)
    utt_ids = DataDir.load(data_dir).wav_scp
    return {utt: table[utt] for utt in utt_ids}, rate, len(symbols)
