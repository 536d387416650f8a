"""``run_probe``: one SUPERB-style probe of a frozen upstream (dump hidden states, train, score).

Writes ``<out>/config.yaml``, ``probe.log``, ``progress.jsonl``, ``layer_weights.{json,png}`` and,
last, ``result.json``; a finished probe with the same config is returned without any work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from speechssl.config import from_dict, read_yaml_mapping, save_config, to_dict
from speechssl.io.atomic import atomic_write_text
from speechssl.probe.cache import cached_frame_counts, dump_hidden_states, load_hidden_states
from speechssl.probe.evaluate import LMSettings, compute_emissions, lm_scores, split_scores
from speechssl.probe.featurizer import save_layer_weights
from speechssl.probe.layer_abx import ABX_METRIC, ABX_TASK, layer_abx
from speechssl.probe.tasks import LetterRecognition, ProbeTask, TaskTargets, get_task
from speechssl.probe.train import ProbeModel, TrainSettings, train_probe
from speechssl.probe.upstreams import RANDOM, HiddenStateExtractor, build_upstream

logger = logging.getLogger(__name__)
RESULT_FILE = "result.json"
# Settings that change where and how fast a probe runs, not its result: a finished probe is reused
# when only these differ.
_RUN_ONLY = ("device", "max_batch_seconds")


@dataclass
class ProbeConfig:
    """Settings of one probe.

    Attributes:
        upstream: ``fbank``, ``random``, or a checkpoint (run folder, ``.safetensors`` file, or a
            ``speechssl convert`` folder).
        model_config: backbone config of ``random`` (name in conf/model or YAML path).
        upstream_seed: initialisation seed of ``random`` (seeds 1-3 give the noise level).
        task: ``pr`` (phones, CTC, linear head), ``asr`` (letters, BiLSTM), ``pc`` (frame phone
            classification against ``<split>/phones``, linear head) or ``abx`` (ABX per layer on
            ``dev``; no training: ``train``, ``test`` and the training settings are not used).
        train, dev, test: Kaldi data dirs with ``text`` (``pc``, ``abx``: ``phones``); ``test`` is
            optional ("").
        features_root: hidden-state cache, ``<root>/<upstream name>/<split>/``, shared by probes.
        out: output folder of this probe.
        seed: probe seed (head initialisation and batch order).
        max_updates, lr, batch_size: training; ``lr`` 0 = the task's default (PR 1e-2, ASR and
            PC 1e-3).
        device: ``cpu``, ``cuda`` or ``auto`` (cuda when available): upstream inference and training.
        lm: LM folder of ``speechssl lm build`` for ASR beam search ("" = greedy only).
        lm_weights, word_scores: beam-search grids tuned on dev; beam_size: hypotheses kept.
        asr_hidden_size: BiLSTM units per direction of the ASR head (SUPERB 1024; see docs/probes.md).
        normalize: layer-norm each layer before the weighted sum.
        max_batch_seconds: padded audio seconds per upstream inference batch.
    """

    upstream: str = "fbank"
    model_config: str = "tiny"
    upstream_seed: int = 1
    task: str = "pr"
    train: str = "data/train"
    dev: str = "data/dev"
    test: str = ""
    features_root: str = "exp/probe/features"
    out: str = "exp/probe/run"
    seed: int = 1
    max_updates: int = 1500
    lr: float = 0.0
    batch_size: int = 16
    device: str = "cpu"
    lm: str = ""
    lm_weights: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0, 3.0])
    word_scores: list[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    beam_size: int = 50
    asr_hidden_size: int = 256
    normalize: bool = True
    max_batch_seconds: float = 60.0


@dataclass
class ProbeResult:
    """What ``result.json`` holds: rates are fractions; ``value`` is ``scores["dev"][metric]``.

    ``abx`` also fills ``layers`` (``{"layer", "abx_within", "abx_across"}`` per layer, None where
    no triplet formed), ``best_layer`` (lowest ``abx_across``; ``scores`` are that layer's) and
    ``abx_counts``; it trains nothing (``updates`` 0, ``train_seconds`` = scoring seconds).
    """

    upstream: str = ""
    upstream_spec: str = ""
    upstream_seed: int | None = None
    task: str = ""
    metric: str = ""
    value: float = 0.0
    seed: int = 0
    scores: dict = field(default_factory=dict)  # split -> metric -> fraction
    utterances: dict = field(default_factory=dict)  # split -> utterances scored / trained on
    skipped: dict = field(default_factory=dict)  # split -> skipped (outside CMUdict / unaligned)
    layer_weights: list[float] = field(default_factory=list)
    updates: int = 0
    lr: float = 0.0
    final_loss: float = 0.0
    dump_seconds: float = 0.0
    train_seconds: float = 0.0
    features: dict = field(default_factory=dict)  # split -> feature folder
    lm: dict | None = None
    layers: list[dict] = field(default_factory=list)
    best_layer: int | None = None
    abx_counts: dict | None = None

    def summary(self) -> str:
        """One line: upstream, task, seed and every dev/test score in percent."""
        parts = [f"{split} " + " ".join(f"{k.upper()} {100 * v:.2f}%" for k, v in scores.items())
                 for split, scores in self.scores.items()]
        return f"{self.upstream} {self.task} seed {self.seed}: " + "; ".join(parts)


def _finished(config: ProbeConfig) -> ProbeResult | None:
    """The result of a finished probe in ``config.out`` with the same config, else None."""
    out = Path(config.out)
    if not (out / RESULT_FILE).is_file():
        return None
    saved, current = read_yaml_mapping(out / "config.yaml"), to_dict(config)
    for key in _RUN_ONLY:
        saved.pop(key, None)
        current.pop(key, None)
    if saved != current:
        raise ValueError(f"{out}: holds a finished probe with other settings (see its "
                         "config.yaml); use another --out or delete that folder")
    record = json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))
    return from_dict(ProbeResult, record, where=str(out / RESULT_FILE))


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Copy speechssl's log records into ``path`` while the probe runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("speechssl")
    root.addHandler(handler)
    previous = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _splits(config: ProbeConfig) -> dict[str, str]:
    splits = {"train": config.train, "dev": config.dev}
    if config.test:
        splits["test"] = config.test
    return splits


def run_probe(config: ProbeConfig) -> ProbeResult:
    """Probe ``config.upstream`` on ``config.task``; returns (and writes) its ``ProbeResult``.

    Raises:
        ValueError / FileNotFoundError: one line naming the file or setting to fix.
    """
    finished = _finished(config)
    if finished is not None:
        logger.info("%s: probe already finished; returning its result", config.out)
        return finished
    if config.device == "auto":  # the machine decides, as the trainer's trainer.device=auto
        config = dataclasses.replace(config, device="cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: no CUDA device is available")
    task = None if config.task == ABX_TASK else get_task(config.task, config.asr_hidden_size)
    if config.lm and not isinstance(task, LetterRecognition):
        raise ValueError(f"lm {config.lm!r}: LM beam search applies to the asr task only")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    with _log_to(out / "probe.log"):
        if task is None:
            return _run_abx(config, out)
        return _run(config, task, out)


def _score(config: ProbeConfig, task: ProbeTask, model: ProbeModel, hidden: dict,
           targets: dict[str, TaskTargets], out: Path) -> tuple[dict, dict | None]:
    """Greedy or frame scores of every split but train, plus LM beam-search scores for ASR with ``lm``."""
    splits = [s for s in targets if s != "train"]
    emissions = {s: compute_emissions(model, hidden[s], sorted(targets[s].targets), config.device)
                 for s in splits}
    scores = {s: split_scores(task, emissions[s], targets[s], s) for s in splits}
    if not (config.lm and isinstance(task, LetterRecognition)):
        return scores, None
    settings = LMSettings(tuple(config.lm_weights), tuple(config.word_scores), config.beam_size)
    references = {s: targets[s].references for s in splits}
    with_lm, record = lm_scores(task, emissions, references, config.lm, out, settings)
    for split, values in with_lm.items():
        scores[split].update(values)
    return scores, record


def _run(config: ProbeConfig, task: ProbeTask, out: Path) -> ProbeResult:
    upstream = build_upstream(config.upstream, config.model_config, config.upstream_seed, config.device)
    dumped = {s: _dump(upstream, data, config) for s, data in _splits(config).items()}
    feature_dirs = {s: feat_dir for s, (feat_dir, _) in dumped.items()}
    dump_seconds = sum(seconds for _, seconds in dumped.values())
    targets = {split: task.targets(data, cached_frame_counts(feature_dirs[split]), upstream.frame_rate)
               for split, data in _splits(config).items()}
    for split, found in targets.items():
        logger.info("%s: %d utterances, %d skipped", split, len(found.targets), len(found.skipped))
    hidden = {s: load_hidden_states(feature_dirs[s], set(targets[s].targets)) for s in targets}
    lr = config.lr or task.default_lr
    settings = TrainSettings(max_updates=config.max_updates, lr=lr, batch_size=config.batch_size,
                             seed=config.seed, device=config.device)
    torch.manual_seed(config.seed)
    model = ProbeModel(upstream.num_layers, upstream.layer_dim, task, config.normalize)
    start = time.perf_counter()
    records = train_probe(model, hidden["train"], targets["train"].targets, settings,
                          out / "progress.jsonl")
    train_seconds = time.perf_counter() - start
    weights = model.featurizer.layer_weights()
    save_layer_weights(weights, out, f"{upstream.name} {task.name} seed {config.seed}")
    scores, lm_record = _score(config, task, model, hidden, targets, out)
    result = ProbeResult(
        upstream=upstream.name, upstream_spec=config.upstream,
        upstream_seed=config.upstream_seed if config.upstream == RANDOM else None,
        task=task.name, metric=task.metric, value=scores["dev"][task.metric], seed=config.seed,
        scores=scores, utterances={s: len(t.targets) for s, t in targets.items()},
        skipped={s: len(t.skipped) for s, t in targets.items()}, layer_weights=weights,
        updates=records[-1]["update"], lr=lr, final_loss=records[-1]["loss"],
        dump_seconds=round(dump_seconds, 2), train_seconds=round(train_seconds, 2),
        features={s: str(d) for s, d in feature_dirs.items()}, lm=lm_record,
    )
    return _write_result(result, out)


def _write_result(result: ProbeResult, out: Path) -> ProbeResult:
    """Write ``result.json`` (last, atomically) and log the summary."""
    atomic_write_text(out / RESULT_FILE, json.dumps(dataclasses.asdict(result), indent=1) + "\n")
    logger.info("%s", result.summary())
    return result


def _dump(upstream: HiddenStateExtractor, data_dir: str, config: ProbeConfig) -> tuple[Path, float]:
    start = time.perf_counter()
    feat_dir = dump_hidden_states(upstream, data_dir, config.features_root, config.max_batch_seconds)
    return feat_dir, time.perf_counter() - start


def _run_abx(config: ProbeConfig, out: Path) -> ProbeResult:
    """The ``abx`` task: ABX of every cached layer on dev, no training."""
    upstream = build_upstream(config.upstream, config.model_config, config.upstream_seed, config.device)
    feat_dir, dump_seconds = _dump(upstream, config.dev, config)
    start = time.perf_counter()
    scored = layer_abx(load_hidden_states(feat_dir), upstream.frame_rate, config.dev)
    for row in scored.layers:
        logger.info("layer %d: ABX within %s, across %s", row["layer"], row["abx_within"], row["abx_across"])
    dev = {"abx_within": scored.best["abx_within"], ABX_METRIC: scored.best[ABX_METRIC]}
    result = ProbeResult(
        upstream=upstream.name, upstream_spec=config.upstream,
        upstream_seed=config.upstream_seed if config.upstream == RANDOM else None,
        task=ABX_TASK, metric=ABX_METRIC, value=dev[ABX_METRIC], seed=config.seed, scores={"dev": dev},
        utterances={"dev": scored.counts["utterances"]}, skipped={"dev": scored.counts["unaligned_utts"]},
        dump_seconds=round(dump_seconds, 2), train_seconds=round(time.perf_counter() - start, 2),
        features={"dev": str(feat_dir)}, layers=scored.layers, best_layer=scored.best_layer,
        abx_counts=scored.counts,
    )
    return _write_result(result, out)
