"""The Kaldi-style shell helpers every recipe uses: option parsing and done markers."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bash(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script, "recipe", *args], cwd=REPO, capture_output=True, text=True
    )


def test_parse_options_sets_existing_variables():
    script = 'stage=0; stop_stage=9; nj=1; . local/parse_options.sh; echo "$stage $stop_stage $nj $*"'
    result = bash(script, "--stage", "3", "--stop-stage=5", "--nj", "8", "extra")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 5 8 extra"


def test_parse_options_rejects_unknown_option():
    result = bash("stage=0; . local/parse_options.sh; echo ran", "--stgae", "3")
    assert result.returncode == 1
    assert "unknown option --stgae" in result.stderr and "ran" not in result.stdout


def test_run_once_skips_done_and_retries_failed(tmp_path):
    marker_dir = tmp_path / "stage"
    counter = tmp_path / "count"
    command = f"echo x >> {counter}"
    for _ in range(2):
        result = subprocess.run(
            ["local/run_once.sh", str(marker_dir), "bash", "-c", command], cwd=REPO, capture_output=True
        )
        assert result.returncode == 0
    assert counter.read_text().count("x") == 1
    failed = subprocess.run(["local/run_once.sh", str(tmp_path / "bad"), "false"], cwd=REPO)
    assert failed.returncode != 0 and not (tmp_path / "bad" / ".done").exists()


def test_run_sh_rejects_bad_option():
    result = subprocess.run(["./run.sh", "--no-such-option", "1"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "unknown option --no-such-option" in result.stderr


def test_job_pool_runs_side_by_side_with_shared_threads(tmp_path):
    script = f"""set -euo pipefail; pool_jobs=2; . local/job_pool.sh
job() {{ echo "$1 threads=$OMP_NUM_THREADS"; sleep 1; }}
start=$SECONDS
for n in 1 2 3 4; do pool_run {tmp_path}/log/$n.log job $n; done
pool_wait
echo "took $((SECONDS - start))"
"""
    result = bash(script)
    assert result.returncode == 0, result.stderr
    threads = max(1, __import__("os").cpu_count() // 2)
    for n in range(1, 5):
        assert (tmp_path / "log" / f"{n}.log").read_text() == f"{n} threads={threads}\n"
    assert int(result.stdout.split("took ")[1]) <= 3  # 4 one-second jobs, 2 at a time


def test_job_pool_fills_a_free_slot_at_once(tmp_path):
    # A long job first: the short ones run beside it one after another, not after it.
    script = f"""set -euo pipefail; pool_jobs=2; . local/job_pool.sh
start=$EPOCHREALTIME
pool_run {tmp_path}/long.log sleep 3
for n in 1 2 3 4; do pool_run {tmp_path}/$n.log sleep 1; done
pool_wait
echo "took $start $EPOCHREALTIME"
"""
    result = bash(script)
    assert result.returncode == 0, result.stderr
    start, end = map(float, result.stdout.split("took ")[1].split())
    assert end - start < 4.7  # 4 s; waiting for the oldest job first: 5 s


def test_job_pool_stops_on_a_failed_job_with_its_status_and_log(tmp_path):
    script = f"""set -euo pipefail; pool_jobs=2; . local/job_pool.sh
pool_run {tmp_path}/a.log bash -c 'echo boom; exit 7'
pool_run {tmp_path}/b.log sleep 30
pool_wait
echo not reached
"""
    result = bash(script)
    assert result.returncode == 7 and "not reached" not in result.stdout
    assert f"a job failed (exit 7); the last lines of {tmp_path}/a.log:\nboom" in result.stderr
    # pool_jobs=1: in the foreground, output on the terminal and in the log.
    result = bash(f"set -euo pipefail; . local/job_pool.sh; pool_run {tmp_path}/c.log echo hi")
    assert result.returncode == 0 and result.stdout == "hi\n" and (tmp_path / "c.log").read_text() == "hi\n"
