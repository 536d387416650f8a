"""Libri-light unlabelled audio: plain-tar download (checksums, resume, truncation), the energy-VAD
cut into chunks at silences, and the data dir + manifest, on generated fixture archives."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import DataDir
from speechssl.corpora.librispeech.archives import GROUPS, RESOURCES, read_checksum_file, resolve_parts
from speechssl.corpora.librispeech.download import DownloadPlan, download
from speechssl.corpora.librispeech.fetch import DownloadError
from speechssl.corpora.librispeech.vad import VadConfig, chunk_segments, speech_segments

RATE = 16000


def bursts(pattern: list[tuple[str, float]], seed: int = 0) -> np.ndarray:
    """Audio from ("speech"|"pause", seconds) runs: 300 Hz-ish noisy tone vs. -70 dB noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for kind, seconds in pattern:
        n = int(seconds * RATE)
        if kind == "speech":
            t = np.arange(n) / RATE
            parts.append(0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(n))
        else:
            parts.append(3e-4 * rng.standard_normal(n))
    return np.concatenate(parts).astype(np.float32)


def speech_runs(pattern: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """(start, end) seconds of the speech runs of a pattern."""
    runs, now = [], 0.0
    for kind, seconds in pattern:
        if kind == "speech":
            runs.append((now, now + seconds))
        now += seconds
    return runs


# Four recordings in two subsets; the VAD tests use the first one at the default 30 s limit.
SENTENCES = [("pause", 0.7)] + [r for _ in range(8) for r in (("speech", 6.0), ("pause", 0.8))]
UNBROKEN = [("pause", 0.5), ("speech", 35.0), ("pause", 1.0), ("speech", 1.5), ("pause", 0.5)]
SHORT = [("speech", 2.0), ("pause", 0.5), ("speech", 2.0), ("pause", 0.05), ("speech", 2.0)]
RECORDINGS = {"small": {("100", "book_a", "chapter_01_reader_64kb"): SENTENCES,
                        ("100", "book_a", "chapter_02_reader_64kb"): SHORT},
              "medium": {("2077", "tale's end", "end_01_x_64kb"): UNBROKEN,
                         ("31", "book_b", "b_01_x_64kb"): SHORT}}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def unlab_mirror(tmp_path_factory) -> tuple[Path, Path]:
    """(mirror folder with small.tar + medium.tar, its md5sum file)."""
    root = tmp_path_factory.mktemp("unlab")
    mirror = root / "mirror"
    mirror.mkdir()
    for subset, recordings in RECORDINGS.items():
        with tarfile.open(mirror / f"{subset}.tar", "w") as tar:
            for index, ((speaker, book, stem), pattern) in enumerate(recordings.items()):
                buffer = io.BytesIO()
                soundfile.write(buffer, bursts(pattern, index), RATE, format="FLAC", subtype="PCM_16")
                _add(tar, f"{subset}/{speaker}/{book}/{stem}.flac", buffer.getvalue())
                meta = {"speaker": speaker, "book_meta": {"id": book}, "voice_activity": []}
                _add(tar, f"{subset}/{speaker}/{book}/{stem}.json", json.dumps(meta).encode())
    (root / "md5sum.txt").write_text("".join(
        f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(mirror.iterdir())))
    return mirror, root / "md5sum.txt"


def test_resources_and_groups():
    assert [r.filename for r in resolve_parts(["librilight-60k"])] == ["small.tar", "medium.tar", "large.tar"]
    assert [r.name for r in resolve_parts(["librilight-6k"])] == ["librilight-small", "librilight-medium"]
    assert RESOURCES["librilight-large"].base_url == "https://dl.fbaipublicfiles.com/librilight/data"
    assert not any(name.startswith("librilight-") for name in GROUPS["all"])  # 3.6 TB only on request


def test_vad_cuts_at_pauses_within_the_limit():
    audio = bursts(SENTENCES)
    config = VadConfig()
    segments = speech_segments(audio, RATE, config)
    truth = speech_runs(SENTENCES)
    assert len(segments) == len(truth) == 8
    for (start, end), (t0, t1) in zip(segments, truth):  # padded by 0.1 s, frame-accurate
        assert abs(start / RATE - (t0 - 0.1)) < 0.03 and abs(end / RATE - (t1 + 0.1)) < 0.03
    chunks = chunk_segments(segments, RATE, config)
    # 4 sentences (4 x 6 s + 3 pauses + pads = 26.6 s) fit in 30 s, a fifth does not.
    assert [round((b - a) / RATE, 1) for a, b in chunks] == [26.6, 26.6]
    cut = chunks[0][1] / RATE
    assert truth[3][1] < cut < truth[4][0]  # inside the pause, not inside speech


def test_vad_long_speech_short_pauses_and_clicks():
    config = VadConfig()
    unbroken = chunk_segments(speech_segments(bursts(UNBROKEN), RATE, config), RATE, config)
    # 35 s of unbroken speech: two even pieces; the 1.5 s tail joins the second (span <= 30 s).
    lengths = [(b - a) / RATE for a, b in unbroken]
    assert len(lengths) == 2 and abs(lengths[0] - 17.6) < 0.05 and lengths[1] < 30
    # A 50 ms pause is no cut point; a 50 ms click is no speech.
    short = speech_segments(bursts(SHORT), RATE, config)
    assert len(short) == 2 and abs(short[1][1] / RATE - 6.55) < 0.03
    click = bursts([("pause", 2.0), ("speech", 0.05), ("pause", 2.0), ("speech", 3.0), ("pause", 1.0)])
    [(onset, _)] = speech_segments(click, RATE, config)  # only the 3 s run, from 4.05 s minus the pad
    assert abs(onset / RATE - 3.95) < 0.03
    assert chunk_segments([(0, RATE)], RATE, config) == []  # 1 s < drop_seconds
    with pytest.raises(ValueError, match="drop_seconds <= max_seconds"):
        VadConfig(max_seconds=1.0)


def test_download_resume_and_truncated_tar(unlab_mirror, serve, tmp_path):
    mirror, md5 = unlab_mirror
    server = serve(mirror)
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=server.url, checksums=read_checksum_file(md5))
    size = (mirror / "small.tar").stat().st_size
    server.cut_after = size // 3
    with pytest.raises(DownloadError, match="re-run to resume"):
        download(["librilight-600"], plan)
    download(["librilight-6k"], plan)
    assert server.ranges == [f"bytes={size // 3}-"]
    flac = tmp_path / "dl" / "small" / "100" / "book_a" / "chapter_01_reader_64kb.flac"
    assert soundfile.info(flac).frames == len(bursts(SENTENCES))
    assert (tmp_path / "dl" / "medium" / "31" / "book_b" / "b_01_x_64kb.json").is_file()
    # No published checksum: a plain copy is accepted on size + tar checks, a cut tar is not.
    cut = tmp_path / "cut_mirror"
    cut.mkdir()
    data = (mirror / "small.tar").read_bytes()
    (cut / "small.tar").write_bytes(data[: (len(data) // 2) // 512 * 512])
    with pytest.raises(DownloadError, match="truncated archive"):
        download(["librilight-small"], DownloadPlan(dest=tmp_path / "dl2", mirror=str(cut)))
    assert not (tmp_path / "dl2" / "small").exists()
    download(["librilight-small"], DownloadPlan(dest=tmp_path / "dl3", mirror=str(mirror)))
    assert (tmp_path / "dl3" / "small" / ".speechssl-done").is_file()


def test_cli_segment_data_dir_manifest_and_rerun(unlab_mirror, tmp_path, capsys):
    mirror, _ = unlab_mirror
    dl = tmp_path / "dl"
    download(["librilight-6k"], DownloadPlan(dest=dl, mirror=str(mirror)))
    out, chunks, tsv = tmp_path / "data" / "ll_6k", tmp_path / "chunks", tmp_path / "manifests"
    argv = ["librispeech", "segment", "--src", str(dl), "--hours", "6k", "--audio-out", str(chunks),
            "--out", str(out), "--tsv-dir", str(tsv)]
    assert main(argv) == 0
    data = DataDir.load(out)
    assert data.utt_ids == sorted([
        "100-book_a-chapter_01_reader_64kb_0000", "100-book_a-chapter_01_reader_64kb_0001",
        "100-book_a-chapter_02_reader_64kb_0000", "2077-tale_s_end-end_01_x_64kb_0000",
        "2077-tale_s_end-end_01_x_64kb_0001", "31-book_b-b_01_x_64kb_0000"])
    assert data.utt2spk["2077-tale_s_end-end_01_x_64kb_0001"] == "2077" and not data.text
    for utt, path in data.wav_scp.items():
        info = soundfile.info(path)
        assert (info.samplerate, info.frames) == (RATE, data.utt2num_samples[utt])
        assert 2.0 <= info.frames / RATE <= 30.0
    first = soundfile.read(data.wav_scp["100-book_a-chapter_01_reader_64kb_0000"], dtype="int16")[0]
    source = soundfile.read(dl / "small/100/book_a/chapter_01_reader_64kb.flac", dtype="int16")[0]
    start = speech_segments(source.astype(np.float32) / 32768, RATE, VadConfig())[0][0]
    assert abs(start / RATE - 0.6) < 0.03  # the first speech onset minus the 0.1 s pad
    assert np.array_equal(first, source[start:start + len(first)])  # original samples, not re-quantised
    rows = (tsv / "ll_6k.tsv").read_text().splitlines()
    assert rows[0] == str(chunks.resolve()) and len(rows) == 7
    assert "6 chunks" in capsys.readouterr().out
    stamps = {p: p.stat().st_mtime_ns for p in chunks.rglob("*.flac")}
    assert main(argv) == 0  # a re-run reads each recording's listing and writes no audio
    assert {p: p.stat().st_mtime_ns for p in chunks.rglob("*.flac")} == stamps
    assert main(["librispeech", "segment", "--src", str(tmp_path / "nowhere"), "--hours", "600",
                 "--audio-out", str(chunks), "--out", str(out)]) == 1
    assert "download the Libri-light subset first" in capsys.readouterr().err


def test_run_sh_large_stages_0_to_3_on_fixture_archives(unlab_mirror, fake_corpus, tmp_path):
    """--model large: Libri-light download + VAD cut (stages 0-1), labels from layer 2 of a
    converted BASE model (stage 2), one LARGE-config pre-training run shrunk by --smoke (stage 3)."""
    import os
    import subprocess

    import torch
    import yaml

    from speechssl.convert import native
    from speechssl.convert.common import Converted
    from speechssl.models import build_backbone

    unlab, _ = unlab_mirror
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for source in [*fake_corpus.mirror.iterdir(), *unlab.glob("*.tar")]:
        (mirror / source.name).symlink_to(source)
    (tmp_path / "md5sum.txt").write_text("".join(
        f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(mirror.iterdir())))
    torch.manual_seed(0)
    base = build_backbone("tiny")
    native.write(Converted(base.config, base.state_dict()), tmp_path / "hubert_base_iter2")
    run_sh = Path(__file__).resolve().parents[3] / "recipes" / "librispeech" / "run.sh"
    command = ["bash", str(run_sh), "--smoke", "true", "--model", "large", "--objective", "hubert",
               "--librilight-hours", "6k", "--hubert-base", str(tmp_path / "hubert_base_iter2"),
               "--mirror", str(mirror), "--checksums", str(tmp_path / "md5sum.txt"), "--device", "cpu",
               "--dl-dir", str(tmp_path / "dl"), "--data", str(tmp_path / "data"), "--exp", str(tmp_path / "exp"),
               "--stage", "0", "--stop-stage", "5"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Stage 4" not in result.stdout and "Stage 5" not in result.stdout  # LARGE: one iteration
    data = DataDir.load(tmp_path / "data" / "ll_6k")
    assert len(data.utt_ids) == 6 and not data.text
    assert not (tmp_path / "data" / "train_960").exists()  # LARGE fine-tunes on Libri-light / 100 h only
    labels = tmp_path / "exp" / "labels" / "large_l2_k8"
    source = json.loads((labels / "ll_6k" / "source.json").read_text())
    assert source["checkpoint"] == str(tmp_path / "hubert_base_iter2") and source["kind"] == "layer2"
    assert len((labels / "ll_6k" / "labels.txt").read_text().splitlines()) == 6
    run = tmp_path / "exp" / "pretrain" / "hubert_large"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["train"] == str(tmp_path / "data" / "ll_6k")
    assert config["data"]["labels"] == str(labels / "ll_6k") and config["optim"]["lr"] == 1.5e-3
    assert json.loads((run / "summary.json").read_text())["updates"] == 2
