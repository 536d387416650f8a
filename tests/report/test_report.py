"""The comparison report renders from a hand-written experiment folder (no training needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from speechssl.cli.main import main
from speechssl.report.collect import collect_rows
from speechssl.report.render import format_seconds, render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def write_progress(path: Path, losses: list[float], wers: list[float] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"update": 10 * (i + 1), "loss": v}) + "\n" for i, v in enumerate(losses)))
    if wers:
        lines = [json.dumps({"update": 10 * (i + 1), "dev_wer": w}) + "\n" for i, w in enumerate(wers)]
        path.with_name("valid.jsonl").write_text("".join(lines))


def decode(folder: Path, split: str, greedy: tuple[float, float], lm: tuple[float, float] | None) -> None:
    record = {"split": split, "greedy": {"wer": greedy[0], "cer": greedy[1]}}
    if lm:
        record["lm"] = {"wer": lm[0], "cer": lm[1], "lm_weight": 1.5, "word_score": 0.0, "beam_size": 50}
    write_json(folder / f"decode_{split}" / "decode.json", record)


@pytest.fixture
def exp(tmp_path):
    """Pre-training of wav2vec2 and hubert (hubert on labels with quality.json); three fine-tunings."""
    root = tmp_path / "exp"
    write_json(root / "pretrain/wav2vec2/summary.json", {"wall_seconds": 3600.0, "training_flops": 4.0e15, "updates": 500})
    (root / "pretrain/wav2vec2/config.yaml").write_text(yaml.safe_dump({"objective": "wav2vec2", "data": {"labels": ""}}))
    write_json(root / "pretrain/hubert/summary.json", {"wall_seconds": 1800.0, "training_flops": 2.0e15, "updates": 300})
    labels = root / "labels" / "mfcc_k50"
    (root / "pretrain/hubert/config.yaml").write_text(yaml.safe_dump({"objective": "hubert", "data": {"labels": str(labels)}}))
    write_json(labels / "quality.json", {"pnmi": 0.2345, "phone_purity": 0.31, "cluster_purity": 0.12})
    write_progress(root / "pretrain/wav2vec2/progress.jsonl", [5.0, 4.0, 3.5])
    write_progress(root / "pretrain/hubert/progress.jsonl", [9.0, 7.0, 6.0])
    runs = {
        "scratch": (None, 0.95, (0.97, 0.55), (0.80, 0.50)),
        "w2v2": (root / "pretrain/wav2vec2/checkpoint_500.safetensors", 0.70, (0.72, 0.30), (0.45, 0.25)),
        "hubert": (root / "pretrain/hubert/checkpoint_300.safetensors", 0.65, (0.66, 0.28), None),
    }
    objectives = {"scratch": None, "w2v2": "wav2vec2", "hubert": "hubert"}
    for name, (checkpoint, dev, test_greedy, test_lm) in runs.items():
        folder = root / "finetune" / name
        if checkpoint is not None:
            checkpoint.write_bytes(b"")
        write_json(folder / "summary.json", {
            "objective": objectives[name] or "scratch", "wall_seconds": 600.0, "updates": 1000,
            "best_dev_wer": dev, "pretrained_checkpoint": str(checkpoint) if checkpoint else None,
        })
        lr = 1e-3 if name == "scratch" else 5e-4
        (folder / "config.yaml").write_text(yaml.safe_dump({
            "optim": {"lr": lr}, "ctc": {"mask_prob": 0.0 if name == "scratch" else 0.65, "freeze_updates": 0,
                                        "freeze_feature_encoder": True, "reinit_top_layers": 0},
            "trainer": {"max_updates": 1000, "max_tokens": 240000, "seed": 1},
        }))
        decode(folder, "dev", (dev, dev / 2), None)
        decode(folder, "test", test_greedy, test_lm)
        write_progress(folder / "progress.jsonl", [300.0, 120.0, 60.0], [1.0, 0.9, dev])
    return root


def test_collect_rows(exp):
    rows = {row.objective: row for row in collect_rows(exp)}
    assert list(rows) == ["scratch", "hubert", "wav2vec2"]
    assert rows["scratch"].pretrain_flops == 0.0
    assert rows["wav2vec2"].pretrain_flops == 4.0e15
    assert rows["wav2vec2"].score("test", "lm", "wer") == 0.45
    assert rows["hubert"].score("test", "lm", "wer") is None
    assert rows["hubert"].pnmi == pytest.approx(0.2345)
    assert rows["wav2vec2"].pnmi is None
    assert rows["wav2vec2"].lm_settings["test"]["lm_weight"] == 1.5


def test_render_writes_tables_json_and_plots(exp):
    results = render_report(exp, exp)
    text = (exp / "RESULTS.md").read_text()
    assert "| scratch | scratch | 0 s | 0 | 10.0 min | 95.00 | - | 47.50 | - | 97.00 | 80.00 | 55.00 | 50.00 | - |" in text
    assert "| w2v2 | wav2vec2 | 60.0 min | 4.00e+15 |" in text
    assert "| hubert | hubert | 30.0 min | 2.00e+15 |" in text and "| 0.234 |" in text
    assert "labels/mfcc_k50 | 0.234 | 0.310 | 0.120 | - |" in text
    assert "| scratch | 0.001 | 0.0 | - | 0 | True | 0 | 1000 | 240000 | 1 |" in text
    assert "| w2v2 | 0.0005 | 0.65 | - | 0 | True | 0 | 1000 | 240000 | 1 |" in text
    assert results["splits"] == ["dev", "test"]
    assert [row["name"] for row in results["rows"]] == ["scratch", "hubert", "w2v2"]
    assert json.loads((exp / "results.json").read_text()) == results
    expected = {"error_vs_compute_dev.png", "error_vs_compute_test.png",
                "learning_curves_pretrain.png", "learning_curves_finetune.png"}
    assert set(results["plots"]) == expected
    for name in expected:
        assert (exp / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in text


def test_cli_and_empty_experiment(exp, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--exp", str(exp), "--out", str(out)]) == 0
    assert "3 models, splits dev, test, 4 plots" in capsys.readouterr().out
    assert (out / "RESULTS.md").is_file()
    assert main(["report", "--exp", str(tmp_path / "none")]) == 1
    assert "fine-tune or probe a model first" in capsys.readouterr().err


def test_format_seconds():
    assert [format_seconds(s) for s in (None, 59, 600, 9000)] == ["-", "59 s", "10.0 min", "2.50 h"]


def test_collapse_metric_is_plotted_per_pretraining_run(exp):
    records = [{"update": 10 * (i + 1), "loss": 5.0 - i, **{f"collapse_auc_{layer}": 0.6 + 0.05 * layer + 0.01 * i
                                                            for layer in range(3)}} for i in range(3)]
    (exp / "pretrain/wav2vec2/progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    results = render_report(exp, exp)
    assert "collapse_wav2vec2.png" in results["plots"]
    assert "collapse_hubert.png" not in results["plots"]  # its progress has no collapse records
    assert (exp / "collapse_wav2vec2.png").read_bytes()[:8] == PNG_MAGIC
    assert "](collapse_wav2vec2.png)" in (exp / "RESULTS.md").read_text()
