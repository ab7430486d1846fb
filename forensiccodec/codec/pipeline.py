"""Image tensor ⇄ .fcc: the coding pipeline shared by the CLI, the Python API and the benchmarks.

Encoder and decoder run the same deterministic steps to get the scale indices: ẑ is decoded
exactly (integers plus stored medians), the hyper-synthesis runs in float64, and the indices come
from the integer tables. Only the latent means shift the reconstruction, so a float difference
between machines can move a pixel by rounding at most, never desynchronise the stream.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ..errors import BitstreamError
from ..images import SampleCanvas, crop, pad_to_multiple, padded_size
from . import entropy_coding
from .bitstream import FccFile, FccHeader
from .entropy_coding import EntropyTables
from .hyper_bands import banded_hyper_synthesis
from .memory import AUTO_TILING, concurrent_decode_tiles, resolve_tiling
from .tic import TIC
from .threads import one_thread
from .tiling import DEFAULT_TILING, Progress, Tiling, tiled_analysis, tiled_synthesis

STRIDE = 64  # g_a (16) × h_a (4): the padding the transforms need, nothing more


@dataclass
class Timings:
    """Seconds spent in each part, so that the entropy-coding share can be reported."""

    transforms: float = 0.0
    entropy_coding: float = 0.0

    @property
    def total(self) -> float:
        return self.transforms + self.entropy_coding

    @property
    def entropy_share(self) -> float:
        return self.entropy_coding / self.total if self.total > 0 else 0.0


@dataclass
class CompressedImage:
    z_stream: bytes
    y_stream: bytes
    z_shape: tuple[int, int, int]
    y_shape: tuple[int, int, int]
    estimated_bits: float  # the model's own rate: sum of −log2 likelihoods of ẑ and ŷ
    timings: Timings = field(default_factory=Timings)
    tiling: Tiling | None = None  # the tiles the transforms ran over (None: the whole image)

    @property
    def payload_bytes(self) -> int:
        return len(self.z_stream) + len(self.y_stream)


@dataclass
class DecompressedImage:
    pixels: torch.Tensor | None  # [1, 3, H, W] float32, not clamped; None when pasted into a canvas
    timings: Timings = field(default_factory=Timings)


def _z_symbols(z: torch.Tensor, medians: torch.Tensor) -> torch.Tensor:
    return torch.round(z - medians.view(1, -1, 1, 1)).to(torch.int32)


def tiling_for(height: int, width: int, tiling: Tiling | None = DEFAULT_TILING) -> Tiling | None:
    """The tiling an image of this size is coded with: None (whole) when it fits in one tile."""
    latent_h, latent_w = -(-height // STRIDE) * 4, -(-width // STRIDE) * 4
    return tiling if tiling is not None and tiling.needed_for(latent_h, latent_w) else None


class PixelSource(Protocol):
    """An image that hands out float regions of itself (`images.LoadedImage`): a tiled encoder
    never needs the whole image as floats."""

    height: int
    width: int

    def region(self, top: int, left: int, height: int, width: int) -> torch.Tensor: ...


@torch.inference_mode()
def compress(
    model: TIC, tables: EntropyTables, pixels: torch.Tensor | PixelSource, *,
    tiling: Tiling | None | str = AUTO_TILING, progress: Progress | None = None,
) -> CompressedImage:
    """Code one image, [1, 3, H, W] in [0, 1] or a `PixelSource`, into the hyperprior and latent
    streams; an image larger than one tile of ``tiling`` runs g_a tile by tile (None: whole;
    by default the tiling whose memory suits the model, `memory.default_tiling`)."""
    if isinstance(pixels, torch.Tensor):
        if pixels.dim() != 4 or pixels.shape[0] != 1 or pixels.shape[1] != 3:
            raise ValueError(f"expected a [1, 3, H, W] tensor, got {tuple(pixels.shape)}")
        height, width = pixels.shape[2], pixels.shape[3]
    else:
        height, width = pixels.height, pixels.width
    tiling = tiling_for(height, width, resolve_tiling(model.config, tiling))
    padded_h, padded_w = padded_size(height, width, STRIDE)
    timings = Timings()
    start = time.perf_counter()
    if isinstance(pixels, torch.Tensor):
        padded = pad_to_multiple(pixels.float(), STRIDE)
        region = lambda top, left, h, w: padded[:, :, top : top + h, left : left + w]
    else:
        region = pixels.region
    if tiling is None:
        y = model.analysis(region(0, 0, padded_h, padded_w))
    else:
        y = tiled_analysis(model, region, (padded_h, padded_w), tiling, progress)
    z = model.hyper_analysis(y)
    medians = torch.from_numpy(tables.z_medians).to(z.dtype)
    z_symbols = _z_symbols(z, medians)
    z_hat = z_symbols.to(z.dtype) + medians.view(1, -1, 1, 1)
    # band by band: the float64 scales and means of h_s never exist for the whole latent
    y_symbols = torch.empty(y.shape, dtype=torch.int32)
    indexes = np.empty(y.shape[1:], dtype=entropy_coding.index_dtype(tables))
    estimated_bits = _z_bits(model, z)
    for rows, scales, means in banded_hyper_synthesis(model, z_hat):
        band = y[:, :, rows]
        for first in range(0, y.shape[1], ESTIMATE_CHANNELS):  # by channels: no float64 copy of the band
            part = slice(first, first + ESTIMATE_CHANNELS)
            y_symbols[:, part, rows] = torch.round(band[:, part].double() - means[:, part]).to(torch.int32)
        indexes[:, rows] = entropy_coding.scale_indexes(tables, scales[0])
        estimated_bits += _y_bits(model, band, scales, means)
        del scales, means
    y_shape = tuple(y.shape[1:])
    del y
    timings.transforms += time.perf_counter() - start

    start = time.perf_counter()
    z_stream = entropy_coding.encode_z(tables, z_symbols[0].numpy())
    y_stream = entropy_coding.encode_y(tables, y_symbols[0].numpy(), indexes)
    timings.entropy_coding += time.perf_counter() - start

    return CompressedImage(
        z_stream=z_stream,
        y_stream=y_stream,
        z_shape=tuple(z.shape[1:]),
        y_shape=y_shape,
        estimated_bits=estimated_bits,
        timings=timings,
        tiling=tiling,
    )


# Channels of y whose likelihoods are computed at once: the estimate's temporaries stay a
# fraction of the latent's size, however large the image.
ESTIMATE_CHANNELS = 16


def _z_bits(model: TIC, z: torch.Tensor) -> float:
    """Σ −log2 p over ẑ: the model's own estimate of the hyperprior's size."""
    _, z_likelihoods = model.entropy_bottleneck(z, training=False)
    return float(-torch.log2(z_likelihoods.double()).sum())


def _y_bits(model: TIC, y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor) -> float:
    """Σ −log2 p over ŷ with the continuous scales (not the table's): the model's own estimate."""
    total = torch.zeros((), dtype=torch.float64)
    for first in range(0, y.shape[1], ESTIMATE_CHANNELS):
        part = slice(first, first + ESTIMATE_CHANNELS)
        _, y_likelihoods = model.gaussian_conditional(
            y[:, part], scales[:, part].float(), means[:, part].float(), training=False
        )
        total = total - torch.log2(y_likelihoods.double()).sum()
    return float(total)


@torch.inference_mode()
def decompress(
    model: TIC,
    tables: EntropyTables,
    z_stream: bytes,
    y_stream: bytes,
    z_shape: tuple[int, int, int],
    y_shape: tuple[int, int, int],
    height: int,
    width: int,
    *,
    tiling: Tiling | None = None,
    progress: Progress | None = None,
    canvas: SampleCanvas | None = None,
) -> DecompressedImage:
    """Decode the two streams back to pixels of the original size; with ``tiling`` (what the
    file records), g_s runs over those tiles, as the encoder expects, as many at once as the
    caller's torch threads and the free memory allow (`memory.concurrent_decode_tiles`). With
    ``canvas``, each tile is quantised into it as it is made (no float image of the whole)."""
    expected_y = (model.config.M, math.ceil(height / STRIDE) * 4, math.ceil(width / STRIDE) * 4)
    expected_z = (model.config.N, expected_y[1] // 4, expected_y[2] // 4)
    if tuple(y_shape) != expected_y or tuple(z_shape) != expected_z:
        raise BitstreamError(
            f"latent shapes {tuple(z_shape)}/{tuple(y_shape)} do not fit a {width}x{height} image for this model"
        )
    # Every kernel below runs at one intra-op thread (`threads`); the caller's threads go to
    # decoding tiles side by side instead, which leaves each tile's pixels as they are.
    workers = concurrent_decode_tiles(model.config, height, width, tiling, torch.get_num_threads())
    timings = Timings()
    start = time.perf_counter()
    z_symbols = entropy_coding.decode_z(tables, z_stream, z_shape)
    timings.entropy_coding += time.perf_counter() - start

    start = time.perf_counter()
    medians = torch.from_numpy(tables.z_medians).float()
    z_hat = torch.from_numpy(np.ascontiguousarray(z_symbols)).float()[None] + medians.view(1, -1, 1, 1)
    # h_s runs twice, band by band (`hyper_bands`): first for the scale indexes the latent
    # stream needs, then for the means; no float64 tensor of the whole latent is ever kept
    indexes = np.empty(expected_y, dtype=entropy_coding.index_dtype(tables))
    with one_thread():  # the same pixels with any thread count (`threads`)
        for rows, scales, _ in banded_hyper_synthesis(model, z_hat):
            indexes[:, rows] = entropy_coding.scale_indexes(tables, scales[0])
    timings.transforms += time.perf_counter() - start

    start = time.perf_counter()
    y_symbols = torch.from_numpy(entropy_coding.decode_y(tables, y_stream, indexes))
    del indexes
    timings.entropy_coding += time.perf_counter() - start

    start = time.perf_counter()
    y_hat = torch.empty((1, *expected_y), dtype=torch.float32)
    with one_thread():
        for rows, _, means in banded_hyper_synthesis(model, z_hat):
            y_hat[0, :, rows] = (y_symbols[:, rows].double() + means[0]).float()
        del y_symbols
        if tiling is None:
            pixels = crop(model.synthesis(y_hat), height, width)
        else:
            sink = _canvas_sink(canvas, height, width) if canvas is not None else None
            pixels = tiled_synthesis(model, y_hat, tiling, progress, sink, workers=workers)
            pixels = crop(pixels, height, width) if pixels is not None else None
    if canvas is not None and pixels is not None:
        canvas.paste(0, 0, pixels)
        pixels = None
    timings.transforms += time.perf_counter() - start
    return DecompressedImage(pixels=pixels, timings=timings)


def _canvas_sink(canvas: SampleCanvas, height: int, width: int):  # type: ignore[no-untyped-def]
    """A tile sink that pastes the part of each decoded tile inside the original image."""

    def paste(top: int, left: int, tile: torch.Tensor) -> None:
        if top < height and left < width:
            canvas.paste(top, left, tile[:, :, : height - top, : width - left])

    return paste


def decompress_fcc(
    model: TIC, tables: EntropyTables, fcc: FccFile, progress: Progress | None = None,
    canvas: SampleCanvas | None = None,
) -> DecompressedImage:
    """Decode a parsed .fcc file with the model and tables that wrote it, over the tiles it records."""
    header = fcc.header
    tiling = Tiling(*header.tiling) if header.tiling is not None else None
    return decompress(
        model, tables, fcc.z_stream, fcc.y_stream, header.z_shape, header.y_shape, header.height, header.width,
        tiling=tiling, progress=progress, canvas=canvas,
    )


__all__ = ["STRIDE", "CompressedImage", "DecompressedImage", "FccFile", "FccHeader", "Tiling", "Timings", "compress", "decompress", "decompress_fcc", "tiling_for"]
