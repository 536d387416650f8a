"""Report figures (matplotlib Agg): error rate against pre-training compute, and learning curves.

Every figure is written atomically as PNG; functions return the path, or None when nothing to plot.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.io.atomic import atomic_path
from speechssl.report.collect import ResultRow
from speechssl.train.monitor import read_jsonl


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    _pyplot().close(figure)
    return path


def compute_axis(rows: list[ResultRow]) -> tuple[str, list[float | None]]:
    """(x label, x per row): training PFLOPs when every pre-trained row has them, else hours."""
    pretrained = [r for r in rows if r.objective != "scratch"]
    if all(r.pretrain_flops is not None for r in pretrained):
        return "pre-training compute (PFLOPs)", [
            None if r.pretrain_flops is None else r.pretrain_flops / 1e15 for r in rows
        ]
    return "pre-training wall time (hours)", [
        None if r.pretrain_wall_seconds is None else r.pretrain_wall_seconds / 3600 for r in rows
    ]


def plot_error_vs_compute(rows: list[ResultRow], split: str, path: str | os.PathLike) -> Path | None:
    """WER and CER on ``split`` (greedy: circles, LM: squares) against pre-training compute.

    The from-scratch baseline sits at x = 0.
    """
    label, xs = compute_axis(rows)
    points = [(r, x) for r, x in zip(rows, xs) if x is not None and split in r.scores]
    if not points:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, metric in zip(axes, ("wer", "cer")):
        for system, marker in (("greedy", "o"), ("lm", "s")):
            shown = [(r, x) for r, x in points if r.score(split, system, metric) is not None]
            if not shown:
                continue
            values = [100 * r.score(split, system, metric) for r, _ in shown]
            axis.scatter([x for _, x in shown], values, marker=marker, label=system, s=45)
            for (row, x), value in zip(shown, values):
                axis.annotate(row.objective, (x, value), textcoords="offset points", xytext=(4, 4), fontsize=8)
        axis.set_xlabel(label)
        axis.set_ylabel(f"{split} {metric.upper()} (%)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"{split}: error rate vs pre-training compute (scratch at 0)")
    return _save(figure, Path(path))


def plot_learning_curves(runs: dict[str, Path], path: str | os.PathLike, title: str) -> Path | None:
    """Training loss against updates for each run's ``progress.jsonl``; when runs logged a dev
    WER in ``valid.jsonl`` (fine-tuning), a second panel shows it."""
    curves = {name: read_jsonl(p) for name, p in runs.items()}
    curves = {name: [r for r in records if "loss" in r] for name, records in curves.items()}
    curves = {name: records for name, records in curves.items() if records}
    if not curves:
        return None
    valid = {name: [r for r in read_jsonl(runs[name].with_name("valid.jsonl")) if "dev_wer" in r]
             for name in curves}
    valid = {name: records for name, records in valid.items() if records}
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2 if valid else 1, figsize=(11 if valid else 6.5, 4.2), squeeze=False)
    loss_axis = axes[0][0]
    losses = []
    for name, records in curves.items():
        loss_axis.plot([r["update"] for r in records], [r["loss"] for r in records], label=name)
        losses += [r["loss"] for r in records if r["loss"] > 0]
    if losses and max(losses) > 10 * min(losses):
        loss_axis.set_yscale("log")
    loss_axis.set_xlabel("update")
    loss_axis.set_ylabel("training loss")
    loss_axis.grid(alpha=0.3)
    loss_axis.legend(fontsize=8)
    if valid:
        wer_axis = axes[0][1]
        for name, records in valid.items():
            wer_axis.plot([r["update"] for r in records], [100 * r["dev_wer"] for r in records], "o-", label=name)
        wer_axis.set_xlabel("update")
        wer_axis.set_ylabel("dev WER, greedy (%)")
        wer_axis.grid(alpha=0.3)
        wer_axis.legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, Path(path))


def plot_collapse(progress: str | os.PathLike, path: str | os.PathLike, title: str) -> Path | None:
    """The collapse metric (speechssl.train.collapse) of each layer against updates of one run's
    ``progress.jsonl``; None when the run did not log it."""
    from speechssl.train.collapse import collapse_series

    series = collapse_series(read_jsonl(progress))
    if not series:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    colours = plt.get_cmap("viridis")
    for layer, (updates, values) in series.items():
        name = "projected features" if layer == 0 else f"layer {layer}"
        axis.plot(updates, values, "o-", markersize=3, color=colours(layer / max(len(series) - 1, 1)), label=name)
    axis.set_xlabel("update")
    axis.set_ylabel("spectrum AUC (0.5 isotropic, 1 collapsed)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    figure.suptitle(title)
    return _save(figure, Path(path))


def plot_probe_layer_weights(weights: dict[str, list[list[float]]], path: str | os.PathLike,
                             title: str) -> Path | None:
    """One line per upstream: its probes' learned layer weights (mean over probe / upstream seeds,
    bars = min-max) against the layer index; upstreams with a single layer have nothing to weigh."""
    shown = {name: runs for name, runs in weights.items() if runs and len(runs[0]) > 1}
    if not shown:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for name, runs in shown.items():
        runs = [r for r in runs if len(r) == len(runs[0])]
        layers = range(len(runs[0]))
        columns = list(zip(*runs))
        means = [sum(c) / len(c) for c in columns]
        # max(0, .): a mean of equal values can round past them
        spread = [[max(0.0, m - min(c)) for m, c in zip(means, columns)],
                  [max(0.0, max(c) - m) for m, c in zip(means, columns)]]
        axis.errorbar(layers, means, yerr=spread, marker="o", capsize=3, label=f"{name} ({len(runs)})")
    axis.set_xticks(range(max(len(runs[0]) for runs in shown.values())))
    axis.set_xlabel("layer (0 = Transformer input)")
    axis.set_ylabel("learned layer weight (softmax)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, Path(path))
