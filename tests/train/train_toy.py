"""Train the toy objective in a fresh process (for the kill/resume and torchrun tests).

Usage: python tests/train/train_toy.py DATA_DIR EXP_DIR [--resume] [--sleep S] [--max-updates N]
    [--die-at RANK:UPDATE]
Writes EXP_DIR/digest.rank{R}: sha256 of every weight of that rank, in key order. ``--die-at`` makes
that rank exit right after that update, on torchrun's first attempt only (TORCHELASTIC_RESTART_COUNT).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from speechssl.data.dataset import AudioDataset  # noqa: E402
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig  # noqa: E402
from speechssl.train.distributed import close_world, seed_everything  # noqa: E402
from speechssl.train.run import run_training  # noqa: E402
from tests.train.toy import ToyObjective  # noqa: E402


def weights_digest(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def die_at(objective: ToyObjective, spec: str) -> None:
    """Make this process exit after update UPDATE when it is rank RANK on the first attempt."""
    rank, update = (int(v) for v in spec.split(":"))
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if not first_attempt or int(os.environ.get("RANK", "0")) != rank:
        return
    after_update = objective.after_update

    def after_update_then_die(num_updates: int) -> None:
        after_update(num_updates)
        if num_updates == update:
            print(f"rank {rank} dies after update {update}", flush=True)
            os._exit(3)

    objective.after_update = after_update_then_die


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("exp_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--max-updates", type=int, default=12)
    parser.add_argument("--save-interval", type=int, default=4)
    parser.add_argument("--update-freq", type=int, default=2)
    parser.add_argument("--die-at", default="", help="RANK:UPDATE, first torchrun attempt only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trainer_cfg = TrainerConfig(
        max_updates=args.max_updates,
        max_tokens=16000,
        max_sample_size=6400,
        min_sample_size=0,
        update_freq=args.update_freq,
        num_workers=0,
        log_interval=2,
        save_interval_updates=args.save_interval,
        validate_interval_updates=0,
        keep_last=10,
        device="cpu",
        seed=3,
    )
    seed_everything(trainer_cfg.seed)
    objective = ToyObjective(sleep=args.sleep)
    if args.die_at:
        die_at(objective, args.die_at)
    train = AudioDataset(args.data, max_sample_size=trainer_cfg.max_sample_size, seed=trainer_cfg.seed)
    summary = run_training(
        objective,
        train,
        None,
        trainer_cfg,
        OptimConfig(lr=1e-3),
        ScheduleConfig(name="polynomial", warmup_updates=3),
        args.exp_dir,
        resume=args.resume,
    )
    rank = int(os.environ.get("RANK", "0"))
    Path(args.exp_dir, f"digest.rank{rank}").write_text(weights_digest(objective) + "\n")
    print(f"rank {rank} done: {summary['updates']} updates")
    close_world()


if __name__ == "__main__":
    main()
