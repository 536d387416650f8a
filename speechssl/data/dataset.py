"""Utterances of a Kaldi data dir as training examples: audio, cropped frame labels, CTC targets.

Crops and augmentation are deterministic functions of (seed, epoch, index), so a resumed run sees
the same samples.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from speechssl.data.augment_config import AugmentConfig
from speechssl.data.batch import LABEL_PAD, AudioBatch
from speechssl.data.sampler import round_up_sizes
from speechssl.io.audio import SAMPLE_RATE, AudioError, read_audio
from speechssl.io.kaldi_dir import DataDirError, read_table

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """One utterance after cropping.

    Attributes:
        utt: utterance id.
        audio: shape (samples,), float32.
        labels: shape (label_frames,), int64 frame labels, or None.
        targets: shape (tokens,), int64 CTC token ids, or None.
        clean_audio: shape (samples,), float32, the input before augmentation (speed perturbation
            excepted), or None when the dataset does not augment.
        problem: why the audio cannot be used ("" when it can; ``audio`` is then empty).
    """

    utt: str
    audio: np.ndarray
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    clean_audio: np.ndarray | None = None
    problem: str = ""


def crop_labels(labels: np.ndarray, offset: int, length: int, label_rate: float) -> np.ndarray:
    """Frame labels of the audio span ``[offset, offset + length)`` samples.

    The label start is ``round(offset * label_rate / 16000)`` and the span
    ``round(length * label_rate / 16000)`` frames, cut at the end of ``labels`` (fairseq's rule).
    """
    to_frames = label_rate / SAMPLE_RATE
    start = int(round(offset * to_frames))
    size = int(round(length * to_frames))
    return labels[start : start + max(0, min(size, len(labels) - start))]


def stretch_labels(labels: np.ndarray, frames: int) -> np.ndarray:
    """Nearest-frame resampling of frame labels (L,) to ``frames`` labels (speed perturbation)."""
    if frames == len(labels) or len(labels) == 0:
        return labels[:frames]
    source = np.minimum((np.arange(frames) * len(labels) / frames).astype(np.int64), len(labels) - 1)
    return labels[source]


class AudioDataset(Dataset):
    """Utterances of ``data_dir`` (``wav.scp`` + ``utt2num_samples``; ``text`` when ``target_fn``).

    Utterances shorter than ``min_sample_size`` are dropped (counted in the log). Longer than
    ``max_sample_size`` ones are cropped: at a random offset drawn from (seed, epoch, index) when
    ``random_crop``, else from the start; ``max_sample_size=None`` never crops (dev/test decoding).
    Audio that cannot be used (unreadable, NaN/Inf, silent: ``read_audio``) is skipped when
    ``skip_bad_audio``: the example carries the problem, ``collate`` leaves it out of the batch and
    lists it in ``AudioBatch.skipped``, and whoever consumes the batches counts it
    (``SkippedUtterances``). Otherwise AudioError names the utterance and file. ``augment``
    (enabled) perturbs every example with the draws of (seed, epoch, index) and keeps the clean
    input in ``clean_audio``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        labels: Mapping[str, np.ndarray] | None = None,
        label_rate: float = 50.0,
        target_fn: Callable[[str], Sequence[int]] | None = None,
        max_sample_size: int | None = 250_000,
        min_sample_size: int = 0,
        random_crop: bool = True,
        seed: int = 1,
        augment: AugmentConfig | None = None,
        skip_bad_audio: bool = True,
    ):
        self.data_dir = Path(data_dir)
        self.skip_bad_audio = skip_bad_audio
        self.augmenter = None
        if augment is not None and augment.enabled:
            from speechssl.data.augment import Augmenter  # scipy: only when augmenting

            self.augmenter = Augmenter(augment)
        wav_scp = read_table(self.data_dir / "wav.scp")
        num_samples_file = self.data_dir / "utt2num_samples"
        if not num_samples_file.is_file():
            raise DataDirError(
                f"{num_samples_file}: file not found (run `speechssl data complete {self.data_dir}`)"
            )
        num_samples = {k: int(v) for k, v in read_table(num_samples_file).items()}
        texts = read_table(self.data_dir / "text") if target_fn is not None else {}
        self.utt_ids: list[str] = []
        self.paths: list[str] = []
        lengths = []
        for utt, path in wav_scp.items():
            if utt not in num_samples:
                raise DataDirError(f"{num_samples_file}: no entry for utterance '{utt}'")
            if num_samples[utt] < min_sample_size:
                continue
            self.utt_ids.append(utt)
            self.paths.append(path)
            lengths.append(num_samples[utt])
        self.num_filtered = len(wav_scp) - len(self.utt_ids)
        if self.num_filtered:
            logger.info(
                "%s: skipped %d of %d utterances shorter than %d samples",
                self.data_dir,
                self.num_filtered,
                len(wav_scp),
                min_sample_size,
            )
        if not self.utt_ids:
            raise DataDirError(f"{self.data_dir}: no utterance of at least {min_sample_size} samples")
        self.lengths = np.array(lengths, dtype=np.int64)
        self.max_sample_size = max_sample_size
        self.random_crop = random_crop
        self.seed = seed
        self.epoch = 0
        self.labels = labels
        self.label_rate = label_rate
        if labels is not None:
            missing = [u for u in self.utt_ids if u not in labels]
            if missing:
                raise DataDirError(f"{self.data_dir}: no frame labels for utterance '{missing[0]}'")
        self.targets = None
        if target_fn is not None:
            missing = [u for u in self.utt_ids if u not in texts]
            if missing:
                raise DataDirError(f"{self.data_dir / 'text'}: no transcript for utterance '{missing[0]}'")
            self.targets = [np.asarray(target_fn(texts[u]), dtype=np.int64) for u in self.utt_ids]

    def __len__(self) -> int:
        return len(self.utt_ids)

    @property
    def sizes(self) -> np.ndarray:
        """shape (utterances,): samples of each example after cropping (what the sampler packs)."""
        if self.max_sample_size is None:
            return self.lengths
        return np.minimum(self.lengths, self.max_sample_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops ``__getitem__`` returns."""
        self.epoch = epoch

    def crop_offset(self, index: int, length: int, epoch: int | None = None) -> int:
        """First sample of the crop of example ``index`` whose audio has ``length`` samples, in
        ``epoch`` (default: the current one)."""
        if self.max_sample_size is None or length <= self.max_sample_size or not self.random_crop:
            return 0
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])
        return int(rng.integers(0, length - self.max_sample_size + 1))

    def __getitem__(self, index: int) -> Example:
        example = self.clean_example(index)
        if self.augmenter is None or example.problem:
            return example
        augmented = self.augmenter(example.audio, self.seed, self.epoch, index)
        labels = example.labels
        if labels is not None and augmented.speed != 1.0:
            labels = stretch_labels(labels, int(round(len(labels) / augmented.speed)))
            labels = crop_labels(labels, 0, len(augmented.audio), self.label_rate)
        return Example(example.utt, augmented.audio, labels, example.targets, clean_audio=augmented.clean)

    def clean_example(self, index: int, epoch: int | None = None) -> Example:
        """Example ``index`` cropped as in ``epoch`` (default: the current one), never augmented."""
        utt, path = self.utt_ids[index], self.paths[index]
        try:
            audio = read_audio(path)
            if len(audio) != self.lengths[index]:  # a truncated file decodes without an error
                raise AudioError(
                    f"{path}: {len(audio)} samples but utt2num_samples says {self.lengths[index]}"
                    " (truncated or replaced?); fix it with `speechssl data validate DIR --fix OUT`"
                )
        except AudioError as error:
            if not self.skip_bad_audio:
                raise AudioError(f"utterance '{utt}': {error}") from None
            return Example(utt=utt, audio=np.zeros(0, np.float32), problem=f"utterance '{utt}': {error}")
        offset = self.crop_offset(index, len(audio), epoch)
        size = len(audio) if self.max_sample_size is None else min(len(audio), self.max_sample_size)
        cropped = audio[offset : offset + size]
        labels = None
        if self.labels is not None:
            labels = self.labels[utt]
            if size < len(audio):
                labels = crop_labels(labels, offset, size, self.label_rate)
        targets = self.targets[index] if self.targets is not None else None
        return Example(utt=utt, audio=cropped, labels=labels, targets=targets)


def _pad_int(rows: list[np.ndarray], width: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad int64 rows with LABEL_PAD: (batch, max(longest, width)) and lengths (batch,)."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    longest = max(int(lengths.max()) if rows else 0, width)
    padded = torch.full((len(rows), longest), LABEL_PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = torch.from_numpy(np.asarray(row, dtype=np.int64))
    return padded, lengths


# frame labels are padded for static shapes as if at this rate (the highest in use: 10 ms frames)
STATIC_LABEL_RATE = 100


def collate(examples: list[Example], static_lengths: Sequence[int] = ()) -> AudioBatch:
    """Zero-pad audio (and clean_audio) to the longest example: audio (B, T), lengths (B,);
    labels/targets padded.

    Examples with a ``problem`` are left out and listed in ``skipped`` (B may be 0).
    With ``static_lengths`` (increasing sample counts) T is the smallest of them that holds the
    longest example, and frame labels are padded to T / 16000 * ``STATIC_LABEL_RATE`` labels, so
    that batches come in a few shapes (CTC targets keep their own length: they do not set shapes).
    """
    skipped = {e.utt: e.problem for e in examples if e.problem}
    examples = [e for e in examples if not e.problem]
    lengths = torch.tensor([len(e.audio) for e in examples], dtype=torch.long)
    width = int(lengths.max()) if examples else 0
    if static_lengths and examples:
        width = int(round_up_sizes([width], static_lengths)[0])
    audio = torch.zeros(len(examples), width, dtype=torch.float32)
    for i, example in enumerate(examples):
        audio[i, : len(example.audio)] = torch.from_numpy(example.audio)
    batch = AudioBatch(
        audio=audio, audio_lengths=lengths, utt_ids=[e.utt for e in examples], skipped=skipped
    )
    if not examples:
        return batch
    if examples[0].clean_audio is not None:
        batch.clean_audio = torch.zeros_like(audio)
        for i, example in enumerate(examples):
            batch.clean_audio[i, : len(example.clean_audio)] = torch.from_numpy(example.clean_audio)
    if examples[0].labels is not None:
        label_width = width * STATIC_LABEL_RATE // SAMPLE_RATE if static_lengths else 0
        batch.labels, batch.label_lengths = _pad_int([e.labels for e in examples], label_width)
    if examples[0].targets is not None:
        batch.targets, batch.target_lengths = _pad_int([e.targets for e in examples])
    return batch


class SkippedUtterances:
    """Utterances left out of batches (``AudioBatch.skipped``), each logged once with its reason.

    ``reasons`` maps the utterance id to its one-line problem; it survives ``--resume`` through
    the run state and goes into ``summary.json``.
    """

    def __init__(self, reasons: dict[str, str] | None = None, what: str = "training") -> None:
        self.reasons: dict[str, str] = dict(reasons or {})
        self.what = what

    def add(self, batch: AudioBatch) -> None:
        for utt, problem in batch.skipped.items():
            if utt not in self.reasons:
                self.reasons[utt] = problem
                logger.warning("skipped in %s (%d so far): %s", self.what, len(self.reasons), problem)

    def merge(self, others: list[dict[str, str]]) -> None:
        """Add the reasons recorded by other ranks."""
        for reasons in others:
            for utt, problem in reasons.items():
                self.reasons.setdefault(utt, problem)


def worker_init(worker_id: int) -> None:
    """DataLoader worker setup: one intra-op thread (the trainer's cores stay with the model)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
