"""Libri-light limited-supervision splits (10 min, 1 h, 10 h) as Kaldi data dirs.

Archive layout: ``librispeech_finetuning/1h/{0..5}/{clean,other}/<spk>/<chapter>/`` and ``9h/{clean,other}/``.
"""

from __future__ import annotations

from pathlib import Path

from speechssl.io.kaldi_dir import DataDir
from speechssl.corpora.librispeech.archives import LIBRILIGHT_NAME
from speechssl.corpora.librispeech.prep import PrepError, merge, scan_chapter_tree

LIBRILIGHT_SPLITS = ("10m", "1h", "10h")
NUM_FOLDS = 6  # the 1 h set is six 10-minute folds
CONDITIONS = ("clean", "other")


def librilight_root(src: Path) -> Path:
    """``src/librispeech_finetuning`` (or ``src`` itself when it already is that folder)."""
    for candidate in (src / LIBRILIGHT_NAME, src):
        if (candidate / "1h").is_dir():
            return candidate
    raise PrepError(f"{src}: no {LIBRILIGHT_NAME}/1h folder; download the 'libri-light' part first")


def split_folders(root: Path, split: str, fold: int = 0) -> list[Path]:
    """The ``<spk>/<chapter>`` trees that make up ``split``.

    10m: fold ``fold`` of ``1h`` (clean + other). 1h: all six folds. 10h: the 1h folds plus ``9h``.
    """
    if split not in LIBRILIGHT_SPLITS:
        raise PrepError(f"unknown Libri-light split '{split}'; valid: {', '.join(LIBRILIGHT_SPLITS)}")
    if not 0 <= fold < NUM_FOLDS:
        raise PrepError(f"--fold {fold}: the 1h set has folds 0..{NUM_FOLDS - 1}")
    folds = [fold] if split == "10m" else list(range(NUM_FOLDS))
    folders = [root / "1h" / str(f) / condition for f in folds for condition in CONDITIONS]
    if split == "10h":
        folders += [root / "9h" / condition for condition in CONDITIONS]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        raise PrepError(f"{missing[0]}: missing; the {LIBRILIGHT_NAME} archive is incomplete")
    return folders


def librilight_split(src: Path, split: str, fold: int = 0) -> DataDir:
    """The DataDir of Libri-light ``split`` (``10m`` uses ``fold``) under download root ``src``."""
    root = librilight_root(src)
    parts = [
        scan_chapter_tree(folder, desc=f"scan {split} {folder.relative_to(root)}")
        for folder in split_folders(root, split, fold)
    ]
    return merge(parts)
