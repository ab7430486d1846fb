"""The .fcc container: round trip, the documented layout (1.0 and 1.1), and every refusal."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest

from forensiccodec.codec import bitstream as bs
from forensiccodec.errors import BitstreamError
from forensiccodec.images import ColorMode

ADAPTER_FINGERPRINT = bytes(range(100, 108))
NAME = b"tic-small"
EXTENSION_AT = 51 + len(NAME)  # the extension length field


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
        adapter_fingerprint=ADAPTER_FINGERPRINT,
    )
    return dataclasses.replace(header, **changes)


def make_file(**changes: object) -> bs.FccFile:
    return bs.FccFile(make_header(**changes), z_stream=b"\x01\x02\x03\x04", y_stream=bytes(range(40)))


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def with_extension(extension: bytes, minor: int = 1, **changes: object) -> bytes:
    """A file of make_file(**changes) without the adapter record, with this extension and minor version."""
    data = bs.write_fcc(make_file(adapter_fingerprint=None, **changes))
    assert data[EXTENSION_AT : EXTENSION_AT + 2] == b"\0\0"
    body = (
        data[:9] + bytes([minor]) + data[10:EXTENSION_AT]
        + struct.pack("<H", len(extension)) + extension
        + data[EXTENSION_AT + 2 : -4]
    )
    return with_crc(body)


def record(record_type: int, value: bytes) -> bytes:
    return struct.pack("<BH", record_type, len(value)) + value


def test_round_trip() -> None:
    fcc = make_file()
    read = bs.read_fcc(bs.write_fcc(fcc))
    assert read == fcc and read.header.adapter_fingerprint == ADAPTER_FINGERPRINT
    assert (read.header.version_major, read.header.version_minor) == (1, 1)
    assert read.header.color_mode is ColorMode.RGB_ALPHA_DROPPED


def test_build_takes_the_header_fields_as_keywords() -> None:
    header = make_header()
    fields = {f.name: getattr(header, f.name) for f in dataclasses.fields(header)}
    fields["color_mode"] = int(header.color_mode)  # a plain int is accepted
    fcc = bs.FccFile.build(z_stream=b"\x01\x02\x03\x04", y_stream=bytes(range(40)), **fields)
    assert fcc == make_file()


def test_round_trip_of_empty_streams_and_no_adapters() -> None:
    header = make_header(encoder_adapters=False, adapter_fingerprint=None, color_mode=ColorMode.GRAY, bit_depth=8)
    fcc = bs.FccFile(header, b"", b"")
    read = bs.read_fcc(bs.write_fcc(fcc))
    assert read == fcc and read.header.version_minor == 0 and read.header.adapter_fingerprint is None


# written by the 1.0 writer (before 1.1 existed) for golden_file(): a file without adapters, then one
# with the encoder-adapters flag
GOLDEN_1_0 = (
    (
        "894643430d0a1a0a010000030ad7a3703d0aa73f0123456789abcdef82000000460000000008040002000300080008000c"
        "00087469632d74696e790000020000007a7a03000000797979e999099c"
    ),
    (
        "894643430d0a1a0a010001030ad7a3703d0aa73f0123456789abcdef82000000460000000008040002000300080008000c"
        "00087469632d74696e790000020000007a7a030000007979797cb43c13"
    ),
)


def golden_file(encoder_adapters: bool, adapter_fingerprint: bytes | None = None) -> bs.FccFile:
    z_shape, y_shape = bs.latent_shapes(130, 70, 4, 8)
    header = bs.FccHeader(
        model_name="tic-tiny", quality=3, lmbda=0.045, weights_fingerprint=bytes.fromhex("0123456789abcdef"),
        width=130, height=70, color_mode=ColorMode.RGB, bit_depth=8, z_shape=z_shape, y_shape=y_shape,
        encoder_adapters=encoder_adapters, adapter_fingerprint=adapter_fingerprint,
    )
    return bs.FccFile(header, b"zz", b"yyy")


def test_files_without_adapters_are_byte_for_byte_what_the_1_0_writer_wrote() -> None:
    assert bs.write_fcc(golden_file(False)).hex() == GOLDEN_1_0[0]


def test_files_of_the_1_0_writer_still_read() -> None:
    for golden, flagged in zip(GOLDEN_1_0, (False, True)):
        header = bs.read_fcc(bytes.fromhex(golden)).header
        assert header == golden_file(flagged).header
        assert (header.version_minor, header.adapter_fingerprint, header.encoder_adapters) == (0, None, flagged)
    # and a flagged header without a fingerprint is still written as that 1.0 file
    assert bs.write_fcc(golden_file(True)).hex() == GOLDEN_1_0[1]


def test_the_adapter_fingerprint_makes_a_1_1_file_with_one_record() -> None:
    fingerprint = bytes.fromhex("fedcba9876543210")
    data = bs.write_fcc(golden_file(True, fingerprint))
    old = bytes.fromhex(GOLDEN_1_0[1])
    at = 51 + len(b"tic-tiny")
    extension = b"\x01\x08\x00" + fingerprint  # type 1, length 8, value
    assert data[9] == 1 and data[:9] == old[:9] and data[10:at] == old[10:at]
    assert data[at : at + 2 + len(extension)] == struct.pack("<H", len(extension)) + extension
    assert data[at + 2 + len(extension) : -4] == old[at + 2 : -4]
    assert len(data) == len(old) + len(extension)
    assert bs.read_fcc(data).header.adapter_fingerprint == fingerprint


def test_layout_matches_the_spec() -> None:
    data = bs.write_fcc(make_file())
    name = NAME
    assert data[:8] == b"\x89FCC\r\n\x1a\n"
    assert data[8:12] == bytes([1, 1, 1, 2])  # version 1.1, adapters flag, quality 2
    assert struct.unpack_from("<d", data, 12)[0] == 0.03
    assert data[20:28] == bytes(range(8))
    assert struct.unpack_from("<IIBB3H3HB", data, 28) == (768, 500, 2, 16, 128, 8, 12, 192, 32, 48, len(name))
    assert data[51 : 51 + len(name)] == name
    assert data[EXTENSION_AT : EXTENSION_AT + 2 + 11] == b"\x0b\x00" + b"\x01\x08\x00" + ADAPTER_FINGERPRINT
    assert len(data) == 65 + len(name) + 11 + 4 + 40
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
    data[8], data[9] = 2, 0
    with pytest.raises(BitstreamError, match=r"unsupported \.fcc format version 2\.0 \(this fcc reads 1\.x\)"):
        bs.read_fcc(with_crc(bytes(data[:-4])))
    data[8], data[9] = 1, 7
    header = bs.read_fcc(with_crc(bytes(data[:-4]))).header
    assert header == make_header() and header.version_minor == 7


def test_unknown_records_of_a_later_minor_version_are_skipped() -> None:
    extension = record(7, b"future header data") + record(1, ADAPTER_FINGERPRINT) + record(200, b"") + record(0, b"x")
    read = bs.read_fcc(with_extension(extension, minor=3))
    assert read == make_file() and read.header.version_minor == 3


def test_a_1_0_extension_is_skipped_unread() -> None:
    """1.0 gave the extension no meaning: whatever a 1.0 file holds there is skipped, as before."""
    read = bs.read_fcc(with_extension(b"\x01\xff\xff not records", minor=0))
    assert read == make_file(adapter_fingerprint=None) and read.header.version_minor == 0


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (b"\x07", r"record header at byte 0 runs past the 1-byte extension"),
        (record(7, b"abc") + b"\x01\x08", r"record header at byte 6 runs past the 8-byte extension"),
        (b"\x07\x05\x00abc", r"record of type 7 \(5 bytes\) runs past the 6-byte extension"),
        (record(1, ADAPTER_FINGERPRINT)[:-1], r"record of type 1 \(8 bytes\) runs past"),
        (record(1, b"short"), r"adapter fingerprint record of 5 bytes \(expected 8\)"),
        (record(1, ADAPTER_FINGERPRINT) * 2, r"record of type 1 appears twice"),
        (b"", r"encoder adapters flagged, but the adapter fingerprint record is missing"),
        (record(9, b"only unknown records"), r"adapter fingerprint record is missing"),
    ],
)
def test_malformed_extensions_are_refused(extension: bytes, message: str) -> None:
    with pytest.raises(BitstreamError, match=r"^corrupt \.fcc file: .*" + message) as error:
        bs.read_fcc(with_extension(extension))
    assert "\n" not in str(error.value)


def test_an_adapter_fingerprint_without_the_flag_is_refused() -> None:
    with pytest.raises(BitstreamError, match="without the encoder-adapters flag"):
        bs.read_fcc(with_extension(record(1, ADAPTER_FINGERPRINT), encoder_adapters=False))
    with pytest.raises(BitstreamError, match="without the encoder-adapters flag"):
        bs.write_fcc(make_file(encoder_adapters=False))


def test_a_corrupted_extension_fails_the_crc_first() -> None:
    data = bytearray(bs.write_fcc(make_file()))
    data[EXTENSION_AT + 3] = 0xFF  # the record's length
    with pytest.raises(BitstreamError, match=r"^corrupt \.fcc file: CRC mismatch$"):
        bs.read_fcc(bytes(data))


@pytest.mark.parametrize("cut", [1, 4, 5, 20, 60, 70, 90])
def test_truncated_files_are_refused(cut: int) -> None:
    data = bs.write_fcc(make_file())
    with pytest.raises(BitstreamError, match=r"^truncated \.fcc file: expected at least \d+ bytes, got \d+$"):
        bs.read_fcc(data[: len(data) - cut])


def test_trailing_data_is_refused() -> None:
    with pytest.raises(BitstreamError, match="trailing data"):
        bs.read_fcc(bs.write_fcc(make_file()) + b"\0")


@pytest.mark.parametrize("position", [10, 13, 30, 45, 62, 70, 100])  # not in a length field
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
        {"adapter_fingerprint": b"short"},
        {"adapter_fingerprint": "0123456789abcdef"},
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


def test_a_tiling_record_makes_a_1_2_file_and_reads_back() -> None:
    tiled = make_file(tiling=(64, 8))
    data = bs.write_fcc(tiled)
    assert data[9] == 2
    assert data[EXTENSION_AT : EXTENSION_AT + 2 + 18] == (
        b"\x12\x00" + b"\x01\x08\x00" + ADAPTER_FINGERPRINT + b"\x02\x04\x00" + struct.pack("<HH", 64, 8)
    )
    read = bs.read_fcc(data)
    assert read == tiled and read.header.tiling == (64, 8) and read.header.version_minor == 2
    # without encoder adapters the tiling record is the only one
    alone = bs.read_fcc(bs.write_fcc(make_file(encoder_adapters=False, adapter_fingerprint=None, tiling=(16, 0))))
    assert alone.header.tiling == (16, 0) and alone.header.adapter_fingerprint is None
    # files without tiling keep their old versions and bytes
    assert bs.write_fcc(make_file())[9] == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (struct.pack("<H", 64), r"tiling record of 2 bytes \(expected 4\)"),
        (struct.pack("<HH", 12, 8), r"not on the 8-latent grid"),
        (struct.pack("<HH", 64, 4), r"not on the 8-latent grid"),
        (struct.pack("<HH", 0, 0), r"not on the 8-latent grid"),
    ],
)
def test_malformed_tiling_records_are_refused(value: bytes, message: str) -> None:
    extension = record(1, ADAPTER_FINGERPRINT) + record(2, value)
    with pytest.raises(BitstreamError, match=r"^corrupt \.fcc file: .*" + message):
        bs.read_fcc(with_extension(extension, minor=2))
