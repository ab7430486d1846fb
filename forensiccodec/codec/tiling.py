"""g_a and g_s over overlapping tiles: the memory of the transforms is set by the tile, not the image.

The image (padded to multiples of 64) is cut on a grid of square tiles in latent units (one latent
is 16 pixels). Each tile runs through the transform together with ``overlap`` latents of context
on every side where the image has them, and only its core is kept. Tile edges lie on multiples of
``ALIGN`` latents, so every Swin stage partitions a tile into windows exactly where it partitions
the whole image; what differs is only the context beyond the overlap and where a shifted window
wraps around, both of which fade within a few windows. The hyperprior (16x and 64x smaller) and the
entropy coding see the whole latent as before.

With the default 8 latents (128 pixels) of overlap, tiled synthesis matches whole-image synthesis
to float rounding (``docs/benchmarks.md``), but not bit for bit, so a file coded with tiles records
its tiling (`bitstream`, record type 2) and every decoder decodes it with that tiling.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UsageError

LATENT_STRIDE = 16  # pixels per latent (g_a's downsampling)
# Latents: the widest window grid of the transforms (window 8 at 1/16 resolution). Tile edges on
# this grid keep every stage's windows where the whole image has them.
ALIGN = 8


@dataclass(frozen=True)
class Tiling:
    """Square tiles of ``tile`` latents with ``overlap`` latents of context on each side."""

    tile: int
    overlap: int

    def __post_init__(self) -> None:
        if self.tile < ALIGN or self.tile % ALIGN:
            raise UsageError(f"tile size must be a positive multiple of {ALIGN} latents ({ALIGN * LATENT_STRIDE} px), got {self.tile}")
        if self.overlap < 0 or self.overlap % ALIGN:
            raise UsageError(f"tile overlap must be a multiple of {ALIGN} latents, got {self.overlap}")

    @property
    def tile_pixels(self) -> int:
        return self.tile * LATENT_STRIDE

    def needed_for(self, latent_height: int, latent_width: int) -> bool:
        """Whether a latent of this size spans more than one tile."""
        return latent_height > self.tile or latent_width > self.tile


# 1024-pixel tiles with 128 pixels of context: tiled synthesis equals whole-image synthesis to
# float rounding at this overlap, and a tile's transform stays near 1 GiB for the paper model.
DEFAULT_TILING = Tiling(tile=64, overlap=8)


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in latents: the kept core [start, stop) inside its context
    [context_start, context_stop)."""

    start: int
    stop: int
    context_start: int
    context_stop: int


def spans(length: int, tiling: Tiling) -> list[Span]:
    """The tiles along an axis of ``length`` latents."""
    result = []
    for start in range(0, length, tiling.tile):
        stop = min(start + tiling.tile, length)
        result.append(Span(start, stop, max(0, start - tiling.overlap), min(length, stop + tiling.overlap)))
    return result


def tiles(height: int, width: int, tiling: Tiling) -> Iterator[tuple[Span, Span]]:
    """Every tile of a height x width latent, row by row."""
    columns = spans(width, tiling)
    for row in spans(height, tiling):
        for column in columns:
            yield row, column


def tile_count(height: int, width: int, tiling: Tiling) -> int:
    return len(spans(height, tiling)) * len(spans(width, tiling))


Progress = Callable[[int, int], None]  # (tiles done, tiles in all)


Region = Callable[[int, int, int, int], Tensor]  # (top, left, height, width) -> pixels [1, 3, h, w]
Sink = Callable[[int, int, Tensor], None]  # (top, left, pixels [1, 3, h, w]) of a decoded tile's core


def tiled_analysis(
    model: torch.nn.Module, region: Region, size: tuple[int, int], tiling: Tiling, progress: Progress | None = None
) -> Tensor:
    """g_a of a padded image of ``size`` (H, W multiples of 64), tile by tile; ``region`` gives
    each tile's pixels (with context), so the whole image never needs to exist as floats."""
    height, width = size
    latent_h, latent_w = height // LATENT_STRIDE, width // LATENT_STRIDE
    out = None
    total = tile_count(latent_h, latent_w, tiling)
    for done, (row, column) in enumerate(tiles(latent_h, latent_w, tiling), start=1):
        s = LATENT_STRIDE
        piece = region(row.context_start * s, column.context_start * s, (row.context_stop - row.context_start) * s,
                       (column.context_stop - column.context_start) * s)
        y = model.analysis(piece)
        if out is None:
            out = y.new_empty(y.shape[0], y.shape[1], latent_h, latent_w)
        out[:, :, row.start : row.stop, column.start : column.stop] = _core(y, row, column)
        if progress is not None:
            progress(done, total)
    assert out is not None
    return out


def tiled_synthesis(
    model: torch.nn.Module,
    y_hat: Tensor,
    tiling: Tiling,
    progress: Progress | None = None,
    sink: Sink | None = None,
    workers: int = 1,
) -> Tensor | None:
    """g_s of y_hat (1, M, h, w), tile by tile: x_hat (1, 3, 16h, 16w), or, with ``sink``, each
    tile's core handed to it as it is made (and None returned). With ``workers`` > 1, that many
    tiles run at once in threads; each tile's result does not depend on which thread ran it, so
    under one intra-op thread (`threads.one_thread`) the output is the same for any ``workers``."""
    _, _, latent_h, latent_w = y_hat.shape
    s = LATENT_STRIDE
    out = None
    total = tile_count(latent_h, latent_w, tiling)

    # Grad and inference modes are per thread: a worker thread takes the caller's.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def synthesise(row: Span, column: Span) -> Tensor:
        piece = y_hat[:, :, row.context_start : row.context_stop, column.context_start : column.context_stop]
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return _core(model.synthesis(piece), row, column, scale=s)

    cores = _in_order(synthesise, tiles(latent_h, latent_w, tiling), workers)
    for done, (row, column, core) in enumerate(cores, start=1):
        if sink is not None:
            sink(row.start * s, column.start * s, core)
        else:
            if out is None:
                out = core.new_empty(core.shape[0], core.shape[1], latent_h * s, latent_w * s)
            out[:, :, row.start * s : row.stop * s, column.start * s : column.stop * s] = core
        if progress is not None:
            progress(done, total)
    return out


def _in_order(
    synthesise: Callable[[Span, Span], Tensor], grid: Iterator[tuple[Span, Span]], workers: int
) -> Iterator[tuple[Span, Span, Tensor]]:
    """Each tile with its result, in grid order; with ``workers`` > 1, that many tiles run at once
    and one more waits, so memory holds ``workers`` tiles' work and not the whole grid's."""
    if workers <= 1:
        for row, column in grid:
            yield row, column, synthesise(row, column)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fcc-tile")
    try:
        pending: deque[tuple[Span, Span, Future[Tensor]]] = deque()
        for row, column in grid:
            pending.append((row, column, pool.submit(synthesise, row, column)))
            if len(pending) > workers:
                first_row, first_column, future = pending.popleft()
                yield first_row, first_column, future.result()
        while pending:
            first_row, first_column, future = pending.popleft()
            yield first_row, first_column, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _core(tensor: Tensor, row: Span, column: Span, scale: int = 1) -> Tensor:
    """The part of a tile's output that lies in its core (``scale``: output units per latent)."""
    top, left = (row.start - row.context_start) * scale, (column.start - column.context_start) * scale
    return tensor[:, :, top : top + (row.stop - row.start) * scale, left : left + (column.stop - column.start) * scale]
