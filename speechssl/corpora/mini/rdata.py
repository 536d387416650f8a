"""Reader for R serialized data (XDR format, versions 2 and 3) and R lazy-load databases.

Enough of the format to read the text data shipped in Debian's r-cran-* packages without R.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# SEXP type codes (R internals, serialize.c) this reader understands.
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP = 0, 1, 2, 3, 4
LANGSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 6, 9, 10, 13, 14, 16, 19
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP = 255, 254, 253, 242, 241
MISSINGARG_SXP, BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP = 251, 250, 249, 248
UNBOUNDVALUE_SXP, ATTRLANGSXP, ATTRLISTSXP = 252, 240, 239
NA_INTEGER = -(2**31)


class RDataError(ValueError):
    """Data that is not R serialization, or uses a feature this reader does not support."""


@dataclass
class RObject:
    """An R value: ``value`` is a list for vectors, a list of (tag, value) pairs for pairlists."""

    rtype: int
    value: Any
    attributes: dict[str, Any] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source, self.refs = data, 0, source, []

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RDataError(f"{self.source}: truncated R serialization at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:
            high, low = self.int(), self.int()
            n = (high << 32) + low
        return n

    def header(self) -> None:
        if self.take(2) != b"X\n":
            raise RDataError(f"{self.source}: not XDR R serialization (expected 'X\\n' header)")
        version = self.int()
        self.int(), self.int()  # writer R version, minimal reader version
        if version == 3:
            self.take(self.int())  # native encoding name
        elif version != 2:
            raise RDataError(f"{self.source}: unsupported serialization version {version}")

    def item(self) -> Any:
        flags = self.int()
        kind = flags & 0xFF
        has_attr, has_tag = bool(flags & 512), bool(flags & 1024)
        if kind in (NILVALUE_SXP, NILSXP, EMPTYENV_SXP, BASEENV_SXP, GLOBALENV_SXP):
            return None
        if kind in (UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP):
            return None
        if kind == REFSXP:
            index = flags >> 8 or self.int()
            if not 1 <= index <= len(self.refs):
                raise RDataError(f"{self.source}: reference {index} to an undefined object")
            return self.refs[index - 1]
        if kind == SYMSXP:
            name = self.item()
            self.refs.append(name)
            return name
        if kind in (NAMESPACESXP, PACKAGESXP):
            self.int()  # zero
            info = self.strings(self.length())
            self.refs.append(info)
            return info
        if kind == ENVSXP:
            env = RObject(ENVSXP, {})
            self.refs.append(env)
            self.int()  # locked
            self.item(), self.item(), self.item()  # enclosure, frame, hash table
            env.attributes = self.attributes(self.item())
            return env
        if kind in (LISTSXP, LANGSXP, CLOSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.pairlist(kind, has_attr, has_tag)
        if kind == CHARSXP:
            n = self.int()
            return None if n == -1 else self.take(n).decode("utf-8", errors="replace")
        if kind in (LGLSXP, INTSXP):
            n = self.length()
            values = list(struct.unpack(f">{n}i", self.take(4 * n)))
            return self.vector(kind, [None if v == NA_INTEGER else v for v in values], has_attr)
        if kind == REALSXP:
            n = self.length()
            return self.vector(kind, list(struct.unpack(f">{n}d", self.take(8 * n))), has_attr)
        if kind == STRSXP:
            return self.vector(kind, self.strings(self.length()), has_attr)
        if kind == VECSXP:
            n = self.length()
            return self.vector(kind, [self.item() for _ in range(n)], has_attr)
        raise RDataError(f"{self.source}: unsupported R object type {kind} at byte {self.pos}")

    def strings(self, n: int) -> list[str | None]:
        return [self.item() for _ in range(n)]

    def vector(self, kind: int, values: list, has_attr: bool) -> RObject:
        attributes = self.attributes(self.item()) if has_attr else {}
        return RObject(kind, values, attributes)

    def pairlist(self, kind: int, has_attr: bool, has_tag: bool) -> RObject:
        """A pairlist as RObject whose value is a list of (tag or None, value) pairs."""
        attributes = self.attributes(self.item()) if has_attr else {}
        tag = self.item() if has_tag else None
        entries = [(tag, self.item())]
        tail = self.item()
        if isinstance(tail, RObject) and tail.rtype == LISTSXP:
            entries.extend(tail.value)
        return RObject(kind, entries, attributes)

    @staticmethod
    def attributes(pairlist: Any) -> dict[str, Any]:
        if not isinstance(pairlist, RObject):
            return {}
        return {tag: value for tag, value in pairlist.value if tag is not None}


def unserialize(data: bytes, source: str = "<bytes>") -> Any:
    """Decode one uncompressed XDR R serialization (``X\\n`` header) into RObject trees."""
    reader = _Reader(data, source)
    reader.header()
    return reader.item()


def read_rds(path: str | Path) -> Any:
    """Read an ``.rds`` file (gzip-compressed or plain serialization)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return unserialize(raw, str(path))


def read_lazyload(prefix: str | Path) -> dict[str, Any]:
    """Read every object of an R lazy-load database ``prefix.rdx`` + ``prefix.rdb``.

    Each ``.rdb`` record is a 4-byte big-endian length then a zlib stream (type 1 compression).
    """
    prefix = Path(prefix)
    index_path, db_path = prefix.with_suffix(".rdx"), prefix.with_suffix(".rdb")
    for path in (index_path, db_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: R data file not found (run local/install.sh)")
    index = read_rds(index_path)
    variables = _named(index)["variables"]
    db = db_path.read_bytes()
    objects = {}
    for name, location in _named(variables).items():
        offset, size = location.value
        record = db[offset : offset + size]
        try:
            payload = zlib.decompress(record[4:])
        except zlib.error as error:
            raise RDataError(f"{db_path}: object '{name}' is not zlib data ({error})") from None
        objects[name] = unserialize(payload, f"{db_path}:{name}")
    return objects


def _named(obj: RObject) -> dict[str, Any]:
    """A named R list (VECSXP with a ``names`` attribute) as a dict."""
    names = obj.attributes.get("names")
    if obj.rtype != VECSXP or names is None:
        raise RDataError("expected a named R list")
    return dict(zip(names.value, obj.value))
