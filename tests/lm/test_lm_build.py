"""KenLM building with lmplz/build_binary, the letter lexicon and token list, and their errors."""

import kenlm
import pytest

from speechssl.cli.main import main
from speechssl.lm import build as lm_build
from speechssl.lm.build import KenLMError, build_lm, find_kenlm_tool
from speechssl.lm.lexicon import LexiconError, count_words, read_lexicon_words

TEXT = "THE CAT SAT ON THE MAT\nTHE DOG SAT ON THE LOG\nA CAT AND A DOG\nTHE CAT SAW THE DOG'S MAT\n"


@pytest.fixture
def lm_text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def test_build_writes_arpa_binary_lexicon_tokens(lm_text, tmp_path):
    files = build_lm(lm_text, 3, tmp_path / "lm", memory="32M")
    arpa = files.arpa.read_text()
    assert "ngram 3=" in arpa and "\\3-grams:" in arpa
    assert files.binary.stat().st_size > 0
    assert files.num_words == 11
    lexicon = dict(line.split("\t") for line in files.lexicon.read_text().splitlines())
    assert lexicon["CAT"] == "C A T |"
    assert lexicon["DOG'S"] == "D O G ' S |"
    assert read_lexicon_words(files.lexicon)[0] == "A"
    tokens = files.tokens.read_text().split("\n")
    assert tokens[:3] == ["<blank>", "|", "'"] and len([t for t in tokens if t]) == 29
    model = kenlm.Model(str(files.binary))
    assert model.order == 3
    assert model.score("THE CAT SAT ON THE MAT") > model.score("MAT THE ON SAT CAT THE")


def test_cli_build(lm_text, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["lm", "build", "--text", str(lm_text), "--order", "2", "--out", str(out), "--memory", "32M"]) == 0
    assert "2-gram lm.bin, lexicon of 11 words" in capsys.readouterr().out
    assert (out / "lm.bin").is_file()


def test_unspellable_word_names_it(tmp_path):
    text = tmp_path / "bad.txt"
    text.write_text("THE CAT\nTHE D0G\n")
    with pytest.raises(LexiconError, match="word 'D0G' cannot be spelled"):
        build_lm(text, 2, tmp_path / "lm", memory="32M")


def test_missing_or_empty_text(tmp_path):
    with pytest.raises(LexiconError, match="LM text not found"):
        count_words(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(LexiconError, match="empty"):
        count_words(tmp_path / "empty.txt")


def test_order_must_be_an_ngram(lm_text, tmp_path):
    with pytest.raises(ValueError, match="order >= 2"):
        build_lm(lm_text, 1, tmp_path / "lm")


def test_missing_binary_says_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SPEECHSSL_ROOT", raising=False)
    monkeypatch.setattr(lm_build, "REPO_ROOT", tmp_path)
    with pytest.raises(KenLMError, match="run local/install.sh"):
        find_kenlm_tool("lmplz")
