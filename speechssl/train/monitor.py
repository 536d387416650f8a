"""What a run reports: ``train.log``, TensorBoard scalars, ``progress.jsonl`` and ``valid.jsonl``.

Only rank 0 writes. The jsonl files are rewritten atomically and cut back to the resumed update.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from speechssl.io.atomic import atomic_write_text

logger = logging.getLogger("speechssl.train")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Records of a jsonl file ([] when absent)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class JsonlLog:
    """A list of records mirrored to ``path`` (rewritten atomically on every append)."""

    def __init__(self, path: Path, resume_update: int):
        self.path = path
        self.records = [r for r in read_jsonl(path) if r.get("update", 0) <= resume_update]

    def append(self, record: dict) -> None:
        self.records.append(record)
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))


class TrainingMonitor:
    """Writes training and validation statistics of rank 0 (other ranks get a silent monitor)."""

    def __init__(self, exp_dir: str | os.PathLike, enabled: bool, resume_update: int = 0):
        self.exp_dir = Path(exp_dir)
        self.enabled = enabled
        self.writer = None
        self.handler: logging.Handler | None = None
        if not enabled:
            return
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.exp_dir / "train.log", encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
        logging.getLogger("speechssl").addHandler(self.handler)
        if logging.getLogger("speechssl").getEffectiveLevel() > logging.INFO:
            logging.getLogger("speechssl").setLevel(logging.INFO)
        self.progress = JsonlLog(self.exp_dir / "progress.jsonl", resume_update)
        self.valid = JsonlLog(self.exp_dir / "valid.jsonl", resume_update)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only on rank 0

        self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=resume_update + 1)

    def _scalars(self, prefix: str, update: int, stats: dict) -> None:
        for key, value in stats.items():
            if key != "update" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{prefix}/{key}", value, update)
        self.writer.flush()

    def log_train(self, stats: dict) -> None:
        """``stats`` holds update, loss, lr, elapsed, audio_seconds and the objective's logs."""
        if not self.enabled:
            return
        self.progress.append(stats)
        self._scalars("train", stats["update"], stats)
        logger.info("train | %s", _format(stats))

    def log_valid(self, stats: dict) -> None:
        if not self.enabled:
            return
        self.valid.append(stats)
        self._scalars("valid", stats["update"], stats)
        logger.info("valid | %s", _format(stats))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.handler is not None:
            logging.getLogger("speechssl").removeHandler(self.handler)
            self.handler.close()


def _format(stats: dict) -> str:
    parts = []
    for key, value in stats.items():
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return " | ".join(parts)
