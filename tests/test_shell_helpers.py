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
