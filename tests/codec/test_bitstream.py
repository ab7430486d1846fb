"""The .fcc container: round trip, the documented layout, and every refusal."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest

from forensiccodec.codec import bitstream as bs
from forensiccodec.errors import BitstreamError
from forensiccodec.images import ColorMode


def make_header(**changes: object) -> bs.FccHeader:
    z_shape, y_shape = bs.latent_shapes(768, 500, 128, 192)
    header = bs.FccHeader(
        model_name="tic-small",
        quality=2,
        lmbda=0.03,
        weights_fingerprint=bytes(range(8)),
        width=768,
        height=500,
        color_mode=ColorMode.RGB_ALPHA_DROPPED,
        bit_depth=16,
        z_shape=z_shape,
        y_shape=y_shape,
        encoder_adapters=True,
    )
    return dataclasses.replace(header, **changes)


def make_file(**changes: object) -> bs.FccFile:
    return bs.FccFile(make_header(**changes), z_stream=b"\x01\x02\x03\x04", y_stream=bytes(range(40)))


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip() -> None:
    fcc = make_file()
    read = bs.read_fcc(bs.write_fcc(fcc))
    assert read == fcc
    assert (read.header.version_major, read.header.version_minor) == (1, 0)
    assert read.header.color_mode is ColorMode.RGB_ALPHA_DROPPED


def test_build_takes_the_header_fields_as_keywords() -> None:
    header = make_header()
    fields = {f.name: getattr(header, f.name) for f in dataclasses.fields(header)}
    fields["color_mode"] = int(header.color_mode)  # a plain int is accepted
    fcc = bs.FccFile.build(z_stream=b"\x01\x02\x03\x04", y_stream=bytes(range(40)), **fields)
    assert fcc == make_file()


def test_round_trip_of_empty_streams_and_no_adapters() -> None:
    fcc = bs.FccFile(make_header(encoder_adapters=False, color_mode=ColorMode.GRAY, bit_depth=8), b"", b"")
    assert bs.read_fcc(bs.write_fcc(fcc)) == fcc


def test_layout_matches_the_spec() -> None:
    data = bs.write_fcc(make_file())
    name = b"tic-small"
    assert data[:8] == b"\x89FCC\r\n\x1a\n"
    assert data[8:12] == bytes([1, 0, 1, 2])  # version 1.0, adapters flag, quality 2
    assert struct.unpack_from("<d", data, 12)[0] == 0.03
    assert data[20:28] == bytes(range(8))
    assert struct.unpack_from("<IIBB3H3HB", data, 28) == (768, 500, 2, 16, 128, 8, 12, 192, 32, 48, len(name))
    assert data[51 : 51 + len(name)] == name
    assert len(data) == 65 + len(name) + 4 + 40
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])


def test_latent_shapes_follow_the_padding() -> None:
    assert bs.latent_shapes(768, 512, 128, 192) == ((128, 8, 12), (192, 32, 48))
    assert bs.latent_shapes(1, 65, 3, 4) == ((3, 2, 1), (4, 8, 4))


def test_bad_magic() -> None:
    with pytest.raises(BitstreamError, match=r"^not an \.fcc file \(bad magic\)$"):
        bs.read_fcc(b"\x89PNG\r\n\x1a\n" + bytes(100))
    # text-mode mangling of the line endings breaks the magic
    data = bs.write_fcc(make_file()).replace(b"\r\n", b"\n", 1)
    with pytest.raises(BitstreamError, match="bad magic"):
        bs.read_fcc(data)
    with pytest.raises(BitstreamError, match="bad magic"):
        bs.read_fcc(b"")


def test_unknown_major_version_is_refused_and_minor_versions_are_read() -> None:
    data = bytearray(bs.write_fcc(make_file()))
    data[8] = 2
    with pytest.raises(BitstreamError, match=r"unsupported \.fcc format version 2\.0 \(this fcc reads 1\.x\)"):
        bs.read_fcc(with_crc(bytes(data[:-4])))
    data[8], data[9] = 1, 7
    header = bs.read_fcc(with_crc(bytes(data[:-4]))).header
    assert header == make_header() and header.version_minor == 7


def test_a_later_minor_version_extension_is_skipped() -> None:
    data = bs.write_fcc(make_file())
    extension_at = 51 + len(b"tic-small")
    extension = b"future header data"
    body = (
        data[:9] + b"\x03" + data[10:extension_at]
        + struct.pack("<H", len(extension)) + extension
        + data[extension_at + 2 : -4]
    )
    assert bs.read_fcc(with_crc(body)) == make_file()


@pytest.mark.parametrize("cut", [1, 4, 5, 20, 60, 70, 90])
def test_truncated_files_are_refused(cut: int) -> None:
    data = bs.write_fcc(make_file())
    with pytest.raises(BitstreamError, match=r"^truncated \.fcc file: expected at least \d+ bytes, got \d+$"):
        bs.read_fcc(data[: len(data) - cut])


def test_trailing_data_is_refused() -> None:
    with pytest.raises(BitstreamError, match="trailing data"):
        bs.read_fcc(bs.write_fcc(make_file()) + b"\0")


@pytest.mark.parametrize("position", [10, 13, 30, 45, 76, 100])  # not in a length field
def test_flipped_bits_fail_the_crc(position: int) -> None:
    data = bytearray(bs.write_fcc(make_file()))
    data[position] ^= 0x10
    with pytest.raises(BitstreamError, match=r"^corrupt \.fcc file: CRC mismatch$"):
        bs.read_fcc(bytes(data))


@pytest.mark.parametrize(
    "offset, value, message",
    [
        (10, 0x02, "unknown flags"),
        (36, 9, "color mode"),
        (37, 12, "bit depth"),
        (28, 0, "image size"),
        (44, 0, "channel count"),
        (40, 9, "does not match"),
        (51, 0xFF, "not UTF-8"),
        (51, 0x07, "not printable"),
    ],
)
def test_inconsistent_fields_are_refused(offset: int, value: int, message: str) -> None:
    data = bytearray(bs.write_fcc(make_file()))
    if offset == 28:
        data[28:32] = bytes(4)
    elif offset in (40, 44):
        data[offset : offset + 2] = struct.pack("<H", value)
    else:
        data[offset] = value
    with pytest.raises(BitstreamError, match=message):
        bs.read_fcc(with_crc(bytes(data[:-4])))


def test_absurd_image_size_is_refused_before_anything_is_allocated() -> None:
    data = bytearray(bs.write_fcc(make_file()))
    data[28:36] = struct.pack("<II", 100_000, 100_000)
    with pytest.raises(BitstreamError, match="too large"):
        bs.read_fcc(with_crc(bytes(data[:-4])))


@pytest.mark.parametrize(
    "changes",
    [
        {"model_name": ""},
        {"model_name": "x" * 65},
        {"model_name": "a\nb"},
        {"quality": 256},
        {"lmbda": float("nan")},
        {"lmbda": -1.0},
        {"weights_fingerprint": b"short"},
        {"bit_depth": 10},
        {"width": 0},
        {"y_shape": (192, 32, 47)},
        {"z_shape": (0, 8, 12)},
        {"width": 1 << 22, "height": 1},
    ],
)
def test_writer_refuses_what_a_reader_would_refuse(changes: dict) -> None:
    with pytest.raises(BitstreamError):
        bs.write_fcc(make_file(**changes))


def test_messages_are_one_line() -> None:
    with pytest.raises(BitstreamError) as error:
        bs.write_fcc(make_file(model_name="a\nb"))
    assert "\n" not in str(error.value)
