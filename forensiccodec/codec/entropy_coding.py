"""Entropy coding of the hyperprior z and the latent y with constriction's range coder.

Decoding must never depend on floats that the encoder and the decoder could compute
differently, so every probability the coder sees comes from integer tables that are built
once, when weights are exported, and stored with them (`EntropyTables.to_tensors`):

* z: one table per channel, over the symbols ``round(z - median)`` in ``[lo_c, hi_c]``,
  from the factorized prior's CDF. The medians are stored too (float32), so both ends
  rebuild ``z_hat = symbol + median`` from identical numbers.
* y: one table per level of a fixed, log-spaced scale table, for a zero-mean Gaussian
  discretized at the integers. ``symbol = round(y - mean)`` is coded with the table of the
  smallest level >= the predicted scale (`scale_indexes`); the mean only shifts the
  reconstruction.

Every table is a list of non-negative integer counts summing to ``2**PRECISION`` in the
alphabet ``[ESCAPE_LOW, lo, ..., hi, ESCAPE_HIGH]``, each count >= 1. A symbol outside
``[lo, hi]`` is coded as the escape on its side followed by its overflow magnitude in an
Elias-gamma-like code (bit length with a uniform model, then the bits), so that any int32
symbol round-trips.

Exactness: constriction's ``Categorical(p, perfect=False)`` quantizes a float table with
``left_cdf[i] = floor(sum(p[:i]) * (2**24 - n) / sum(p)) + i``. We pass ``p = counts - 1``
(integers, exact in float64), whose sum is exactly ``2**24 - n``, so the scale factor is
exactly 1.0 and the model constriction builds is exactly our integer table, identical on
every machine. ``PRECISION`` is therefore constriction's own 24 bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import constriction
import numpy as np
import torch

from forensiccodec.errors import BitstreamError, WeightsError

PRECISION = 24  # constriction's fixed-point precision for its default (32-bit word) coders
TABLES_FORMAT = 1  # bumped when the stored layout of the tables changes

MIN_SCALE = 0.11  # GaussianConditional's scale bound: smaller scales use the first level
MAX_SCALE = 256.0
DEFAULT_NUM_SCALES = 256  # levels 3% apart: scale quantization costs < 0.03% of the rate for s >= 0.3
TAIL_MASS = 1e-9  # probability left outside each table (both sides together), escaped
MAX_Z_HALF_WIDTH = 1 << 14  # widest z table: a prior wider than this escapes its tails
MAX_TABLE_ENTRIES = 1 << 22  # sanity bound on stored tables (refused when loading)

_ESCAPE_LENGTH_ALPHABET = 32  # bit lengths 1..32 of (overflow + 1), coded as length - 1
_CHUNK_BITS = 16  # escape payload bits per uniform symbol (a power of two divides 2**24)

_Categorical = constriction.stream.model.Categorical
_Uniform = constriction.stream.model.Uniform
_RangeEncoder = constriction.stream.queue.RangeEncoder
_RangeDecoder = constriction.stream.queue.RangeDecoder


class FactorizedPriorLike(Protocol):
    """What the z tables need from `entropy_models.FactorizedPrior`."""

    def medians(self) -> torch.Tensor: ...

    def cdf(self, x: torch.Tensor) -> torch.Tensor: ...


def integer_pmf(probabilities: np.ndarray) -> np.ndarray:
    """Counts >= 1 summing to ``2**PRECISION``, proportional to ``probabilities``.

    Every entry first gets 1; the remaining mass is split by the largest-remainder method.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    n = p.size
    free = (1 << PRECISION) - n
    if n < 2 or free <= 0 or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"cannot build an integer table from {n} probabilities")
    share = p / p.sum() * free
    counts = np.floor(share).astype(np.int64)
    remainder = free - int(counts.sum())
    # largest fractional parts first; stable sort keeps ties deterministic
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:remainder]] += 1
    return counts + 1


def _gaussian_table(scale: float) -> np.ndarray:
    """Counts for [escape, -t..t, escape] of N(0, scale) discretized at the integers."""
    half_width = max(1, math.ceil(_tail_sigmas() * scale))
    edges = torch.arange(-half_width - 0.5, half_width + 1.0, 1.0, dtype=torch.float64)
    edge_cdf = torch.special.ndtr(edges / scale).numpy()
    # the upper tail by symmetry: 1 - cdf would lose the tiny mass to rounding
    tail = edge_cdf[0]
    return integer_pmf(np.concatenate([[tail], np.diff(edge_cdf), [tail]]))


def _tail_sigmas() -> float:
    """Half-width of a y table in units of its scale: leaves TAIL_MASS outside."""
    return float(-torch.special.ndtri(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))


def default_scale_table(num_scales: int = DEFAULT_NUM_SCALES) -> np.ndarray:
    """Log-spaced scales from MIN_SCALE to MAX_SCALE (both exact), float64."""
    scales = np.exp(np.linspace(math.log(MIN_SCALE), math.log(MAX_SCALE), num_scales))
    scales[0], scales[-1] = MIN_SCALE, MAX_SCALE
    return scales


def _z_tables(prior: FactorizedPriorLike) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Medians (float32), lowest in-table symbol per channel, and the per-channel counts."""
    with torch.no_grad():
        medians = prior.medians().detach().reshape(-1).to(torch.float32).cpu()
        centre = medians.to(torch.float64)[:, None]
        half_tail = TAIL_MASS / 2

        def cdf(x: torch.Tensor) -> np.ndarray:
            return prior.cdf(x).detach().to(torch.float64).cpu().numpy()

        # widen a symmetric window until every channel's tails are below TAIL_MASS / 2
        half_width = 8
        while half_width < MAX_Z_HALF_WIDTH:
            ends = torch.tensor([-half_width - 0.5, half_width + 0.5], dtype=torch.float64)
            edge_cdf = cdf(centre + ends)
            if (edge_cdf[:, 0] <= half_tail).all() and (1 - edge_cdf[:, 1] <= half_tail).all():
                break
            half_width *= 2
        edges = torch.arange(-half_width - 0.5, half_width + 1.0, 1.0, dtype=torch.float64)
        edge_cdf = cdf(centre + edges)  # (C, 2K + 2): edge j is k_j - 0.5 with k_j = j - K

    lows, tables = [], []
    for row in edge_cdf:
        # lo: the largest k <= 0 whose lower tail cdf(k - .5) is small enough; hi likewise
        below = np.nonzero(row[: half_width + 1] <= half_tail)[0]
        lo_edge = below[-1] if below.size else 0
        above = np.nonzero(1 - row[half_width + 1 :] <= half_tail)[0]
        hi_edge = half_width + 1 + (above[0] if above.size else half_width)
        inside = np.diff(row[lo_edge : hi_edge + 1])
        tails = [row[lo_edge], 1 - row[hi_edge]]
        lows.append(lo_edge - half_width)
        tables.append(integer_pmf(np.concatenate([[tails[0]], inside, [tails[1]]])))
    return medians.numpy(), np.asarray(lows, dtype=np.int32), tables


def _concatenate(tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.zeros(len(tables) + 1, dtype=np.int32)
    bounds[1:] = np.cumsum([t.size for t in tables])
    return bounds, np.concatenate(tables).astype(np.int32)


@dataclass(eq=False)
class EntropyTables:
    """The integer tables decoding depends on; fixed when weights are exported.

    Tables of one family are stored concatenated: table ``i`` is
    ``counts[bounds[i]:bounds[i + 1]]`` over ``[escape, lo_i, ..., hi_i, escape]``.
    """

    z_medians: np.ndarray  # float32 (C,): z_hat = symbol + median
    z_lo: np.ndarray  # int32 (C,): lowest in-table z symbol per channel
    z_bounds: np.ndarray  # int32 (C + 1,)
    z_counts: np.ndarray  # int32
    y_scales: np.ndarray  # float64 (L,), strictly increasing
    y_bounds: np.ndarray  # int32 (L + 1,); table l covers [-t_l, t_l]
    y_counts: np.ndarray  # int32
    _models: dict[tuple[str, int], Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_model(cls, model: Any, num_scales: int = DEFAULT_NUM_SCALES) -> EntropyTables:
        """Tables for a TIC model (uses ``model.entropy_bottleneck``)."""
        return cls.from_prior(model.entropy_bottleneck, num_scales)

    @classmethod
    def from_prior(
        cls, prior: FactorizedPriorLike, num_scales: int = DEFAULT_NUM_SCALES
    ) -> EntropyTables:
        medians, z_lo, z_tables = _z_tables(prior)
        scales = default_scale_table(num_scales)
        z_bounds, z_counts = _concatenate(z_tables)
        y_bounds, y_counts = _concatenate([_gaussian_table(float(s)) for s in scales])
        return cls(medians, z_lo, z_bounds, z_counts, scales, y_bounds, y_counts)

    @property
    def z_channels(self) -> int:
        return int(self.z_medians.size)

    @property
    def y_lo(self) -> np.ndarray:
        """Lowest in-table y symbol per level (tables are symmetric)."""
        return (-(np.diff(self.y_bounds) - 3) // 2).astype(np.int32)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The tables as tensors for a safetensors file, keys prefixed ``tables.``."""
        arrays = {
            "format": np.array([TABLES_FORMAT], dtype=np.int32),
            "precision": np.array([PRECISION], dtype=np.int32),
            **{name: getattr(self, name) for name in _ARRAY_DTYPES},
        }
        return {f"tables.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> EntropyTables:
        """Tables from ``to_tensors`` output (extra keys are ignored); WeightsError if invalid."""
        arrays = {}
        for name in ("format", "precision", *_ARRAY_DTYPES):
            key = f"tables.{name}"
            if key not in tensors:
                raise WeightsError(f"weights lack the entropy table '{key}'")
            arrays[name] = tensors[key].detach().cpu().numpy()
        if arrays["format"].tolist() != [TABLES_FORMAT]:
            raise WeightsError(f"unsupported entropy table format {arrays['format'].tolist()}")
        if arrays["precision"].tolist() != [PRECISION]:
            raise WeightsError(f"entropy tables have precision {arrays['precision'].tolist()}")
        for name, dtype in _ARRAY_DTYPES.items():
            if arrays[name].dtype != dtype or arrays[name].ndim != 1:
                raise WeightsError(f"entropy table '{name}' must be a 1-D {dtype} array")
        tables = cls(**{name: arrays[name].copy() for name in _ARRAY_DTYPES})
        tables._validate()
        return tables

    def _validate(self) -> None:
        channels, levels = self.z_medians.size, self.y_scales.size
        if channels < 1 or self.z_lo.size != channels or self.z_bounds.size != channels + 1:
            raise WeightsError("entropy tables: z arrays have inconsistent lengths")
        if levels < 1 or self.y_bounds.size != levels + 1:
            raise WeightsError("entropy tables: y arrays have inconsistent lengths")
        if not np.isfinite(self.z_medians).all():
            raise WeightsError("entropy tables: z medians are not finite")
        scales_ok = np.isfinite(self.y_scales).all() and (self.y_scales > 0).all()
        if not scales_ok or (np.diff(self.y_scales) <= 0).any():
            raise WeightsError("entropy tables: y scales must be positive and increasing")
        _validate_family("z", self.z_bounds, self.z_counts)
        _validate_family("y", self.y_bounds, self.y_counts)
        z_sizes = np.diff(self.z_bounds).astype(np.int64) - 2
        if (self.z_lo > 0).any() or (self.z_lo.astype(np.int64) + z_sizes - 1 < 0).any():
            raise WeightsError("entropy tables: a z table does not contain the symbol 0")
        if (np.diff(self.y_bounds) % 2 == 0).any():
            raise WeightsError("entropy tables: a y table is not symmetric")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntropyTables):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, name), getattr(other, name)) for name in _ARRAY_DTYPES
        )

    def _model(self, family: str, index: int) -> Any:
        """constriction's exact copy of table ``index`` (see the module docstring), cached."""
        key = (family, index)
        if key not in self._models:
            bounds, counts = (
                (self.z_bounds, self.z_counts) if family == "z" else (self.y_bounds, self.y_counts)
            )
            table = counts[bounds[index] : bounds[index + 1]].astype(np.float64) - 1.0
            self._models[key] = _Categorical(table, perfect=False)
        return self._models[key]


_ARRAY_DTYPES = {
    "z_medians": np.dtype(np.float32),
    "z_lo": np.dtype(np.int32),
    "z_bounds": np.dtype(np.int32),
    "z_counts": np.dtype(np.int32),
    "y_scales": np.dtype(np.float64),
    "y_bounds": np.dtype(np.int32),
    "y_counts": np.dtype(np.int32),
}


def _validate_family(family: str, bounds: np.ndarray, counts: np.ndarray) -> None:
    sizes = np.diff(bounds.astype(np.int64))
    if bounds[0] != 0 or bounds[-1] != counts.size or (sizes < 3).any():
        raise WeightsError(f"entropy tables: {family} table bounds are inconsistent")
    if counts.size > MAX_TABLE_ENTRIES or (counts < 1).any():
        raise WeightsError(f"entropy tables: {family} tables are too large or have empty entries")
    sums = np.add.reduceat(counts.astype(np.int64), bounds[:-1].astype(np.int64))
    if (sums != 1 << PRECISION).any():
        raise WeightsError(f"entropy tables: a {family} table does not sum to 2**{PRECISION}")


def scale_indexes(tables: EntropyTables, scales: torch.Tensor) -> np.ndarray:
    """Per element, the index of the smallest table scale >= max(scale, first scale), in
    `index_dtype`.

    Scales above the last level (and NaN) use the last level. Comparisons are exact in
    float64, so identical scales give identical indexes on every machine.
    """
    values = scales.detach().cpu().to(torch.float64).numpy()
    indexes = np.searchsorted(tables.y_scales, values, side="left")
    return np.minimum(indexes, tables.y_scales.size - 1).astype(index_dtype(tables))


def encode_z(tables: EntropyTables, symbols: np.ndarray) -> bytes:
    """The hyperprior stream for ``symbols = round(z - median)`` of shape (C, h, w)."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 3 or symbols.shape[0] != tables.z_channels:
        raise ValueError(f"z symbols of shape {symbols.shape} do not match {tables.z_channels} channels")
    return _encode(tables, "z", symbols, _channel_ids(symbols.shape))


def decode_z(tables: EntropyTables, data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of `encode_z`; BitstreamError if ``data`` cannot be a z stream."""
    if len(shape) != 3 or shape[0] != tables.z_channels:
        raise BitstreamError(f"z shape {tuple(shape)} does not match the model's {tables.z_channels} channels")
    return _decode(tables, "z", data, _channel_ids(tuple(shape)), "hyperprior")


def encode_y(tables: EntropyTables, symbols: np.ndarray, indexes: np.ndarray) -> bytes:
    """The latent stream for ``symbols = round(y - mean)`` with per-element table indexes."""
    symbols, indexes = np.asarray(symbols), np.asarray(indexes)
    if symbols.shape != indexes.shape:
        raise ValueError(f"y symbols {symbols.shape} and indexes {indexes.shape} differ in shape")
    return _encode(tables, "y", symbols, _checked_levels(tables, indexes))


def decode_y(tables: EntropyTables, data: bytes, indexes: np.ndarray) -> np.ndarray:
    """Inverse of `encode_y`; BitstreamError if ``data`` cannot be a y stream."""
    indexes = np.asarray(indexes)
    return _decode(tables, "y", data, _checked_levels(tables, indexes), "latent")


def index_dtype(tables: EntropyTables) -> np.dtype:
    """The smallest integer type that holds every y table index (one byte for 256 levels)."""
    return np.dtype(np.uint8) if tables.y_scales.size <= 256 else np.dtype(np.int32)


def _channel_ids(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(shape[0], dtype=np.int32)[:, None, None], shape)


def _checked_levels(tables: EntropyTables, indexes: np.ndarray) -> np.ndarray:
    if not np.issubdtype(indexes.dtype, np.integer):
        raise ValueError(f"scale indexes must be integers, got {indexes.dtype}")
    if indexes.size and (indexes.min() < 0 or indexes.max() >= tables.y_scales.size):
        raise ValueError("scale indexes outside the scale table")
    return indexes


def _family(tables: EntropyTables, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(lowest in-table symbol, number of in-table symbols) per table, as int64."""
    bounds = tables.z_bounds if family == "z" else tables.y_bounds
    lows = tables.z_lo if family == "z" else tables.y_lo
    return lows.astype(np.int64), np.diff(bounds.astype(np.int64)) - 2


# The stream holds every symbol of table 0 (in raster order), then of table 1, and so on, then
# the escapes' overflows in the same order. Both ends walk the latent in chunks of this many
# elements, so their temporaries stay a few bytes per symbol of one chunk however large the
# image; the stream is the same as one pass over the whole latent would give.
CHUNK_ELEMENTS = 1 << 20


def _chunks_by_table(table_ids: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray, list[tuple[int, int, int]]]]:
    """For each chunk of the flattened ``table_ids``: its start, the stable order that groups its
    elements by table, and (table, start, count) per group."""
    flat = np.ravel(table_ids)  # a view, except for z's broadcast channel ids (a small copy)
    for start in range(0, flat.size, chunk):
        ids = flat[start : start + chunk]
        order = np.argsort(ids, kind="stable")
        tables_in_chunk, starts, counts = np.unique(ids[order], return_index=True, return_counts=True)
        yield start, order, list(zip(tables_in_chunk.tolist(), starts.tolist(), counts.tolist()))


def _encode(tables: EntropyTables, family: str, symbols: np.ndarray, table_ids: np.ndarray,
            chunk: int = CHUNK_ELEMENTS) -> bytes:
    if not np.issubdtype(symbols.dtype, np.integer):
        raise ValueError(f"symbols must be integers, got {symbols.dtype}")
    flat = np.ascontiguousarray(symbols).reshape(-1)
    if flat.size and (flat.min() < -(1 << 31) or flat.max() >= 1 << 31):
        raise ValueError("symbols must fit in int32")
    lows, sizes = _family(tables, family)
    # alphabet index: 0 = escape below lo, 1..size = in table, size + 1 = escape above hi
    alphabet: list[list[np.ndarray]] = [[] for _ in range(lows.size)]
    overflows: list[list[np.ndarray]] = [[] for _ in range(lows.size)]
    for start, order, groups in _chunks_by_table(table_ids, chunk):
        values = flat[start : start + order.size].astype(np.int64)[order]
        for table, first, count in groups:
            group = values[first : first + count]
            lo, size = lows[table], sizes[table]
            letters = np.clip(group - lo + 1, 0, size + 1)
            alphabet[table].append(letters.astype(np.int32))
            escaped = (letters == 0) | (letters == size + 1)
            if escaped.any():
                outside = group[escaped]
                overflows[table].append(np.where(letters[escaped] == 0, lo - 1 - outside, outside - (lo + size)))
    encoder = _RangeEncoder()
    for table, pieces in enumerate(alphabet):
        for piece in pieces:  # one table's symbols in several calls: the same stream as in one
            encoder.encode(piece, tables._model(family, table))
        alphabet[table] = []
    escaped_values = [piece for pieces in overflows for piece in pieces]
    _encode_overflows(encoder, np.concatenate(escaped_values) if escaped_values else np.zeros(0, np.int64))
    return encoder.get_compressed().astype("<u4").tobytes()


def _decode(tables: EntropyTables, family: str, data: bytes, table_ids: np.ndarray, what: str,
            chunk: int = CHUNK_ELEMENTS) -> np.ndarray:
    if len(data) % 4:
        raise BitstreamError(f"corrupt {what} stream: length {len(data)} is not a multiple of 4")
    lows, sizes = _family(tables, family)
    counts = np.bincount(np.ravel(table_ids), minlength=lows.size)
    used = np.flatnonzero(counts).tolist()
    letters: dict[int, np.ndarray] = {}
    # constriction may raise on data no encoder produced; that is a corrupt stream here
    try:
        decoder = _RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        for table in used:
            letters[table] = np.asarray(decoder.decode(tables._model(family, table), int(counts[table])), dtype=np.int32)
        escapes = {t: np.flatnonzero((letters[t] == 0) | (letters[t] == sizes[t] + 1)) for t in used}
        overflow = _decode_overflows(decoder, sum(e.size for e in escapes.values()))
        exhausted = decoder.maybe_exhausted()
    except Exception as error:
        raise BitstreamError(f"corrupt {what} stream: {error}".splitlines()[0]) from error
    if not exhausted:
        raise BitstreamError(f"corrupt {what} stream: data left over after the last symbol")

    values: dict[int, np.ndarray] = {}
    taken = 0
    for table in used:  # letters to symbols, table by table (the overflows come in that order)
        lo, size, where = lows[table], sizes[table], escapes[table]
        symbols = letters.pop(table).astype(np.int64) - 1 + lo
        if where.size:
            below = symbols[where] == lo - 1
            extra = overflow[taken : taken + where.size]
            taken += where.size
            symbols[where] = np.where(below, lo - 1 - extra, lo + size + extra)
            if symbols[where].min() < -(1 << 31) or symbols[where].max() >= 1 << 31:
                raise BitstreamError(f"corrupt {what} stream: a symbol does not fit in 32 bits")
        values[table] = symbols.astype(np.int32)
    output = np.empty(table_ids.size, dtype=np.int32)
    cursors = dict.fromkeys(used, 0)
    for start, order, groups in _chunks_by_table(table_ids, chunk):
        for table, first, count in groups:
            output[start + order[first : first + count]] = values[table][cursors[table] : cursors[table] + count]
            cursors[table] += count
    return output.reshape(table_ids.shape)


def _encode_overflows(encoder: Any, overflow: np.ndarray) -> None:
    """Elias-gamma-like code of non-negative overflows: bit length, then the lower bits."""
    if not overflow.size:
        return
    value = overflow + 1  # >= 1, < 2**32
    bits = np.floor(np.log2(value.astype(np.float64))).astype(np.int64)
    # log2 in float can be off by one near powers of two: fix exactly in integers
    bits -= (np.left_shift(1, bits) > value).astype(np.int64)
    bits += (np.left_shift(1, bits + 1) <= value).astype(np.int64)
    encoder.encode(bits.astype(np.int32), _Uniform(_ESCAPE_LENGTH_ALPHABET))
    for nbits in np.unique(bits):
        if nbits == 0:
            continue
        payload = value[bits == nbits] - (1 << int(nbits))
        for shift, width in _chunks(int(nbits)):
            chunk = (payload >> shift) & ((1 << width) - 1)
            encoder.encode(chunk.astype(np.int32), _Uniform(1 << width))


def _decode_overflows(decoder: Any, count: int) -> np.ndarray:
    if not count:
        return np.zeros(0, dtype=np.int64)
    bits = decoder.decode(_Uniform(_ESCAPE_LENGTH_ALPHABET), count).astype(np.int64)
    value = np.left_shift(np.int64(1), bits)
    for nbits in np.unique(bits):
        if nbits == 0:
            continue
        where = bits == nbits
        payload = np.zeros(int(where.sum()), dtype=np.int64)
        for shift, width in _chunks(int(nbits)):
            chunk = decoder.decode(_Uniform(1 << width), payload.size).astype(np.int64)
            payload |= chunk << shift
        value[where] += payload
    return value - 1


def _chunks(nbits: int) -> list[tuple[int, int]]:
    """(shift, width) pieces of an ``nbits``-bit payload, high piece first."""
    pieces = []
    for shift in range(0, nbits, _CHUNK_BITS):
        pieces.append((shift, min(_CHUNK_BITS, nbits - shift)))
    return pieces[::-1]
