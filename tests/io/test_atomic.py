import pytest

from speechssl.io.atomic import atomic_path, atomic_write_text


def test_atomic_write_replaces_file(tmp_path):
    target = tmp_path / "a" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failed_write_keeps_previous_version(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_written_file_has_umask_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out.txt", "x")
        with atomic_path(tmp_path / "recreated.bin") as tmp:
            tmp.unlink()  # writers such as safetensors recreate the file with mode 0600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
    finally:
        os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "recreated.bin").stat().st_mode & 0o777 == 0o644


def test_stale_temporaries_of_a_killed_write(tmp_path):
    import subprocess
    import sys

    from speechssl.io.atomic import remove_stale_temporaries, stale_temporaries

    code = (
        "import os, sys\nfrom speechssl.io.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'half')\n    os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.safetensors")], check=False)
    (tmp_path / "notes.tmp").write_text("not ours")
    (tmp_path / ".model.safetensors.short.tmp").write_text("not mkstemp's name")
    left = stale_temporaries(tmp_path)
    assert len(left) == 1 and left[0].name.startswith(".model.safetensors.") and left[0].read_bytes() == b"half"
    assert remove_stale_temporaries(tmp_path) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.safetensors.short.tmp", "notes.tmp"]
