"""A rank that dies under ``torchrun --max-restarts 1`` (2 CPU processes, gloo): the restarted job
resumes from its last checkpoint by itself and ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.data.tiny_dirs import make_data_dir

SCRIPT = Path(__file__).with_name("train_toy.py")
REPO = Path(__file__).resolve().parents[2]


def _torchrun(data: Path, exp: Path, *extra: str) -> subprocess.Popen:
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun) if torchrun.exists() else shutil.which("torchrun"), "--standalone",
               "--nproc-per-node", "2", "--max-restarts", "1", "--monitor-interval", "0.1", str(SCRIPT),
               str(data), str(exp), "--max-updates", "6", "--save-interval", "2", *extra]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    output = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.Popen(command, cwd=REPO, env=env, **output)


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 0, output
    return output


def test_dead_rank_is_restarted_and_resumes_bit_identical(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=10)
    runs = [_torchrun(data, tmp_path / "reference"), _torchrun(data, tmp_path / "faulted", "--die-at", "1:5")]
    _finish(runs[0])
    assert "rank 1 dies after update 5" in _finish(runs[1])
    log = (tmp_path / "faulted" / "train.log").read_text()
    assert "torchrun restart 1: resuming" in log and "checkpoint_4.safetensors at update 4" in log
    runs = ("reference", "faulted")
    digests = [(tmp_path / run / f"digest.rank{rank}").read_text() for run in runs for rank in (0, 1)]
    assert len(set(digests)) == 1, digests
    summary = json.loads((tmp_path / "faulted" / "summary.json").read_text())
    assert summary["updates"] == 6 and summary["world_size"] == 2
    progress = (tmp_path / "faulted" / "progress.jsonl").read_text().splitlines()
    assert [json.loads(line)["update"] for line in progress] == [2, 4, 6]
