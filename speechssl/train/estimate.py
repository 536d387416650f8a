"""Compute estimate of a recipe stage: measure training throughput here, scale to the full run.

Throughput is audio-seconds trained per wall-second on this device, from real optimizer steps.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from speechssl.data.batch import AudioBatch
from speechssl.io.audio import SAMPLE_RATE
from speechssl.finetune import FinetuneConfig
from speechssl.models.config import BackboneConfig
from speechssl.progress import progress_bar
from speechssl.train.config import OptimConfig, PretrainConfig, ScheduleConfig, TrainerConfig


@dataclass
class Throughput:
    """Measured speed: ``steps`` optimizer steps of ``batch_samples`` samples in ``seconds``."""

    device: str
    steps: int
    seconds: float
    batch_samples: int
    peak_memory_gib: float

    @property
    def audio_seconds_per_second(self) -> float:
        return self.steps * self.batch_samples / SAMPLE_RATE / self.seconds


@dataclass
class StageEstimate:
    """One stage: ``updates`` updates of ``samples_per_update`` samples (every GPU together)."""

    name: str
    updates: int
    samples_per_update: int

    @property
    def audio_seconds(self) -> float:
        return self.updates * self.samples_per_update / SAMPLE_RATE

    def gpu_seconds(self, throughput: Throughput) -> float:
        return self.audio_seconds / throughput.audio_seconds_per_second


# Letters (with word boundaries) per second of read speech; only sizes the synthetic CTC targets,
# whose length barely changes the cost of a step.
LETTERS_PER_SECOND = 15.0


def _noise_batch(rows: int, crop: int, seed: int) -> AudioBatch:
    """audio (rows, crop) of low-level noise, audio_lengths (rows,) all ``crop`` (no padding)."""
    generator = torch.Generator().manual_seed(seed)
    audio = 0.1 * torch.randn(rows, crop, generator=generator)
    lengths = torch.full((rows,), crop, dtype=torch.long)
    return AudioBatch(audio=audio, audio_lengths=lengths, utt_ids=[f"synthetic-{i}" for i in range(rows)])


def _rows_and_crop(trainer: TrainerConfig, batch_samples: int) -> tuple[int, int]:
    """``batch_samples // crop`` rows of ``crop = min(max_sample_size, batch_samples)`` samples."""
    crop = max(1, min(trainer.max_sample_size, batch_samples))
    return max(1, batch_samples // crop), crop


def synthetic_batch(cfg: PretrainConfig, typed_objective_config, batch_samples: int, seed: int = 0) -> AudioBatch:
    """A full pre-training batch of noise, as the bucketing sampler packs crops of max_sample_size.

    Objectives whose typed config has ``num_classes`` (HuBERT) get random frame labels at its
    ``label_rate``. Returns audio (B, crop), audio_lengths (B,), labels (B, L) when needed.
    """
    rows, crop = _rows_and_crop(cfg.trainer, batch_samples)
    batch = _noise_batch(rows, crop, seed)
    num_classes = getattr(typed_objective_config, "num_classes", None)
    if num_classes:
        generator = torch.Generator().manual_seed(seed + 1)
        frame_rate = SAMPLE_RATE / cfg.model.downsampling
        label_rate = float(getattr(typed_objective_config, "label_rate", frame_rate))
        count = round(cfg.model.num_frames(crop) * label_rate / frame_rate)
        batch.labels = torch.randint(0, int(num_classes), (rows, count), generator=generator)
        batch.label_lengths = torch.full((rows,), count, dtype=torch.long)
    return batch


def synthetic_ctc_batch(cfg: FinetuneConfig, batch_samples: int, vocab_size: int, seed: int = 0) -> AudioBatch:
    """A fine-tuning batch of noise: utterances of ``trainer.max_sample_size`` samples (fine-tuning
    never crops; this stands for a typical utterance length) with random letter targets (B, S)."""
    rows, crop = _rows_and_crop(cfg.trainer, batch_samples)
    batch = _noise_batch(rows, crop, seed)
    length = max(1, round(crop / SAMPLE_RATE * LETTERS_PER_SECOND))
    generator = torch.Generator().manual_seed(seed + 1)
    batch.targets = torch.randint(1, vocab_size, (rows, length), generator=generator)
    batch.target_lengths = torch.full((rows,), length, dtype=torch.long)
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(objective, optim: OptimConfig, schedule: ScheduleConfig, trainer_cfg: TrainerConfig,
               batch: AudioBatch, seconds: float, device: torch.device, label: str,
               min_steps: int = 2) -> Throughput:
    """Run optimizer steps of ``objective`` on ``batch`` for about ``seconds`` (at least ``min_steps``).

    One warm-up step (allocations, kernel selection) is not timed.
    """
    from speechssl.train.distributed import World
    from speechssl.train.trainer import Trainer

    trainer_cfg = dataclasses.replace(trainer_cfg, update_freq=1, max_skipped_in_a_row=10**9)
    trainer = Trainer(objective, optim, schedule, trainer_cfg, World(device=device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer.train_step([batch])
    _sync(device)
    steps, start = 0, time.perf_counter()
    with progress_bar(desc=f"measure {label}", unit="step", leave=False) as bar:
        while steps < min_steps or time.perf_counter() - start < seconds:
            trainer.train_step([batch])
            _sync(device)
            steps += 1
            bar.update(1)
    elapsed = time.perf_counter() - start
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Throughput(name, steps, elapsed, int(batch.audio_lengths.sum()), memory)


def measure_pretrain(cfg: PretrainConfig, seconds: float, device: torch.device,
                     batch_samples: int | None = None) -> Throughput:
    """Throughput of ``cfg``'s objective; ``batch_samples`` defaults to ``trainer.max_tokens``."""
    from speechssl.objectives import objective_config
    from speechssl.train.pretrain_job import build_pretrain_objective

    typed = objective_config(cfg.objective, cfg.objective_config)
    objective = build_pretrain_objective(cfg, typed)
    batch = synthetic_batch(cfg, typed, int(batch_samples or cfg.trainer.max_tokens), seed=cfg.trainer.seed)
    return time_steps(objective, cfg.optim, cfg.schedule, cfg.trainer, batch, seconds, device, cfg.objective)


def measure_finetune(cfg: FinetuneConfig, model: BackboneConfig, seconds: float, device: torch.device,
                     batch_samples: int | None = None) -> Throughput:
    """Throughput of CTC fine-tuning of a ``model``-sized backbone after the frozen phase
    (``ctc.freeze_updates`` is set to 0: every step trains the whole Transformer)."""
    from speechssl.finetune.job import build_ctc_model
    from speechssl.objectives.ctc import finetune_backbone_config
    from speechssl.text.tokenizer import LetterTokenizer

    ctc = dataclasses.replace(cfg.ctc, freeze_updates=0)
    vocab_size = LetterTokenizer().vocab_size
    cfg = dataclasses.replace(cfg, ctc=ctc, model=finetune_backbone_config(model, ctc))
    objective = build_ctc_model(cfg, None, "scratch", vocab_size)
    batch = synthetic_ctc_batch(cfg, int(batch_samples or cfg.trainer.max_tokens), vocab_size, cfg.trainer.seed)
    return time_steps(objective, cfg.optim, cfg.schedule, cfg.trainer, batch, seconds, device, "ctc")


def run_stage(name: str, trainer: TrainerConfig, reference_gpus: int) -> StageEstimate:
    """A run of ``trainer.max_updates`` updates of (reference GPUs x max_tokens x update_freq)."""
    if reference_gpus < 1:
        raise ValueError(f"reference GPUs must be >= 1, got {reference_gpus}")
    per_update = reference_gpus * trainer.max_tokens * trainer.update_freq
    return StageEstimate(name, trainer.max_updates, per_update)


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def format_estimate(stage: StageEstimate, throughput: Throughput, gpus: int) -> list[str]:
    """Lines describing the measurement and the stage's expected GPU time and wall time.

    Wall time assumes ``gpus`` devices like this one with linear scaling (no communication cost).
    """
    gpu_seconds = stage.gpu_seconds(throughput)
    per_update_s = stage.samples_per_update / SAMPLE_RATE
    lines = [
        f"device: {throughput.device}; measured {throughput.steps} steps of "
        f"{throughput.batch_samples / SAMPLE_RATE:.1f} audio-s in {throughput.seconds:.1f} s = "
        f"{throughput.audio_seconds_per_second:.1f} audio-s/s"
        + (f", peak memory {throughput.peak_memory_gib:.1f} GiB" if throughput.peak_memory_gib else ""),
        f"{stage.name}: {stage.updates:,} updates x {per_update_s:,.0f} audio-s/update "
        f"({stage.audio_seconds / 3600:,.0f} h of audio) ~ {gpu_seconds / 86400:,.2f} GPU-days on this "
        f"device; ~ {_duration(gpu_seconds / gpus)} wall time on {gpus} such device(s)",
    ]
    return lines
