"""Download stage against a local Range-capable server: verification, resume, bad archives."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import pytest

from speechssl.cli.main import main
from speechssl.corpora.librispeech.archives import RESOURCES, read_checksum_file, resolve_parts
from speechssl.corpora.librispeech.download import DownloadPlan, download
from speechssl.corpora.librispeech.extract import DONE_MARKER
from speechssl.corpora.librispeech.fetch import DownloadError


def test_published_checksum_table_is_complete():
    assert len(RESOURCES) == 14
    assert RESOURCES["train-clean-100"].digest == "2a93770f6d5c6c964bc36631d331a522"
    assert RESOURCES["librispeech_finetuning"].algorithm == "sha256"
    labelled = [r for name, r in RESOURCES.items() if not name.startswith("librilight-")]
    assert len(labelled) == 11 and all(len(r.digest) in (32, 64) for r in labelled)
    assert [r.digest for r in resolve_parts(["librilight-60k"])] == ["", "", ""]  # none published
    assert [r.name for r in resolve_parts(["dev-test", "dev-clean"])] == [
        "dev-clean", "dev-other", "test-clean", "test-other"]
    with pytest.raises(ValueError, match="unknown part 'dev-cleen'"):
        resolve_parts(["dev-cleen"])


def test_builtin_checksum_rejects_fake_archive(fake_corpus, range_server, tmp_path):
    # Without the test checksum table the fake archive must fail the published md5.
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=range_server.url)
    with pytest.raises(DownloadError, match="md5 mismatch"):
        download(["dev-clean"], plan)
    assert not (tmp_path / "dl" / "LibriSpeech").exists()
    assert list((tmp_path / "dl" / "archives").iterdir()) == []


def test_cli_download_all_parts(fake_corpus, range_server, tmp_path, capsys):
    dest = tmp_path / "dl"
    argv = ["librispeech", "download", "--parts", "dev-clean", "train-clean-100", "libri-light",
            "lm", "--dest", str(dest), "--mirror", range_server.url,
            "--checksums", str(fake_corpus.checksum_file)]
    assert main(argv) == 0
    for part in ("dev-clean", "train-clean-100"):
        assert (dest / "LibriSpeech" / part / DONE_MARKER).is_file()
    assert (dest / "LibriSpeech" / "SPEAKERS.TXT").read_text() == "SPEAKERS.TXT of the fake corpus\n"
    flac = dest / "librispeech_finetuning/1h/3/other/1031/7/1031-7-0000.flac"
    assert flac.read_bytes()[:4] == b"fLaC"
    assert gzip.decompress((dest / "lm/librispeech-lm-norm.txt.gz").read_bytes()) == b"ALPHA BRAVO\nCHARLIE\n"
    assert sorted(p.name for p in (dest / "archives").iterdir()) == [
        "dev-clean.tar.gz", "librispeech_finetuning.tgz", "train-clean-100.tar.gz"]
    # A second run is a no-op: nothing is requested from the server.
    range_server.close()
    assert main(argv) == 0
    assert len(capsys.readouterr().out.split()) == 2 * 6


def test_local_folder_mirror(fake_corpus, tmp_path):
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=str(fake_corpus.mirror),
                        checksums=read_checksum_file(fake_corpus.checksum_file), keep_archives=False)
    [lexicon, part] = download(["librispeech-lexicon.txt", "dev-clean"], plan)
    assert lexicon.read_text().startswith("ALPHA\tA L P\nBRAVO\tB R A\n")
    assert len(list(part.glob("*/*/*.flac"))) == 4
    assert list((tmp_path / "dl" / "archives").iterdir()) == []


def test_interrupted_download_resumes_with_range(fake_corpus, range_server, tmp_path):
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=range_server.url,
                        checksums=read_checksum_file(fake_corpus.checksum_file))
    size = (fake_corpus.mirror / "dev-clean.tar.gz").stat().st_size
    range_server.cut_after = size // 2
    with pytest.raises(DownloadError, match="re-run to resume"):
        download(["dev-clean"], plan)
    part = tmp_path / "dl" / "archives" / "dev-clean.tar.gz.part"
    assert part.stat().st_size == size // 2
    assert not (tmp_path / "dl" / "LibriSpeech").exists()
    download(["dev-clean"], plan)
    assert range_server.ranges == [f"bytes={size // 2}-"]
    assert not part.exists()
    stored = (tmp_path / "dl" / "archives" / "dev-clean.tar.gz").read_bytes()
    assert hashlib.md5(stored).hexdigest() == read_checksum_file(fake_corpus.checksum_file)[
        "dev-clean.tar.gz"][1]


def _bad_mirror(fake_corpus, tmp_path, damage, serve, md5sums):
    """A served copy of the fake mirror whose dev-clean archive was damaged, with matching md5s."""
    mirror = tmp_path / "bad_mirror"
    shutil.copytree(fake_corpus.mirror, mirror)
    archive = mirror / "dev-clean.tar.gz"
    archive.write_bytes(damage(archive.read_bytes()))
    md5sums(mirror, tmp_path / "bad_md5sum.txt")
    return serve(mirror), read_checksum_file(tmp_path / "bad_md5sum.txt")


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) * 2 // 3],  # truncated gzip
    lambda data: data[:-8] + bytes(8),  # gzip CRC/length trailer broken
])
def test_corrupt_archive_leaves_nothing_extracted(fake_corpus, tmp_path, damage, serve, md5sums):
    server, checksums = _bad_mirror(fake_corpus, tmp_path, damage, serve, md5sums)
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=server.url, checksums=checksums)
    with pytest.raises(DownloadError, match="truncated or corrupt archive"):
        download(["dev-clean"], plan)
    dest = tmp_path / "dl"
    assert not (dest / "LibriSpeech").exists()
    assert [p.name for p in dest.iterdir()] == ["archives"]


def test_wrong_checksum_cli_error(fake_corpus, range_server, tmp_path, capsys):
    table = tmp_path / "wrong.txt"
    table.write_text(f"{'0' * 32}  dev-clean.tar.gz\n")
    dest = tmp_path / "dl"
    status = main(["librispeech", "download", "--parts", "dev-clean", "--dest", str(dest),
                   "--mirror", range_server.url, "--checksums", str(table)])
    assert status == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    assert error.startswith("speechssl librispeech: error: dev-clean.tar.gz: md5 mismatch")
    assert not (dest / "LibriSpeech").exists()
    assert list((dest / "archives").iterdir()) == []


def test_missing_file_on_mirror(range_server, tmp_path):
    plan = DownloadPlan(dest=tmp_path / "dl", mirror=range_server.url + "/nowhere")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(["test-other"], plan)
