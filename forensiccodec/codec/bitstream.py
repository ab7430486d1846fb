"""The .fcc container: header, two length-prefixed streams, CRC32 (see docs/bitstream.md).

`read_fcc` refuses anything malformed with a one-line `BitstreamError` and validates every
size before anyone allocates from it; `write_fcc` refuses the same headers, so every file
it writes reads back.

Version 1.1 gives the extension area a meaning: a sequence of typed records, the first of
which (type 1) names the adapter weights that wrote a file with encoder adapters. Version 1.2
adds type 2, the tiling a large image was coded with, which its decoder must reproduce. Each file
is written with the oldest version that has its records: without records still 1.0, byte for
byte as before.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from forensiccodec.color_modes import ColorMode
from forensiccodec.errors import BitstreamError

MAGIC = b"\x89FCC\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 2  # the newest minor version this module reads and writes
MINOR_WITHOUT_EXTENSION = 0  # files without extension records stay version 1.0
MINOR_ADAPTER_RECORD = 1  # files whose only record is the adapter fingerprint stay version 1.1

FINGERPRINT_BYTES = 8  # zoo.fingerprint_from_sha256: the first 8 bytes of the sha256
MAX_NAME_BYTES = 64
MAX_PIXELS = 1 << 28  # 268 megapixels: beyond any image the encoder accepts by default
MAX_CHANNELS = 1024
PAD_MULTIPLE = 64  # the codec pads images to multiples of 64
Y_STRIDE, Z_STRIDE = 16, 64  # latent downsampling of y and z
BIT_DEPTHS = (8, 16)

_FLAG_ADAPTERS = 0x01
_KNOWN_FLAGS = _FLAG_ADAPTERS

RECORD_ADAPTER_FINGERPRINT = 1  # extension record types (1.1); readers skip types they do not know
RECORD_TILING = 2  # 1.2: the tiles g_s must run over (tile, overlap in latents, 2 x u16)
TILING_ALIGN = 8  # latents: tile sizes and overlaps are multiples of this (`tiling.ALIGN`)

# version, flags, quality, lambda, fingerprint, width, height, mode, depth, z shape, y shape
_FIXED = struct.Struct(f"<BBBBd{FINGERPRINT_BYTES}sIIBB3H3HB")
_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_RECORD_HEAD = struct.Struct("<BH")  # type, length
_TILING = struct.Struct("<HH")  # tile, overlap (latents)
_RECORD_LENGTHS = {RECORD_ADAPTER_FINGERPRINT: FINGERPRINT_BYTES, RECORD_TILING: _TILING.size}
_RECORD_NAMES = {RECORD_ADAPTER_FINGERPRINT: "adapter fingerprint", RECORD_TILING: "tiling"}
MAX_EXTENSION_BYTES = 0xFFFF
_CRC_BYTES = 4


@dataclass(frozen=True)
class FccHeader:
    """What a decoder needs besides the streams: the model, the rate point, the image."""

    model_name: str
    quality: int
    lmbda: float
    weights_fingerprint: bytes  # FINGERPRINT_BYTES bytes; compared by the caller (zoo)
    width: int
    height: int
    color_mode: ColorMode
    bit_depth: int
    z_shape: tuple[int, int, int]  # (C, h, w)
    y_shape: tuple[int, int, int]  # (M, H, W)
    encoder_adapters: bool = False
    # 1.1: the first 8 bytes of the paper adapter file's sha256; required in a 1.1 file with
    # encoder adapters, absent (None) in 1.0 files, which did not record it
    adapter_fingerprint: bytes | None = None
    # 1.2: (tile, overlap) in latents when the image was coded in tiles, which the decoder must
    # reproduce; None: whole-image synthesis (every file before 1.2)
    tiling: tuple[int, int] | None = None
    # the version of the file read; write_fcc writes 1.1 with extension records, else 1.0
    version_major: int = field(default=FORMAT_MAJOR, compare=False)
    version_minor: int = field(default=FORMAT_MINOR, compare=False)

    def __post_init__(self) -> None:
        # accept the mode as a plain int (as stored), keep it as the enum when it is one
        if not isinstance(self.color_mode, ColorMode) and self.color_mode in ColorMode._value2member_map_:
            object.__setattr__(self, "color_mode", ColorMode(self.color_mode))
        object.__setattr__(self, "z_shape", tuple(self.z_shape))
        object.__setattr__(self, "y_shape", tuple(self.y_shape))
        if self.tiling is not None:
            object.__setattr__(self, "tiling", tuple(self.tiling))


@dataclass(frozen=True)
class FccFile:
    header: FccHeader
    z_stream: bytes
    y_stream: bytes

    @classmethod
    def build(cls, z_stream: bytes, y_stream: bytes, **header_fields: Any) -> FccFile:
        """A file from the header's fields given as keywords, plus the two streams."""
        return cls(FccHeader(**header_fields), bytes(z_stream), bytes(y_stream))


def latent_shapes(
    width: int, height: int, z_channels: int, y_channels: int
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The (z, y) shapes of an image of this size after padding to multiples of 64."""
    padded_h = -(-height // PAD_MULTIPLE) * PAD_MULTIPLE
    padded_w = -(-width // PAD_MULTIPLE) * PAD_MULTIPLE
    return (
        (z_channels, padded_h // Z_STRIDE, padded_w // Z_STRIDE),
        (y_channels, padded_h // Y_STRIDE, padded_w // Y_STRIDE),
    )


def write_fcc(fcc: FccFile) -> bytes:
    """The bytes of an .fcc file; BitstreamError if the header is one a reader would refuse."""
    header = fcc.header
    _check_header(header)
    name = header.model_name.encode("utf-8")
    extension = _build_extension(header)
    for stream in (fcc.z_stream, fcc.y_stream):
        if len(stream) >= 1 << 32:
            raise BitstreamError("stream too long for the .fcc format (4 GiB)")
    parts = [
        MAGIC,
        _FIXED.pack(
            FORMAT_MAJOR,
            _minor_version(header),
            _FLAG_ADAPTERS if header.encoder_adapters else 0,
            header.quality,
            header.lmbda,
            header.weights_fingerprint,
            header.width,
            header.height,
            int(header.color_mode),
            header.bit_depth,
            *header.z_shape,
            *header.y_shape,
            len(name),
        ),
        name,
        _U16.pack(len(extension)),
        extension,
        _U32.pack(len(fcc.z_stream)),
        bytes(fcc.z_stream),
        _U32.pack(len(fcc.y_stream)),
        bytes(fcc.y_stream),
    ]
    body = b"".join(parts)
    return body + _U32.pack(zlib.crc32(body))


def read_fcc(data: bytes) -> FccFile:
    """Parse and validate an .fcc file; every failure is a one-line BitstreamError."""
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(data) and data:
            raise _truncated(len(MAGIC), len(data))
        raise BitstreamError("not an .fcc file (bad magic)")
    reader = _Reader(data, len(MAGIC))
    major, minor = reader.peek(2)
    if major != FORMAT_MAJOR:
        raise BitstreamError(
            f"unsupported .fcc format version {major}.{minor} (this fcc reads {FORMAT_MAJOR}.x)"
        )
    fields = _FIXED.unpack(reader.take(_FIXED.size))
    major, minor, flags, quality, lmbda, fingerprint, width, height, mode, depth = fields[:10]
    z_shape, y_shape, name_length = tuple(fields[10:13]), tuple(fields[13:16]), fields[16]
    raw_name = reader.take(name_length)
    extension = reader.take(_U16.unpack(reader.take(_U16.size))[0])
    z_stream = reader.take(_U32.unpack(reader.take(_U32.size))[0])
    y_stream = reader.take(_U32.unpack(reader.take(_U32.size))[0])
    body_end = reader.position
    (stored_crc,) = _U32.unpack(reader.take(_CRC_BYTES))
    if reader.position != len(data):
        raise BitstreamError(
            f"trailing data after the end of the .fcc file: {len(data) - reader.position} extra bytes"
        )
    if zlib.crc32(data[:body_end]) != stored_crc:
        raise BitstreamError("corrupt .fcc file: CRC mismatch")

    if flags & ~_KNOWN_FLAGS:
        raise BitstreamError(f"corrupt .fcc file: unknown flags 0x{flags:02x}")
    try:
        model_name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError("corrupt .fcc file: model name is not UTF-8") from None
    if mode not in ColorMode._value2member_map_:
        raise BitstreamError(f"corrupt .fcc file: unknown color mode {mode}")
    # 1.0 gave the extension no meaning (its writers leave it empty): skipped, as a 1.0 reader does
    records = _parse_extension(extension) if minor >= 1 else {}
    adapter_fingerprint = records.get(RECORD_ADAPTER_FINGERPRINT)
    tiling = _TILING.unpack(records[RECORD_TILING]) if RECORD_TILING in records else None
    if minor >= 1 and flags & _FLAG_ADAPTERS and adapter_fingerprint is None:
        raise BitstreamError(
            "corrupt .fcc file: encoder adapters flagged, but the adapter fingerprint record is missing"
        )
    header = FccHeader(
        model_name=model_name,
        quality=quality,
        lmbda=lmbda,
        weights_fingerprint=fingerprint,
        width=width,
        height=height,
        color_mode=ColorMode(mode),
        bit_depth=depth,
        z_shape=z_shape,
        y_shape=y_shape,
        encoder_adapters=bool(flags & _FLAG_ADAPTERS),
        adapter_fingerprint=adapter_fingerprint,
        tiling=tiling,
        version_major=major,
        version_minor=minor,
    )
    _check_header(header)
    return FccFile(header, z_stream, y_stream)


def _minor_version(header: FccHeader) -> int:
    """The oldest minor version that has every record the header needs, so that files without
    the newer records stay byte for byte what older writers wrote."""
    if header.tiling is not None:
        return FORMAT_MINOR
    return MINOR_ADAPTER_RECORD if header.adapter_fingerprint is not None else MINOR_WITHOUT_EXTENSION


def _build_extension(header: FccHeader) -> bytes:
    """The extension records a header needs (1.1+); empty when it needs none."""
    records = b""
    if header.adapter_fingerprint is not None:
        records += _RECORD_HEAD.pack(RECORD_ADAPTER_FINGERPRINT, FINGERPRINT_BYTES) + header.adapter_fingerprint
    if header.tiling is not None:
        records += _RECORD_HEAD.pack(RECORD_TILING, _TILING.size) + _TILING.pack(*header.tiling)
    return records


def _parse_extension(extension: bytes) -> dict[int, bytes]:
    """The known records of a 1.1 extension by type; unknown types are skipped, malformed ones refused."""
    records: dict[int, bytes] = {}
    position = 0
    while position < len(extension):
        if position + _RECORD_HEAD.size > len(extension):
            raise BitstreamError(
                f"corrupt .fcc file: extension record header at byte {position} runs past the"
                f" {len(extension)}-byte extension"
            )
        record_type, length = _RECORD_HEAD.unpack_from(extension, position)
        position += _RECORD_HEAD.size
        if position + length > len(extension):
            raise BitstreamError(
                f"corrupt .fcc file: extension record of type {record_type} ({length} bytes) runs past the"
                f" {len(extension)}-byte extension"
            )
        value = extension[position : position + length]
        position += length
        if record_type not in _RECORD_LENGTHS:
            continue  # a later minor version's record: skipped (forward compatibility)
        if record_type in records:
            raise BitstreamError(f"corrupt .fcc file: extension record of type {record_type} appears twice")
        if length != _RECORD_LENGTHS[record_type]:
            raise BitstreamError(
                f"corrupt .fcc file: {_RECORD_NAMES[record_type]} record of {length} bytes"
                f" (expected {_RECORD_LENGTHS[record_type]})"
            )
        records[record_type] = value
    return records


class _Reader:
    """Sequential reads from a byte string that fail as 'truncated', never short."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def peek(self, size: int) -> bytes:
        if self.position + size > len(self.data):
            raise _truncated(self.position + size, len(self.data))
        return self.data[self.position : self.position + size]

    def take(self, size: int) -> bytes:
        chunk = self.peek(size)
        self.position += size
        return chunk


def _truncated(expected: int, got: int) -> BitstreamError:
    return BitstreamError(f"truncated .fcc file: expected at least {expected} bytes, got {got}")


def _check_header(header: FccHeader) -> None:
    """Refuse headers that are malformed or inconsistent (shared by reader and writer)."""

    def refuse(reason: str) -> BitstreamError:
        return BitstreamError(f"corrupt .fcc file: {reason}")

    name = header.model_name.encode("utf-8", errors="replace")
    if not 1 <= len(name) <= MAX_NAME_BYTES or not header.model_name.isprintable():
        raise refuse(f"model name {header.model_name[:MAX_NAME_BYTES]!r} is empty, too long or not printable")
    if not 0 <= header.quality <= 255:
        raise refuse(f"quality {header.quality} does not fit in a byte")
    if not math.isfinite(header.lmbda) or header.lmbda < 0:
        raise refuse(f"lambda {header.lmbda} is not a finite non-negative number")
    if not isinstance(header.weights_fingerprint, bytes) or len(header.weights_fingerprint) != FINGERPRINT_BYTES:
        raise refuse(f"the weights fingerprint must be {FINGERPRINT_BYTES} bytes")
    if header.adapter_fingerprint is not None:
        if not isinstance(header.adapter_fingerprint, bytes) or len(header.adapter_fingerprint) != FINGERPRINT_BYTES:
            raise refuse(f"the adapter fingerprint must be {FINGERPRINT_BYTES} bytes")
        if not header.encoder_adapters:
            raise refuse("an adapter fingerprint without the encoder-adapters flag")
    if header.tiling is not None:
        if len(header.tiling) != 2 or not all(isinstance(v, int) and 0 <= v <= 0xFFFF for v in header.tiling):
            raise refuse(f"tiling {header.tiling} is not two 16-bit numbers")
        tile, overlap = header.tiling
        if tile < TILING_ALIGN or tile % TILING_ALIGN or overlap % TILING_ALIGN:
            raise refuse(f"tiling of {tile}-latent tiles with {overlap} latents of overlap is not on the {TILING_ALIGN}-latent grid")
    if header.width < 1 or header.height < 1 or header.width * header.height > MAX_PIXELS:
        raise refuse(f"image size {header.width}x{header.height} is empty or too large")
    if header.color_mode not in ColorMode._value2member_map_:
        raise refuse(f"unknown color mode {header.color_mode}")
    if header.bit_depth not in BIT_DEPTHS:
        raise refuse(f"bit depth {header.bit_depth} is not 8 or 16")
    if len(header.z_shape) != 3 or len(header.y_shape) != 3:
        raise refuse(f"latent shapes z {header.z_shape}, y {header.y_shape} are not 3-D")
    if max(*header.z_shape, *header.y_shape) > 0xFFFF:
        raise refuse(f"image size {header.width}x{header.height} gives a latent too wide for the format")
    z_channels, y_channels = header.z_shape[0], header.y_shape[0]
    if not (1 <= z_channels <= MAX_CHANNELS and 1 <= y_channels <= MAX_CHANNELS):
        raise refuse(f"latent shape z {header.z_shape}, y {header.y_shape}: channel count out of range")
    expected = latent_shapes(header.width, header.height, z_channels, y_channels)
    if (tuple(header.z_shape), tuple(header.y_shape)) != expected:
        raise refuse(
            f"latent shape z {tuple(header.z_shape)}, y {tuple(header.y_shape)} does not match "
            f"a {header.width}x{header.height} image (expected z {expected[0]}, y {expected[1]})"
        )
