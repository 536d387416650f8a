"""``speechssl features``: dump MFCC (100 Hz) or Transformer-layer (50 Hz) features in shards.

Subcommands: ``mfcc`` (speechssl.features.mfcc) and ``layer`` (speechssl.features.layer_features).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from speechssl.cli.main import CommandError

if TYPE_CHECKING:
    from speechssl.features.dump import FeatureExtractor


def _add_shard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="Kaldi data dir (wav.scp, utt2num_samples)")
    parser.add_argument("--out", required=True, help="feature dir FEAT_DIR for <rank>_<nshard>.npy/.len")
    parser.add_argument("--nshard", type=int, default=1, help="number of shards (default 1)")
    parser.add_argument("--rank", type=int, default=None,
                        help="shard to dump, 0..nshard-1 (default: every shard, one after another)")


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="features_command", metavar="SUBCOMMAND", required=True)

    mfcc = sub.add_parser("mfcc", help="39-d Kaldi MFCC + deltas + delta-deltas at 100 Hz")
    _add_shard_arguments(mfcc)
    mfcc.add_argument("--backend", default="kaldi", choices=("kaldi", "psf"),
                      help="static MFCC implementation: kaldi (torchaudio) or psf "
                           "(python-speech-features) (default kaldi)")
    mfcc.set_defaults(run=run_mfcc)

    layer = sub.add_parser("layer", help="output of one Transformer layer of a checkpoint at 50 Hz")
    _add_shard_arguments(layer)
    layer.add_argument("--checkpoint", required=True,
                       help="checkpoint folder or .safetensors file (config.yaml beside it)")
    layer.add_argument("--layer", type=int, required=True, help="layer, 1-based as fairseq")
    layer.add_argument("--final-norm", action="store_true",
                       help="pre-LN models: dump the top layer after the encoder's final LayerNorm "
                            "(Hugging Face's last_hidden_state); default: before it, as fairseq's "
                            "extract_features(layer=L) and every other layer")
    layer.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                       help="auto: cuda when this machine has one, else cpu (default cpu)")
    layer.add_argument("--max-batch-seconds", type=float, default=60.0,
                       help="padded audio seconds per batch (default 60)")
    layer.set_defaults(run=run_layer)


def _ranks(args: argparse.Namespace) -> list[int]:
    if args.nshard < 1:
        raise CommandError(f"--nshard must be at least 1, got {args.nshard}")
    if args.rank is None:
        return list(range(args.nshard))
    if not 0 <= args.rank < args.nshard:
        raise CommandError(f"--rank {args.rank}: expected 0..{args.nshard - 1}")
    return [args.rank]


def _dump(args: argparse.Namespace, extractor: FeatureExtractor, max_batch_samples: int) -> int:
    from speechssl.features.dump import dump_shard

    for rank in _ranks(args):
        path = dump_shard(args.data, args.out, rank, args.nshard, extractor, max_batch_samples)
        print(f"{path}: {extractor.kind} features, dim {extractor.dim}, {extractor.frame_rate:g} Hz")
    return 0


def run_mfcc(args: argparse.Namespace) -> int:
    from speechssl.features.mfcc import MfccConfig, MfccExtractor

    return _dump(args, MfccExtractor(MfccConfig(backend=args.backend)), max_batch_samples=1)


def run_layer(args: argparse.Namespace) -> int:
    import torch

    from speechssl.features.layer_features import (
        LayerExtractor,
        LayerFeatureConfig,
        load_backbone,
    )
    from speechssl.io.audio import SAMPLE_RATE

    if args.device == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda: no CUDA device is available")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    budget = int(args.max_batch_seconds * SAMPLE_RATE)
    config = LayerFeatureConfig(
        layer=args.layer, final_norm=args.final_norm, device=device, max_batch_samples=budget
    )
    extractor = LayerExtractor(
        load_backbone(args.checkpoint), config, source=str(Path(args.checkpoint).resolve())
    )
    return _dump(args, extractor, budget)
