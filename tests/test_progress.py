"""Progress bars: drawn on a terminal, silent in a log (unless asked for, then at most once a minute)."""

from __future__ import annotations

import io
import subprocess
import sys

from speechssl.progress import LOG_MININTERVAL, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_is_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("SPEECHSSL_PROGRESS", raising=False)
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress_bar(range(3), desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(total=3, desc="work", file=terminal) as bar:
        bar.update(3)
    assert "work: 100%" in terminal.getvalue()
    assert progress_bar(total=1, disable=True).disable  # the caller's own switch (rank != 0) still wins


def test_kept_in_a_log_when_asked_but_sparse(monkeypatch):
    monkeypatch.setenv("SPEECHSSL_PROGRESS", "1")
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress_bar(total=5, desc="sparse", mininterval=0.5, file=log)
    assert not bar.disable and bar.mininterval == LOG_MININTERVAL
    bar.close()


def test_a_training_run_logged_to_a_file_has_no_bar_redraws(tmp_path):
    code = "from speechssl.progress import progress_bar\nfor _ in progress_bar(range(50000), desc='train'): pass\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "\r" not in result.stderr and "train" not in result.stderr
