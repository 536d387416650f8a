"""CTC emissions (per-frame log-probabilities) of a data dir, computed once and cached on disk.

The cache is a safetensors file (one (frames, vocab) tensor per utterance) tagged with its source.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from speechssl.data.dataset import AudioDataset, collate
from speechssl.data.sampler import pack_batches
from speechssl.decode.greedy import best_path
from speechssl.io.atomic import atomic_path
from speechssl.io.kaldi_dir import read_table
from speechssl.objectives.ctc import CTCObjective
from speechssl.progress import progress_bar
from speechssl.score import ScoreResult, score_texts
from speechssl.text.tokenizer import Tokenizer

log = logging.getLogger(__name__)


def eval_dataset(data_dir: str | os.PathLike) -> AudioDataset:
    """Every utterance of ``data_dir``, whole (no cropping, none dropped): audio that cannot be
    used stops decoding with AudioError naming it, since a WER over a silently smaller test set
    would not be comparable."""
    return AudioDataset(
        data_dir, max_sample_size=None, min_sample_size=0, random_crop=False, skip_bad_audio=False
    )


@torch.no_grad()
def compute_emissions(
    objective: CTCObjective,
    dataset: AudioDataset,
    max_tokens: int = 1_600_000,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    desc: str = "emissions",
) -> dict[str, torch.Tensor]:
    """Log-probabilities of every utterance: ``utt -> (frames, vocab)`` float32 on CPU.

    Batches hold length-sorted utterances up to ``max_tokens`` padded samples. The objective is
    put in eval mode (no masking, no dropout); its train/eval mode is restored afterwards.
    Utterances the dataset skipped (``AudioBatch.skipped``) get no emissions.
    """
    was_training = objective.training
    objective.eval()
    order = np.argsort(dataset.sizes, kind="stable")
    batches = pack_batches(dataset.sizes, order, max_tokens, max_batch_size=10_000)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers)
    emissions: dict[str, torch.Tensor] = {}
    for batch in progress_bar(loader, desc=desc, total=len(batches), leave=False, unit="batch"):
        if batch.size == 0:
            continue
        batch = batch.to(device)
        log_probs, lengths = objective.log_probs(batch)
        for i, utt in enumerate(batch.utt_ids):
            emissions[utt] = log_probs[i, : int(lengths[i])].cpu().contiguous()
    objective.train(was_training)
    return emissions


def greedy_texts(emissions: dict[str, torch.Tensor], tokenizer: Tokenizer) -> dict[str, str]:
    """Best-path transcripts ``utt -> text`` of cached emissions."""
    return {utt: tokenizer.decode(best_path(e, tokenizer.blank)) for utt, e in emissions.items()}


def greedy_score(
    objective: CTCObjective,
    dataset: AudioDataset,
    tokenizer: Tokenizer,
    max_tokens: int = 1_600_000,
    device: torch.device | str = "cpu",
) -> ScoreResult:
    """Greedy WER/CER of ``objective`` on ``dataset`` (its data dir's ``text`` is the reference).

    Utterances the dataset skipped (the validation loss counts them) are left out of the score.
    """
    emissions = compute_emissions(objective, dataset, max_tokens, device, desc="greedy dev")
    references = {u: t for u, t in read_table(dataset.data_dir / "text").items() if u in emissions}
    return score_texts(references, greedy_texts(emissions, tokenizer), hyp_name=str(dataset.data_dir))


def fingerprint(checkpoint: str | os.PathLike, data_dir: str | os.PathLike) -> str:
    """Identifies a (checkpoint file version, data dir) pair: paths, sizes and mtimes hashed."""
    parts = []
    for path in (Path(checkpoint), Path(data_dir) / "wav.scp"):
        stat = path.stat()
        parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def load_cached(path: str | os.PathLike, expected: str) -> dict[str, torch.Tensor] | None:
    """Cached emissions at ``path`` when their fingerprint is ``expected``; None otherwise."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("fingerprint") != expected:
                log.info("%s: stale emissions cache (model or data changed), recomputing", path)
                return None
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        log.warning("%s: unreadable emissions cache (%s), recomputing", path, error)
        return None


def save_cached(path: str | os.PathLike, emissions: dict[str, torch.Tensor], tag: str) -> None:
    """Write ``emissions`` with fingerprint ``tag`` atomically."""
    with atomic_path(path) as tmp:
        save_file(emissions, str(tmp), metadata={"fingerprint": tag})


def cached_emissions(
    objective: CTCObjective,
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    cache_path: str | os.PathLike,
    max_tokens: int = 1_600_000,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Emissions of ``data_dir`` from ``cache_path`` when fresh, else computed and cached."""
    tag = fingerprint(checkpoint, data_dir)
    emissions = load_cached(cache_path, tag)
    if emissions is None:
        emissions = compute_emissions(
            objective, eval_dataset(data_dir), max_tokens, device, desc=f"emissions {Path(data_dir).name}"
        )
        save_cached(cache_path, emissions, tag)
    return emissions
