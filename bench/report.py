"""Regenerate the results tables of bench/README.md from bench/results/*.json (quick_* skipped).

The tables replace the text between the two ``bench:results`` markers in the README.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import RESULTS_DIR
from speechssl.io.atomic import atomic_write_text

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
THROUGHPUT_TARGET = 1.5
MFU_TARGET = 0.5


def table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(result: dict) -> str:
    """Where and when a result was measured, with the load average (the machine is shared)."""
    m = result.get("machine", {})
    if "cpu" not in m:
        return f"_machine: {m}_"
    load = f"load average {m.get('load_average_start')} -> {m.get('load_average_end')}"
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    return (f"_{m['date_utc']}, {m['cpu']} ({m['logical_cores']} logical cores, {m['torch_threads']} "
            f"torch threads){gpu}, torch {m['torch']}; {load}_")


def device_label(result: dict) -> str:
    """``GPU`` for results measured on a CUDA device, else ``CPU``."""
    return "GPU" if result.get("machine", {}).get("gpu") else "CPU"


def throughput_section(result: dict) -> str:
    s = result["settings"]
    compiled = f"torch.compile {s['compile_mode']}" if s.get("compile_mode") else "torch.compile"
    title = (compiled if s.get("compile") or s.get("compile_mode") else "eager") + ", " + device_label(result)
    rows = [[name, m["params_m"], m["step_s_median"], m["audio_s_per_s"], m.get("clone_audio_s_per_s", "-")]
            for name, m in result["models"].items()]
    ratios = [[pair, r["median"], " ".join(str(x) for x in r["per_rep"]),
               "yes" if r["median"] >= THROUGHPUT_TARGET else "no"] for pair, r in result["ratios"].items()]
    heading = (f"### Training-step throughput, {s['size'].upper()}, {title} ({s['batch_size']} x "
               f"{s['seconds']} s, {s['dtype']}, {s['warmup']} warm-up + {s['reps']} interleaved steps)")
    return "\n\n".join([
        heading,
        machine_line(result),
        table(["model", "params (M)", "step s (median)", "audio-s/s", "clone-audio-s/s"], rows),
        table(["ours / reference", "median speed ratio", "per repetition", f">= {THROUGHPUT_TARGET}x"], ratios),
    ])


def _rate(flops_per_s: float) -> str:
    """A FLOP rate in GFLOP/s, or TFLOP/s from 1e12 up."""
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.1f} TFLOP/s"
    return f"{flops_per_s / 1e9:.1f} GFLOP/s"


def mfu_section(result: dict) -> str:
    peak = result["matmul_peak"]
    fastest = all("step_s_best" in r for r in result["objectives"].values())
    rows = [[o, round(r["step_flops"] / 1e9, 1), r.get("step_s_best", "-"), r["step_s_median"],
             round(r["achieved_flops_per_s"] / 1e9, 1), r["mfu"], r.get("mfu_median_step", r["mfu"]),
             "yes" if r["mfu"] >= MFU_TARGET else "no"] for o, r in result["objectives"].items()]
    method = ("MFU: the fastest timed step against the fastest matmul, so that other processes on a shared "
              "machine slow both sides as little as they can." if fastest else
              "MFU: the median step against the fastest matmul (measured before the benchmark kept every step).")
    s = result["settings"]
    compiled = f", torch.compile {s['compile_mode']}" if s.get("compile_mode") else ""
    heading = (f"### MFU, {s['size'].upper()}, {device_label(result)}{compiled} ({s['batch_size']} x {s['seconds']} s, {s['dtype']}); "
               f"matmul peak {_rate(peak['flops_per_s'])} ({peak['dtype']})")
    return "\n\n".join([
        heading,
        machine_line(result),
        table(["objective", "GFLOP/step", "step s (fastest)", "step s (median)", "GFLOP/s", "MFU",
               "MFU of the median step", f"MFU >= {MFU_TARGET}"], rows),
        method,
        f"Counted: {result['flops_counted']}",
    ])


def data_loading_section(result: dict) -> str:
    rows = [[r["workers"], r["utterances_per_s"], r["audio_s_per_s"], r["first_batch_s"]] for r in result["runs"]]
    needs = [[size, n["model"], n["audio_s_per_s"], result["headroom"][size]]
             for size, n in result["training_needs"].items()]
    parts = ["### Data loading (the trainer's bucketed loader)", machine_line(result),
             f"Corpus `{result['data_dir']}`, loader {result['loader']}.",
             table(["workers", "utterances/s", "audio-s/s", "first batch s"], rows)]
    if needs:
        parts.append(table(["training", "fastest model", "needs audio-s/s", "slowest loader / need"], needs))
    verdict = "**is**" if result["loader_is_bottleneck"] else "is not"
    parts.append(f"The loader {verdict} the bottleneck.")
    return "\n\n".join(parts)


def profile_section(result: dict) -> str:
    s = result["settings"]
    rows = [[name, m["total_s"], m["shares"]["gemm"], m["shares"]["conv"], m["shares"]["other"],
             ", ".join(f"{op} {t}" for op, t in list(m["top_ops"].items())[:4])]
            for name, m in result["models"].items()]
    return "\n\n".join([
        f"### Profile of one training step, {s['size'].upper()}, {device_label(result)} ({s['batch_size']} x {s['seconds']} s, {s['dtype']})",
        machine_line(result),
        table(["model", "profiled s", "GEMM share", "conv share", "other", "top ops (s)"], rows),
    ])


def label_pipeline_section(result: dict) -> str:
    s = result.get("settings", {})
    mfcc = [[size, backend, r["audio_s"], r["wall_s"], r["x_real_time"]]
            for size, backends in result["mfcc"].items() for backend, r in backends.items()]
    assign = [[size, r["device"], r["k"], r["frames"], r["wall_s"], r["frames_per_s"], r["x_real_time_at_100Hz"]]
              for size, runs in result["assign"].items() for r in runs]
    fits = [[size, name, r.get("frames_per_epoch"), r.get("minibatches"), r["wall_s"],
             r.get("peak_rss_mib"), r["peak_growth_total_mib"]]
            for size, runs in result["kmeans_fit"].items()
            for name, r in runs.items() if isinstance(r, dict)]
    ratios = [[name, r["ratio"], f"<= {r['target']}", "yes" if r["met"] else "no"]
              for name, r in result.get("kmeans_rss_4x_over_1x", {}).items()]
    parts = [
        f"### Label pipeline (K={s.get('k', 100)}, k-means percent {s.get('percent', 0.1)})",
        machine_line(result),
        table(["data", "MFCC backend", "audio s", "wall s", "x real time"], mfcc),
        table(["data", "assign on", "K", "frames", "wall s", "frames/s", "x real time (100 Hz frames)"], assign),
        table(["data", "k-means fit", "frames per epoch", "minibatches", "wall s",
               "peak RSS MiB", "peak growth MiB"], fits),
    ]
    if ratios:
        parts.append(table(["k-means fit", "peak RSS 4x / 1x", "target", "met"], ratios))
    return "\n\n".join(parts)


def time_to_accuracy_section(result: dict) -> str:
    rows = []
    for objective, r in result["objectives"].items():
        points = ", ".join(f"{c['update']}u/{c['pretrain_s']:.0f}s: {c['dev_cer']:.3f}" for c in r["checkpoints"])
        reached = r["time_to_target_s"]
        rows.append([objective, "not reached" if reached is None else f"{reached:.0f}", points])
    heading = (f"### Time to accuracy (target dev CER {result['target_dev_cer']:.3f}, "
               f"{result['settings']['finetune_updates']} fine-tuning updates per checkpoint)")
    return "\n\n".join([
        heading,
        machine_line(result),
        table(["objective", "pre-training s to target", "checkpoints (update/time: dev CER)"], rows),
    ])


SECTIONS = {
    "throughput": throughput_section,
    "throughput_compile": throughput_section,
    "throughput_tiny": throughput_section,
    "profile": profile_section,
    "profile_tiny": profile_section,
    "mfu": mfu_section,
    "data_loading": data_loading_section,
    "label_pipeline": label_pipeline_section,
    "time_to_accuracy": time_to_accuracy_section,
    "throughput_cuda": throughput_section,
    "throughput_small_cuda": throughput_section,
    "throughput_compile_cuda": throughput_section,
    "profile_cuda": profile_section,
    "mfu_cuda": mfu_section,
    "mfu_compile_cuda": mfu_section,
}


def render(results_dir: Path) -> str:
    """Every known result present in ``results_dir``, in a fixed order."""
    parts = []
    for name, section in SECTIONS.items():
        path = results_dir / f"{name}.json"
        if path.is_file():
            parts.append(section(json.loads(path.read_text())))
    return "\n\n".join(parts) if parts else "_No results yet: run `bench/run.sh`._"


def update_readme(readme: Path, body: str) -> None:
    """Replace the text between the markers of ``readme`` with ``body``."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: the markers {START} / {END} are missing; restore them")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    atomic_write_text(readme, f"{head}{START}\n{body}\n{END}{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    update_readme(args.readme, render(args.results))
    print(f"updated {args.readme}")


if __name__ == "__main__":
    main()
