"""R serialization reader: hand-built XDR objects and a tiny lazy-load database."""

import gzip
import struct
import zlib

import pytest

from speechssl.corpora.mini.rdata import RDataError, read_lazyload, read_rds, unserialize


def _int(v):
    return struct.pack(">i", v)


def _charsxp(s):
    if s is None:
        return _int(9) + _int(-1)
    data = s.encode()
    return _int(9 | (1 << 15)) + _int(len(data)) + data  # gp bits are ignored


def _strsxp(values, attrs=b""):
    flags = 16 | (512 if attrs else 0)
    return _int(flags) + _int(len(values)) + b"".join(_charsxp(v) for v in values) + attrs


def _names_attr(names, first_symbol=True):
    # pairlist (LISTSXP with tag) -> tag SYMSXP "names" -> value STRSXP -> NILVALUE
    tag = _int(1) + _charsxp("names") if first_symbol else _int((1 << 8) | 255)
    return _int(2 | 1024) + tag + _strsxp(names) + _int(254)


def _header(version=2):
    head = b"X\n" + _int(version) + _int(0x40100) + _int(0x20300)
    if version == 3:
        head += _int(5) + b"UTF-8"
    return head


@pytest.mark.parametrize("version", [2, 3])
def test_string_vector_with_na(version):
    obj = unserialize(_header(version) + _strsxp(["It is a truth", None, "universally"]))
    assert obj.rtype == 16
    assert obj.value == ["It is a truth", None, "universally"]


def test_named_list_of_vectors_with_symbol_reference():
    ints = _int(13) + _int(3) + _int(1) + _int(-(2**31)) + _int(7)
    reals = _int(14) + _int(2) + struct.pack(">2d", 0.5, -2.0)
    inner = _int(19 | 512) + _int(1) + _strsxp(["x"]) + _names_attr(["a"], first_symbol=False)
    payload = _int(19 | 512) + _int(3) + ints + reals + inner
    # the outer names attribute defines symbol "names" (ref 1); the inner one refers back to it.
    data = _header() + payload
    with pytest.raises(RDataError, match="reference 1 to an undefined object"):
        unserialize(data)
    names_first = _int(19 | 512) + _int(1) + _strsxp(["y"]) + _names_attr(["b"])
    outer = _int(19 | 512) + _int(2) + names_first + inner + _names_attr(["first", "second"], False)
    obj = unserialize(_header() + outer)
    assert obj.attributes["names"].value == ["first", "second"]
    assert obj.value[0].attributes["names"].value == ["b"]
    assert obj.value[1].attributes["names"].value == ["a"]
    plain = unserialize(_header() + _int(19) + _int(2) + ints + reals)
    assert plain.value[0].value == [1, None, 7]
    assert plain.value[1].value == [0.5, -2.0]


def test_rejects_other_formats_and_truncation():
    with pytest.raises(RDataError, match="not XDR"):
        unserialize(b"A\n" + b"\0" * 12)
    with pytest.raises(RDataError, match="truncated"):
        unserialize(_header() + _int(16) + _int(5))
    with pytest.raises(RDataError, match="unsupported R object type 25"):
        unserialize(_header() + _int(25))


def test_lazyload_database_round_trip(tmp_path):
    objects = {"emma": _strsxp(["EMMA", "", "By Jane Austen"]), "words": _strsxp(["a", "able"])}
    db, offsets = b"", {}
    for name, body in objects.items():
        raw = _header() + body
        record = struct.pack(">I", len(raw)) + zlib.compress(raw)
        offsets[name] = (len(db), len(record))
        db += record
    (tmp_path / "Rdata.rdb").write_bytes(db)
    locations = b"".join(_int(13) + _int(2) + _int(o) + _int(n) for o, n in offsets.values())
    variables = _int(19 | 512) + _int(2) + locations + _names_attr(list(offsets))
    index = _int(19 | 512) + _int(1) + variables + _names_attr(["variables"], False)
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(_header() + index))
    assert read_rds(tmp_path / "Rdata.rdx").attributes["names"].value == ["variables"]
    loaded = read_lazyload(tmp_path / "Rdata")
    assert loaded["emma"].value == ["EMMA", "", "By Jane Austen"]
    assert loaded["words"].value == ["a", "able"]


def test_lazyload_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="Rdata.rdx"):
        read_lazyload(tmp_path / "Rdata")
