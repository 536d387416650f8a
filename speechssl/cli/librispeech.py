"""``speechssl librispeech download|prep|lm``: fetch LibriSpeech / Libri-light / LM files, make data dirs.

The heavy lifting lives in ``speechssl.recipes.librispeech``; this module only parses arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from speechssl.recipes.librispeech.archives import (
    GROUPS,
    LIBRISPEECH_PARTS,
    RESOURCES,
    read_checksum_file,
)
from speechssl.recipes.librispeech.download import DownloadPlan, download
from speechssl.recipes.librispeech.libri_light import (
    LIBRILIGHT_SPLITS,
    librilight_split,
)
from speechssl.recipes.librispeech.manifest import write_manifests
from speechssl.recipes.librispeech.official_lm import prepare_official_lm
from speechssl.recipes.librispeech.prep import librispeech_part, merge, write_data_dir


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

    lm = sub.add_parser("lm", help="official 4-gram + lexicon as an LM folder for 'speechssl decode --lm'")
    lm.add_argument("--src", required=True, help="download root holding lm/ (download --parts lm)")
    lm.add_argument("--out", required=True, help="LM folder to write: lm.bin, lexicon.txt, tokens.txt")
    lm.set_defaults(run=run_lm)
