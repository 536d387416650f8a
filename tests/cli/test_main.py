import subprocess
import sys

from speechssl.cli.main import FAMILIES, main


def test_help_lists_every_family(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name, _, _ in FAMILIES:
        assert name in out


def test_every_family_registers(capsys):
    for name, _, _ in FAMILIES:
        try:
            main([name, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0, name
        assert name in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "speechssl.cli.main", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "pretrain" in result.stdout
