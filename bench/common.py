"""What every benchmark script shares: options, machine description, timing and the results file.

Results are written atomically to ``bench/results/<name>.json`` with the machine and load average.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from speechssl.io.atomic import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]


def base_parser(description: str) -> argparse.ArgumentParser:
    """Options every benchmark takes: ``--quick``, ``--device``, ``--threads``, ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds (smoke test)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op CPU threads (1: the machine is shared)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results json (default bench/results/<name>.json)")
    return parser


def setup_device(args: argparse.Namespace) -> torch.device:
    """Set the thread count and return the device, with a one-line error when CUDA is missing."""
    torch.set_num_threads(max(1, args.threads))
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible; use --device cpu")
    return torch.device(args.device)


def sync(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock timings are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, kernels included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    """Installed version of ``package`` (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info(device: torch.device) -> dict:
    """Machine description stored with every result: CPU, cores, memory, GPU, versions, load."""
    import psutil

    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchaudio": _version("torchaudio"),
        "transformers": _version("transformers"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    return info


def finish(name: str, result: dict, out: Path | None) -> Path:
    """Add the end load average and write ``result`` atomically as json; returns the path."""
    result.setdefault("machine", {})["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return path


def result_name(base: str, quick: bool, device: torch.device) -> str:
    """``base``, or ``quick_<base>`` for smoke runs; ``_cuda`` is appended for GPU results so they
    never overwrite the CPU ones."""
    name = f"quick_{base}" if quick else base
    return name + ("_cuda" if device.type == "cuda" else "")


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    if not values:
        raise ValueError("median of no measurements: run at least one repetition")
    return float(statistics.median(values))
