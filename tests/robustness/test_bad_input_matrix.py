"""The bad-input matrix: every fault of a data dir, label dir or transcript through every stage's CLI.

Each (stage, fault) has one expected outcome (``EXPECTED``): ``skip`` (exit 0, the utterance left
out and counted in summary.json), ``stop`` (exit 1, ONE stderr line naming the utterance or file)
or ``ok`` (exit 0, the fault does not concern the stage). Always: no traceback (main() would
raise), no NaN in saved weights or features, no temporary file left, and what the output folder
held before is still there. Inputs are a corrupted copy of the smoke corpus's 6-utterance train
split; models are tiny and train 1 update.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from safetensors.numpy import load_file

from speechssl.cli.main import main
from speechssl.io.kaldi_dir import DataDir, read_table

ROOT = Path(__file__).resolve().parents[2]
BAD = 2  # index (sorted) of the utterance every fault breaks
AUDIO_FAULTS = (
    "corrupt", "empty", "truncated", "truncated_wav", "8k", "stereo", "nan", "inf", "silent", "missing_file"
)
TEXT_FAULTS = ("empty_text", "unknown_chars")
MANIFEST_FAULTS = ("duplicate_key", "unsorted_keys", "truncated_manifest")
LABEL_FAULTS = ("label_length", "wrong_dictionary")
STAGES = ("features", "pretrain", "finetune", "decode", "probe")

# features stop: HuBERT labels must cover every utterance of the data dir, so a shard never leaves
# one out. Training skips and counts: one bad file of a large corpus must not end a long run.
# Decoding stops: a WER over a silently smaller test set is not comparable. Transcripts are all
# encoded before fine-tuning starts, so a bad one stops it at no cost. Probing stops on bad audio
# (its hidden-state cache must cover the split, as features), and skips and counts an utterance
# whose transcript gives no CMUdict phones (the PR task's rule for out-of-dictionary words).
EXPECTED = {
    **{("features", f): "stop" for f in AUDIO_FAULTS + ("truncated_manifest",)},
    **{("pretrain", f): "skip" for f in AUDIO_FAULTS + ("truncated_manifest",)},
    **{("finetune", f): "skip" for f in AUDIO_FAULTS + ("truncated_manifest",)},
    **{("decode", f): "stop" for f in AUDIO_FAULTS + ("truncated_manifest",)},
    **{("probe", f): "stop" for f in AUDIO_FAULTS + ("truncated_manifest",)},
    ("probe", "empty_text"): "skip",
    ("probe", "unknown_chars"): "skip",
    **{(s, "duplicate_key"): "stop" for s in STAGES},
    **{(s, "unsorted_keys"): "ok" for s in STAGES},
    ("finetune", "empty_text"): "stop",
    ("finetune", "unknown_chars"): "stop",
    ("decode", "empty_text"): "ok",  # references are only scored
    ("decode", "unknown_chars"): "ok",
    ("pretrain", "label_length"): "stop",
    ("pretrain", "wrong_dictionary"): "stop",
}

MODEL = [
    "conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "embed_dim=32", "num_layers=1", "num_heads=2", "ffn_dim=64", "pos_conv_kernel=8", "pos_conv_groups=4",
]
TRAIN = [
    "trainer.max_updates=1", "trainer.num_workers=0", "trainer.log_interval=1", "trainer.device=cpu",
    "trainer.save_interval_updates=0", "trainer.validate_interval_updates=0", "trainer.max_tokens=400000",
]
PRETRAIN = TRAIN + [f"model.{m}" for m in MODEL] + [
    "trainer.max_sample_size=16000", "trainer.min_sample_size=0", "objective_config.final_dim=16",
    "objective_config.latent_vars=8", "objective_config.num_negatives=5",
]
FINETUNE = TRAIN + [f"model.{m}" for m in MODEL] + ["trainer.min_sample_size=0", "ctc.mask_channel_length=4"]


def _sets(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def _labels(data: Path, dest: Path, num_classes: int = 7) -> Path:
    """A HuBERT label dir for ``data`` at 50 Hz (one label per 320 samples)."""
    dest.mkdir(parents=True)
    counts = read_table(data / "utt2num_samples")
    lines = [f"{u} " + " ".join(str(i % num_classes) for i in range(int(n) // 320)) for u, n in counts.items()]
    (dest / "labels.txt").write_text("\n".join(lines) + "\n")
    (dest / "dict.txt").write_text("".join(f"{i} 1\n" for i in range(num_classes)))
    (dest / "label_rate").write_text("50\n")
    return dest


def _copy(smoke_corpus: Path, dest: Path) -> tuple[Path, dict[str, str]]:
    """The smoke train split with its own copy of the audio: (data dir, utt -> audio path)."""
    data = DataDir.load(smoke_corpus / "train")
    (dest / "audio").mkdir(parents=True)
    for utt, path in data.wav_scp.items():
        data.wav_scp[utt] = str(dest / "audio" / Path(path).name)
        shutil.copyfile(path, data.wav_scp[utt])
    data.save(dest / "data")
    return dest / "data", data.wav_scp


def _rewrite_table(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def _replace_line(path: Path, utt: str, new_line: str) -> None:
    """Replace the line of ``utt`` in the table at ``path``."""
    _rewrite_table(path, lambda lines: [new_line if l.startswith(utt + " ") else l for l in lines])


def _break(data: Path, wav: dict[str, str], fault: str) -> str:
    """Apply ``fault`` to utterance BAD of ``data``; returns the utterance id."""
    utt = sorted(wav)[BAD]
    path = Path(wav[utt])
    samples, rate = soundfile.read(path, dtype="float32")
    if fault == "corrupt":
        path.write_bytes(b"this is no audio file " * 64)
    elif fault == "empty":
        path.write_bytes(b"")
    elif fault == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 5])
    elif fault == "8k":
        soundfile.write(path, samples, 8000, format="FLAC")
    elif fault == "stereo":
        soundfile.write(path, np.stack([samples, samples], 1), rate, format="FLAC")
    elif fault in ("nan", "inf", "silent", "truncated_wav"):
        samples[100:110] = {"nan": np.nan, "inf": np.inf}.get(fault, 0.0)
        samples = samples * 0 if fault == "silent" else samples
        wav_path = path.with_suffix(".wav")  # FLAC cannot hold NaN/Inf: a float WAV can
        soundfile.write(wav_path, samples, rate, subtype="FLOAT")
        if fault == "truncated_wav":  # decodes without an error: libsndfile trusts the file size
            wav_path.write_bytes(wav_path.read_bytes()[: wav_path.stat().st_size // 2])
        _replace_line(data / "wav.scp", utt, f"{utt} {wav_path}")
    elif fault == "missing_file":
        path.unlink()
    elif fault == "empty_text":
        _replace_line(data / "text", utt, utt)
    elif fault == "unknown_chars":
        _replace_line(data / "text", utt, f"{utt} HELLO WÖRLD 42")
    elif fault == "duplicate_key":
        _rewrite_table(data / "wav.scp", lambda ls: ls[: BAD + 1] + [ls[BAD]] + ls[BAD + 1 :])
    elif fault == "unsorted_keys":
        _rewrite_table(data / "wav.scp", lambda ls: [ls[BAD], *ls[:BAD], *ls[BAD + 1 :]])
    elif fault == "truncated_manifest":  # cut inside the path of line BAD + 1
        lines = (data / "wav.scp").read_text().splitlines(keepends=True)
        (data / "wav.scp").write_text("".join(lines[:BAD]) + lines[BAD][: len(utt) + 12])
    return utt


@pytest.fixture(scope="module")
def bench(smoke_corpus, tmp_path_factory):
    """Clean inputs, a fine-tuned model to decode with, and a cache of faulty copies."""
    root = tmp_path_factory.mktemp("matrix")
    clean, _ = _copy(smoke_corpus, root / "clean")
    finetuned = root / "finetuned"
    argv = ["finetune", "--config", "conf/finetune/tiny_letters.yaml", "--pretrained", "none",
            "--exp-dir", str(finetuned)]
    assert main(argv + _sets(FINETUNE + [f"data.train={clean}", f"data.valid={clean}"])) == 0
    return {"root": root, "clean": clean, "finetuned": finetuned, "faulty": {}}


def _faulty(bench, smoke_corpus, fault: str) -> tuple[Path, str, Path]:
    """(data dir, broken utterance, label dir) of ``fault``, made once per module."""
    if fault not in bench["faulty"]:
        dest = bench["root"] / fault
        data, wav = _copy(smoke_corpus, dest)
        labels = _labels(data, dest / "labels")
        if fault in LABEL_FAULTS:
            utt = sorted(wav)[BAD]
            if fault == "label_length":  # 30 labels (0.6 s) short
                line = read_table(labels / "labels.txt")[utt]
                _replace_line(labels / "labels.txt", utt, f"{utt} {line.rsplit(' ', 30)[0]}")
            else:
                (labels / "dict.txt").write_text("".join(f"{i} 1\n" for i in range(4)))
        else:
            utt = _break(data, wav, fault)
        bench["faulty"][fault] = (data, utt, labels)
    return bench["faulty"][fault]


def _run(stage: str, fault: str, data: Path, labels: Path, out: Path, bench) -> int:
    if stage == "features":
        return main(["features", "mfcc", "--data", str(data), "--out", str(out)])
    if stage == "pretrain":
        objective = "hubert" if fault in LABEL_FAULTS else "wav2vec2"
        sets = PRETRAIN + [f"data.train={data}", f"data.valid={data}"]
        if objective == "hubert":
            sets += [f"data.labels={labels}", f"data.valid_labels={labels}"]
            sets = [s for s in sets if not s.startswith("objective_config.")]
        argv = ["pretrain", "--config", f"conf/pretrain/{objective}_tiny.yaml", "--exp-dir", str(out)]
        return main(argv + _sets(sets))
    if stage == "finetune":
        argv = ["finetune", "--config", "conf/finetune/tiny_letters.yaml", "--pretrained", "none",
                "--exp-dir", str(out)]
        return main(argv + _sets(FINETUNE + [f"data.train={data}", f"data.valid={data}"]))
    if stage == "probe":  # PR on fbank: the cheapest upstream through the same hidden-state cache
        return main(["probe", "--upstream", "fbank", "--task", "pr", "--train", str(data), "--dev", str(data),
                     "--features-root", str(out / "features"), "--out", str(out), "--max-updates", "1"])
    return main(["decode", "--exp-dir", str(bench["finetuned"]), "--data", str(data), "--out", str(out),
                 "--device", "cpu"])


def _stderr_lines(text: str) -> list[str]:
    """stderr without progress-bar redraws."""
    parts = (part for line in text.splitlines() for part in line.split("\r"))
    return [part for part in parts if part.strip() and "%|" not in part]


def _no_nan_outputs(out: Path) -> None:
    for path in out.rglob("*.safetensors"):
        assert all(np.isfinite(t).all() for t in load_file(path).values()), path
    for path in out.rglob("*.npy"):
        assert np.isfinite(np.load(path)).all(), path
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"


def _check_probe(out: Path, clean: Path, utt: str, expected: str) -> None:
    """A probe that ran: one update, and the faulty utterance skipped, counted and named (``skip``)."""
    from speechssl.probe.tasks import PhoneRecognition

    result = json.loads((out / "result.json").read_text())
    assert result["updates"] == 1
    skipped = set(PhoneRecognition().targets(clean).skipped)  # the smoke split's own OOV words
    if expected == "skip":
        skipped.add(utt)  # (BAD is the one OOV utterance of the smoke split: the count stays 1)
    assert result["skipped"] == {"train": len(skipped), "dev": len(skipped)}
    if expected == "skip":
        assert utt in (out / "probe.log").read_text()


CASES = sorted(EXPECTED)


@pytest.mark.parametrize("stage, fault", CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_bad_input(stage, fault, bench, smoke_corpus, capsys):
    data, utt, labels = _faulty(bench, smoke_corpus, fault)
    out = bench["root"] / "out" / f"{stage}-{fault}"
    out.mkdir(parents=True)
    (out / "earlier_output.txt").write_text("written before\n")
    capsys.readouterr()
    status = _run(stage, fault, data, labels, out, bench)
    err = _stderr_lines(capsys.readouterr().err)
    expected = EXPECTED[(stage, fault)]
    assert not any("Traceback" in line for line in err)
    assert (out / "earlier_output.txt").read_text() == "written before\n"
    _no_nan_outputs(out)
    if expected == "stop":
        assert status == 1
        assert len(err) == 1, err
        assert err[0].startswith(f"speechssl {stage}: error: ")
        assert utt in err[0] or str(data) in err[0] or str(labels) in err[0], err[0]
        return
    assert status == 0, err
    summary = out / ("decode.json" if stage == "decode" else "summary.json")
    if stage == "features":
        assert (out / "0_1.done").is_file()
        return
    if stage == "probe":
        _check_probe(out, bench["clean"], utt, expected)
        return
    record = json.loads(summary.read_text())
    if stage == "decode":
        assert record["num_utterances"] == len(read_table(data / "wav.scp"))
        return
    assert record["updates"] == 1
    if expected == "skip":
        assert record["skipped_utterances"] == 1
        assert list(record["skipped_utterance_problems"]) == [utt]
        assert f"utterance '{utt}'" in (out / "train.log").read_text()
    else:
        assert record["skipped_utterances"] == 0


def test_decode_stop_keeps_the_previous_decode(bench, smoke_corpus, capsys):
    """A decode that stops on a bad file leaves an earlier decode of the same folder intact."""
    out = bench["root"] / "out" / "decode-again"
    assert _run("decode", "none", bench["clean"], bench["clean"], out, bench) == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    data, utt, labels = _faulty(bench, smoke_corpus, "nan")
    capsys.readouterr()
    assert _run("decode", "nan", data, labels, out, bench) == 1
    assert utt in _stderr_lines(capsys.readouterr().err)[0]
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
