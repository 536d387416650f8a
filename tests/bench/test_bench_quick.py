"""Each benchmark script runs end to end in its quick mode and writes a sane results file.

Not timed assertions: the numbers only have to be finite and positive; bench/README.md holds the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import data_loading, label_pipeline, mfu, profile_step, report, throughput, time_to_accuracy


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench_results")


def read(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert data["machine"]["torch_threads"] == 1
    assert len(data["machine"]["load_average_end"]) == 3
    return data


def test_throughput_quick_pairs_ours_with_reference(results: Path) -> None:
    out = results / "throughput.json"
    throughput.main(["--quick", "--models", "ours:wav2vec2", "hf_wav2vec2", "--out", str(out)])
    data = read(out)
    assert data["settings"]["size"] == "tiny" and data["settings"]["reps"] == 2
    ours, ref = data["models"]["ours:wav2vec2"], data["models"]["hf_wav2vec2"]
    assert ours["params_m"] == pytest.approx(ref["params_m"], rel=0.01)  # same model size on both sides
    assert len(ours["step_s"]) == 2 and ours["audio_s_per_s"] > 0
    ratio = data["ratios"]["ours:wav2vec2/hf_wav2vec2"]
    expected = [r / o for o, r in zip(ours["step_s"], ref["step_s"])]
    assert ratio["per_rep"] == pytest.approx(expected, rel=0.02)


def test_data2vec2_throughput_counts_every_clone(results: Path) -> None:
    out = results / "throughput_clones.json"
    throughput.main(["--quick", "--models", "ours:data2vec2", "ours:hubert", "--reps", "1", "--out", str(out)])
    models = read(out)["models"]
    clones = models["ours:data2vec2"]
    assert clones["clones"] == 8 and models["ours:hubert"]["clones"] == 1
    assert clones["clone_audio_s_per_s"] == pytest.approx(8 * clones["audio_s_per_s"], rel=1e-3)


def test_gpu_default_is_fairseqs_batch_on_an_80_gb_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    for memory, expected in ((141e9, (7, 12.5)), (80e9, (7, 12.5)), (40e9, (4, 15.6))):
        monkeypatch.setattr(
            throughput.torch.cuda, "get_device_properties", lambda _, m=memory: type("P", (), {"total_memory": m})
        )
        settings = throughput.default_settings(False, "cuda")
        assert (settings.batch_size, settings.seconds) == expected and settings.dtype == "bf16"
    assert 7 * 12.5 * 16000 == 1_400_000  # fairseq's max_tokens per GPU


def test_mfu_quick_is_a_fraction_of_the_matmul_peak(results: Path) -> None:
    out = results / "mfu.json"
    mfu.main(["--quick", "--objectives", "hubert", "--out", str(out)])
    row = read(out)["objectives"]["hubert"]
    assert row["step_flops"] == pytest.approx(mfu.step_flops("hubert", "tiny", 2, 1.0))
    assert 0.0 < row["mfu"] < 1.5
    # every counted layer runs: LayerDrop is off in the MFU steps
    assert read(out)["settings"]["layerdrop"] == 0.0


def test_layerdrop_override_reaches_every_model() -> None:
    from bench.models import build_model

    ours = build_model("ours:hubert", "base", layerdrop=0.0).module
    assert ours.backbone.encoder.layerdrop == 0.0
    assert build_model("ours:hubert", "base").module.backbone.encoder.layerdrop == 0.05  # BASE's own
    torchaudio_model = build_model("torchaudio_hubert", "base", layerdrop=0.0).module
    assert torchaudio_model.wav2vec2.encoder.transformer.layer_drop == 0.0
    assert build_model("hf_wav2vec2", "tiny", layerdrop=0.2).module.config.layerdrop == 0.2


def test_profile_quick_shares_add_up(results: Path) -> None:
    out = results / "profile.json"
    profile_step.main(["--quick", "--models", "ours:hubert", "--out", str(out)])
    row = read(out)["models"]["ours:hubert"]
    assert row["total_s"] > 0 and sum(row["shares"].values()) == pytest.approx(1.0, abs=0.01)
    assert row["shares"]["gemm"] > 0 and row["shares"]["conv"] > 0


def test_data_loading_quick_measures_each_worker_count(results: Path, smoke_corpus: Path) -> None:
    out = results / "data_loading.json"
    data_loading.main(["--quick", "--data-dir", str(smoke_corpus / "pretrain"), "--workers", "0", "1",
                       "--out", str(out)])
    runs = read(out)["runs"]
    assert [r["workers"] for r in runs] == [0, 1]
    assert all(r["batches"] > 0 and r["audio_s_per_s"] > 0 for r in runs)


def test_time_to_accuracy_quick_pretrains_and_finetunes(results: Path, smoke_corpus: Path) -> None:
    out = results / "time_to_accuracy.json"
    time_to_accuracy.main(["--quick", "--data", str(smoke_corpus), "--out", str(out)])
    data = read(out)
    rows = data["objectives"]["wav2vec2"]["checkpoints"]
    assert [r["update"] for r in rows] == [1, 2]
    assert rows[0]["pretrain_s"] < rows[1]["pretrain_s"]
    assert data["target_dev_cer"] == rows[-1]["dev_cer"]  # wav2vec 2.0's final CER is the target
    assert data["objectives"]["wav2vec2"]["time_to_target_s"] <= rows[-1]["pretrain_s"]


def test_time_to_target_picks_the_earliest_checkpoint_at_or_below_target() -> None:
    rows = [time_to_accuracy.CheckpointScore("x", f"c{i}", i, 10.0 * i, cer) for i, cer in
            enumerate([0.9, 0.4, 0.5, 0.3], start=1)]
    assert time_to_accuracy.time_to_target(rows, 0.45) == 20.0
    assert time_to_accuracy.time_to_target(rows, 0.1) is None


def test_label_pipeline_small_measures_every_fit_on_both_sizes(results: Path) -> None:
    out = results / "label_pipeline.json"
    label_pipeline.main(["--scale", "0.02", "--k", "10", "--out", str(out)])
    data = read(out)
    assert data["mfcc"]["4x"]["kaldi"]["x_real_time"] > 0 and data["assign"]["1x"][0]["frames"] == 10_000
    fits = data["kmeans_fit"]
    assert fits["1x"]["streaming_same_percent"]["frames_per_epoch"] == 1_000
    assert fits["4x"]["streaming_same_percent"]["frames_per_epoch"] == 4_000
    assert fits["4x"]["in_memory_same_subsample"]["frames_per_epoch"] == 1_000  # percent / 4
    for name, verdict in data["kmeans_rss_4x_over_1x"].items():
        expected = fits["4x"][name]["peak_rss_mib"] / fits["1x"][name]["peak_rss_mib"]
        assert verdict["ratio"] == pytest.approx(expected, abs=1e-3)
        assert verdict["met"] == (verdict["ratio"] <= 1.1)


def test_report_fills_the_readme_between_markers(results: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# head\n{report.START}\nold\n{report.END}\ntail\n")
    report.main(["--results", str(results), "--readme", str(readme)])
    text = readme.read_text()
    assert text.startswith("# head\n") and text.endswith("tail\n") and "old" not in text
    assert "ours:wav2vec2/hf_wav2vec2" in text and "### MFU" in text and "### Profile" in text
    assert "| streaming_same_percent |" in text and "peak RSS 4x / 1x" in text
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        report.main(["--results", str(results), "--readme", str(readme)])
