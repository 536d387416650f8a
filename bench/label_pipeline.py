"""Benchmark of the HuBERT label pipeline: MFCC speed, label assignment speed, k-means peak memory.

Run ``python -m bench.label_pipeline [--scale 1]``; writes ``bench/results/label_pipeline.json``.
k-means is fitted in a fresh process per run so that its peak RSS (VmHWM, reset after the imports)
is its own: in memory (fairseq's way: the subsample is held) and streaming (minibatches drawn off
the shards), on 1x and 4x the frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import finish, machine_info
from speechssl.features.mfcc import MfccConfig, mfcc_features
from speechssl.features.shards import ShardMeta, write_shard
from speechssl.io.kaldi_dir import DataDir
from speechssl.kmeans.assign import NearestCentroid, assign_labels
from speechssl.kmeans.model_io import KMeansModel

BASE_SECONDS = 120.0  # audio seconds at scale 1 (MFCC)
BASE_FRAMES = 500_000  # 39-d frames at scale 1 (k-means, assignment) = 83 min at 100 Hz
UTT_FRAMES = 1000  # frames per synthetic utterance (10 s)


def synthetic_audio(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped like speech-level audio, shape (samples,) float32."""
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)


def mfcc_speed(total_seconds: float, backend: str) -> dict:
    """x real time of the 39-d MFCC on 10 s utterances."""
    config = MfccConfig(backend=backend)
    utterances = [synthetic_audio(10.0, i) for i in range(max(1, round(total_seconds / 10)))]
    total_seconds = 10.0 * len(utterances)
    mfcc_features(utterances[0][:16000], config)  # warm-up: first-call allocations and imports
    start = time.perf_counter()
    for samples in utterances:
        mfcc_features(samples, config)
    elapsed = time.perf_counter() - start
    return {"audio_s": total_seconds, "wall_s": round(elapsed, 3),
            "x_real_time": round(total_seconds / elapsed, 1)}


def write_blob_shards(feat_dir: Path, num_frames: int, nshard: int = 2, dim: int = 39) -> Path:
    """Random 39-d frames in ``nshard`` shards plus a data dir; returns the data dir."""
    rng = np.random.default_rng(0)
    utts = [f"spk-{i:06d}" for i in range(num_frames // UTT_FRAMES)]
    per_shard = len(utts) // nshard
    centres = rng.standard_normal((64, dim)).astype(np.float32) * 5
    for rank in range(nshard):
        block = utts[rank * per_shard : (rank + 1) * per_shard]
        counts = [(u, UTT_FRAMES) for u in block]
        chunks = (
            (u, centres[rng.integers(0, 64, UTT_FRAMES)] + rng.standard_normal((UTT_FRAMES, dim)).astype(np.float32))
            for u in block
        )
        write_shard(feat_dir, rank, nshard, counts, chunks, ShardMeta("bench", dim, 100.0))
    used = utts[: per_shard * nshard]
    data = DataDir(wav_scp={u: f"{u}.flac" for u in used},
                   utt2num_samples={u: UTT_FRAMES * 160 + 240 for u in used})
    data.save(feat_dir.parent / "data")
    return feat_dir.parent / "data"


def assign_speed(feat_dir: Path, data_dir: Path, k: int, device: str) -> dict:
    """Frames per second of the whole ``assign_labels`` (read shards, matmul, write labels)."""
    rng = np.random.default_rng(1)
    model = KMeansModel(rng.standard_normal((k, 39)).astype(np.float32), "bench", 100.0)
    nearest = NearestCentroid(model.centroids, device)
    probe = rng.standard_normal((200_000, 39)).astype(np.float32)
    start = time.perf_counter()
    nearest(probe)
    matmul = time.perf_counter() - start
    num_frames = len((data_dir / "wav.scp").read_text().splitlines()) * UTT_FRAMES
    start = time.perf_counter()
    assign_labels(feat_dir, model, data_dir, feat_dir.parent / f"labels{k}", device=device)
    elapsed = time.perf_counter() - start
    return {"k": k, "device": device, "frames": num_frames, "wall_s": round(elapsed, 3),
            "frames_per_s": round(num_frames / elapsed), "matmul_frames_per_s": round(200_000 / matmul),
            "x_real_time_at_100Hz": round(num_frames / 100 / elapsed, 1)}


def _status_mib(field: str) -> float:
    """A memory line of /proc/self/status (kB) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> float:
    """Forget the peak RSS so far (importing torch peaks above everything we measure); returns the
    current RSS in MiB. Writing 5 to /proc/self/clear_refs resets VmHWM (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


FIT_MODES = ("in_memory", "streaming")
RSS_TARGET = 1.1  # k-means peak RSS at 4x the data over its peak RSS at 1x


def child_fit(feat_dir: str, k: int, percent: float, mode: str) -> None:
    """Run in a fresh process: fit in ``mode``, print JSON with the peak RSS (total and growth)."""
    from speechssl.kmeans.fit import KMeansConfig, fit_frames, load_subsample
    from speechssl.kmeans.streaming import fit_kmeans_streaming

    base = reset_peak_rss()
    config = KMeansConfig(k=k, percent=percent)
    start = time.perf_counter()
    if mode == "streaming":
        model = fit_kmeans_streaming(feat_dir, config)
    else:
        frames, _ = load_subsample(feat_dir, percent, config.seed)
        model = fit_frames(frames, config)
    elapsed = time.perf_counter() - start
    peak = _status_mib("VmHWM")
    print(json.dumps({
        "mode": mode, "percent": percent, "frames_per_epoch": model.num_frames,
        "minibatches": model.extra["minibatches"], "wall_s": round(elapsed, 2),
        "rss_after_imports_mib": base, "peak_rss_mib": peak,
        "peak_growth_total_mib": round(peak - base, 1),
    }))


def run_child(*args: str) -> dict:
    command = [sys.executable, "-m", "bench.label_pipeline", *args]
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], env={**os.environ, **one_thread}).stdout
    return json.loads(output.strip().splitlines()[-1])


def fit_runs(feat_dir: Path, k: int, percent: float, factor: int) -> dict:
    """The three fits of one data size: in memory with the same percent (its subsample grows with
    the data), in memory with the same subsample size (percent / factor), streaming with the
    same percent."""
    runs = {
        "in_memory_same_percent": (percent, "in_memory"),
        "in_memory_same_subsample": (percent / factor, "in_memory"),
        "streaming_same_percent": (percent, "streaming"),
    }
    return {name: run_child("--child-fit", str(feat_dir), str(k), str(p), mode)
            for name, (p, mode) in runs.items()}


def rss_ratios(fits: dict) -> dict:
    """Peak RSS at 4x over 1x per fit, with the target verdict."""
    ratios = {}
    for name in fits["1x"]:
        if name == "corpus_mib":
            continue
        ratio = fits["4x"][name]["peak_rss_mib"] / fits["1x"][name]["peak_rss_mib"]
        ratios[name] = {"ratio": round(ratio, 3), "target": RSS_TARGET, "met": ratio <= RSS_TARGET}
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the data sizes")
    parser.add_argument("--k", type=int, default=100, help="clusters for fit and assign")
    parser.add_argument("--percent", type=float, default=0.1, help="k-means subsample fraction")
    parser.add_argument("--out", type=Path, default=None,
                        help="results json (default bench/results/label_pipeline.json)")
    parser.add_argument("--child-fit", nargs=4, metavar=("FEAT_DIR", "K", "PERCENT", "MODE"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.child_fit:
        feat_dir, k, percent, mode = args.child_fit
        if mode not in FIT_MODES:
            raise SystemExit(f"--child-fit mode {mode!r}: expected one of {FIT_MODES}")
        child_fit(feat_dir, int(k), float(percent), mode)
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result: dict = {"machine": machine_info(torch.device("cpu")),
                    "cuda": torch.cuda.get_device_name(0) if "cuda" in devices else None,
                    "settings": {"scale": args.scale, "k": args.k, "percent": args.percent},
                    "mfcc": {}, "assign": {}, "kmeans_fit": {}}
    for factor in (1, 4):
        size = f"{factor}x"
        seconds = BASE_SECONDS * factor * args.scale
        result["mfcc"][size] = {b: mfcc_speed(seconds, b) for b in ("kaldi", "psf")}
        frames = int(BASE_FRAMES * factor * args.scale)
        with tempfile.TemporaryDirectory() as tmp:
            feat_dir = Path(tmp) / "feats"
            data_dir = write_blob_shards(feat_dir, frames)
            result["assign"][size] = [assign_speed(feat_dir, data_dir, args.k, d) for d in devices]
            fits = fit_runs(feat_dir, args.k, args.percent, factor)
            fits["corpus_mib"] = round(frames * 39 * 4 / 2**20, 1)
            result["kmeans_fit"][size] = fits
        print(json.dumps({size: {"mfcc": result["mfcc"][size], "assign": result["assign"][size],
                                 "kmeans_fit": result["kmeans_fit"][size]}}), flush=True)
    result["kmeans_rss_4x_over_1x"] = rss_ratios(result["kmeans_fit"])
    finish("label_pipeline", result, args.out)


if __name__ == "__main__":
    main()
