"""``speechssl kmeans``: fit k-means on feature shards, assign HuBERT labels, measure label quality.

Subcommands: ``fit``, ``assign``, ``align`` (reference letter alignments) and ``quality``
(against a data dir's true phones or such a reference).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kmeans_command", metavar="SUBCOMMAND", required=True)

    fit = sub.add_parser("fit", help="MiniBatchKMeans on a subsample of feature shards")
    fit.add_argument("--feats", required=True, help="feature dir (speechssl features ...)")
    fit.add_argument("--k", type=int, required=True, help="number of clusters")
    fit.add_argument("--out", required=True, help="model file to write (.safetensors)")
    fit.add_argument("--percent", type=float, default=1.0,
                     help="fraction (0, 1] of each shard's frames to fit on (default 1.0)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--streaming", action="store_true",
                     help="draw each minibatch from the shards instead of holding the subsample in "
                          "memory: memory flat in the corpus size (for subsamples that do not fit)")
    fit.set_defaults(run=run_fit)

    assign = sub.add_parser("assign", help="nearest-centroid labels of every utterance")
    assign.add_argument("--feats", required=True, help="feature dir of the data dir")
    assign.add_argument("--model", required=True, help="k-means model (.safetensors)")
    assign.add_argument("--data", required=True, help="Kaldi data dir (order and completeness)")
    assign.add_argument("--out", required=True, help="label dir LABEL_DIR to write")
    assign.add_argument("--label-rate", type=float, default=None,
                        help="labels per second, e.g. 100 or 50 (default: the feature frame rate)")
    assign.add_argument("--device", default=None, choices=("cpu", "cuda"),
                        help="where distances are computed (default cuda when available)")
    assign.set_defaults(run=run_assign)

    align = sub.add_parser("align", help="reference letter frame labels by CTC forced alignment")
    align.add_argument("--checkpoint", required=True, help="fine-tuned CTC folder (with tokenizer)")
    align.add_argument("--data", required=True, help="Kaldi data dir with text")
    align.add_argument("--out", required=True, help="reference dir REF_DIR (ref.txt) to write")
    align.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    align.set_defaults(run=run_align)

    quality = sub.add_parser("quality", help="PNMI, phone purity, cluster purity")
    quality.add_argument("--labels", required=True, help="label dir (labels.txt)")
    reference = quality.add_mutually_exclusive_group(required=True)
    reference.add_argument("--phones", metavar="DATA_DIR",
                           help="data dir whose true phone alignments (its phones table) are the "
                                "reference, at the label rate")
    reference.add_argument("--reference", help="reference dir (ref.txt of 'kmeans align')")
    quality.set_defaults(run=run_quality)


def run_fit(args: argparse.Namespace) -> int:
    from speechssl.kmeans.fit import KMeansConfig, fit_kmeans
    from speechssl.kmeans.model_io import save_kmeans
    from speechssl.kmeans.streaming import fit_kmeans_streaming

    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    fit = fit_kmeans_streaming if args.streaming else fit_kmeans
    model = fit(args.feats, KMeansConfig(k=args.k, percent=args.percent, seed=args.seed))
    save_kmeans(model, args.out)
    print(f"{args.out}: k={model.k} dim={model.dim} on {model.num_frames} {model.feature_kind} "
          f"frames, inertia {model.inertia:.4g}")
    return 0


def run_assign(args: argparse.Namespace) -> int:
    from speechssl.kmeans.assign import assign_labels
    from speechssl.kmeans.model_io import load_kmeans

    model = load_kmeans(args.model)
    assign_labels(args.feats, model, args.data, args.out, args.label_rate, args.device)
    print(f"{args.out}: labels of {args.data} from {args.model}")
    return 0


def run_align(args: argparse.Namespace) -> int:
    from speechssl.kmeans.align import align_data_dir

    align_data_dir(args.checkpoint, args.data, args.out, args.device)
    print(f"{args.out}: reference letter alignments of {args.data}")
    return 0


def run_quality(args: argparse.Namespace) -> int:
    from speechssl.kmeans.quality import format_quality, measure_quality

    quality = measure_quality(args.labels, args.reference, args.phones)
    print(format_quality(Path(args.labels).name, quality))
    if quality.unaligned_utts:
        print(f"{quality.unaligned_utts} labelled utterances have no phone alignment (espeak-ng "
              f"voices give no timings) and are left out; {quality.num_utts} counted")
    return 0
