"""Synthetic speakers and the three TTS engines that voice them (flite, festival, espeak-ng).

A Speaker is a base voice plus vocal-tract, pitch, rate and channel settings drawn from its seed.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile

from speechssl.corpora.mini.timing import EnginePhones, parse_festival_segs, parse_flite_durations
from speechssl.io.atomic import atomic_write_text

ENGINES = ("flite", "festival", "espeak")
NOISE_TYPES = ("white", "pink", "brown", "babble")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker; every field is fixed by the plan seed and the speaker number."""

    spk_id: str = "spk000"
    engine: str = "flite"
    voice: str = "slt"  # flite voice, festival voice name, or espeak accent (e.g. en-us)
    variant: str = ""  # espeak variant file body ("" for other engines)
    formant_scale: float = 1.0  # >1: shorter vocal tract (higher formants and pitch)
    rate: float = 1.0  # speaking-rate factor, >1 faster
    highpass_hz: float = 80.0
    lowpass_hz: float = 7000.0
    reverb_s: float = 0.0  # decay time of the synthetic room, 0 for a dry channel
    noise: str = "white"
    snr_db: float = 25.0  # centre of this speaker's per-utterance SNR range

    @property
    def variant_name(self) -> str:
        return f"v{self.spk_id}"


def draw_speaker(spk_id: str, engine: str, voice: str, rng: np.random.Generator) -> Speaker:
    """Draw the voice-quality and channel settings of a new speaker from ``rng``."""
    formant_scale = float(rng.uniform(0.9, 1.15))
    variant = ""
    if engine == "espeak":
        female = bool(rng.random() < 0.5)
        base = rng.uniform(150, 230) if female else rng.uniform(75, 130)
        formants = "\n".join(
            # formant number, frequency, height and width, in percent of the base voice
            f"formant {k} {rng.uniform(88, 118):.0f} {rng.uniform(80, 120):.0f} "
            f"{rng.uniform(80, 130):.0f}"
            for k in range(6)
        )
        variant = (
            f"language variant\nname v{spk_id}\ngender {'female' if female else 'male'}\n"
            f"pitch {base:.0f} {base * rng.uniform(1.2, 1.8):.0f}\n{formants}\n"
            f"breath {rng.integers(0, 4)} {rng.integers(0, 4)} {rng.integers(0, 3)}\n"
            f"flutter {rng.integers(0, 20)}\nroughness {rng.integers(0, 4)}\n"
            f"tone 600 {rng.integers(170, 260)} 1200 {rng.integers(100, 200)} 2000 100\n"
        )
        if rng.random() < 0.3:
            variant += f"klatt {rng.integers(1, 5)}\n"
    return Speaker(
        spk_id=spk_id,
        engine=engine,
        voice=voice,
        variant=variant,
        formant_scale=formant_scale,
        rate=float(rng.uniform(0.85, 1.15)),
        highpass_hz=float(rng.uniform(60, 200)),
        lowpass_hz=float(rng.uniform(4000, 7000)),
        reverb_s=float(rng.uniform(0.15, 0.6)) if rng.random() < 0.3 else 0.0,
        noise=str(rng.choice(NOISE_TYPES)),
        snr_db=float(rng.uniform(14, 34)),
    )


class SynthesisError(ValueError):
    """A TTS engine failed; the message names the engine, voice and sentence."""


class EngineAudio(NamedTuple):
    """One sentence as the engine spoke it, before any channel effect."""

    samples: np.ndarray  # (T,) float64
    rate: int  # sample rate of ``samples`` (Hz)
    phones: EnginePhones | None  # phone end times in ``samples``' timeline; None: engine gives none


def _run(command: list[str], what: str) -> bytes:
    try:
        done = subprocess.run(command, capture_output=True, check=False)
    except FileNotFoundError:
        raise SynthesisError(f"{command[0]} not found: install it (local/install.sh)") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise SynthesisError(f"{what}: {command[0]} failed ({'; '.join(message)})")
    return done.stdout


def _read_wav(data: bytes | Path, what: str) -> tuple[np.ndarray, int]:
    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        samples, rate = soundfile.read(source, dtype="float64", always_2d=True)
    except Exception as error:
        raise SynthesisError(f"{what}: engine wrote unreadable audio ({error})") from None
    if samples.shape[0] == 0:
        raise SynthesisError(f"{what}: engine wrote empty audio")
    return samples[:, 0], rate


def espeak_data_dir(root: Path, speakers: list[Speaker]) -> Path:
    """A private espeak-ng data folder holding the speakers' variants; pass it as ``--path``.

    espeak-ng silently falls back to its default voice on an unknown ``+variant``, so the
    variants must live in the data folder it reads. Everything else is linked to the system copy.
    """
    system = Path(_system_espeak_data())
    data = root / "espeak-ng-data"
    variants = data / "voices" / "!v"
    variants.mkdir(parents=True, exist_ok=True)
    for entry in system.iterdir():
        if entry.name != "voices" and not (data / entry.name).exists():
            (data / entry.name).symlink_to(entry)
    for entry in (system / "voices").iterdir():
        if entry.name != "!v" and not (data / "voices" / entry.name).exists():
            (data / "voices" / entry.name).symlink_to(entry)
    for speaker in speakers:
        if speaker.engine == "espeak":
            atomic_write_text(variants / speaker.variant_name, speaker.variant)
    return root


def check_flite_voices(speakers: list[Speaker]) -> None:
    """Fail on a flite voice flite lacks: flite silently falls back to its default voice."""
    out = _run(["flite", "-lv"], "flite -lv").decode()
    available = set(out.split(":", 1)[-1].split())
    for speaker in speakers:
        if speaker.engine == "flite" and speaker.voice not in available:
            raise SynthesisError(
                f"{speaker.spk_id}: flite has no voice '{speaker.voice}' "
                f"(available: {' '.join(sorted(available))})"
            )


def _system_espeak_data() -> str:
    out = _run(["espeak-ng", "--version"], "espeak-ng --version").decode()
    match = re.search(r"Data at:\s*(\S+)", out)
    if not match:
        raise SynthesisError(f"cannot find espeak-ng's data folder in '{out.strip()}'")
    return match.group(1)


def synthesize(
    speaker: Speaker, texts: list[str], rates: list[float], espeak_path: Path | None
) -> list[EngineAudio]:
    """Raw engine audio for each sentence, with the engine's phone timings where it gives them
    (flite, festival; not espeak-ng).

    ``rates`` are per-utterance speaking-rate factors (speaker rate times jitter).
    """
    if speaker.engine == "festival":
        return _festival(speaker, texts, rates)
    results = []
    for text, rate in zip(texts, rates):
        what = f"{speaker.engine} voice {speaker.voice} ('{text[:40]}')"
        if speaker.engine == "flite":
            with tempfile.TemporaryDirectory(prefix="flite") as tmp:
                out = Path(tmp) / "out.wav"
                durations = _run(
                    [
                        "flite",
                        "-voice",
                        speaker.voice,
                        "--setf",
                        f"duration_stretch={1 / rate:.4f}",
                        "-psdur",
                        "-t",
                        text,
                        "-o",
                        str(out),
                    ],
                    what,
                )
                phones = parse_flite_durations(durations.decode(errors="replace"), what)
                results.append(EngineAudio(*_read_wav(out, what), phones))
        elif speaker.engine == "espeak":
            if espeak_path is None:
                raise SynthesisError("espeak speakers need the private data folder (espeak_path)")
            wav = _run(
                [
                    "espeak-ng",
                    f"--path={espeak_path}",
                    "-v",
                    f"{speaker.voice}+{speaker.variant_name}",
                    "-s",
                    str(int(165 * rate)),
                    "--stdout",
                    text,
                ],
                what,
            )
            results.append(EngineAudio(*_read_wav(wav, what), None))
        else:
            raise SynthesisError(f"unknown engine '{speaker.engine}'; known: {', '.join(ENGINES)}")
    return results


def _festival(speaker: Speaker, texts: list[str], rates: list[float]) -> list[EngineAudio]:
    """All sentences in one festival process: its start-up costs more than a sentence."""
    if shutil.which("festival") is None:
        raise SynthesisError("festival not found: install it (local/install.sh)")
    with tempfile.TemporaryDirectory(prefix="festival") as tmp:
        lines = [f"(voice_{speaker.voice})"]
        for i, (text, rate) in enumerate(zip(texts, rates)):
            lines.append(f"(Parameter.set 'Duration_Stretch {1 / rate:.4f})")
            lines.append(f'(set! speechssl_utt (SynthText "{text}"))')
            lines.append(f'(utt.save.wave speechssl_utt "{tmp}/{i}.wav" \'riff)')
            lines.append(f'(utt.save.segs speechssl_utt "{tmp}/{i}.segs")')
        script = Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _run(["festival", "--batch", str(script)], f"festival voice {speaker.voice}")
        results = []
        for i, text in enumerate(texts):
            path = Path(tmp) / f"{i}.wav"
            what = f"festival voice {speaker.voice} ('{text[:40]}')"
            segs = path.with_suffix(".segs")
            if not path.is_file() or not segs.is_file():
                raise SynthesisError(f"{what}: festival wrote no audio (is the voice installed?)")
            phones = parse_festival_segs(segs.read_text(encoding="utf-8"), what)
            results.append(EngineAudio(*_read_wav(path, what), phones))
    return results
