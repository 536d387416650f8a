"""``speechssl probe`` end to end on the smoke corpus: fbank and random upstreams, result files,
finished probes returned without work, one-line errors."""

from __future__ import annotations

import json

from speechssl.cli.main import main


def _args(corpus, tmp_path, upstream, out, *extra):
    return ["probe", "--upstream", upstream, "--task", "pr", "--train", str(corpus / "train"),
            "--dev", str(corpus / "dev"), "--features-root", str(tmp_path / "features"),
            "--out", str(tmp_path / out), "--max-updates", "30", *extra]


def test_fbank_probe_runs_end_to_end_and_is_not_redone(smoke_corpus, tmp_path, capsys, monkeypatch):
    args = _args(smoke_corpus, tmp_path, "fbank", "fbank", "--test", str(smoke_corpus / "test"))
    assert main(args) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "fbank"
    result = json.loads((out / "result.json").read_text())
    assert (result["upstream"], result["task"], result["metric"], result["seed"]) == ("fbank", "pr", "per", 1)
    assert result["utterances"] == {"train": 5, "dev": 4, "test": 4}
    assert result["skipped"] == {"train": 1, "dev": 0, "test": 0}  # spk003-0004 says PIP'S
    assert set(result["scores"]) == {"dev", "test"} and result["value"] == result["scores"]["dev"]["per"] > 0
    assert result["layer_weights"] == [1.0] and result["updates"] == 30
    assert "train 1" in printed and "dev PER" in printed
    assert (out / "layer_weights.png").is_file() and (out / "layer_weights.json").is_file()
    assert len((out / "progress.jsonl").read_text().splitlines()) == 1
    assert "1 skipped" in (out / "probe.log").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("a finished probe was trained again")

    monkeypatch.setattr("speechssl.probe.job.train_probe", fail)
    assert main(args) == 0
    assert json.loads((out / "result.json").read_text()) == result
    assert main(args + ["--seed", "2"]) == 1
    assert "holds a finished probe with other settings" in capsys.readouterr().err


def test_random_upstream_probes_every_layer(smoke_corpus, small_model_yaml, tmp_path, capsys):
    args = _args(smoke_corpus, tmp_path, "random", "random", "--model-config", str(small_model_yaml),
                 "--upstream-seed", "2", "--max-updates", "20", "--seed", "3")
    assert main(args) == 0
    result = json.loads((tmp_path / "random" / "result.json").read_text())
    assert (result["upstream_seed"], result["seed"], result["updates"]) == (2, 3, 20)
    assert result["upstream"].startswith("random-small-seed2-")
    assert len(result["layer_weights"]) == 3 and abs(sum(result["layer_weights"]) - 1) < 1e-6
    assert result["layer_weights"] != [1 / 3] * 3  # the weights were trained
    assert (tmp_path / "features" / result["upstream"] / "dev" / "0_1.done").is_file()



def test_cuda_without_a_device_is_a_one_line_error(smoke_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(_args(smoke_corpus, tmp_path, "fbank", "gpu", "--device", "cuda")) == 1
    assert "no CUDA device is available" in capsys.readouterr().err


def test_errors_are_one_line(smoke_corpus, tmp_path, capsys):
    assert main(_args(smoke_corpus, tmp_path, str(tmp_path / "nowhere"), "x")) == 1
    assert "pre-trained folder or checkpoint not found" in capsys.readouterr().err
    assert main(_args(smoke_corpus, tmp_path, "fbank", "y", "--lm", str(tmp_path))) == 1
    assert "asr task only" in capsys.readouterr().err
