"""``speechssl data``: synthesise the offline mini corpus; validate, fix and complete Kaldi data dirs.

Subcommands: ``synth`` (speechssl.corpora.mini), ``validate`` (speechssl.data.validate, ``--fix``:
speechssl.data.fix), ``complete`` (speechssl.data.fix) and ``pack`` (speechssl.data.pack).
"""

from __future__ import annotations

import argparse
import sys
import time

from speechssl.cli.main import CommandError


def register(parser: argparse.ArgumentParser) -> None:
    from speechssl.corpora.mini.plans import PLANS

    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    synth = sub.add_parser("synth", help="generate the synthetic corpus (deterministic)")
    synth.add_argument(
        "--plan",
        default="mini",
        choices=sorted(PLANS),
        help="corpus size: smoke (~2 min, tests) or mini (~2.8 h, recipe)",
    )
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--nj", type=int, default=1, help="worker processes (default 1)")
    synth.add_argument("--out", default="data", help="DATA_ROOT to write (default data)")
    synth.set_defaults(run=run_synth)

    validate = sub.add_parser(
        "validate", help="check a Kaldi data dir, optionally write a fixed copy"
    )
    validate.add_argument("dir", help="data dir holding wav.scp, text, utt2spk, ...")
    validate.add_argument("--nj", type=int, default=2, help="threads decoding audio (default 2)")
    validate.add_argument(
        "--fix",
        metavar="OUT_DIR",
        default=None,
        help="write a copy without the bad utterances to OUT_DIR",
    )
    validate.set_defaults(run=run_validate)

    complete = sub.add_parser(
        "complete", help="write utt2dur, utt2num_samples and spk2utt of a plain Kaldi data dir"
    )
    complete.add_argument("dir", help="data dir holding wav.scp (and utt2spk)")
    complete.set_defaults(run=run_complete)

    pack = sub.add_parser(
        "pack", help="copy data dirs with Ogg/Opus audio and relative paths (for a remote machine)"
    )
    pack.add_argument("--data", default="data", help="DATA_ROOT holding the splits (default data)")
    pack.add_argument("--splits", default="pretrain,train,dev,test", help="comma-separated splits")
    pack.add_argument("--out", required=True, help="root of the packed copy")
    pack.add_argument(
        "--relative-to", default=".", help="wav.scp paths relative to this folder (default .)"
    )
    pack.add_argument("--nj", type=int, default=2, help="encoding processes (default 2)")
    pack.add_argument("--codec", default="opus", choices=["opus", "flac"],
                      help="opus: small, to carry (default); flac: lossless and fast to decode")
    pack.set_defaults(run=run_pack)


def run_synth(args: argparse.Namespace) -> int:
    from speechssl.corpora.mini import generate, get_plan

    if args.nj < 1:
        raise CommandError(f"--nj must be at least 1, got {args.nj}")
    start = time.time()
    digest = generate(get_plan(args.plan), args.seed, args.out, nj=args.nj)
    print(
        f"{args.out}: plan {args.plan} seed {args.seed} done in {time.time() - start:.1f} s, "
        f"digest {digest}"
    )
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from speechssl.data.fix import check_fix_target, fix_data_dir
    from speechssl.data.validate import bad_utterances, check_data_dir

    if args.fix is not None:  # before decoding every file
        check_fix_target(Path(args.dir), Path(args.fix))
    check = check_data_dir(args.dir, jobs=args.nj)
    problems = check.problems
    for problem in problems:
        print(problem.message(), file=sys.stderr)
    if args.fix is not None:
        print(fix_data_dir(args.dir, args.fix, check))
        return 0
    if problems:
        bad = len(bad_utterances(problems))
        print(
            f"{args.dir}: {len(problems)} problem(s); --fix would drop {bad} utterance(s)",
            file=sys.stderr,
        )
        return 1
    print(f"{args.dir}: OK")
    return 0


def run_complete(args: argparse.Namespace) -> int:
    from speechssl.data.fix import complete_data_dir

    done = complete_data_dir(args.dir)
    for line in done.problems:
        print(line, file=sys.stderr)
    print(done.summary(args.dir))
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from speechssl.data.pack import PackConfig, pack_corpus, packed_bytes

    if args.nj < 1:
        raise CommandError(f"--nj must be at least 1, got {args.nj}")
    config = PackConfig(
        data_root=args.data,
        splits=[s for s in args.splits.split(",") if s],
        out=args.out,
        relative_to=args.relative_to,
        nj=args.nj,
        codec=args.codec,
    )
    counts = pack_corpus(config)
    size = packed_bytes(args.out) / 2**20
    print(f"{args.out}: packed {counts} utterances, {size:.1f} MiB")
    return 0
