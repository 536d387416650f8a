"""``speechssl decode``: greedy and KenLM lexicon beam-search decoding of a fine-tuned CTC model.

Writes ``OUT/greedy/text``, ``OUT/lm/text`` (with ``--lm``), ``OUT/text`` (the best) and ``decode.json``.
The job is ``speechssl.decode.job.run_decode``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", required=True, help="fine-tuning folder (config.yaml, tokenizer, checkpoints)")
    parser.add_argument("--data", required=True, help="Kaldi data dir to decode (scored when it has text)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint name")
    parser.add_argument("--lm", default="", help="LM folder from 'speechssl lm build' (beam search)")
    parser.add_argument("--lm-weight", type=float, default=2.0, help="LM weight (default 2.0)")
    parser.add_argument("--word-score", type=float, default=0.0, help="word insertion score (default 0)")
    parser.add_argument("--beam-size", type=int, default=50, help="beam size (default 50)")
    parser.add_argument("--beam-threshold", type=float, default=25.0, help="beam score threshold (default 25)")
    parser.add_argument("--tune-on", default="", metavar="DEV_DIR",
                        help="grid-search --lm-weights x --word-scores on this data dir first")
    parser.add_argument("--lm-weights", default="0,0.5,1,1.5,2,3", help="tuning grid (default 0,0.5,1,1.5,2,3)")
    parser.add_argument("--word-scores", default="-1,0,1,2", help="tuning grid (default -1,0,1,2)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto")
    parser.add_argument("--max-tokens", type=int, default=1_600_000, help="padded samples per batch")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechssl.decode.job import DecodeConfig, run_decode

    cfg = DecodeConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DecodeConfig)})
    report = run_decode(cfg)
    for system in ("greedy", "lm"):
        if isinstance(report.get(system), dict) and "wer" in report[system]:
            print(f"{Path(cfg.out)} {system}: WER {100 * report[system]['wer']:.2f}% CER {100 * report[system]['cer']:.2f}%")
    return 0
