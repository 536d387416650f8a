"""Fixtures for LibriSpeech prep and recipe tests: tiny archives in the real layouts and a Range-capable server.

Audio is a few short generated FLACs; nothing is committed and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import re
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile

RATE = 16000
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIET"]
LIBRISPEECH_FILES = ("README.TXT", "SPEAKERS.TXT", "CHAPTERS.TXT", "BOOKS.TXT", "LICENSE.TXT")


def tiny_arpa() -> str:
    """A valid bigram ARPA over WORDS (what build_binary needs from the official 4-gram)."""
    unigrams = [("-1.0", "<unk>", "0"), ("-99", "<s>", "-0.3"), ("-0.7", "</s>", "0")]
    unigrams += [("-1.2", word, "-0.3") for word in WORDS]
    bigrams = [f"-0.2\t<s> {WORDS[0]}", f"-0.2\t{WORDS[0]} {WORDS[1]}"]
    lines = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    lines += ["\t".join(row) for row in unigrams] + ["", "\\2-grams:"] + bigrams + ["", "\\end\\", ""]
    return "\n".join(lines)


def _flac_bytes(seed: int) -> tuple[bytes, int]:
    """A 0.8-1.2 s 16 kHz mono FLAC of noise; returns (bytes, num_samples)."""
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(RATE * (0.8 + 0.1 * (seed % 5)))) * 0.1).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue(), len(samples)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@dataclass
class FakeCorpus:
    """Where the fake archives are, and what a correct prep must find in them."""

    mirror: Path
    checksum_file: Path
    num_samples: dict[str, int] = field(default_factory=dict)  # utt -> samples
    texts: dict[str, str] = field(default_factory=dict)
    parts: dict[str, list[str]] = field(default_factory=dict)  # part/split folder -> utts


def _write_chapters(tar, prefix: str, speakers: list[tuple[int, int]], per_chapter: int,
                    corpus: FakeCorpus, key: str, seed: int) -> int:
    """Add ``<prefix>/<spk>/<chapter>/`` trees (FLAC + trans.txt) to ``tar``."""
    for spk, chapter in speakers:
        lines = []
        for index in range(per_chapter):
            utt = f"{spk}-{chapter}-{index:04d}"
            data, samples = _flac_bytes(seed)
            seed += 1
            text = " ".join(WORDS[(seed + k) % len(WORDS)] for k in range(1 + seed % 3))
            _add(tar, f"{prefix}/{spk}/{chapter}/{utt}.flac", data)
            lines.append(f"{utt} {text}\n")
            corpus.num_samples[utt], corpus.texts[utt] = samples, text
            corpus.parts.setdefault(key, []).append(utt)
        _add(tar, f"{prefix}/{spk}/{chapter}/{spk}-{chapter}.trans.txt", "".join(lines).encode())
    return seed


def build_fake_corpus(root: Path) -> FakeCorpus:
    """Write the seven LibriSpeech tarballs, the Libri-light tgz and the three LM files."""
    mirror = root / "mirror"
    mirror.mkdir(parents=True)
    corpus = FakeCorpus(mirror=mirror, checksum_file=root / "md5sum.txt")
    seed = 0
    layouts = {"dev-clean": [(84, 121123), (174, 50561)], "train-clean-100": [(19, 198), (26, 495)],
               "train-clean-360": [(100, 121669)], "train-other-500": [(20, 205)],
               "dev-other": [(116, 288045)], "test-clean": [(1089, 134686)], "test-other": [(367, 130732)]}
    for part, speakers in layouts.items():
        with tarfile.open(mirror / f"{part}.tar.gz", "w:gz") as tar:
            for name in LIBRISPEECH_FILES:
                _add(tar, f"LibriSpeech/{name}", f"{name} of the fake corpus\n".encode())
            seed = _write_chapters(tar, f"LibriSpeech/{part}", speakers, 2, corpus, part, seed)
    with tarfile.open(mirror / "librispeech_finetuning.tgz", "w:gz") as tar:
        for fold in range(6):
            for number, condition in enumerate(("clean", "other")):
                spk = 1000 + 10 * fold + number
                seed = _write_chapters(tar, f"librispeech_finetuning/1h/{fold}/{condition}",
                                       [(spk, 7)], 1, corpus, f"1h/{fold}", seed)
        for number, condition in enumerate(("clean", "other")):
            seed = _write_chapters(tar, f"librispeech_finetuning/9h/{condition}",
                                   [(2000 + number, 9)], 2, corpus, "9h", seed)
    (mirror / "librispeech-lm-norm.txt.gz").write_bytes(gzip.compress(b"ALPHA BRAVO\nCHARLIE\n"))
    (mirror / "librispeech-lexicon.txt").write_text("".join(f"{w}\t{' '.join(w[:3])}\n" for w in WORDS))
    (mirror / "4-gram.arpa.gz").write_bytes(gzip.compress(tiny_arpa().encode()))
    write_md5sums(mirror, corpus.checksum_file)
    return corpus


def write_md5sums(folder: Path, out: Path) -> None:
    lines = [f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(folder.iterdir())]
    out.write_text("".join(lines))


class RangeServer:
    """A 127.0.0.1 HTTP server for one folder that honours ``Range: bytes=N-`` requests.

    ``cut_after`` (bytes) makes the next full-file response stop early, like a dropped connection;
    ``ranges`` records the Range headers received.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cut_after: int | None = None
        self.ranges: list[str] = []
        self.closed = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = server.folder / self.path.lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                header = self.headers.get("Range")
                start = 0
                if header:
                    server.ranges.append(header)
                    start = int(re.match(r"bytes=(\d+)-", header).group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None and not header:
                    body, server.cut_after = body[: server.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def fake_corpus(tmp_path_factory) -> FakeCorpus:
    return build_fake_corpus(tmp_path_factory.mktemp("librispeech_fake"))


@pytest.fixture(scope="session")
def downloaded(fake_corpus, tmp_path_factory) -> Path:
    """Download root holding every fake part (fetched from the mirror folder, verified, extracted)."""
    from speechssl.corpora.librispeech.archives import read_checksum_file
    from speechssl.corpora.librispeech.download import DownloadPlan, download

    dest = tmp_path_factory.mktemp("downloaded")
    plan = DownloadPlan(dest=dest, mirror=str(fake_corpus.mirror),
                        checksums=read_checksum_file(fake_corpus.checksum_file))
    download(["all"], plan)
    return dest


@pytest.fixture
def serve():
    """Factory: ``serve(folder) -> RangeServer``; every server is shut down after the test."""
    servers: list[RangeServer] = []

    def start(folder: Path) -> RangeServer:
        servers.append(RangeServer(folder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def range_server(fake_corpus, serve) -> RangeServer:
    return serve(fake_corpus.mirror)


@pytest.fixture
def md5sums():
    """The ``write_md5sums(folder, out)`` helper, for tests that build their own mirror."""
    return write_md5sums
