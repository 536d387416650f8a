"""``REF_DIR/ref.txt`` for a data dir: letter frame labels from a fine-tuned CTC model's alignment.

See ``speechssl.kmeans.reference`` for what the references are and how blanks are labelled.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from speechssl.data.batch import AudioBatch
from speechssl.features.dump import length_batches, load_utterances
from speechssl.io.audio import SAMPLE_RATE, read_audio
from speechssl.io.kaldi_dir import DataDir
from speechssl.kmeans.labels import write_label_dir
from speechssl.kmeans.quality import REF_FILE
from speechssl.kmeans.reference import AlignmentError, reference_frames, reference_symbols
from speechssl.progress import progress_bar
from speechssl.train.finetuned import load_ctc_model

logger = logging.getLogger(__name__)


def align_data_dir(
    ctc_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    ref_dir: str | os.PathLike,
    device: str = "cpu",
    max_batch_seconds: float = 60.0,
) -> Path:
    """Force-align every transcript of ``data_dir``; writes ``ref.txt``, ``dict.txt``, ``label_rate``.

    ``ctc_dir`` is a fine-tuning folder (``speechssl.train.finetuned.load_ctc_model``: config.yaml,
    tokenizer.json, checkpoint_best.safetensors).

    Returns:
        ``ref_dir``.
    Raises:
        AlignmentError: an utterance without a transcript, or one that cannot be aligned (named).
    """
    model, tokenizer = load_ctc_model(ctc_dir)
    model.to(device)
    data = DataDir.load(data_dir)
    utterances = load_utterances(data_dir)
    missing = [u.utt for u in utterances if u.utt not in data.text]
    if missing:
        raise AlignmentError(f"{data_dir}/text: no transcript for utterance '{missing[0]}'")
    frame_rate = SAMPLE_RATE / model.backbone.config.downsampling
    batches = length_batches(utterances, int(max_batch_seconds * SAMPLE_RATE))
    frames: dict[str, np.ndarray] = {}
    with torch.no_grad(), progress_bar(total=len(utterances), desc="align", unit="utt") as progress:
        for batch in batches:
            samples = [read_audio(u.path) for u in batch]
            lengths = torch.tensor([len(s) for s in samples])
            audio = torch.zeros(len(samples), int(lengths.max()))
            for row, s in enumerate(samples):
                audio[row, : len(s)] = torch.from_numpy(s)
            ids = [u.utt for u in batch]
            log_probs, frame_lengths = model.log_probs(AudioBatch(audio.to(device), lengths.to(device), ids))
            for row, u in enumerate(batch):
                targets = tokenizer.encode(data.text[u.utt], u.utt)
                emissions = log_probs[row, : int(frame_lengths[row])].cpu()
                frames[u.utt] = reference_frames(emissions, targets, tokenizer.blank, u.utt)
            progress.update(len(batch))

    def in_order() -> Iterator[tuple[str, np.ndarray]]:
        for u in utterances:
            yield u.utt, frames[u.utt]

    symbols = reference_symbols(tokenizer.tokens, tokenizer.blank)
    write_label_dir(ref_dir, in_order(), symbols, frame_rate, filename=REF_FILE)
    logger.info("wrote %s/%s: %d utterances at %g Hz", ref_dir, REF_FILE, len(utterances), frame_rate)
    return Path(ref_dir)
