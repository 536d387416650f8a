"""Pre-training wall time each objective needs before its fine-tuned dev CER reaches wav2vec 2.0's.

Fine-tunes periodic checkpoints of exp/pretrain/<objective> with one short budget (``speechssl finetune``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from bench.common import REPO_ROOT, base_parser, finish, machine_info, setup_device
from speechssl.cli.main import main as speechssl_main
from speechssl.objectives import OBJECTIVES
from speechssl.progress import progress_bar
from speechssl.train import checkpoint as ckpt
from speechssl.train.monitor import read_jsonl

FINETUNE_CONFIG = REPO_ROOT / "conf" / "finetune" / "tiny_letters.yaml"


@dataclass
class CheckpointScore:
    """One pre-training checkpoint and its fine-tuned dev CER.

    Attributes:
        objective: pre-training objective name.
        path: the checkpoint's ``.safetensors`` file.
        update: pre-training updates done at the checkpoint.
        pretrain_s: pre-training wall seconds at the checkpoint.
        dev_cer: best dev CER of the short fine-tuning (None until measured).
    """

    objective: str
    path: str
    update: int
    pretrain_s: float
    dev_cer: float | None = None


def checkpoint_seconds(exp_dir: Path, path: Path, update: int) -> float:
    """Wall seconds of pre-training at ``update``: progress.jsonl, else the checkpoint's state."""
    records = [r for r in read_jsonl(exp_dir / "progress.jsonl") if r.get("update") == update]
    if records:
        return float(records[-1]["elapsed"])
    state = torch.load(ckpt.state_path_of(path), map_location="cpu", weights_only=True)
    return float(state["run"]["elapsed"])


def pretrain_checkpoints(exp_dir: Path, objective: str, max_checkpoints: int) -> list[CheckpointScore]:
    """At most ``max_checkpoints`` numbered checkpoints of ``exp_dir``, evenly spaced, last included."""
    paths = ckpt.list_checkpoints(exp_dir)
    if not paths:
        raise FileNotFoundError(
            f"{exp_dir}: no checkpoint_N.safetensors; pre-train first (see bench/README.md)"
        )
    if len(paths) > max_checkpoints:
        step = (len(paths) - 1) / max(max_checkpoints - 1, 1)
        paths = [paths[round(i * step)] for i in range(max_checkpoints)] if max_checkpoints > 1 else paths[-1:]
    scores = []
    for path in paths:
        update = int(path.stem.split("_")[1])
        scores.append(CheckpointScore(objective, str(path), update, checkpoint_seconds(exp_dir, path, update)))
    return scores


def finetune_cer(score: CheckpointScore, out_dir: Path, updates: int, overrides: list[str]) -> float:
    """Best dev CER of ``speechssl finetune`` from ``score.path`` for ``updates`` updates (cached)."""
    exp = out_dir / score.objective / Path(score.path).stem
    summary_path = exp / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("updates") == updates and summary.get("pretrained_checkpoint") == score.path:
            return float(summary["best_dev_cer"])
    if exp.exists():
        shutil.rmtree(exp)  # an unfinished or differently-sized run of this benchmark
    argv = ["finetune", "--config", str(FINETUNE_CONFIG), "--pretrained", score.path,
            "--exp-dir", str(exp), "--set", f"trainer.max_updates={updates}",
            "--set", f"trainer.validate_interval_updates={updates}",
            "--set", f"trainer.save_interval_updates={updates}"]
    for override in overrides:
        argv += ["--set", override]
    status = speechssl_main(argv)
    if status != 0 or not summary_path.is_file():
        raise RuntimeError(f"fine-tuning {score.path} failed (exit {status}); see {exp}/train.log")
    cer = json.loads(summary_path.read_text()).get("best_dev_cer")
    if cer is None:
        raise RuntimeError(f"{summary_path}: no best_dev_cer (no validation ran)")
    return float(cer)


def time_to_target(scores: list[CheckpointScore], target: float) -> float | None:
    """Earliest pre-training seconds whose fine-tuned dev CER is at most ``target`` (None: never)."""
    reached = [s.pretrain_s for s in scores if s.dev_cer is not None and s.dev_cer <= target]
    return min(reached) if reached else None


def quick_pretrain(data_root: Path, exp_root: Path) -> None:
    """Two tiny wav2vec 2.0 checkpoints (updates 1 and 2) on the corpus at ``data_root``."""
    argv = ["pretrain", "--config", str(REPO_ROOT / "conf" / "pretrain" / "wav2vec2_tiny.yaml"),
            "--exp-dir", str(exp_root / "wav2vec2")]
    for override in ("trainer.max_updates=2", "trainer.save_interval_updates=1", "trainer.keep_last=10",
                     "trainer.validate_interval_updates=1000", "trainer.num_workers=0",
                     "trainer.log_interval=1", f"data.train={data_root / 'pretrain'}",
                     f"data.valid={data_root / 'dev'}"):
        argv += ["--set", override]
    if speechssl_main(argv) != 0:
        raise RuntimeError(f"quick pre-training failed; see {exp_root / 'wav2vec2'}/train.log")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--pretrain-dir", type=Path, default=REPO_ROOT / "exp" / "pretrain",
                        help="folder of <objective>/checkpoint_N.safetensors runs")
    parser.add_argument("--data", type=Path, default=None,
                        help="DATA_ROOT with pretrain/, train/, dev/ (default data/; --quick: a new smoke corpus)")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "exp" / "bench_time_to_accuracy")
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    parser.add_argument("--max-checkpoints", type=int, default=4, help="per objective, evenly spaced")
    parser.add_argument("--finetune-updates", type=int, default=300)
    parser.add_argument("--target-cer", type=float, default=None,
                        help="default: dev CER of wav2vec2's last checkpoint")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup_device(args)
    with tempfile.TemporaryDirectory(prefix="bench-tta-") as scratch:
        if args.quick:
            if args.data is None:
                from speechssl.corpora.mini import generate, get_plan

                args.data = Path(scratch) / "smoke"
                generate(get_plan("smoke"), 0, args.data, nj=1)
            args.pretrain_dir, args.out_dir = Path(scratch) / "pretrain", Path(scratch) / "finetune"
            args.objectives, args.max_checkpoints, args.finetune_updates = ["wav2vec2"], 2, 2
            quick_pretrain(args.data, args.pretrain_dir)
        args.data = args.data or REPO_ROOT / "data"
        overrides = [f"data.train={args.data / 'train'}", f"data.valid={args.data / 'dev'}",
                     f"trainer.device={args.device}"]
        scores = {o: pretrain_checkpoints(args.pretrain_dir / o, o, args.max_checkpoints) for o in args.objectives}
        todo = [s for rows in scores.values() for s in rows]
        for score in progress_bar(todo, desc="fine-tune checkpoints"):
            score.dev_cer = finetune_cer(score, args.out_dir, args.finetune_updates, overrides)
    target = args.target_cer
    if target is None:
        if "wav2vec2" not in scores:
            raise SystemExit("--target-cer is needed when wav2vec2 is not among --objectives")
        target = scores["wav2vec2"][-1].dev_cer
    result = {
        "name": "time_to_accuracy",
        "machine": machine_info(device),
        "settings": {"finetune_config": str(FINETUNE_CONFIG), "finetune_updates": args.finetune_updates,
                     "max_checkpoints": args.max_checkpoints, "pretrain_dir": str(args.pretrain_dir)},
        "target_dev_cer": target,
        "objectives": {
            o: {"time_to_target_s": time_to_target(rows, target), "checkpoints": [asdict(s) for s in rows]}
            for o, rows in scores.items()
        },
    }
    finish(("quick_" if args.quick else "") + "time_to_accuracy", result, args.out)


if __name__ == "__main__":
    main()
