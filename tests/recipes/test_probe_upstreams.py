"""local/probe_upstreams.sh (run.sh's probe stages) with a stand-in ``speechssl``: names, seeds, options, reuse."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Records its arguments and makes the --out folder, as a finished probe would.
STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
while [ $# -gt 0 ]; do [ "$1" = --out ] && mkdir -p "$2"; shift; done
"""


def run_helper(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "speechssl").write_text(STUB)
    (bin_dir / "speechssl").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STUB_LOG=str(tmp_path / "calls"))
    return subprocess.run(["local/probe_upstreams.sh", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_every_upstream_task_and_seed_once(tmp_path):
    out = tmp_path / "probe"
    args = ("--nj", "2", "--tasks", "pr pc", "--seeds", "2", "--out", str(out),
            "hubert,exp/pretrain/hubert,1", "random3,random,3", "fbank,fbank,1", "--", "--max-updates", "7")
    result = run_helper(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    calls = sorted((tmp_path / "calls").read_text().splitlines())
    assert len(calls) == 12
    assert f"probe --upstream random --upstream-seed 3 --task pc --seed 2 --out {out}/random3-pc-seed2 " \
           "--max-updates 7" in calls
    probes = {p for p in out.iterdir() if p.name != "log"}
    assert {p.name for p in probes} == {f"{u}-{t}-seed{s}" for u in ("hubert", "random3", "fbank")
                                        for t in ("pr", "pc") for s in (1, 2)}
    assert all((p / ".done").is_file() for p in probes)
    # Side by side, each upstream's output goes to its own log.
    assert sorted(p.name for p in (out / "log").iterdir()) == ["fbank-pr_pc.log", "hubert-pr_pc.log",
                                                               "random3-pr_pc.log"]
    again = run_helper(tmp_path, *args)  # every probe is done: a no-op
    assert again.returncode == 0 and len((tmp_path / "calls").read_text().splitlines()) == 12


def test_fails_without_upstreams_or_when_a_probe_fails(tmp_path):
    result = run_helper(tmp_path, "--tasks", "pr")
    assert result.returncode == 1 and "no upstream given" in result.stderr
    failing = tmp_path / "failing"
    failing.mkdir()
    (failing / "speechssl").write_text("#!/usr/bin/env bash\nexit 3\n")
    (failing / "speechssl").chmod(0o755)
    env = dict(os.environ, PATH=f"{failing}:{os.environ['PATH']}")
    failed = subprocess.run(["local/probe_upstreams.sh", "--out", str(tmp_path / "p2"), "a,fbank,1", "b,fbank,1"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 3 and not (tmp_path / "p2" / "a-pr-seed1" / ".done").exists()
