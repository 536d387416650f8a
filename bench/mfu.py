"""Model FLOPs utilisation: analytic training FLOP/s of our BASE objectives over a measured matmul peak.

The peak is the best of several large square ``torch.matmul`` runs on the same device, dtype, threads.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

import torch

from bench.common import base_parser, finish, machine_info, result_name, setup_device
from bench.models import backbone_config, make_batch, objective_overrides
from bench.throughput import COMPILE_MODES, DTYPES, default_settings, measure
from speechssl.models.backbone import Backbone
from speechssl.objectives import build_objective
from speechssl.train.mfu import matmul_flops, training_flops_fn

OBJECTIVES = ("wav2vec2", "hubert", "data2vec")
COUNTED = (
    "speechssl.models.flops.count_flops: multiply-adds x 2 of the conv feature encoder, projection, "
    "positional conv, attention projections, attention matmuls and FFN; training = forward + 2x "
    "forward for the backward (the first conv needs no input gradient); each objective's "
    "training_flops adds what it runs beyond that (data2vec: the EMA teacher's forward). Not "
    "counted: norms, activations, softmax, dropout, objective heads (quantizer, logits, "
    "negatives), the optimizer step. The steps run with LayerDrop 0 (settings.layerdrop), so "
    "every counted layer runs."
)


def matmul_peak(device: torch.device, dtype: torch.dtype, sizes: list[int], seconds: float) -> dict:
    """Best FLOP/s over ``sizes`` (``speechssl.train.mfu.matmul_flops`` for each)."""
    per_size = {str(n): matmul_flops(device, dtype, n, seconds) for n in sizes}
    return {"flops_per_s": max(per_size.values()), "per_size": per_size}


def step_flops(objective: str, size: str, batch_size: int, seconds: float) -> float:
    """Analytic FLOPs of one training step of ``objective`` on ``batch_size`` crops, counted as
    the trainer counts them (``training_flops_fn``: the backbone count through the objective's
    ``training_flops``, which adds EMA teachers and clones)."""
    config = backbone_config(size, objective)
    model = build_objective(objective, Backbone(config), objective_overrides(objective, size))
    return training_flops_fn(model)(make_batch(batch_size, seconds))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    parser.add_argument("--reps", type=int, default=None, help="timed steps per objective")
    parser.add_argument("--compile-mode", default=None, choices=COMPILE_MODES,
                        help="torch.compile each objective's whole module in this mode first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    settings = default_settings(args.quick, device.type)
    if args.quick:
        sizes, seconds = [256], 0.05
    elif device.type == "cuda":
        sizes, seconds = [4096, 8192], 0.5
    else:
        sizes, seconds = [1024, 2048], 2.0
        settings.reps = 5  # a BASE step takes ~7-9 s on this CPU
    if args.reps is not None:
        settings.reps = args.reps
    # LayerDrop skips random layers that the FLOP count counts: every step runs all of them here.
    settings.layerdrop = 0.0
    settings.compile_mode = args.compile_mode
    dtype = DTYPES[settings.dtype] or torch.float32
    result = {"name": "mfu", "machine": machine_info(device), "settings": asdict(settings),
              "flops_counted": COUNTED}
    before = matmul_peak(device, dtype, sizes, seconds)
    timing = measure([f"ours:{o}" for o in args.objectives], settings, device)
    after = matmul_peak(device, dtype, sizes, seconds)  # the machine is shared: keep the better
    peak = max(before["flops_per_s"], after["flops_per_s"])
    result["matmul_peak"] = {
        "dtype": str(dtype).replace("torch.", ""),
        "flops_per_s": peak,
        "before": before,
        "after": after,
    }
    rows = {}
    for objective in args.objectives:
        model = timing["models"][f"ours:{objective}"]
        # The fastest step against the fastest matmul: both as little slowed by other processes
        # as the repetitions allow (the median step's MFU is kept next to it).
        step_s, median_s = min(model["step_s"]), model["step_s_median"]
        flops = step_flops(objective, settings.size, settings.batch_size, settings.seconds)
        rows[objective] = {
            "step_flops": flops,
            "step_s": model["step_s"],
            "step_s_best": step_s,
            "step_s_median": median_s,
            "achieved_flops_per_s": flops / step_s,
            "mfu": round(flops / step_s / peak, 3),
            "mfu_median_step": round(flops / median_s / peak, 3),
        }
    result["objectives"] = rows
    name = "mfu_compile" if args.compile_mode else "mfu"
    finish(result_name(name, args.quick, device), result, args.out)


if __name__ == "__main__":
    main()
