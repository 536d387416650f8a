import pytest

from speechssl.io.kaldi_dir import DataDir, DataDirError, read_table, write_table


def test_write_sorts_in_c_order_and_round_trips(tmp_path):
    table = {"b-2": "x y", "B-1": "z", "a-1": "w"}
    write_table(tmp_path / "text", table)
    lines = (tmp_path / "text").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["B-1", "a-1", "b-2"]
    assert read_table(tmp_path / "text") == table


def test_duplicate_key_names_file_and_line(tmp_path):
    (tmp_path / "text").write_text("u1 A\nu2 B\nu1 C\n")
    with pytest.raises(DataDirError, match=r"text:3: duplicated key 'u1'"):
        read_table(tmp_path / "text")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataDirError, match="wav.scp: file not found"):
        DataDir.load(tmp_path)


def test_data_dir_round_trip_and_spk2utt(tmp_path):
    data = DataDir(
        wav_scp={"s1-1": "a.flac", "s2-1": "b.flac", "s1-2": "c.flac"},
        text={"s1-1": "HELLO", "s2-1": "WORLD", "s1-2": "IT'S"},
        utt2spk={"s1-1": "s1", "s2-1": "s2", "s1-2": "s1"},
        utt2dur={"s1-1": 1.5, "s2-1": 2.0, "s1-2": 0.25},
        utt2num_samples={"s1-1": 24000, "s2-1": 32000, "s1-2": 4000},
    )
    data.save(tmp_path)
    assert (tmp_path / "spk2utt").read_text() == "s1 s1-1 s1-2\ns2 s2-1\n"
    loaded = DataDir.load(tmp_path)
    assert loaded == data
    assert loaded.subset(["s2-1"]).utt2num_samples == {"s2-1": 32000}
