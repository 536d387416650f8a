"""``speechssl convert``: move backbone weights between speechssl, fairseq, HF and torchaudio.

Example: ``speechssl convert --from fairseq --to speechssl wav2vec_small.state.pt exp/w2v2_base``.
"""

from __future__ import annotations

import argparse
import logging

from speechssl.cli.options import add_overrides_argument
from speechssl.convert import FORMATS, convert
from speechssl.convert.huggingface import MODEL_TYPES

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    formats = sorted(FORMATS)
    parser.add_argument("--from", dest="src", required=True, choices=formats, help="input format")
    parser.add_argument("--to", dest="dst", required=True, choices=formats, help="output format")
    parser.add_argument(
        "--config",
        default=None,
        help="model config name (tiny/base/large) or YAML for what the weights cannot tell "
        "(strides, heads, pre-LN, dropouts); default: from the input, else BASE",
    )
    add_overrides_argument(parser, "layer_norm_first=true", "a BackboneConfig field")
    parser.add_argument(
        "--hf-model-type",
        default=None,
        choices=sorted(MODEL_TYPES),
        help="model_type written to an HF config.json (default: the training objective's own, e.g. "
        "hubert for HuBERT, when the input names it; else data2vec-audio for a positional conv stack, "
        "wav2vec2 otherwise)",
    )
    parser.add_argument(
        "input", help="input checkpoint file or folder (speechssl: also a pre-training run folder)"
    )
    parser.add_argument("output", help="output folder (a .pt file for --to fairseq)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    written = convert(
        args.src,
        args.dst,
        args.input,
        args.output,
        config=args.config,
        overrides=args.overrides,
        hf_model_type=args.hf_model_type,
    )
    for path in written:
        log.info("wrote %s", path)
    return 0
