"""Faults around checkpoints: a killed write's temporaries, damaged weights found by their digest, and a
write that fails (file-size limit, as on a full disk) leaving the previous checkpoint usable."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechssl.cli.main import main
from speechssl.data.dataset import AudioDataset
from speechssl.train import checkpoint as ckpt
from speechssl.train.config import OptimConfig, ScheduleConfig, TrainerConfig
from speechssl.train.distributed import seed_everything
from speechssl.train.run import run_training
from tests.data.tiny_dirs import make_data_dir
from tests.train.toy import ToyObjective

REPO = Path(__file__).resolve().parents[2]


def _train(data: Path, exp: Path, max_updates: int, resume: bool = False) -> dict:
    cfg = TrainerConfig(max_updates=max_updates, max_tokens=16000, max_sample_size=6400, min_sample_size=0,
                        num_workers=0, log_interval=2, save_interval_updates=2, validate_interval_updates=0,
                        keep_last=10, device="cpu", seed=1)  # fmt: skip
    seed_everything(cfg.seed)
    objective = ToyObjective(channels=128)  # ~9 kB of weights: room to damage past the header
    train = AudioDataset(data, max_sample_size=cfg.max_sample_size, seed=cfg.seed)
    schedule = ScheduleConfig(name="polynomial", warmup_updates=2)
    return run_training(objective, train, None, cfg, OptimConfig(lr=1e-3), schedule, exp, resume=resume)


def test_stale_temporaries_are_removed_at_start_and_logged(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    exp = tmp_path / "exp"
    _train(data, exp, 2)
    stale = exp / ".checkpoint_4.safetensors.k3j9x0ab.tmp"  # what a write killed mid-way leaves
    stale.write_bytes(b"partial")
    (exp / "notes.tmp").write_text("the user's")
    assert _train(data, exp, 4, resume=True)["updates"] == 4
    assert not stale.exists() and (exp / "notes.tmp").is_file()
    assert f"removed temporaries of interrupted writes: {stale.name}" in (exp / "train.log").read_text()


def test_damaged_weights_are_refused_on_resume_naming_the_fallback(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4)
    exp = tmp_path / "exp"
    _train(data, exp, 4)
    weights = exp / "checkpoint_4.safetensors"
    raw = bytearray(weights.read_bytes())
    start = 8 + struct.unpack("<Q", raw[:8])[0]  # past the JSON header: tensor bytes only
    assert len(raw) - start > 4000 + 100
    raw[start + 100 : start + 4100] = os.urandom(4000)
    weights.write_bytes(bytes(raw))
    ckpt.load_weights(weights)  # the header is intact: safetensors alone would not notice
    with pytest.raises(ckpt.CheckpointError) as error:
        _train(data, exp, 6, resume=True)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{weights}: corrupt weights file (sha256 differs from the one recorded in")
    assert message.endswith("delete it to resume from checkpoint_2.safetensors")


_LIMITED = """import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write past the limit raises instead
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from speechssl.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def test_failed_checkpoint_write_keeps_the_previous_one_and_stops_in_one_line(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=4, min_len=16000, max_len=20000)
    exp = tmp_path / "exp"
    argv = ["pretrain", "--config", "conf/pretrain/wav2vec2_tiny.yaml", "--exp-dir", str(exp)]
    trainer = dict(max_updates=1, num_workers=0, max_tokens=32000, max_sample_size=16000, min_sample_size=8000,
                   save_interval_updates=1, validate_interval_updates=0, device="cpu")  # fmt: skip
    sets = [f"trainer.{k}={v}" for k, v in trainer.items()]
    for item in sets + ["model.num_layers=1", f"data.train={data}", 'data.valid=""']:
        argv += ["--set", item]
    assert main(argv) == 0
    first = exp / "checkpoint_1.safetensors"
    limit = first.stat().st_size // 2  # the next weights file cannot be written; logs still can
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    more = argv + ["--resume", "--set", "trainer.max_updates=2"]
    result = subprocess.run([sys.executable, "-c", _LIMITED, str(limit), *more], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and errors[0].startswith("speechssl pretrain: error: ")
    assert "checkpoint_2.safetensors: writing the checkpoint failed" in errors[0]
    assert "checkpoint_1.safetensors is intact" in errors[0]
    assert sorted(p.name for p in exp.glob("checkpoint_*")) == ["checkpoint_1.safetensors", "checkpoint_1.state.pt"]
    assert not list(exp.glob(".*.tmp"))
    assert main(more) == 0  # the previous checkpoint resumes once there is room
    assert json.loads((exp / "summary.json").read_text())["updates"] == 2
    assert torch.load(exp / "checkpoint_2.state.pt", weights_only=True)["num_updates"] == 2
