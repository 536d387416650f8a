"""bench.compute_curves on hand-made numbers: milestone discovery, the random-weight band, the first
budget below it, the table, the plot and the results file (the probe call itself is replaced)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import compute_curves
from bench.compute_curves import CurvePoint, discover_points, first_below, spread, table, verdict


def _run(root: Path, objective: str, unit: float, budgets: list[float], missing: tuple[int, ...] = ()) -> None:
    run = root / objective
    run.mkdir(parents=True)
    (run / "unit.json").write_text(json.dumps({"unit_flops": unit, "unit_updates": 300}))
    rows = []
    for index, budget in enumerate(budgets):
        update = 300 * (index + 1)
        rows.append({"budget": budget, "update": update, "training_flops": budget * 1.001,
                     "weights": f"milestone_{update}.safetensors"})
        if index not in missing:
            (run / f"milestone_{update}.safetensors").write_bytes(b"w")
    (run / "milestones.json").write_text(json.dumps(rows))


def _point(units: float, per: list[float], objective: str = "hubert") -> CurvePoint:
    return CurvePoint(objective, units, units * 1e12, int(300 * units), f"/x/{units}", per)


def test_discover_points_reads_units_and_skips_missing_checkpoints(tmp_path):
    _run(tmp_path, "hubert", 5e12, [5e12, 1e13, 2e13, 4e13], missing=(2,))
    _run(tmp_path, "data2vec", 7e12, [])
    points = discover_points(tmp_path, ["wav2vec2", "hubert", "data2vec"])
    assert list(points) == ["hubert"]  # no wav2vec2 folder, data2vec kept no milestone yet
    assert [(p.units, p.update) for p in points["hubert"]] == [(1.0, 300), (2.0, 600), (8.0, 1200)]
    assert points["hubert"][0].weights == str(tmp_path / "hubert" / "milestone_300.safetensors")
    assert points["hubert"][0].flops == pytest.approx(5.005e12)
    with pytest.raises(FileNotFoundError, match="no <objective>/unit.json with milestones"):
        discover_points(tmp_path, ["wav2vec2"])


def test_band_and_first_budget_below_it():
    random = [87.8, 87.5, 87.2, 88.0]
    assert spread(random) == (87.2, 88.0)
    with pytest.raises(ValueError, match="no random-weight probe result"):
        spread([])
    rows = [_point(1, [88.5, 89.0, 88.0]), _point(2, [87.0, 87.3, 86.0]),  # one seed inside the band
            _point(4, [86.1, 86.3, 87.1]), _point(8, [80.0, 81.0, 82.0])]
    assert first_below(rows, 87.2).units == 4 and verdict(rows, 87.2) == "4x"
    assert first_below(list(reversed(rows)), 87.2).units == 4  # order of the input does not matter
    assert verdict(rows[:2], 87.2) == "not within 2x"
    assert verdict([_point(16, [])], 87.2) == "not within 16x"  # not probed yet


def test_table_rows():
    points = {"hubert": [_point(1, [88.0, 90.0]), _point(2, [86.0, 86.5])],
              "data2vec": [_point(1, [97.0, 97.0], "data2vec")]}
    lines = table(points, [87.2, 87.8], [82.0, 82.2])
    assert lines[0] == "random weights: dev PER 87.2-87.8 % (mean 87.5); fbank: 82.1 % (mean of 2 probe seeds)"
    assert lines[2] == "| objective | 1x | 2x | first below random |"
    assert lines[4] == "| hubert | 89.0 (88.0-90.0) | 86.2 (86.0-86.5) | 2x |"
    assert lines[5] == "| data2vec | 97.0 (97.0-97.0) | - | not within 1x |"


def test_main_probes_every_point_and_baseline_and_writes_json_and_plot(tmp_path, monkeypatch):
    _run(tmp_path / "runs", "hubert", 5e12, [5e12, 1e13])
    _run(tmp_path / "runs", "wav2vec2", 5e12, [5e12])
    calls = []

    def fake_probe(upstream, upstream_seed, probe_seed, settings, out):
        calls.append((Path(upstream).name, upstream_seed, probe_seed, out.relative_to(settings.out_root).as_posix()))
        if upstream == "fbank":
            return 82.0 + 0.1 * probe_seed
        if upstream == "random":
            return 87.0 + 0.2 * upstream_seed + 0.1 * probe_seed
        return (85.0 if "milestone_600" in upstream else 90.0) + 0.1 * probe_seed

    monkeypatch.setattr(compute_curves, "probe_per", fake_probe)
    out, plot_path = tmp_path / "curves.json", tmp_path / "curves.png"
    compute_curves.main(["--runs", str(tmp_path / "runs"), "--data", str(tmp_path / "data"),
                         "--work", str(tmp_path / "work"), "--probe-seeds", "1", "2",
                         "--random-seeds", "1", "2", "--out", str(out), "--plot", str(plot_path)])
    assert len(calls) == 2 + 4 + 3 * 2  # fbank, random (2 x 2), three checkpoints x 2 probe seeds
    assert ("milestone_600.safetensors", 1, 2, "hubert/2x/probe2") in calls
    assert ("random", 2, 1, "random2/probe1") in calls
    result = json.loads(out.read_text())
    assert result["random"]["band"] == pytest.approx([87.3, 87.6])
    assert result["fbank"]["per"] == pytest.approx([82.1, 82.2])
    assert result["objectives"]["hubert"]["first_below_random"] == "2x"
    assert result["objectives"]["wav2vec2"]["first_below_random"] == "not within 1x"
    assert result["objectives"]["hubert"]["points"][1]["per"] == pytest.approx([85.1, 85.2])
    assert result["settings"]["max_updates"] == 1500 and result["settings"]["task"] == "pr"
    assert plot_path.read_bytes()[:4] == b"\x89PNG" and result["plot"] == str(plot_path)


def test_abx_per_layer_of_every_point_and_baseline(tmp_path, monkeypatch):
    _run(tmp_path / "runs", "hubert", 5e12, [5e12, 1e13])
    monkeypatch.setattr(compute_curves, "probe_per", lambda upstream, *args: 90.0)
    abx_calls = []

    def fake_abx(upstream, upstream_seed, settings, out):
        abx_calls.append(out.relative_to(settings.out_root).as_posix())
        low = 30.0 if upstream == "fbank" else 40.0 + upstream_seed if upstream == "random" else 45.0
        return {"abx_across": [low + 2, low, low + 1], "abx_within": [low - 5] * 3}

    monkeypatch.setattr(compute_curves, "probe_abx", fake_abx)
    out = tmp_path / "curves.json"
    compute_curves.main(["--runs", str(tmp_path / "runs"), "--data", str(tmp_path / "data"),
                         "--work", str(tmp_path / "work"), "--probe-seeds", "1", "--random-seeds", "1", "2",
                         "--abx", "--out", str(out), "--plot", str(tmp_path / "curves.png")])
    assert sorted(abx_calls) == ["fbank/abx", "hubert/1x/abx", "hubert/2x/abx", "random1/abx", "random2/abx"]
    result = json.loads(out.read_text())
    assert result["objectives"]["hubert"]["points"][0]["abx_across"] == [47.0, 45.0, 46.0]
    assert result["abx_baselines"]["random2"]["abx_within"] == [37.0] * 3
    assert result["abx_table"][0] == "baselines, best-layer ABX across: fbank 30.0 (L1); random1 41.0 (L1); random2 42.0 (L1)"
    assert result["abx_table"][4] == "| hubert | 45.0 (L1) | 45.0 (L1) |"
