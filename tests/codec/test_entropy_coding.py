"""Entropy coding: lossless round trips (escapes included), exact tables, rate overhead."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from forensiccodec.codec import entropy_coding as ec
from forensiccodec.errors import BitstreamError, WeightsError

torch.set_num_threads(2)


class LogisticPrior:
    """A stand-in for the EntropyBottleneck: one logistic density per channel."""

    def __init__(self, channels: int) -> None:
        self.centres = torch.linspace(-2.0, 2.0, channels)
        self.spreads = torch.linspace(0.2, 6.0, channels, dtype=torch.float64)

    def medians(self) -> torch.Tensor:
        return self.centres

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((x - self.centres.double()[:, None]) / self.spreads[:, None])


@pytest.fixture(scope="module")
def tables() -> ec.EntropyTables:
    return ec.EntropyTables.from_prior(LogisticPrior(8))


def ideal_bits(counts: np.ndarray) -> float:
    return float(-np.log2(counts / 2.0**ec.PRECISION).sum())


def y_table_counts(tables: ec.EntropyTables, symbols: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    """The count of each in-table symbol under its table (escapes excluded by the caller)."""
    alphabet = symbols - tables.y_lo[indexes] + 1
    return tables.y_counts[tables.y_bounds[indexes] + alphabet]


def test_every_table_sums_to_the_precision_and_has_no_empty_entry(tables: ec.EntropyTables) -> None:
    for bounds, counts in ((tables.z_bounds, tables.z_counts), (tables.y_bounds, tables.y_counts)):
        sums = np.add.reduceat(counts.astype(np.int64), bounds[:-1])
        assert (sums == 2**ec.PRECISION).all()
        assert counts.min() >= 1
    assert tables.y_scales[0] == ec.MIN_SCALE and tables.y_scales[-1] == ec.MAX_SCALE
    assert tables.y_scales.size == ec.DEFAULT_NUM_SCALES


def test_z_tables_follow_the_prior_spread(tables: ec.EntropyTables) -> None:
    widths = np.diff(tables.z_bounds)
    assert (np.diff(widths) > 0).all()  # spreads increase with the channel index
    # a logistic with spread s leaves 1e-9 / 2 beyond about s * ln(2e9) on each side
    assert -tables.z_lo[-1] == pytest.approx(6.0 * math.log(2e9), rel=0.1)


def test_tables_survive_to_tensors_and_back(tables: ec.EntropyTables) -> None:
    tensors = tables.to_tensors()
    assert all(key.startswith("tables.") for key in tensors)
    assert ec.EntropyTables.from_tensors({**tensors, "g_a.weight": torch.zeros(1)}) == tables


@pytest.mark.parametrize(
    "key, value",
    [
        ("tables.precision", torch.tensor([16], dtype=torch.int32)),
        ("tables.z_counts", None),
        ("tables.y_scales", torch.ones(ec.DEFAULT_NUM_SCALES, dtype=torch.float64)),
        ("tables.z_medians", torch.zeros(3)),
        ("tables.y_bounds", torch.zeros(ec.DEFAULT_NUM_SCALES + 1, dtype=torch.int32)),
        ("tables.z_lo", torch.full((8,), 5, dtype=torch.int32)),
        ("tables.z_counts", "add_one"),
        ("tables.y_counts", "float"),
    ],
)
def test_inconsistent_tables_are_refused(tables: ec.EntropyTables, key: str, value: object) -> None:
    tensors = tables.to_tensors()
    if value is None:
        del tensors[key]
    elif value == "add_one":
        tensors[key] = tensors[key].clone()
        tensors[key][0] += 1
    elif value == "float":
        tensors[key] = tensors[key].double()
    else:
        tensors[key] = value
    with pytest.raises(WeightsError):
        ec.EntropyTables.from_tensors(tensors)


def test_scale_indexes_pick_the_smallest_level_not_below_the_scale(tables: ec.EntropyTables) -> None:
    levels = torch.from_numpy(tables.y_scales)
    scales = torch.cat([levels, levels * 1.0001, torch.tensor([0.0, 0.05, 1e9, float("nan")], dtype=torch.float64)])
    indexes = ec.scale_indexes(tables, scales)
    last = tables.y_scales.size - 1
    expected = np.concatenate(
        [np.arange(last + 1), np.minimum(np.arange(1, last + 2), last), [0, 0, last, last]]
    )
    np.testing.assert_array_equal(indexes, expected)
    assert indexes.dtype == ec.index_dtype(tables) == np.uint8  # 256 levels: one byte each
    # float32 inputs give the same answer as their float64 value
    np.testing.assert_array_equal(ec.scale_indexes(tables, levels.float()), ec.scale_indexes(tables, levels.float().double()))


def test_y_round_trip_with_escapes(tables: ec.EntropyTables) -> None:
    rng = np.random.default_rng(1)
    shape = (16, 12, 20)
    indexes = rng.integers(0, tables.y_scales.size, shape).astype(np.int32)
    symbols = np.round(rng.normal(0, 1, shape) * tables.y_scales[indexes] * 2).astype(np.int32)
    extremes = [10**6, -(10**6), 2**31 - 1, -(2**31), 1, -1, 65537, -65537, 2**16, 2**17 + 3]
    symbols.flat[: len(extremes)] = extremes
    data = ec.encode_y(tables, symbols, indexes)
    np.testing.assert_array_equal(ec.decode_y(tables, data, indexes), symbols)


def test_z_round_trip_with_escapes(tables: ec.EntropyTables) -> None:
    rng = np.random.default_rng(2)
    symbols = rng.integers(-40, 40, (8, 3, 5)).astype(np.int32)
    symbols[0, 0, :3] = [10**6, -(10**6), 2**31 - 1]
    decoded = ec.decode_z(tables, ec.encode_z(tables, symbols), symbols.shape)
    np.testing.assert_array_equal(decoded, symbols)
    assert decoded.dtype == np.int32


def test_empty_arrays_round_trip(tables: ec.EntropyTables) -> None:
    empty = np.zeros((4, 0, 3), dtype=np.int32)
    assert ec.decode_y(tables, ec.encode_y(tables, empty, empty), empty).shape == empty.shape


def test_coded_size_matches_the_information_content_of_the_tables(tables: ec.EntropyTables) -> None:
    rng = np.random.default_rng(3)
    shape = (32, 16, 16)
    scales = torch.exp(torch.from_numpy(rng.uniform(math.log(0.05), math.log(60), shape)))
    indexes = ec.scale_indexes(tables, scales)
    symbols = np.round(rng.normal(0, 1, shape) * scales.numpy()).astype(np.int32)
    lo, hi = tables.y_lo[indexes], -tables.y_lo[indexes]
    symbols = np.clip(symbols, lo, hi)  # keep to in-table symbols: their cost is exact
    bits = ideal_bits(y_table_counts(tables, symbols, indexes))
    coded = 8 * len(ec.encode_y(tables, symbols, indexes))
    assert bits <= coded <= bits * 1.005 + 64


@pytest.mark.parametrize("scale", [0.2, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0, 250.0])
def test_gaussian_symbols_cost_close_to_the_continuous_model(tables: ec.EntropyTables, scale: float) -> None:
    """The basis of 'payload within 0.5% of the model's rate estimate'."""
    rng = np.random.default_rng(int(scale * 10))
    n = 20000
    symbols = np.round(rng.normal(0, scale, n)).astype(np.int32)
    k = torch.from_numpy(symbols.astype(np.float64))
    probabilities = torch.special.ndtr((k + 0.5) / scale) - torch.special.ndtr((k - 0.5) / scale)
    estimate = float(-torch.log2(probabilities).sum())
    indexes = ec.scale_indexes(tables, torch.full((n,), scale, dtype=torch.float64))
    coded = 8 * len(ec.encode_y(tables, symbols, indexes))
    assert coded <= estimate * 1.01 + 64
    assert coded >= estimate * 0.97 - 64  # same information, up to the sample's randomness


def test_round_trip_of_a_large_latent_is_fast(tables: ec.EntropyTables) -> None:
    rng = np.random.default_rng(4)
    shape = (192, 32, 48)  # a 768x512 image's latent: ~300k symbols
    scales = torch.exp(torch.from_numpy(rng.uniform(math.log(0.05), math.log(30), shape)))
    indexes = ec.scale_indexes(tables, scales)
    symbols = np.round(rng.normal(0, 1, shape) * scales.numpy()).astype(np.int32)
    ec.decode_y(tables, ec.encode_y(tables, symbols, indexes), indexes)  # warm the model cache
    start = time.perf_counter()
    decoded = ec.decode_y(tables, ec.encode_y(tables, symbols, indexes), indexes)
    assert time.perf_counter() - start < 2.0  # well under a second on an idle machine
    np.testing.assert_array_equal(decoded, symbols)


def test_corrupt_streams_raise_or_decode_to_the_right_shape(tables: ec.EntropyTables) -> None:
    rng = np.random.default_rng(5)
    indexes = rng.integers(0, tables.y_scales.size, (4, 5, 6)).astype(np.int32)
    symbols = rng.integers(-3, 4, indexes.shape).astype(np.int32)
    data = ec.encode_y(tables, symbols, indexes)
    with pytest.raises(BitstreamError, match="multiple of 4"):
        ec.decode_y(tables, data[:-1], indexes)
    with pytest.raises(BitstreamError, match="left over"):
        ec.decode_y(tables, data + bytes(400), indexes)
    with pytest.raises(BitstreamError):
        ec.decode_z(tables, b"", (7, 2, 2))  # the model has 8 channels


def test_real_factorized_prior_builds_tables() -> None:
    entropy_models = pytest.importorskip("forensiccodec.codec.entropy_models")
    prior = entropy_models.EntropyBottleneck(4)
    built = ec.EntropyTables.from_prior(prior, num_scales=16)
    rng = np.random.default_rng(6)
    symbols = rng.integers(-20, 20, (4, 2, 3)).astype(np.int32)
    np.testing.assert_array_equal(ec.decode_z(built, ec.encode_z(built, symbols), symbols.shape), symbols)
    np.testing.assert_array_equal(built.z_medians, prior.medians().detach().float().numpy())


def _one_pass_stream(tables: ec.EntropyTables, symbols: np.ndarray, indexes: np.ndarray) -> bytes:
    """The y stream as the format defines it, in one pass over the whole latent: every symbol of
    table 0 in raster order, then of table 1, ..., then the escapes' overflows in that order."""
    flat, ids = symbols.reshape(-1).astype(np.int64), indexes.reshape(-1).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    lows, sizes = ec._family(tables, "y")
    lo, size, values = lows[ids[order]], sizes[ids[order]], flat[order]
    letters = np.clip(values - lo + 1, 0, size + 1)
    encoder = ec._RangeEncoder()
    for table in np.unique(ids).tolist():
        encoder.encode(letters[ids[order] == table].astype(np.int32), tables._model("y", table))
    escaped = (letters == 0) | (letters == size + 1)
    overflow = np.where(letters[escaped] == 0, lo[escaped] - 1 - values[escaped], values[escaped] - (lo[escaped] + size[escaped]))
    ec._encode_overflows(encoder, overflow)
    return encoder.get_compressed().astype("<u4").tobytes()


@pytest.mark.parametrize("chunk", [1, 7, 1000, ec.CHUNK_ELEMENTS])
def test_chunked_coding_writes_the_one_pass_stream(tables: ec.EntropyTables, chunk: int) -> None:
    """Coding the latent chunk by chunk (bounded memory) changes no byte of the stream."""
    rng = np.random.default_rng(3)
    shape = (6, 9, 11)
    indexes = rng.integers(0, 40, shape).astype(np.uint8)
    symbols = np.round(rng.normal(0, 1, shape) * tables.y_scales[indexes] * 3).astype(np.int32)
    symbols.flat[[5, 50, 500]] = [10**6, -(10**6), 2**31 - 1]
    stream = ec._encode(tables, "y", symbols, indexes, chunk=chunk)
    assert stream == _one_pass_stream(tables, symbols, indexes)
    decoded = ec._decode(tables, "y", stream, indexes, "latent", chunk=chunk)
    np.testing.assert_array_equal(decoded, symbols)
