"""recipes/librispeech/run.sh stages 0 (download), 1 (data dirs) and 7 (LM) against the fake mirror."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from speechssl.io.kaldi_dir import DataDir

RUN_SH = Path(__file__).resolve().parents[2] / "recipes" / "librispeech" / "run.sh"


def run_recipe(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = ["bash", str(RUN_SH), "--dl-dir", str(tmp_path / "dl"), "--data", str(tmp_path / "data"),
               "--exp", str(tmp_path / "exp"), *options]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_run_sh_download_prep_lm(fake_corpus, range_server, tmp_path):
    result = run_recipe(tmp_path, "--stage", "0", "--stop-stage", "1", "--mirror", range_server.url,
                        "--checksums", str(fake_corpus.checksum_file), "--fold", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    data = tmp_path / "data"
    expected = {
        "dev_clean": fake_corpus.parts["dev-clean"],
        "test_other": fake_corpus.parts["test-other"],
        "train_960": sum((fake_corpus.parts[p] for p in ("train-clean-100", "train-clean-360",
                                                         "train-other-500")), []),
        "train_100h": fake_corpus.parts["train-clean-100"],
        "train_10m": fake_corpus.parts["1h/2"],
        "train_1h": sum((fake_corpus.parts[f"1h/{f}"] for f in range(6)), []),
        "train_10h": sum((fake_corpus.parts[f"1h/{f}"] for f in range(6)), []) + fake_corpus.parts["9h"],
    }
    for name, utts in expected.items():
        assert DataDir.load(data / name).utt_ids == sorted(utts), name
        assert (data / name / ".done").is_file()
    assert (data / "manifests" / "train_960.tsv").read_text().count("\n") == 1 + len(expected["train_960"])
    # Re-running is cheap: every part is already verified and every data dir marked done.
    again = run_recipe(tmp_path, "--stage", "0", "--stop-stage", "1", "--mirror", range_server.url,
                       "--checksums", str(fake_corpus.checksum_file))
    assert again.returncode == 0 and "already present" in again.stderr
    lm = run_recipe(tmp_path, "--stage", "7", "--stop-stage", "7")
    assert lm.returncode == 0, lm.stderr[-2000:]
    assert (data / "lm_4gram" / "lm.bin").is_file()


def test_list_objectives_is_what_run_sh_reads(capsys):
    from speechssl.cli.main import main
    from speechssl.objectives import OBJECTIVES

    assert main(["pretrain", "--list-objectives"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == list(OBJECTIVES)
    assert {r[0]: (r[1], r[2]) for r in rows}["hubert"] == ("true", "2")
    assert all((r[1], r[2]) == ("false", "1") for r in rows if r[0] != "hubert")
    assert main(["pretrain", "--exp-dir", "x"]) == 1
    assert "--config and --exp-dir are required" in capsys.readouterr().err


def test_run_sh_rejects_bad_options(tmp_path):
    from speechssl.objectives import OBJECTIVES

    result = run_recipe(tmp_path, "--objective", "bert", "--stage", "9", "--stop-stage", "0")
    assert result.returncode == 1 and f"--objective must be one of: {' '.join(OBJECTIVES)}" in result.stderr
    result = run_recipe(tmp_path, "--ngpu", "3", "--stage", "3", "--stop-stage", "3")
    assert result.returncode != 0 and "use a GPU count dividing it (got 3)" in result.stderr
    result = run_recipe(tmp_path, "--model", "huge", "--stage", "9", "--stop-stage", "0")
    assert result.returncode == 1 and "--model must be base, large or xlsr_300m" in result.stderr
    result = run_recipe(tmp_path, "--ngpus", "3")
    assert result.returncode == 1 and "unknown option --ngpus" in result.stderr
