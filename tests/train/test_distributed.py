"""Two CPU processes under torchrun (gloo) train the toy objective to identical weights; an
utterance skipped on either rank (NaN audio) is counted in rank 0's summary."""

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


def test_torchrun_two_ranks_end_with_identical_weights(tmp_path):
    data = make_data_dir(tmp_path / "corpus", num_utts=10, nan_utts=("spk1-utt003",))
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun)] if torchrun.exists() else [shutil.which("torchrun")]
    command += [
        "--standalone",
        "--nproc-per-node",
        "2",
        str(SCRIPT),
        str(data),
        str(tmp_path / "exp"),
        "--max-updates",
        "6",
        "--save-interval",
        "3",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    digests = [(tmp_path / "exp" / f"digest.rank{r}").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    summary = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["updates"] == 6
    assert list(summary["skipped_utterance_problems"]) == ["spk1-utt003"]
    assert (tmp_path / "exp" / "checkpoint_6.safetensors").is_file()
