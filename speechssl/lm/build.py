"""Build a KenLM n-gram (``lmplz`` then ``build_binary``) plus the letter lexicon and tokens.

The binaries come from ``tools/kenlm/bin`` (built by ``local/install.sh``) or PATH.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from speechssl.io.atomic import atomic_path
from speechssl.lm.lexicon import count_words, write_lexicon, write_tokens
from speechssl.text.tokenizer import LetterTokenizer, Tokenizer

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


class KenLMError(RuntimeError):
    """A KenLM binary is missing or failed; the message says what to do."""


@dataclass
class LMFiles:
    """Paths written by ``build_lm`` into one folder."""

    arpa: Path
    binary: Path
    lexicon: Path
    tokens: Path
    order: int = 0
    num_words: int = 0

    @classmethod
    def in_dir(cls, directory: str | os.PathLike) -> "LMFiles":
        directory = Path(directory)
        return cls(
            arpa=directory / "lm.arpa",
            binary=directory / "lm.bin",
            lexicon=directory / "lexicon.txt",
            tokens=directory / "tokens.txt",
        )


def find_kenlm_tool(name: str) -> str:
    """Absolute path of KenLM binary ``name`` (PATH first, then ``tools/kenlm/bin``)."""
    candidates = [shutil.which(name)]
    for root in (os.environ.get("SPEECHSSL_ROOT"), REPO_ROOT):
        if root:
            candidates.append(str(Path(root) / "tools" / "kenlm" / "bin" / name))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise KenLMError(
        f"KenLM '{name}' not found on PATH nor in tools/kenlm/bin: run local/install.sh "
        "(then '. ./path.sh')"
    )


def _run_streaming(command: list[str], stdin_path: Path | None, stdout_path: Path, log_path: Path):
    """Run ``command``; its stderr (KenLM's progress bar) goes to the terminal and ``log_path``."""
    log.info("running %s", " ".join(command))
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        with open(stdout_path, "wb") as out, open(log_path, "ab") as err_log:
            process = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=subprocess.PIPE)
            assert process.stderr is not None
            while chunk := process.stderr.read1(4096):
                err_log.write(chunk)
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
            status = process.wait()
    finally:
        if stdin_path:
            stdin.close()
    if status != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise KenLMError(
            f"{Path(command[0]).name} failed (exit {status}); see {log_path}: " + " | ".join(tail)
        )


def build_lm(
    text_path: str | os.PathLike,
    order: int,
    out_dir: str | os.PathLike,
    memory: str = "20%",
    tokenizer: Tokenizer | None = None,
) -> LMFiles:
    """Build ``lm.arpa``, ``lm.bin``, ``lexicon.txt`` and ``tokens.txt`` in ``out_dir``.

    ``--discount_fallback`` lets lmplz estimate tiny texts whose count-of-counts are degenerate;
    ``memory`` is lmplz's ``-S`` (its default of 80% of RAM would starve other jobs).
    ``tokenizer`` spells the lexicon (default: letters with ``|``).
    """
    text_path = Path(text_path)
    if order < 2:
        raise ValueError(f"--order {order}: an n-gram LM needs order >= 2")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = LMFiles.in_dir(out_dir)
    files.order = order
    lmplz = find_kenlm_tool("lmplz")
    build_binary = find_kenlm_tool("build_binary")
    counts = count_words(text_path)
    tokenizer = tokenizer or LetterTokenizer()
    files.num_words = write_lexicon(list(counts), tokenizer, files.lexicon, source=str(text_path))
    write_tokens(tokenizer, files.tokens)
    log_path = out_dir / "kenlm.log"
    log_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".lmplz-") as scratch:
        with atomic_path(files.arpa) as arpa_tmp:
            command = [lmplz, "-o", str(order), "-S", memory, "-T", scratch, "--discount_fallback"]
            _run_streaming(command, text_path, arpa_tmp, log_path)
    with atomic_path(files.binary) as binary_tmp:
        _run_streaming(
            [build_binary, str(files.arpa), str(binary_tmp)], None, out_dir / ".build_binary.out",
            log_path,
        )
    (out_dir / ".build_binary.out").unlink(missing_ok=True)
    log.info("LM of order %d over %d words in %s", order, files.num_words, out_dir)
    return files
