"""fairseq-style manifests of a data dir: ``.tsv`` (root, then ``path<TAB>samples``), ``.ltr``, ``.wrd``.

Rows are sorted by duration (shortest first), for users who train with fairseq next to speechssl.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechssl.io.atomic import atomic_write_text
from speechssl.io.kaldi_dir import DataDir


def letters(text: str) -> str:
    """``HELLO WORLD`` -> ``H E L L O | W O R L D |`` (fairseq letter targets, ``|`` = word end)."""
    return " ".join(" ".join(word) + " |" for word in text.split())


def write_manifests(data: DataDir, out_dir: Path, name: str) -> list[Path]:
    """Write ``out_dir/name.{tsv,ltr,wrd}``; the tsv root is the common folder of all audio files.

    ``.ltr``/``.wrd`` are written when ``data`` has transcripts. Returns the written paths.
    """
    if not data.wav_scp:
        raise ValueError(f"{out_dir / name}.tsv: the data dir has no utterances")
    missing = sorted(set(data.wav_scp) - set(data.utt2num_samples))
    if missing:
        raise ValueError(f"utterance '{missing[0]}': no utt2num_samples entry; prepare the dir again")
    order = sorted(data.wav_scp, key=lambda utt: (data.utt2num_samples[utt], utt))
    paths = {utt: os.path.abspath(data.wav_scp[utt]) for utt in order}
    root = os.path.commonpath([os.path.dirname(p) for p in paths.values()])
    rows = [root] + [f"{os.path.relpath(paths[u], root)}\t{data.utt2num_samples[u]}" for u in order]
    written = [out_dir / f"{name}.tsv"]
    atomic_write_text(written[0], "\n".join(rows) + "\n")
    if data.text:
        no_text = [u for u in order if u not in data.text]
        if no_text:
            raise ValueError(f"utterance '{no_text[0]}': no transcript in text")
        written += [out_dir / f"{name}.ltr", out_dir / f"{name}.wrd"]
        atomic_write_text(written[1], "".join(letters(data.text[u]) + "\n" for u in order))
        atomic_write_text(written[2], "".join(data.text[u] + "\n" for u in order))
    return written
