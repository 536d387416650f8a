"""Render collected experiments as ``RESULTS.md`` (tables + plot links) and ``results.json``.

Numbers come only from the run files; a missing value is shown as ``-`` (JSON null).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from speechssl.io.atomic import atomic_write_text
from speechssl.report.collect import (
    FINETUNE_SETTINGS,
    LabelRow,
    ResultRow,
    collect_labels,
    collect_rows,
    progress_files,
)
from speechssl.report.plots import (
    plot_collapse,
    plot_error_vs_compute,
    plot_learning_curves,
    plot_probe_layer_weights,
)
from speechssl.report.probes import LAYER_WEIGHT_TASK, ProbeRun, collect_probes, probe_section


def ordered_splits(rows: list[ResultRow]) -> list[str]:
    """Every decoded split: dev sets first, then test sets, then the rest, each alphabetical."""
    splits = {split for row in rows for split in row.scores}
    return sorted(splits, key=lambda s: (0 if s.startswith("dev") else 1 if s.startswith("test") else 2, s))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def format_flops(flops: float | None) -> str:
    return "-" if flops is None else "0" if flops == 0 else f"{flops:.2e}"


def format_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.2f}"


def _table(header: list[str], lines: list[list[str]]) -> str:
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    rows += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(rows) + "\n"


def results_table(rows: list[ResultRow], splits: list[str]) -> str:
    """Markdown table: one row per model, WER then CER (greedy / LM) for every split."""
    header = ["model", "objective", "pre-train time", "pre-train FLOPs", "fine-tune time"]
    for split in splits:
        header += [f"{split} WER greedy", f"{split} WER LM", f"{split} CER greedy", f"{split} CER LM"]
    header.append("label PNMI")
    lines = []
    for row in rows:
        line = [row.name, row.objective, format_seconds(row.pretrain_wall_seconds),
                format_flops(row.pretrain_flops), format_seconds(row.finetune_wall_seconds)]
        for split in splits:
            for metric in ("wer", "cer"):
                line += [format_rate(row.score(split, system, metric)) for system in ("greedy", "lm")]
        line.append("-" if row.pnmi is None else f"{row.pnmi:.3f}")
        lines.append(line)
    return _table(header, lines)


def finetune_settings_table(rows: list[ResultRow]) -> str | None:
    """Markdown table of each model's fine-tuning settings (None when no run has a config)."""
    if not any(row.finetune_settings for row in rows):
        return None
    header = ["model", *(label for label, _, _ in FINETUNE_SETTINGS)]
    lines = [[row.name, *("-" if row.finetune_settings.get(label) is None else str(row.finetune_settings[label])
                          for label, _, _ in FINETUNE_SETTINGS)] for row in rows]
    return _table(header, lines)


def labels_table(labels: list[LabelRow]) -> str:
    lines = [
        [label.path, *("-" if v is None else f"{v:.3f}"
                       for v in (label.pnmi, label.phone_purity, label.cluster_purity)), label.reference or "-"]
        for label in labels
    ]
    return _table(["labels", "PNMI", "phone purity", "cluster purity", "reference"], lines)


def layer_weight_plot(runs: list[ProbeRun], out_dir: Path) -> Path | None:
    """``probe_layer_weights.png``: the learned layer weights of every upstream's PR probes."""
    weights: dict[str, list[list[float]]] = {}
    for run in runs:
        if run.task == LAYER_WEIGHT_TASK and run.layer_weights:
            weights.setdefault(run.upstream, []).append(run.layer_weights)
    return plot_probe_layer_weights(weights, out_dir / "probe_layer_weights.png",
                                    f"layer weights of the {LAYER_WEIGHT_TASK} probes")


def render_report(exp_root: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Collect ``exp_root`` and write RESULTS.md, results.json and the PNG plots into ``out_dir``.

    Returns the results.json content. Raises FileNotFoundError when no fine-tuning run finished.
    """
    exp_root, out_dir = Path(exp_root), Path(out_dir)
    rows = collect_rows(exp_root)
    probes = collect_probes(exp_root)
    if not rows and not probes:
        raise FileNotFoundError(f"{exp_root}/finetune: no */summary.json and {exp_root}/probe: no "
                                "*/result.json (fine-tune or probe a model first)")
    labels = collect_labels(exp_root)
    splits = ordered_splits(rows)
    plots: list[Path] = []
    for split in splits:
        plot = plot_error_vs_compute(rows, split, out_dir / f"error_vs_compute_{split}.png")
        if plot is not None:
            plots.append(plot)
    for stage, runs in progress_files(exp_root).items():
        plot = plot_learning_curves(runs, out_dir / f"learning_curves_{stage}.png", f"{stage} learning curves")
        if plot is not None:
            plots.append(plot)
    for name, progress in progress_files(exp_root)["pretrain"].items():
        plot = plot_collapse(progress, out_dir / f"collapse_{name}.png", f"{name}: dimensional collapse per layer")
        if plot is not None:
            plots.append(plot)
    plot = layer_weight_plot(probes, out_dir)
    if plot is not None:
        plots.append(plot)
    probe_text, probe_fields = probe_section(exp_root, probes)
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Results\n",
        f"Generated by `speechssl report` from `{exp_root}` on {generated}. WER and CER in %, greedy "
        "CTC decoding and lexicon beam search with the KenLM n-gram (LM weight and word score tuned on dev). "
        "Pre-training FLOPs are analytic training FLOPs (forward + backward of the backbone, plus "
        "what each objective adds: EMA teacher, clones; HuBERT iteration 2 includes iteration 1); "
        "scratch has none.\n",
    ]
    if rows:
        parts += ["## Word and character error rates\n", results_table(rows, splits)]
    if probe_text:
        parts.append(probe_text)
    finetune_table = finetune_settings_table(rows)
    if finetune_table is not None:
        parts += ["## Fine-tuning settings\n", finetune_table]
    settings = [(row.name, split, s) for row in rows for split, s in sorted(row.lm_settings.items())]
    if settings:
        parts += ["## LM decoding settings\n", _table(
            ["model", "split", "LM weight", "word score", "beam"],
            [[name, split, *(str(s.get(k, "-")) for k in ("lm_weight", "word_score", "beam_size"))]
             for name, split, s in settings],
        )]
    if labels:
        parts += ["## HuBERT label quality\n", labels_table(labels)]
    if plots:
        parts.append("## Plots\n")
        parts += [f"![{plot.stem}]({os.path.relpath(plot, out_dir)})\n" for plot in plots]
    atomic_write_text(out_dir / "RESULTS.md", "\n".join(parts))
    results = {
        "generated": generated,
        "exp_root": str(exp_root),
        "splits": splits,
        "rows": [row.to_dict() for row in rows],
        "labels": [label.__dict__ for label in labels],
        **probe_fields,
        "plots": [os.path.relpath(plot, out_dir) for plot in plots],
    }
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=2) + "\n")
    return results
