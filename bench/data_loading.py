"""Data loader speed (utterances/s, audio-seconds/s) with 0, 1, 2 workers against what training eats.

Uses the trainer's own path (``AudioDataset``, ``BucketBatchSampler``, ``batch_stream``) on a corpus.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from bench.common import (
    REPO_ROOT,
    RESULTS_DIR,
    base_parser,
    finish,
    machine_info,
    setup_device,
)
from speechssl.data.dataset import AudioDataset
from speechssl.data.sampler import BucketBatchSampler
from speechssl.progress import progress_bar
from speechssl.train.config import TrainerConfig
from speechssl.train.run import batch_stream

# the mini recipe's pre-training loader (conf/pretrain/*_tiny.yaml)
LOADER = {"max_tokens": 320_000, "max_sample_size": 80_000, "min_sample_size": 16_000, "seed": 1}


def corpus_dir(requested: Path | None, scratch: Path) -> Path:
    """``requested``, else the mini corpus's data/pretrain, else a fresh smoke corpus in ``scratch``."""
    if requested is not None:
        return requested
    mini = REPO_ROOT / "data" / "pretrain"
    if (mini / "utt2num_samples").is_file():
        return mini
    from speechssl.corpora.mini import generate, get_plan

    generate(get_plan("smoke"), 0, scratch, nj=1)
    return scratch / "pretrain"


def loader_speed(data_dir: Path, workers: int, seconds: float, device: torch.device) -> dict:
    """Batches drawn for ``seconds`` (after the first batch) from the trainer's batch stream."""
    cfg = TrainerConfig(num_workers=workers, max_epochs=0, **LOADER)
    dataset = AudioDataset(data_dir, max_sample_size=cfg.max_sample_size,
                           min_sample_size=cfg.min_sample_size, seed=cfg.seed)
    sampler = BucketBatchSampler(dataset.sizes, cfg.max_tokens, cfg.seed)
    stream = batch_stream(dataset, sampler, cfg, device, epoch=1, consumed=0)
    first_start = time.perf_counter()
    next(stream)  # worker start-up, reported apart
    first_batch_s = time.perf_counter() - first_start
    batches = utterances = samples = 0
    epochs_seen = set()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        epoch, _, batch = next(stream)
        batch.to(device)
        epochs_seen.add(epoch)
        batches += 1
        utterances += batch.size
        samples += int(batch.audio_lengths.sum())
    elapsed = time.perf_counter() - start
    stream.close()
    return {
        "workers": workers,
        "first_batch_s": round(first_batch_s, 3),
        "batches": batches,
        "epochs_touched": len(epochs_seen),
        "utterances_per_s": round(utterances / elapsed, 1),
        "audio_s_per_s": round(samples / 16000 / elapsed, 1),
    }


def training_needs(results_dir: Path) -> dict:
    """Fastest training audio-seconds/s per size from throughput*.json (ours and references)."""
    needs = {}
    for size, name in (("base", "throughput.json"), ("tiny", "throughput_tiny.json")):
        path = results_dir / name
        if path.is_file():
            models = json.loads(path.read_text())["models"]
            fastest = max(models, key=lambda m: models[m]["audio_s_per_s"])
            needs[size] = {"source": name, "model": fastest, "audio_s_per_s": models[fastest]["audio_s_per_s"]}
    return needs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Kaldi data dir (default data/pretrain, else a generated smoke corpus)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per worker count")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    seconds = args.seconds or (0.5 if args.quick else 5.0)
    result = {"name": "data_loading", "machine": machine_info(device), "loader": LOADER}
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as scratch:
        data_dir = corpus_dir(args.data_dir, Path(scratch))
        result["data_dir"] = str(data_dir)
        workers = progress_bar(args.workers, desc="workers")
        result["runs"] = [loader_speed(data_dir, w, seconds, device) for w in workers]
    needs = training_needs(RESULTS_DIR)
    slowest = min(run["audio_s_per_s"] for run in result["runs"])
    result["training_needs"] = needs
    result["headroom"] = {size: round(slowest / need["audio_s_per_s"], 1) for size, need in needs.items()}
    result["loader_is_bottleneck"] = any(h < 1.0 for h in result["headroom"].values())
    finish(("quick_" if args.quick else "") + "data_loading", result, args.out)


if __name__ == "__main__":
    main()
