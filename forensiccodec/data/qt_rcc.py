"""A reader for Qt's binary resource files (``.rcc``, written by ``rcc -binary``).

GCompris ships its activities' images inside such files. Only what is needed to list and read
the files is implemented; the layout (Qt's ``qresource.cpp``, all integers big-endian) is::

    header   "qres", version (u32), tree offset (u32), data offset (u32), names offset (u32),
             and from version 3 on: overall flags (u32)
    tree     one fixed-size node per file or folder; node 0 is the root folder:
               name offset (u32, into the names section), flags (u16), then
               folder: child count (u32), index of its first child node (u32)
               file:   territory (u16), language (u16), data offset (u32, into the data section)
             and from version 2 on: last-modified time (u64): 14 bytes a node, 22 from version 2
    names    per name: length in UTF-16 code units (u16), hash (u32), the name in UTF-16-BE
    data     per file: payload length (u32), payload. A zlib-compressed payload (flag 0x01) is
             Qt's qCompress format: the uncompressed length (u32), then a zlib stream. A
             zstd-compressed payload (flag 0x04, Qt >= 5.13) is a zstd frame.

Children of a folder are consecutive nodes, sorted by name hash.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forensiccodec.errors import FccError

MAGIC = b"qres"
FLAG_ZLIB = 0x01
FLAG_DIRECTORY = 0x02
FLAG_ZSTD = 0x04


class RccError(FccError):
    """The file is not a Qt resource file this reader understands."""


@dataclass(frozen=True)
class RccEntry:
    """One file of a resource file: its path ("erase/resource/x.webp") and where its data is."""

    path: str
    flags: int
    data_offset: int  # of the payload's length field, from the start of the file

    @property
    def compression(self) -> str:
        return "zstd" if self.flags & FLAG_ZSTD else "zlib" if self.flags & FLAG_ZLIB else "none"


class RccArchive:
    """The files of one ``.rcc`` file, held in memory: ``entries()`` lists them, ``read()``
    returns a file's bytes (zlib decompressed; a zstd one raises :class:`RccError`)."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != MAGIC or len(data) < 20:
            raise RccError("not a Qt resource file (no 'qres' header)")
        self._data = data
        self.version, self._tree, self._payloads, self._names = struct.unpack_from(">IIII", data, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"unsupported Qt resource format version {self.version}")
        self._node_size = 14 if self.version == 1 else 22

    @classmethod
    def open(cls, path: str | Path) -> RccArchive:
        return cls(Path(path).read_bytes())

    def entries(self) -> list[RccEntry]:
        """Every file, depth first from the root folder (whose own name is empty)."""
        try:
            return list(self._walk(0, ""))
        except (struct.error, UnicodeDecodeError) as error:  # offsets past the end, bad names
            raise RccError(f"corrupt resource tree ({error})") from error

    def read(self, entry: RccEntry) -> bytes:
        (length,) = struct.unpack_from(">I", self._data, entry.data_offset)
        payload = self._data[entry.data_offset + 4 : entry.data_offset + 4 + length]
        if entry.compression == "zstd":
            raise RccError(f"{entry.path} is zstd-compressed, which this reader does not decode")
        if entry.compression == "zlib":
            # qCompress prefixes the zlib stream with the uncompressed length (u32, big-endian).
            (expected,) = struct.unpack_from(">I", payload, 0)
            try:
                payload = zlib.decompress(payload[4:])
            except zlib.error as error:
                raise RccError(f"{entry.path}: corrupt zlib data ({error})") from error
            if len(payload) != expected:
                raise RccError(f"{entry.path}: {len(payload)} bytes decompressed, {expected} expected")
        return payload

    def _walk(self, node: int, prefix: str) -> Iterator[RccEntry]:
        offset = self._tree + node * self._node_size
        name_offset, flags = struct.unpack_from(">IH", self._data, offset)
        path = f"{prefix}/{self._name(name_offset)}".lstrip("/") if node else ""
        if flags & FLAG_DIRECTORY:
            count, first_child = struct.unpack_from(">II", self._data, offset + 6)
            if count and first_child <= node:  # children always follow their folder
                raise RccError(f"corrupt resource tree at node {node}")
            for child in range(first_child, first_child + count):
                yield from self._walk(child, path)
        else:
            (data_offset,) = struct.unpack_from(">I", self._data, offset + 10)
            yield RccEntry(path, flags, self._payloads + data_offset)

    def _name(self, name_offset: int) -> str:
        offset = self._names + name_offset
        (length,) = struct.unpack_from(">H", self._data, offset)
        start = offset + 6  # after the length and the 4-byte name hash
        return self._data[start : start + 2 * length].decode("utf-16-be")
