"""The probe table renders from hand-written ``exp/probe/*/result.json`` files, any task included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from speechssl.report.probes import best_upstream, collect_probes, probe_columns, probe_rows, upstream_label
from speechssl.report.render import render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_probe(root: Path, name: str, spec: str, task: str, metric: str, scores: dict, seed: int = 1,
                upstream_seed: int | None = None, weights: tuple = (0.2, 0.2, 0.2, 0.2, 0.2)) -> None:
    folder = root / "probe" / name
    folder.mkdir(parents=True)
    record = {"upstream": f"{Path(spec).name}-0123abcd", "upstream_spec": spec, "upstream_seed": upstream_seed,
              "task": task, "metric": metric, "value": scores["dev"][metric], "seed": seed, "scores": scores,
              "layer_weights": list(weights), "updates": 1500}
    (folder / "result.json").write_text(json.dumps(record))


@pytest.fixture
def exp(tmp_path):
    """HuBERT iteration 2 (labels with a true-phone quality.json), random seeds 1-3, fbank; tasks
    pr, abx, pc, asr and a task the report has never heard of."""
    root = tmp_path / "exp"
    hubert = root / "pretrain" / "hubert_iter2"
    labels = root / "labels" / "hubert_iter1"
    hubert.mkdir(parents=True)
    (hubert / "config.yaml").write_text(yaml.safe_dump({"data": {"labels": str(labels / "train")}}))
    (labels / "valid").mkdir(parents=True)
    (labels / "valid" / "quality.json").write_text(json.dumps(
        {"pnmi": 0.412, "phone_purity": 0.5, "cluster_purity": 0.3, "reference": "data/dev/phones"}))
    spec = str(hubert)
    write_probe(root, "hubert_iter2-pr-seed1", spec, "pr", "per", {"dev": {"per": 0.80}, "test": {"per": 0.81}},
                weights=(0.1, 0.1, 0.6, 0.1, 0.1))
    write_probe(root, "hubert_iter2-pr-seed2", str(hubert / "checkpoint_best.safetensors"), "pr", "per",
                {"dev": {"per": 0.84}}, seed=2, weights=(0.1, 0.2, 0.5, 0.1, 0.1))
    write_probe(root, "hubert_iter2-abx-seed1", spec, "abx", "abx_within",
                {"dev": {"abx_within": 0.20, "abx_across": 0.25}})
    write_probe(root, "hubert_iter2-asr-seed1", spec, "asr", "cer",
                {"dev": {"cer": 0.50, "wer": 0.95, "cer_lm": 0.45, "wer_lm": 0.90}})
    write_probe(root, "hubert_iter2-speaker-seed1", spec, "speaker", "speaker_error", {"dev": {"speaker_error": 0.3}})
    for seed, (per, abx, frame) in enumerate([(0.875, 0.30, 0.70), (0.878, 0.32, 0.72), (0.870, 0.31, 0.71)], 1):
        write_probe(root, f"random-pr-seed{seed}", "random", "pr", "per", {"dev": {"per": per}}, upstream_seed=seed,
                    weights=(0.05, 0.05, 0.1, 0.3, 0.5))
        write_probe(root, f"random-abx-seed{seed}", "random", "abx", "abx_within",
                    {"dev": {"abx_within": abx, "abx_across": abx + 0.05}}, upstream_seed=seed)
        write_probe(root, f"random-pc-seed{seed}", "random", "pc", "frame_error", {"dev": {"frame_error": frame}},
                    upstream_seed=seed)
    write_probe(root, "hubert_iter2-pc-seed1", spec, "pc", "frame_error", {"dev": {"frame_error": 0.705}})
    write_probe(root, "fbank-pr-seed1", "fbank", "pr", "per", {"dev": {"per": 0.821}}, weights=(1.0,))
    (root / "probe" / "broken").mkdir()
    (root / "probe" / "broken" / "result.json").write_text("{not json")
    return root


def test_upstream_label():
    specs = ("random", "fbank", "exp/pretrain/hubert/", "exp/pretrain/w2v/checkpoint_best.safetensors")
    assert [upstream_label(s) for s in specs] == ["random", "fbank", "hubert", "w2v"]


def test_rows_pool_seeds_and_order_columns(exp):
    runs = collect_probes(exp)
    assert len(runs) == 16  # the unreadable result.json is skipped
    columns = probe_columns(runs)
    assert columns == ["PER", "frame error", "ABX within", "ABX across", "CER", "WER", "CER LM", "WER LM",
                       "speaker speaker_error"]
    rows = probe_rows(runs, exp)
    assert [(r.upstream, r.kind, r.probes) for r in rows] == [
        ("hubert_iter2", "pretrained", 6), ("random", "random", 9), ("fbank", "fbank", 1)]
    hubert, random, fbank = rows
    assert hubert.cells["PER"].mean == pytest.approx(0.82) and hubert.cells["PER"].n == 2
    assert random.cells["PER"].low == 0.870 and random.cells["PER"].high == 0.878
    assert random.cells["PER"].format() == "87.4 (87.0-87.8)"
    assert fbank.cells["PER"].format() == "82.1" and "ABX within" not in fbank.cells
    assert hubert.pnmi == pytest.approx(0.412) and random.pnmi is None


def test_report_probe_table_json_and_layer_weight_plot(exp):
    results = render_report(exp, exp)  # probes only: no fine-tuning run is needed
    text = (exp / "RESULTS.md").read_text()
    assert "| upstream | probes | PER | frame error | ABX within | ABX across | CER | WER | CER LM | WER LM | " \
           "speaker speaker_error | label PNMI |" in text
    assert "| hubert_iter2 | 6 | 82.0 (80.0-84.0) | 70.5 | 20.0 | 25.0 | 50.0 | 95.0 | 45.0 | 90.0 | 30.0 " \
           "| 0.412 |" in text
    assert "| random | 9 | 87.4 (87.0-87.8) | 71.0 (70.0-72.0) | 31.0 (30.0-32.0) | 36.0 (35.0-37.0) |" in text
    assert "| fbank | 1 | 82.1 | - | - | - | - | - | - | - | - | - |" in text
    assert "- **hubert_iter2**: outside the random-weight spread on PER (82.0 < 87.0-87.8), ABX within " \
           "(20.0 < 30.0-32.0), ABX across (25.0 < 35.0-37.0); inside on frame error (70.5 in 70.0-72.0)" in text
    assert "- **fbank**: outside the random-weight spread on PER (82.1 < 87.0-87.8)" in text
    entry = next(e for e in results["probes"] if e["name"] == "hubert_iter2-pr-seed1" and e["split"] == "test")
    assert entry == {"name": "hubert_iter2-pr-seed1", "upstream": "hubert_iter2",
                     "upstream_name": "hubert_iter2-0123abcd",
                     "upstream_spec": str(exp / "pretrain" / "hubert_iter2"), "upstream_seed": None, "task": "pr",
                     "metric": "per", "main_metric": True, "seed": 1, "split": "test", "value": 0.81}
    assert len(results["probes"]) == 24
    assert {e["upstream_seed"] for e in results["probes"] if e["upstream"] == "random"} == {1, 2, 3}
    table = {row["upstream"]: row for row in results["probe_table"]}
    assert table["hubert_iter2"]["versus_random"]["PER"] == "below"
    assert table["hubert_iter2"]["versus_random"]["frame error"] == "inside"
    assert table["random"]["cells"]["PER"]["n"] == 3 and table["hubert_iter2"]["pnmi"] == pytest.approx(0.412)
    assert results["labels"][0]["pnmi"] == pytest.approx(0.412)
    assert results["labels"][0]["reference"] == "data/dev/phones"
    assert "labels/hubert_iter1/valid | 0.412 | 0.500 | 0.300 | data/dev/phones |" in text
    assert "probe_layer_weights.png" in results["plots"] and "](probe_layer_weights.png)" in text
    assert (exp / "probe_layer_weights.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((exp / "results.json").read_text()) == results


def test_best_upstream_and_cli(exp, tmp_path, capsys):
    from speechssl.cli.main import main

    write_probe(exp, "wav2vec2-pr-seed1", str(exp / "pretrain" / "wav2vec2"), "pr", "per", {"dev": {"per": 0.83}})
    assert best_upstream(exp, "pr") == str(exp / "pretrain" / "hubert_iter2")  # mean 0.82 of two seeds
    assert best_upstream(exp, "pc") == str(exp / "pretrain" / "hubert_iter2")
    assert main(["report", "--exp", str(exp), "--best-upstream", "pr"]) == 0
    assert capsys.readouterr().out.strip() == str(exp / "pretrain" / "hubert_iter2")
    assert not (exp / "RESULTS.md").exists()
    with pytest.raises(ValueError, match="no finished nope probe of a pre-trained model"):
        best_upstream(exp, "nope")
    assert main(["report", "--exp", str(tmp_path / "none"), "--best-upstream", "pr"]) == 1
    assert "run the pr probes first" in capsys.readouterr().err
