"""Collect finished experiments under ``exp/`` into one row per fine-tuned model (objective or scratch).

Reads ``pretrain/*/summary.json`` + ``config.yaml``, ``finetune/*/summary.json``, ``decode_*/decode.json``
and label ``quality.json`` files; missing pieces become None, never a guess.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from speechssl.train.rundir import PROGRESS_NAME, SUMMARY_NAME, RunDir, RunSummary, read_json


@dataclass
class ResultRow:
    """One fine-tuned model and the pre-training it started from.

    Attributes:
        name: fine-tuning folder name; objective: pre-training objective or ``scratch``.
        pretrain_*: wall seconds, training FLOPs and updates of pre-training (0 for scratch).
        finetune_*: the same for fine-tuning; best_dev_wer: greedy dev WER of ``checkpoint_best``.
        scores: ``{split: {system: {"wer", "cer"}}}`` from decode.json (systems greedy / lm).
        pnmi: PNMI of the HuBERT labels the pre-training used (None when it used none).
        lm_settings: ``{split: {lm_weight, word_score, beam_size}}`` of the LM decodes.
        finetune_settings: ``{label: value}`` of ``FINETUNE_SETTINGS`` from the fine-tuning
            ``config.yaml``; {} when there is no config.
    """

    name: str
    objective: str
    pretrain_dir: str | None = None
    pretrain_wall_seconds: float | None = None
    pretrain_flops: float | None = None
    pretrain_updates: int | None = None
    finetune_wall_seconds: float | None = None
    finetune_flops: float | None = None
    finetune_updates: int | None = None
    best_dev_wer: float | None = None
    units: str | None = None
    scores: dict = field(default_factory=dict)
    lm_settings: dict = field(default_factory=dict)
    label_dir: str | None = None
    pnmi: float | None = None
    finetune_settings: dict = field(default_factory=dict)

    def score(self, split: str, system: str, metric: str) -> float | None:
        return self.scores.get(split, {}).get(system, {}).get(metric)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LabelRow:
    """Quality of one HuBERT label set (``quality.json``)."""

    name: str
    path: str
    pnmi: float | None = None
    phone_purity: float | None = None
    cluster_purity: float | None = None
    reference: str | None = None  # what the labels were scored against (true phones: DATA/phones)


def decode_scores(finetune_dir: Path) -> tuple[dict, dict]:
    """({split: {system: {wer, cer}}}, {split: lm settings}) from ``decode_*/decode.json``.

    When several decodes cover a split, the newest wins per system.
    """
    scores: dict = {}
    settings: dict = {}
    for record in RunDir(finetune_dir).decodes():
        for system, result in record.systems.items():
            scores.setdefault(record.split, {})[system] = {"wer": result.wer, "cer": result.cer}
            if system == "lm":
                settings[record.split] = {"lm_weight": result.lm_weight, "word_score": result.word_score,
                                          "beam_size": result.beam_size}
    return scores, settings


# (label, section, key) of the fine-tuning settings the report shows next to the scores.
FINETUNE_SETTINGS = (
    ("lr", "optim", "lr"),
    ("mask prob", "ctc", "mask_prob"),
    ("channel mask prob", "ctc", "mask_channel_prob"),
    ("Transformer frozen for", "ctc", "freeze_updates"),
    ("feature encoder frozen", "ctc", "freeze_feature_encoder"),
    ("top layers re-initialised", "ctc", "reinit_top_layers"),
    ("max updates", "trainer", "max_updates"),
    ("max tokens", "trainer", "max_tokens"),
    ("seed", "trainer", "seed"),
)


def finetune_settings(finetune_dir: Path) -> dict:
    """``{label: value}`` of ``FINETUNE_SETTINGS`` from the run's ``config.yaml`` ({} without one)."""
    config = RunDir(finetune_dir).config()
    if not config:
        return {}
    return {label: (config.get(section) or {}).get(key) for label, section, key in FINETUNE_SETTINGS}


def _data_section(pretrain_dir: Path) -> dict:
    """The ``data`` section of a pre-training run's ``config.yaml`` ({} when there is none)."""
    return RunDir(pretrain_dir).config().get("data") or {}


def _locations(recorded: str, exp_root: Path) -> tuple[Path, ...]:
    """Where a path recorded in a config may be: as written, or relative to the recipe folder."""
    return Path(recorded), exp_root.parent / recorded, exp_root / recorded


def label_quality(pretrain_dir: Path, exp_root: Path) -> tuple[str | None, float | None]:
    """(label dir, PNMI) of the labels named in the pre-training ``config.yaml``.

    Quality is measured where reference alignments exist: the training labels (data.labels), the
    validation labels (data.valid_labels), or another split labelled by the same k-means model
    (a sibling folder, e.g. ``exp/labels/mfcc/valid`` for ``exp/labels/mfcc/train``).
    """
    data = _data_section(pretrain_dir)
    label_dirs = [data[key] for key in ("labels", "valid_labels") if data.get(key)]
    if not label_dirs:
        return None, None
    for labels in label_dirs:
        for candidate in _locations(labels, exp_root):
            # The label dir itself, else a sibling split labelled by the same k-means model.
            siblings = sorted(candidate.parent.glob("*/quality.json")) if candidate.parent.is_dir() else []
            for path in [candidate / "quality.json", *siblings]:
                quality = read_json(path)
                if quality is not None:
                    return str(path.parent), quality.get("pnmi")
    return str(label_dirs[0]), None


def _label_source(pretrain_dir: Path, exp_root: Path) -> Path | None:
    """The pre-training run whose layer features made this run's labels (HuBERT iteration 2)."""
    labels = _data_section(pretrain_dir).get("labels")
    if not labels:
        return None
    for label_dir in _locations(labels, exp_root):
        source = read_json(label_dir / "source.json")
        if source is not None:
            checkpoint = source.get("checkpoint")
            if not checkpoint:
                return None
            path = Path(checkpoint)
            return path.parent if path.is_file() else path
    return None


def pretrain_compute(
    pretrain_dir: Path, exp_root: Path, seen: frozenset = frozenset()
) -> tuple[float | None, float | None, int | None]:
    """(wall seconds, training FLOPs, updates) of a pre-training run plus the runs it depends on.

    HuBERT iteration 2 is trained on labels from iteration 1's features, so its compute includes
    iteration 1's (the papers count it the same way).
    """
    summary = RunDir(pretrain_dir).summary() or RunSummary()
    totals = [summary.wall_seconds, summary.training_flops, summary.updates]
    source = _label_source(pretrain_dir, exp_root)
    if source is not None and source.resolve() not in seen:
        earlier = pretrain_compute(source, exp_root, seen | {pretrain_dir.resolve()})
        totals = [None if a is None or b is None else a + b for a, b in zip(totals, earlier)]
    return totals[0], totals[1], totals[2]


def _pretrain_dir_of(summary: RunSummary, exp_root: Path) -> Path | None:
    pretrained = summary.pretrained_checkpoint or summary.pretrained
    if not pretrained:
        return None
    path = Path(pretrained)
    if not path.exists():
        # Recorded relative to the recipe folder; try the experiment root's parent.
        path = exp_root.parent / pretrained
    return path.parent if path.is_file() else path


def collect_rows(exp_root: str | os.PathLike) -> list[ResultRow]:
    """One ResultRow per ``exp_root/finetune/*/summary.json``, sorted: scratch first, then name."""
    exp_root = Path(exp_root)
    rows = []
    for summary_path in sorted((exp_root / "finetune").glob(f"*/{SUMMARY_NAME}")):
        finetune_dir = summary_path.parent
        summary = RunDir(finetune_dir).summary()
        if summary is None:
            continue
        scores, settings = decode_scores(finetune_dir)
        row = ResultRow(
            name=finetune_dir.name,
            objective=summary.objective or "scratch",
            finetune_wall_seconds=summary.wall_seconds,
            finetune_flops=summary.training_flops,
            finetune_updates=summary.updates,
            best_dev_wer=summary.best_dev_wer,
            units=summary.units,
            scores=scores,
            lm_settings=settings,
            finetune_settings=finetune_settings(finetune_dir),
        )
        pretrain_dir = _pretrain_dir_of(summary, exp_root)
        if pretrain_dir is None:
            row.pretrain_wall_seconds, row.pretrain_flops, row.pretrain_updates = 0.0, 0.0, 0
        else:
            row.pretrain_dir = str(pretrain_dir)
            row.pretrain_wall_seconds, row.pretrain_flops, row.pretrain_updates = pretrain_compute(
                pretrain_dir, exp_root
            )
            row.label_dir, row.pnmi = label_quality(pretrain_dir, exp_root)
        rows.append(row)
    return sorted(rows, key=lambda r: (r.objective != "scratch", r.objective, r.name))


def collect_labels(exp_root: str | os.PathLike) -> list[LabelRow]:
    """Every ``quality.json`` under ``exp_root`` (label sets), sorted by path."""
    exp_root = Path(exp_root)
    rows = []
    for path in sorted(exp_root.rglob("quality.json")):
        quality = read_json(path) or {}
        rows.append(
            LabelRow(
                name=path.parent.name, path=str(path.parent.relative_to(exp_root)),
                pnmi=quality.get("pnmi"), phone_purity=quality.get("phone_purity"),
                cluster_purity=quality.get("cluster_purity"), reference=quality.get("reference"),
            )
        )
    return rows


def progress_files(exp_root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """``{"pretrain"|"finetune": {run name: progress.jsonl}}`` of every run that logged progress."""
    exp_root = Path(exp_root)
    return {
        stage: {p.parent.name: p for p in sorted((exp_root / stage).glob(f"*/{PROGRESS_NAME}"))}
        for stage in ("pretrain", "finetune")
    }
