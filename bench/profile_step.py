"""Where one training step spends its time: torch.profiler op groups of ours and the references.

Writes ``bench/results/profile[_tiny].json``: per model the share of GEMM, convolution and other ops.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from bench.common import base_parser, finish, machine_info, result_name, setup_device
from bench.models import OURS, REFERENCES, TrainStep, build_model, make_batch
from bench.throughput import DTYPES, default_settings

GROUPS = {
    "gemm": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul"),
    "conv": ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
             "aten::cudnn_convolution"),
}
TOP_OPS = 8


def profile_model(name: str, size: str, batch, device: torch.device, dtype: torch.dtype | None) -> dict:
    """Self time of each op over one profiled step (after one warm-up step), grouped.

    On a GPU the times are the kernels' device time, summed over aten ops only (the kernel rows
    repeat the same time).
    """
    step = TrainStep(build_model(name, size), device, dtype)
    step(batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with warnings.catch_warnings():  # the profiler warns that it keeps one cycle: one is all we run
        warnings.filterwarnings("ignore", message=".*Profiler clears events.*")
        with profile(activities=activities) as prof:
            step(batch)
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    ops = {e.key: getattr(e, attr) for e in prof.key_averages()
           if device.type == "cpu" or e.key.startswith("aten::")}
    total = sum(ops.values()) or 1.0
    shares = {group: sum(ops.get(op, 0.0) for op in names) / total for group, names in GROUPS.items()}
    shares["other"] = 1.0 - sum(shares.values())
    top = sorted(ops.items(), key=lambda kv: kv[1], reverse=True)[:TOP_OPS]
    return {
        "total_s": round(total / 1e6, 3),
        "shares": {k: round(v, 3) for k, v in shares.items()},
        "top_ops": {k: round(v / 1e6, 3) for k, v in top},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ours:wav2vec2", "ours:hubert", *REFERENCES],
                        help=f"from {[f'ours:{o}' for o in OURS] + list(REFERENCES)}")
    parser.add_argument("--size", default=None, choices=("base", "tiny"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    defaults = default_settings(args.quick, device.type)  # the throughput benchmark's batch
    size = args.size or defaults.size
    batch_size, seconds, dtype = defaults.batch_size, defaults.seconds, defaults.dtype
    batch = make_batch(batch_size, seconds).to(device)
    result = {"name": "profile", "machine": machine_info(device),
              "settings": {"size": size, "batch_size": batch_size, "seconds": seconds, "dtype": dtype}}
    result["models"] = {name: profile_model(name, size, batch, device, DTYPES[dtype]) for name in args.models}
    finish(result_name("profile" + ("_tiny" if size == "tiny" else ""), args.quick, device), result, args.out)


if __name__ == "__main__":
    main()
