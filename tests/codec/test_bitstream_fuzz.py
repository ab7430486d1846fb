"""Fuzzing: mangled .fcc files and garbage streams end in BitstreamError or a valid result."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensiccodec.codec import bitstream as bs
from forensiccodec.codec import entropy_coding as ec
from forensiccodec.errors import BitstreamError
from forensiccodec.images import ColorMode

torch.set_num_threads(2)

FUZZ = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])


def valid_file(adapter_fingerprint: bytes | None = None) -> bytes:
    """A 1.0 file; a 1.1 one (encoder adapters, one extension record) with an adapter fingerprint."""
    z_shape, y_shape = bs.latent_shapes(130, 70, 4, 8)
    header = bs.FccHeader(
        model_name="tic-tiny",
        quality=1,
        lmbda=0.02,
        weights_fingerprint=b"\xaa" * 8,
        width=130,
        height=70,
        color_mode=ColorMode.GRAY,
        bit_depth=8,
        z_shape=z_shape,
        y_shape=y_shape,
        encoder_adapters=adapter_fingerprint is not None,
        adapter_fingerprint=adapter_fingerprint,
    )
    return bs.write_fcc(bs.FccFile(header, b"zzzz" * 3, b"yyyy" * 10))


VALID = valid_file()
VALID_1_1 = valid_file(adapter_fingerprint=b"\x55" * 8)


def read_or_refuse(data: bytes) -> None:
    try:
        fcc = bs.read_fcc(data)
    except BitstreamError as error:
        assert "\n" not in str(error)
        return
    # whatever parses must be a valid file: the writer accepts it and it reads back the same
    assert bs.read_fcc(bs.write_fcc(fcc)) == fcc


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_files(mutations: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for position, value in mutations:
        data[position] = value
    read_or_refuse(bytes(data))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 5), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_files_with_a_recomputed_crc(mutations: list[tuple[int, int]]) -> None:
    """Past the CRC, so that the field checks themselves are fuzzed."""
    data = bytearray(VALID[:-4])
    for position, value in mutations:
        data[position] = value
    read_or_refuse(bytes(data) + zlib.crc32(data).to_bytes(4, "little"))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID_1_1) - 5), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_1_1_files_with_a_recomputed_crc(mutations: list[tuple[int, int]]) -> None:
    """The same for a file with an extension record: its type, length and value are fuzzed too."""
    data = bytearray(VALID_1_1[:-4])
    for position, value in mutations:
        data[position] = value
    read_or_refuse(bytes(data) + zlib.crc32(data).to_bytes(4, "little"))


@FUZZ
@given(st.integers(0, len(VALID)), st.binary(max_size=64))
def test_truncated_and_extended_files(cut: int, tail: bytes) -> None:
    read_or_refuse(VALID[:cut] + tail)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    read_or_refuse(data)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_behind_the_magic(data: bytes) -> None:
    read_or_refuse(bs.MAGIC + b"\x01\x00" + data)


class LogisticPrior:
    def medians(self) -> torch.Tensor:
        return torch.tensor([0.0, 1.5, -3.0])

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        spreads = torch.tensor([0.3, 2.0, 9.0], dtype=torch.float64)[:, None]
        return torch.sigmoid((x - self.medians().double()[:, None]) / spreads)


@pytest.fixture(scope="module")
def tables() -> ec.EntropyTables:
    return ec.EntropyTables.from_prior(LogisticPrior(), num_scales=64)


def decode_or_refuse(decode, expected_shape: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    try:
        symbols = decode()
    except BitstreamError as error:
        assert "\n" not in str(error)
        return
    assert symbols.shape == expected_shape and symbols.dtype == np.int32


@FUZZ
@given(data=st.binary(max_size=400), seed=st.integers(0, 2**16))
def test_garbage_latent_streams(tables: ec.EntropyTables, data: bytes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    indexes = rng.integers(0, tables.y_scales.size, (3, 4, 5)).astype(np.int32)
    decode_or_refuse(lambda: ec.decode_y(tables, data, indexes), indexes.shape)


@FUZZ
@given(data=st.binary(max_size=400), height=st.integers(0, 4), width=st.integers(0, 4))
def test_garbage_hyperprior_streams(tables: ec.EntropyTables, data: bytes, height: int, width: int) -> None:
    decode_or_refuse(lambda: ec.decode_z(tables, data, (3, height, width)), (3, height, width))


@FUZZ
@given(seed=st.integers(0, 2**16), flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=4))
def test_corrupted_valid_latent_streams(tables: ec.EntropyTables, seed: int, flips: list[int]) -> None:
    rng = np.random.default_rng(seed)
    indexes = rng.integers(0, tables.y_scales.size, (4, 4, 4)).astype(np.int32)
    symbols = rng.integers(-5, 6, indexes.shape).astype(np.int32)
    symbols.flat[0] = 10**6  # an escape, so its payload can be corrupted too
    data = bytearray(ec.encode_y(tables, symbols, indexes))
    for flip in flips:
        data[flip % len(data)] ^= 1 << (flip % 8)
    decode_or_refuse(lambda: ec.decode_y(tables, bytes(data), indexes), indexes.shape)
