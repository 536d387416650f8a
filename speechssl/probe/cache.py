"""Hidden states of an upstream, dumped once per split as feature shards and reused by every probe.

Layout: ``<features_root>/<upstream name>/<split>/0_1.{npy,len,done}``, each frame holding all layers
side by side; read back as one (num_layers, frames, layer_dim) tensor per utterance.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from speechssl.features.dump import dump_shard, load_utterances
from speechssl.features.shards import is_done, open_all_shards
from speechssl.io.audio import SAMPLE_RATE
from speechssl.probe.upstreams import HiddenStateExtractor

logger = logging.getLogger(__name__)


def split_dir(features_root: str | os.PathLike, extractor: HiddenStateExtractor,
              data_dir: str | os.PathLike) -> Path:
    """Feature folder of one (upstream, split): the split is named after its data dir."""
    return Path(features_root) / extractor.name / Path(data_dir).resolve().name


def _check_reusable(feat_dir: Path, extractor: HiddenStateExtractor, data_dir: str | os.PathLike) -> None:
    """Refuse a cache made by another upstream or from another data dir (a clear one-line error)."""
    shard = open_all_shards(feat_dir)[0]
    if shard.meta.source != extractor.source or shard.meta.kind != extractor.kind:
        raise ValueError(
            f"{feat_dir}: features were dumped from {shard.meta.source!r} ({shard.meta.kind}), not "
            f"{extractor.source!r} ({extractor.kind}); delete that folder or use another features root"
        )
    cached = [utt for utt, _ in shard.lengths]
    wanted = [u.utt for u in load_utterances(data_dir)]
    if cached != wanted:
        raise ValueError(
            f"{feat_dir}: cached utterances differ from {data_dir}/wav.scp ({len(cached)} vs "
            f"{len(wanted)}); delete that folder or use another features root"
        )


def dump_hidden_states(
    extractor: HiddenStateExtractor,
    data_dir: str | os.PathLike,
    features_root: str | os.PathLike,
    max_batch_seconds: float = 60.0,
) -> Path:
    """Dump every hidden state of ``data_dir`` once (batched by length); returns the feature folder.

    A finished folder of the same upstream and utterances is reused without recomputing.
    """
    feat_dir = split_dir(features_root, extractor, data_dir)
    if is_done(feat_dir, 0, 1):
        _check_reusable(feat_dir, extractor, data_dir)
        logger.info("%s: reusing cached %s features", feat_dir, extractor.kind)
        return feat_dir
    feat_dir.mkdir(parents=True, exist_ok=True)
    dump_shard(data_dir, feat_dir, 0, 1, extractor, int(max_batch_seconds * SAMPLE_RATE))
    return feat_dir


def load_hidden_states(feat_dir: str | os.PathLike, utts: set[str] | None = None) -> dict[str, torch.Tensor]:
    """``utt -> (num_layers, frames, layer_dim)`` float32 tensors of a dumped split (``utts`` only).

    Raises:
        ShardError: a missing or unfinished dump; ValueError: a folder of another feature kind.
    """
    hidden: dict[str, torch.Tensor] = {}
    for shard in open_all_shards(feat_dir):
        kind = shard.meta.kind
        layers, _, layer_dim = kind.removeprefix("hidden").partition("x")
        if not kind.startswith("hidden") or not (layers.isdigit() and layer_dim.isdigit()):
            raise ValueError(f"{shard.path}: {kind!r} features are not probe hidden states")
        num_layers, layer_dim_int = int(layers), int(layer_dim)
        for utt, frames in shard.utterances():
            if utts is None or utt in utts:
                rows = torch.from_numpy(frames.reshape(len(frames), num_layers, layer_dim_int).copy())
                hidden[utt] = rows.permute(1, 0, 2).contiguous()
    return hidden


def cached_frame_counts(feat_dir: str | os.PathLike) -> dict[str, int]:
    """``utt -> frames`` of a dumped split, read from its lengths (no feature is loaded)."""
    return {utt: frames for shard in open_all_shards(feat_dir) for utt, frames in shard.lengths}
