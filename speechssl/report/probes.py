"""The probe table: every ``exp/probe/*/result.json`` (any task) pooled into one row per upstream.

Pre-trained models first, then ``random`` (its upstream seeds pooled), then ``fbank``; each cell is
the mean and min-max spread over probe seeds (and, for random, upstream seeds) of one task metric.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from speechssl.report.collect import label_quality, read_json

PROBE_RESULT = "result.json"
RANDOM, FBANK = "random", "fbank"  # the baseline upstreams of speechssl.probe.upstreams
TABLE_SPLIT = "dev"
LAYER_WEIGHT_TASK = "pr"  # the task whose learned layer weights are plotted
# Display names of the metrics the probe tasks report, in column order; a task or metric not
# listed here still gets a column, after these, named "<task> <metric>".
METRIC_LABELS = {
    "per": "PER", "frame_error": "frame error", "abx_within": "ABX within", "abx_across": "ABX across",
    "cer": "CER", "wer": "WER", "cer_lm": "CER LM", "wer_lm": "WER LM",
}  # fmt: skip


@dataclass
class ProbeRun:
    """One finished probe (``<exp>/probe/<name>/result.json``).

    Attributes:
        name: probe folder; upstream: table row (run folder name, ``random`` or ``fbank``).
        upstream_name: the probe's own upstream name (with digest); upstream_spec: what it was given.
        upstream_seed: random's initialisation seed (None otherwise); seed: probe seed.
        task, metric: the task and its main metric; scores: ``{split: {metric: fraction}}``.
        layer_weights: the learned softmax weights over layers (layer 0 = Transformer input).
    """

    name: str
    upstream: str
    upstream_name: str
    upstream_spec: str
    upstream_seed: int | None
    task: str
    metric: str
    seed: int
    scores: dict = field(default_factory=dict)
    layer_weights: list = field(default_factory=list)

    def entries(self) -> list[dict]:
        """One ``results.json`` entry per split and metric."""
        return [
            {"name": self.name, "upstream": self.upstream, "upstream_name": self.upstream_name,
             "upstream_spec": self.upstream_spec, "upstream_seed": self.upstream_seed, "task": self.task,
             "metric": metric, "main_metric": metric == self.metric, "seed": self.seed, "split": split,
             "value": value}
            for split, values in sorted(self.scores.items()) for metric, value in values.items()
            if isinstance(value, (int, float))
        ]  # fmt: skip


@dataclass
class Spread:
    """Mean, min and max of ``n`` values (fractions)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(sum(values) / len(values), min(values), max(values), len(values))

    def format(self) -> str:
        """In %: ``87.6`` for one value, ``87.6 (87.5-87.8)`` for several."""
        text = f"{100 * self.mean:.1f}"
        return text if self.n == 1 else f"{text} ({100 * self.low:.1f}-{100 * self.high:.1f})"


@dataclass
class ProbeRow:
    """One upstream of the probe table: ``cells`` maps a column name to its spread on dev."""

    upstream: str
    kind: str  # "pretrained", "random" or "fbank"
    cells: dict[str, Spread] = field(default_factory=dict)
    pnmi: float | None = None
    probes: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "cells": {k: asdict(v) for k, v in self.cells.items()}}


def upstream_label(spec: str) -> str:
    """Table row of an upstream: the baselines by name, a checkpoint by its run folder."""
    if spec in (RANDOM, FBANK):
        return spec
    path = Path(spec.rstrip("/"))
    return path.parent.name if path.suffix == ".safetensors" else path.name


def collect_probes(exp_root: str | os.PathLike) -> list[ProbeRun]:
    """Every ``exp_root/probe/*/result.json``, sorted by folder; unreadable ones are skipped."""
    runs = []
    for path in sorted(Path(exp_root).glob(f"probe/*/{PROBE_RESULT}")):
        record = read_json(path)
        if record is None or not isinstance(record.get("scores"), dict):
            continue
        spec = str(record.get("upstream_spec") or record.get("upstream") or path.parent.name)
        runs.append(ProbeRun(
            name=path.parent.name, upstream=upstream_label(spec), upstream_name=str(record.get("upstream", "")),
            upstream_spec=spec, upstream_seed=record.get("upstream_seed"), task=str(record.get("task", "")),
            metric=str(record.get("metric", "")), seed=int(record.get("seed") or 0), scores=record["scores"],
            layer_weights=list(record.get("layer_weights") or []),
        ))  # fmt: skip
    return runs


def column_name(task: str, metric: str) -> str:
    return METRIC_LABELS.get(metric, f"{task} {metric}")


def _column_key(task: str, metric: str) -> tuple:
    known = list(METRIC_LABELS)
    return (0, known.index(metric), task) if metric in known else (1, task, metric)


def probe_columns(runs: list[ProbeRun]) -> list[str]:
    """Column names of every (task, metric) scored on the table split, in METRIC_LABELS order."""
    pairs = {(r.task, m) for r in runs for m in r.scores.get(TABLE_SPLIT, {})}
    return [column_name(t, m) for t, m in sorted(pairs, key=lambda p: _column_key(*p))]


def _kind(upstream: str) -> str:
    return upstream if upstream in (RANDOM, FBANK) else "pretrained"


def probe_rows(runs: list[ProbeRun], exp_root: str | os.PathLike) -> list[ProbeRow]:
    """One row per upstream: pre-trained models (by name), then random, then fbank."""
    exp_root = Path(exp_root)
    grouped: dict[str, list[ProbeRun]] = {}
    for run in runs:
        grouped.setdefault(run.upstream, []).append(run)
    order = {"pretrained": 0, RANDOM: 1, FBANK: 2}
    rows = []
    for upstream in sorted(grouped, key=lambda u: (order[_kind(u)], u)):
        values: dict[str, list[float]] = {}
        for run in grouped[upstream]:
            for metric, value in run.scores.get(TABLE_SPLIT, {}).items():
                if isinstance(value, (int, float)):
                    values.setdefault(column_name(run.task, metric), []).append(float(value))
        row = ProbeRow(upstream, _kind(upstream), {c: Spread.of(v) for c, v in values.items()},
                       probes=len(grouped[upstream]))
        if row.kind == "pretrained":
            row.pnmi = _pnmi(grouped[upstream][0].upstream_spec, exp_root)
        rows.append(row)
    return rows


def _pnmi(spec: str, exp_root: Path) -> float | None:
    """PNMI (against true phones) of the HuBERT labels the upstream's pre-training used."""
    path = Path(spec)
    if not path.exists():
        path = exp_root.parent / spec
    run_dir = path.parent if path.is_file() else path
    return label_quality(run_dir, exp_root)[1] if run_dir.is_dir() else None


def probe_table(rows: list[ProbeRow], columns: list[str]) -> str:
    """Markdown: one row per upstream, one column per metric (%, ``mean (min-max)``), label PNMI."""
    header = ["upstream", "probes", *columns]
    with_pnmi = any(row.pnmi is not None for row in rows)
    if with_pnmi:
        header.append("label PNMI")
    lines = []
    for row in rows:
        line = [row.upstream, str(row.probes), *(row.cells[c].format() if c in row.cells else "-" for c in columns)]
        if with_pnmi:
            line.append("-" if row.pnmi is None else f"{row.pnmi:.3f}")
        lines.append(line)
    rows_md = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(rows_md + ["| " + " | ".join(line) + " |" for line in lines]) + "\n"


def compare_with_random(rows: list[ProbeRow], columns: list[str]) -> dict[str, dict[str, str]]:
    """``{upstream: {column: "below" | "above" | "inside"}}``: each non-random row's mean against the
    random row's min-max spread, for every column random has."""
    random_row = next((row for row in rows if row.kind == RANDOM), None)
    if random_row is None:
        return {}
    verdicts: dict[str, dict[str, str]] = {}
    for row in rows:
        if row is random_row:
            continue
        for column in columns:
            if column in row.cells and column in random_row.cells:
                spread, mean = random_row.cells[column], row.cells[column].mean
                verdict = "below" if mean < spread.low else "above" if mean > spread.high else "inside"
                verdicts.setdefault(row.upstream, {})[column] = verdict
    return verdicts


def random_spread_lines(rows: list[ProbeRow], verdicts: dict[str, dict[str, str]]) -> list[str]:
    """One Markdown bullet per upstream: the metrics on which it is outside the random-weight spread."""
    random_row = next((row for row in rows if row.kind == RANDOM), None)
    lines = []
    for row in rows:
        if row.upstream not in verdicts:
            continue
        outside, inside = [], []
        for column, verdict in verdicts[row.upstream].items():
            spread = random_row.cells[column]
            value = f"{100 * row.cells[column].mean:.1f}"
            limits = f"{100 * spread.low:.1f}-{100 * spread.high:.1f}"
            if verdict == "inside":
                inside.append(f"{column} ({value} in {limits})")
            else:
                outside.append(f"{column} ({value} {'<' if verdict == 'below' else '>'} {limits})")
        text = f"outside the random-weight spread on {', '.join(outside)}" if outside else \
            "inside the random-weight spread on every metric"
        if outside and inside:
            text += f"; inside on {', '.join(inside)}"
        lines.append(f"- **{row.upstream}**: {text}")
    return lines


def probe_section(exp_root: str | os.PathLike, runs: list[ProbeRun]) -> tuple[str, dict]:
    """(Markdown section, results.json fields) of the probes; ("", {}) when there are none."""
    if not runs:
        return "", {}
    rows = probe_rows(runs, exp_root)
    columns = probe_columns(runs)
    verdicts = compare_with_random(rows, columns)
    parts = [
        "## Probes of the frozen upstreams\n",
        f"{TABLE_SPLIT} error rates in %, SUPERB-style probes (`speechssl probe`, docs/probes.md): "
        "mean (min-max) over probe seeds, and for `random` over its upstream seeds too; `probes` counts "
        "the result files pooled in a row."
        + (" Label PNMI: the HuBERT labels the model was trained on, against the true phones."
           if any(row.pnmi is not None for row in rows) else "") + "\n",
        probe_table(rows, columns),
    ]
    lines = random_spread_lines(rows, verdicts)
    if lines:
        parts += ["Against the random-weight spread (a model is outside it when its mean lies beyond "
                  "the min-max of every random seed and probe seed):\n", "\n".join(lines) + "\n"]
    fields = {
        "probes": [entry for run in runs for entry in run.entries()],
        "probe_table": [{**row.to_dict(), "versus_random": verdicts.get(row.upstream, {})} for row in rows],
    }
    return "\n".join(parts), fields


def best_upstream(exp_root: str | os.PathLike, task: str) -> str:
    """The ``upstream_spec`` of the pre-trained upstream with the lowest mean dev value of ``task``'s
    main metric (an error rate) over its probe seeds.

    Raises:
        ValueError: no finished probe of a pre-trained upstream on ``task`` under ``exp_root/probe``.
    """
    values: dict[str, list[float]] = {}
    specs: dict[str, str] = {}
    for run in collect_probes(exp_root):
        value = run.scores.get(TABLE_SPLIT, {}).get(run.metric)
        if run.task == task and _kind(run.upstream) == "pretrained" and isinstance(value, (int, float)):
            values.setdefault(run.upstream, []).append(float(value))
            specs.setdefault(run.upstream, run.upstream_spec)
    if not values:
        raise ValueError(f"{exp_root}/probe: no finished {task} probe of a pre-trained model "
                         f"(run the {task} probes first)")
    best = min(sorted(values), key=lambda upstream: sum(values[upstream]) / len(values[upstream]))
    return specs[best]
