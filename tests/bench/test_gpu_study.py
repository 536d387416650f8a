"""The GPU study's CPU dry run at smoke size: every stage of bench/gpu_study.sh from a packed corpus."""

import json
import os
import subprocess
import tarfile
from pathlib import Path


from speechssl.cli.main import main
from speechssl.objectives import OBJECTIVES

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_study_dry_run_at_smoke_size(smoke_corpus, tmp_path):
    packed = tmp_path / "packed"
    assert main(["data", "pack", "--data", str(smoke_corpus), "--out", str(packed / "data"), "--nj", "1"]) == 0
    assert main(["lm", "build", "--text", str(smoke_corpus / "lm" / "text.txt"), "--order", "3",
                 "--out", str(packed / "lm")]) == 0
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        ["bash", "bench/gpu_study.sh", "--device", "cpu", "--scale", "smoke", "--packed", str(packed),
         "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # At most 8 files come back from a device call.
    assert sorted(p.name for p in out.iterdir()) == [
        "RESULTS.md", "gpu_study.log", "machine.txt", "plots.tar.gz", "results.json", "stage_seconds.txt"]
    stages = [line.split()[0] for line in (out / "stage_seconds.txt").read_text().splitlines()]
    assert stages == ["unpack", "stages_2-4", "stages_5-6", "stages_7-8", "stages_9-11", "stages_12-12"]
    results = json.loads((out / "results.json").read_text())
    probed = {(p["upstream"], p["task"]) for p in results["probes"]}
    for upstream in ["fbank", "random", *OBJECTIVES]:  # every objective's first model, and the baselines
        for task in ("pr", "pc", "abx"):
            assert (upstream, task) in probed, (upstream, task)
    with tarfile.open(out / "plots.tar.gz") as plots:
        assert "probe_layer_weights.png" in plots.getnames()
