"""Just enough of the Parquet format to check a local-explanation sample without pyarrow on the
server: the row count and the flat column schema, read from the file footer.

A Parquet file ends with ``<FileMetaData (Thrift compact protocol)><4-byte little-endian length>PAR1``
and starts with ``PAR1``. ``FileMetaData`` field 2 is the schema (a list of ``SchemaElement``: field 1
physical type, 4 name, 5 num_children) and field 3 ``num_rows`` (i64). This is a generic compact
protocol reader (fields are decoded or skipped by type), bounded in depth and size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import InvalidArgument

MAGIC = b"PAR1"
PHYSICAL = {
    0: "BOOLEAN",
    1: "INT32",
    2: "INT64",
    3: "INT96",
    4: "FLOAT",
    5: "DOUBLE",
    6: "BYTE_ARRAY",
    7: "FIXED_LEN_BYTE_ARRAY",
}
_MAX_DEPTH = 32


@dataclass(frozen=True)
class Column:
    name: str
    physical: str | None  # None for a group (nested) column
    children: int


@dataclass(frozen=True)
class Footer:
    num_rows: int
    columns: list[Column]  # the root's direct children, in order


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise ValueError("truncated")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError("truncated")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def value(self, t: int, depth: int) -> object:
        if depth > _MAX_DEPTH:
            raise ValueError("too deeply nested")
        if t in (1, 2):  # bool inside a struct header: the type is the value
            return t == 1
        if t == 3:
            return self.take(1)[0]
        if t in (4, 5, 6):
            return self.zigzag()
        if t == 7:
            return struct.unpack("<d", self.take(8))[0]
        if t == 8:
            return self.take(self.varint())
        if t in (9, 10):
            head = self.byte()
            size, et = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return [self.byte() == 1 if et in (1, 2) else self.value(et, depth + 1) for _ in range(size)]
        if t == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.value(kv >> 4, depth + 1)
                    self.value(kv & 0x0F, depth + 1)
            return None
        if t == 12:
            return self.struct(depth + 1)
        raise ValueError(f"unknown compact type {t}")

    def struct(self, depth: int = 0) -> dict[int, object]:
        out: dict[int, object] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return out
            delta, t = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            out[fid] = self.value(t, depth)
            last = fid


def read_footer(data: bytes) -> Footer:
    """Row count and top-level columns of a Parquet file in memory; 400 if it is not one."""
    if len(data) < 12 or data[:4] != MAGIC or data[-4:] != MAGIC:
        raise InvalidArgument("The local explanation sample must be a Parquet file", {"field": "body"})
    (length,) = struct.unpack("<I", data[-8:-4])
    if length <= 0 or length > len(data) - 12:
        raise InvalidArgument("The Parquet footer length is invalid", {"field": "body"})
    try:
        meta = _Reader(data[-8 - length : -8]).struct()
        rows = meta[3]
        schema = meta[2]
        assert isinstance(rows, int) and isinstance(schema, list) and schema
        elements = [e for e in schema if isinstance(e, dict)]
        root_children = int(elements[0].get(5) or 0)  # type: ignore[call-overload]
        cols = []
        i = 1
        for _ in range(root_children):
            e = elements[i]
            children = int(e.get(5) or 0)  # type: ignore[call-overload]
            name = e[4].decode("utf-8") if isinstance(e.get(4), bytes) else ""
            cols.append(Column(name, None if children else PHYSICAL.get(e.get(1)), children))  # type: ignore[arg-type]
            i += 1 + _subtree(elements, i) if children else 1
    except (ValueError, KeyError, IndexError, AssertionError, UnicodeDecodeError, TypeError):
        raise InvalidArgument("The Parquet footer could not be read", {"field": "body"}) from None
    return Footer(rows, cols)


def _subtree(elements: list[dict[int, object]], i: int) -> int:
    """How many elements follow element ``i`` as its descendants."""
    n = 0
    for _ in range(int(elements[i].get(5) or 0)):  # type: ignore[call-overload]
        n += 1 + _subtree(elements, i + 1 + n)
    return n
