"""The probe training loop: weighted layer sum + task head on frozen hidden states, the task's
loss (CTC or frame cross-entropy), Adam.

Small named steps over one ``ProbeState``: draw a batch, pad it, take one update, log progress.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from speechssl.progress import progress_bar

from speechssl.probe.featurizer import WeightedLayerSum
from speechssl.probe.tasks import ProbeTask
from speechssl.train.monitor import JsonlLog

logger = logging.getLogger(__name__)


class ProbeModel(nn.Module):
    """Featurizer (softmax-weighted layer sum) followed by the task's head."""

    def __init__(self, num_layers: int, layer_dim: int, task: ProbeTask, normalize: bool = True) -> None:
        super().__init__()
        self.featurizer = WeightedLayerSum(num_layers, normalize)
        self.head = task.build_head(layer_dim)
        self.task = task  # its loss hook trains the head (CTC, or frame cross-entropy)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """hidden (L, B, T, D), lengths (B,) -> log-probabilities (B, T, vocab)."""
        return F.log_softmax(self.head(self.featurizer(hidden), lengths), dim=-1)


def pad_hidden(items: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Utterances (L, T_i, D) -> zero-padded (L, B, T, D) and lengths (B,)."""
    lengths = torch.tensor([h.shape[1] for h in items])
    num_layers, _, dim = items[0].shape
    out = torch.zeros(num_layers, len(items), int(lengths.max()), dim, dtype=items[0].dtype)
    for row, h in enumerate(items):
        out[:, row, : h.shape[1]] = h
    return out, lengths


@dataclass
class TrainSettings:
    """Loop settings (``ProbeConfig`` fills them)."""

    max_updates: int = 1500
    lr: float = 1e-2
    batch_size: int = 16
    seed: int = 1
    device: str = "cpu"
    log_every: int = 50


@dataclass
class ProbeState:
    """Everything one update changes: model, optimiser, batch order, counters."""

    model: ProbeModel
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    utts: list[str]
    pending: list[str] = field(default_factory=list)
    updates: int = 0
    recent_losses: list[float] = field(default_factory=list)


def next_batch(state: ProbeState, batch_size: int) -> list[str]:
    """The next ``batch_size`` utterances of a shuffled pass over the data (reshuffled per pass)."""
    batch: list[str] = []
    while len(batch) < min(batch_size, len(state.utts)):
        if not state.pending:
            order = torch.randperm(len(state.utts), generator=state.generator).tolist()
            state.pending = [state.utts[i] for i in order]
        batch.append(state.pending.pop())
    return batch


def train_step(state: ProbeState, hidden: dict[str, torch.Tensor], targets: dict[str, list[int]],
               settings: TrainSettings) -> float:
    """One update on the next batch; returns its loss."""
    batch = next_batch(state, settings.batch_size)
    x, lengths = pad_hidden([hidden[u] for u in batch])
    state.model.train()
    log_probs = state.model(x.to(settings.device), lengths.to(settings.device))
    loss = state.model.task.loss(log_probs, lengths, [targets[u] for u in batch])
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.updates += 1
    return float(loss.detach())


def train_probe(model: ProbeModel, hidden: dict[str, torch.Tensor], targets: dict[str, list[int]],
                settings: TrainSettings, progress_path: Path) -> list[dict]:
    """Train ``model`` for ``settings.max_updates`` updates on the utterances of ``targets``.

    Args:
        hidden: ``utt -> (L, T, D)`` frozen hidden states (every utterance of ``targets``).
        targets: ``utt -> token ids`` (CTC tasks) or one label per frame (``pc``).
    Returns:
        the progress records (``update``, mean ``loss`` since the last record, ``layer_weights``,
        ``seconds``), also written to ``progress_path`` as jsonl.
    """
    if not targets:
        raise ValueError("no utterance to train the probe on (all skipped?)")
    torch.manual_seed(settings.seed)
    model.to(settings.device)
    state = ProbeState(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=settings.lr),
        generator=torch.Generator().manual_seed(settings.seed),
        utts=sorted(targets),
    )
    log = JsonlLog(progress_path, resume_update=0)
    start = time.perf_counter()
    with progress_bar(total=settings.max_updates, desc="probe updates", unit="upd", leave=False) as bar:
        while state.updates < settings.max_updates:
            state.recent_losses.append(train_step(state, hidden, targets, settings))
            bar.update(1)
            if state.updates % settings.log_every == 0 or state.updates == settings.max_updates:
                record = {
                    "update": state.updates,
                    "loss": sum(state.recent_losses) / len(state.recent_losses),
                    "layer_weights": model.featurizer.layer_weights(),
                    "seconds": round(time.perf_counter() - start, 2),
                }
                state.recent_losses.clear()
                log.append(record)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                logger.info("update %d: loss %.4f", record["update"], record["loss"])
    return log.records
