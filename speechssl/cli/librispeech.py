"""``speechssl librispeech download|prep|segment|lm``: fetch LibriSpeech / Libri-light / LM files, data dirs.

The heavy lifting lives in ``speechssl.corpora.librispeech``; this module only parses arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechssl.corpora.librispeech.archives import (
    GROUPS,
    LIBRISPEECH_PARTS,
    RESOURCES,
    UNLABELLED_SETS,
    read_checksum_file,
)
from speechssl.corpora.librispeech.download import DownloadPlan, download
from speechssl.corpora.librispeech.libri_light import (
    LIBRILIGHT_SPLITS,
    librilight_split,
)
from speechssl.corpora.librispeech.manifest import write_manifests
from speechssl.corpora.librispeech.official_lm import prepare_official_lm
from speechssl.corpora.librispeech.prep import librispeech_part, merge, write_data_dir


def run_download(args: argparse.Namespace) -> int:
    plan = DownloadPlan(
        dest=Path(args.dest),
        mirror=args.mirror,
        checksums=read_checksum_file(args.checksums) if args.checksums else None,
        keep_archives=not args.remove_archives,
        timeout=args.timeout,
    )
    for location in download(args.parts, plan):
        print(location)
    return 0


def run_prep(args: argparse.Namespace) -> int:
    src, out = Path(args.src), Path(args.out)
    parts = []
    for part in args.part:
        if part in LIBRILIGHT_SPLITS:
            parts.append(librilight_split(src, part, args.fold))
        elif part in LIBRISPEECH_PARTS:
            parts.append(librispeech_part(src, part))
        else:
            valid = ", ".join(LIBRISPEECH_PARTS + LIBRILIGHT_SPLITS)
            raise ValueError(f"unknown part '{part}'; valid: {valid}")
    data = merge(parts)
    write_data_dir(data, out, validate=not args.no_validate)
    if args.tsv_dir:
        write_manifests(data, Path(args.tsv_dir), args.tsv_name or out.name)
    return 0


def run_segment(args: argparse.Namespace) -> int:
    from speechssl.corpora.librispeech.unlabelled import SegmentPlan, segment_unlabelled
    from speechssl.corpora.librispeech.vad import VadConfig

    vad = VadConfig(max_seconds=args.max_seconds, drop_seconds=args.drop_seconds,
                    min_silence=args.min_silence, margin_db=args.margin_db)
    sources = [Path(args.src) / subset for subset in UNLABELLED_SETS[args.hours]]
    plan = SegmentPlan(sources=sources, audio_out=Path(args.audio_out), vad=vad, workers=args.nj)
    data = segment_unlabelled(plan)
    out = Path(args.out)
    write_data_dir(data, out, validate=not args.no_validate)
    if args.tsv_dir:
        write_manifests(data, Path(args.tsv_dir), out.name)
    hours = sum(data.utt2dur.values()) / 3600
    print(f"{out}: {len(data.wav_scp)} chunks, {hours:.2f} h")
    return 0


def run_lm(args: argparse.Namespace) -> int:
    files = prepare_official_lm(Path(args.src), Path(args.out))
    print(f"{args.out}: {files.binary.name}, lexicon of {files.num_words} words")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="librispeech_command", metavar="STEP", required=True)

    dl = sub.add_parser("download", help="download, verify and extract parts (resumable)")
    names = ", ".join(list(RESOURCES) + list(GROUPS))
    dl.add_argument("--parts", nargs="+", required=True, metavar="PART", help=f"any of: {names}")
    dl.add_argument("--dest", required=True, help="download root (gets LibriSpeech/, lm/, archives/)")
    dl.add_argument("--mirror", default=None,
                    help="URL or local folder holding the files under their official names")
    dl.add_argument("--checksums", default=None, metavar="FILE",
                    help="md5sum/sha256sum-style file replacing the built-in published checksums")
    dl.add_argument("--remove-archives", action="store_true",
                    help="delete each .tar.gz after a verified extraction")
    dl.add_argument("--timeout", type=float, default=60.0, help="seconds before a silent server is an error")
    dl.set_defaults(run=run_download)

    prep = sub.add_parser("prep", help="make a validated Kaldi data dir from downloaded parts")
    prep.add_argument("--src", required=True, help="download root given to 'download --dest'")
    prep.add_argument("--part", nargs="+", required=True, metavar="NAME",
                      help=f"LibriSpeech parts and/or Libri-light splits {', '.join(LIBRILIGHT_SPLITS)}; "
                      "several are merged into one dir")
    prep.add_argument("--out", required=True, help="data dir to write (e.g. data/train_960)")
    prep.add_argument("--fold", type=int, default=0, help="which 10-minute fold the 10m split uses (0-5)")
    prep.add_argument("--tsv-dir", default=None,
                      help="also write fairseq manifests (NAME.tsv/.ltr/.wrd, sorted by duration) here")
    prep.add_argument("--tsv-name", default=None, help="manifest base name (default: the --out folder name)")
    prep.add_argument("--no-validate", action="store_true", help="skip the data validator")
    prep.set_defaults(run=run_prep)

    seg = sub.add_parser("segment", help="cut Libri-light unlabelled recordings at energy-VAD silences "
                         "into <= 30 s chunks: FLACs, a data dir and a manifest (resumable)")
    seg.add_argument("--src", required=True, help="download root holding the extracted small/ medium/ large/")
    seg.add_argument("--hours", required=True, choices=sorted(UNLABELLED_SETS),
                     help="the paper's set: 600 (small), 6k (+ medium) or 60k (+ large)")
    seg.add_argument("--audio-out", required=True, help="folder for the chunk FLACs (about the subsets' size)")
    seg.add_argument("--out", required=True, help="data dir to write (e.g. data/ll_60k)")
    seg.add_argument("--tsv-dir", default=None, help="also write the fairseq manifest NAME.tsv here")
    seg.add_argument("--nj", type=int, default=1, help="recordings cut in parallel (default 1)")
    seg.add_argument("--max-seconds", type=float, default=30.0, help="longest chunk (default 30)")
    seg.add_argument("--drop-seconds", type=float, default=2.0, help="drop shorter chunks (default 2)")
    seg.add_argument("--min-silence", type=float, default=0.3, help="shortest pause cut at (default 0.3 s)")
    seg.add_argument("--margin-db", type=float, default=12.0,
                     help="speech = frame energy this far above the noise floor (default 12 dB)")
    seg.add_argument("--no-validate", action="store_true", help="skip the data validator")
    seg.set_defaults(run=run_segment)

    lm = sub.add_parser("lm", help="official 4-gram + lexicon as an LM folder for 'speechssl decode --lm'")
    lm.add_argument("--src", required=True, help="download root holding lm/ (download --parts lm)")
    lm.add_argument("--out", required=True, help="LM folder to write: lm.bin, lexicon.txt, tokens.txt")
    lm.set_defaults(run=run_lm)
