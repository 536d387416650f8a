"""The official LibriSpeech 4-gram (openslr 11) as a decoding LM folder: lm.bin, lexicon.txt, tokens.txt.

Same layout as ``speechssl lm build`` writes, so ``speechssl decode --lm DIR`` reads it unchanged.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

from speechssl.io.atomic import atomic_path
from speechssl.lm.build import KenLMError, LMFiles, find_kenlm_tool
from speechssl.lm.build import _run_streaming as run_streaming
from speechssl.lm.lexicon import write_lexicon, write_tokens
from speechssl.progress import progress_bar
from speechssl.corpora.librispeech.prep import PrepError
from speechssl.text.tokenizer import LetterTokenizer

logger = logging.getLogger(__name__)

ARPA_GZ = "4-gram.arpa.gz"
LEXICON = "librispeech-lexicon.txt"


def official_words(lexicon: Path) -> list[str]:
    """Words of ``librispeech-lexicon.txt`` (``WORD<TAB>PHONES`` a line; a word may repeat)."""
    words = []
    with open(lexicon, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise PrepError(f"{lexicon}:{number}: expected 'WORD PHONE...', got '{line.strip()}'")
            words.append(fields[0])
    if not words:
        raise PrepError(f"{lexicon}: empty lexicon")
    return words


def _gunzip(source: Path, dest: Path) -> None:
    """Decompress ``source`` to ``dest`` with a progress bar over the compressed bytes."""
    with open(source, "rb") as raw, progress_bar(
        total=source.stat().st_size, unit="B", unit_scale=True, desc=f"gunzip {source.name}", leave=False
    ) as bar, open(dest, "wb") as out:
        with gzip.GzipFile(fileobj=raw) as stream:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
                bar.n = raw.tell()
                bar.refresh()


def prepare_official_lm(src: Path, out: Path) -> LMFiles:
    """Turn ``src/lm/4-gram.arpa.gz`` + ``librispeech-lexicon.txt`` into an LM folder at ``out``.

    The ARPA is decompressed next to ``out`` only for ``build_binary`` and then removed; the letter
    lexicon spells every official word (``HELLO H E L L O |``). Skips work already done.
    """
    lm_dir = src / "lm"
    arpa_gz, lexicon = lm_dir / ARPA_GZ, lm_dir / LEXICON
    for path in (arpa_gz, lexicon):
        if not path.is_file():
            raise PrepError(f"{path}: not found; run 'speechssl librispeech download --parts lm' first")
    out.mkdir(parents=True, exist_ok=True)
    files = LMFiles.in_dir(out)
    files.order = 4
    tokenizer = LetterTokenizer()
    files.num_words = write_lexicon(official_words(lexicon), tokenizer, files.lexicon, source=str(lexicon))
    write_tokens(tokenizer, files.tokens)
    if files.binary.is_file():
        logger.info("%s: already built", files.binary)
        return files
    # The decompressed ARPA (several GB for the official 4-gram) lives only while build_binary runs.
    arpa = out / ".4-gram.arpa.tmp"
    try:
        build_binary = find_kenlm_tool("build_binary")
        _gunzip(arpa_gz, arpa)
        with atomic_path(files.binary) as binary:
            # KenLM's own progress bar goes to the terminal and out/kenlm.log.
            run_streaming([build_binary, str(arpa), str(binary)], None, out / ".build_binary.out",
                          out / "kenlm.log")
    except KenLMError as error:
        raise PrepError(f"{arpa_gz}: {error}") from None
    finally:
        arpa.unlink(missing_ok=True)
        (out / ".build_binary.out").unlink(missing_ok=True)
    logger.info("official 4-gram: %s, lexicon of %d words", files.binary, files.num_words)
    return files
