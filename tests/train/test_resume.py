"""Exact resume: a run killed with SIGKILL after a checkpoint and resumed ends bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.data.tiny_dirs import make_data_dir

SCRIPT = Path(__file__).with_name("train_toy.py")
REPO = Path(__file__).resolve().parents[2]


def _train(data: Path, exp: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(data), str(exp), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    data = make_data_dir(tmp_path / "corpus")
    reference = _train(data, tmp_path / "reference")
    # A slow run (8 steps x 0.6 s after checkpoint_4) leaves the kill time to land on a loaded machine.
    killed = _train(data, tmp_path / "killed", "--sleep", "0.6")
    _finish(reference)
    first_checkpoint = tmp_path / "killed" / "checkpoint_4.state.pt"
    deadline = time.time() + 90
    while not first_checkpoint.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.time() < deadline, "no checkpoint written in 90 s"
        time.sleep(0.05)
    assert killed.poll() is None, "the run finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "checkpoint_12.state.pt").exists()
    _finish(_train(data, tmp_path / "killed", "--resume"))
    expected = (tmp_path / "reference" / "digest.rank0").read_text()
    assert (tmp_path / "killed" / "digest.rank0").read_text() == expected
    progress = (tmp_path / "killed" / "progress.jsonl").read_text().splitlines()
    assert [json.loads(line)["update"] for line in progress] == [2, 4, 6, 8, 10, 12]
