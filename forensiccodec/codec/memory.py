"""How much memory coding an image needs, and a clear refusal before the machine runs out.

The peak resident memory of `pipeline.compress` / `pipeline.decompress` above what the process
already holds (interpreter, torch, the loaded model) has two parts:

- the transforms g_a / g_s, whose largest tensors are the Swin stages at half resolution (width
  N): ``pixels * (fixed + per_channel * N)`` over the pixels one transform call sees, which is
  the whole padded image, or for a tiled image its largest tile with context (`tiling`);
- for a tiled image, what is kept whole, ``pixels * (fixed + per_latent * M)`` over the padded
  image (the latent has M channels per 16x16 pixels): the samples and the latent while the tiles
  run, or, in the entropy-coding phase, the samples and the symbols, indexes and coder work; the
  peak is the larger phase.

Depth and head counts do not enter (blocks run one after the other and free their activations).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError, UsageError
from .config import CONFIGS, TICConfig
from .tiling import ALIGN, DEFAULT_TILING, LATENT_STRIDE, Tiling, spans, tile_count

MEMORY_ENV = "FCC_MAX_MEMORY"
OPERATIONS = ("encode", "decode")
STRIDE = 64  # the pipeline pads both sides to multiples of this


@dataclass(frozen=True)
class PeakFit:
    """peak bytes = constant + padded pixels * (bytes_per_pixel + bytes_per_pixel_per_channel * N)."""

    constant: float
    bytes_per_pixel: float
    bytes_per_pixel_per_channel: float


# Fitted by least squares (`fit_peak_model` in scripts/benchmark.py) to the peaks that
# `scripts/benchmark.py --memory-scan` measured, each in a fresh process (VmHWM after clear_refs
# minus VmRSS once the model and the input are loaded; torch 2.14.1, 2 threads, glibc malloc), for
# the small (N=64) and paper (N=128) configurations at 0.26, 1.1, 2.0 and 4.0 megapixels; the
# points and the fit are in docs/benchmarks.md. Above 1 MP the fit is within 3% of every point.
PEAK_FITS: dict[str, PeakFit] = {
    "encode": PeakFit(
        constant=65.5e6, bytes_per_pixel=7.0, bytes_per_pixel_per_channel=10.11
    ),
    "decode": PeakFit(
        constant=96.6e6, bytes_per_pixel=15.7, bytes_per_pixel_per_channel=9.37
    ),
}
# Below ~1 MP tensors are small enough for malloc's heap, where freed memory is not always
# returned: measured peaks sat up to 100 MiB above the line there.
ALLOCATOR_SLACK = 128 * 2**20
# On top of the fit: run-to-run variation.
HEADROOM = 1.10


@dataclass(frozen=True)
class WholeImageCost:
    """bytes per padded pixel kept for the whole image = fixed + per_latent_channel * M."""

    fixed: float
    per_latent_channel: float


# What a tiled image keeps whole while its tiles run through the transforms, per padded pixel.
# Encoding: the input's samples (3 bytes) and the latent g_a fills in (4 bytes per element, M
# elements per 256 pixels). Decoding: the output's samples, the decoded latent and what the
# allocator keeps of the hyperprior's bands; fitted to tiled runs of the small model (M=96) at
# 12 and 48 megapixels (`scripts/benchmark_large_images.py`, docs/benchmarks.md).
WHOLE_IMAGE_COSTS: dict[str, WholeImageCost] = {
    "encode": WholeImageCost(fixed=3.0, per_latent_channel=4 / 256),
    "decode": WholeImageCost(fixed=3.0, per_latent_channel=0.07),
}
# The entropy-coding phase, after (encoding) or before (decoding) the tiles: the samples, and
# per latent element its symbol, its scale index and the coder's chunked work, about 24 bytes
# (`entropy_coding`); the hyperprior runs in bands whose work does not grow with the image.
CODING_COSTS: dict[str, WholeImageCost] = {
    "encode": WholeImageCost(fixed=3.0, per_latent_channel=24 / 256),
    "decode": WholeImageCost(fixed=3.0, per_latent_channel=24 / 256),
}


# What one tile's transform (with its context) may take when the encoder chooses the tiling: the
# `small` model keeps DEFAULT_TILING's 1024-pixel tiles (about 1.1 GiB), the `paper` model, twice
# as wide, gets 768-pixel ones (about 1.4 GiB), so that with what is kept whole it stays within
# 3 GiB up to 100 megapixels.
TILE_MEMORY_BUDGET = 1.5 * 2**30
AUTO_TILING = "auto"  # the encoder's default: `default_tiling` of the model's configuration


def default_tiling(config: TICConfig) -> Tiling:
    """The tiling an encoder uses unless told otherwise: DEFAULT_TILING's overlap and the largest
    tile, no larger than DEFAULT_TILING's and on the 8-latent grid, whose transform work fits
    TILE_MEMORY_BUDGET (the costlier of encoding and decoding)."""
    overlap = DEFAULT_TILING.overlap
    for tile in range(DEFAULT_TILING.tile, ALIGN - 1, -ALIGN):
        side = (tile + 2 * overlap) * LATENT_STRIDE
        work = max(fit.constant + side * side * (fit.bytes_per_pixel + fit.bytes_per_pixel_per_channel * config.N)
                   for fit in PEAK_FITS.values())
        if work <= TILE_MEMORY_BUDGET:
            return Tiling(tile, overlap)
    return Tiling(ALIGN, overlap)


def resolve_tiling(config: TICConfig, tiling: Tiling | None | str) -> Tiling | None:
    """``tiling`` itself, or for AUTO_TILING the configuration's `default_tiling`."""
    if isinstance(tiling, str):
        if tiling != AUTO_TILING:
            raise ValueError(f"tiling must be a Tiling, None or {AUTO_TILING!r}, got {tiling!r}")
        return default_tiling(config)
    return tiling


class NotEnoughMemoryError(ImageError):
    """Coding this image would need more memory than the machine (or FCC_MAX_MEMORY) allows."""


def transform_pixels(height: int, width: int, tiling: Tiling | None = DEFAULT_TILING) -> int:
    """The most padded pixels one call of g_a or g_s sees: the whole image, or its largest tile
    with context when the image spans more than one tile."""
    latent_h, latent_w = math.ceil(height / STRIDE) * 4, math.ceil(width / STRIDE) * 4
    if tiling is None or not tiling.needed_for(latent_h, latent_w):
        return latent_h * latent_w * LATENT_STRIDE**2
    rows = max(s.context_stop - s.context_start for s in spans(latent_h, tiling))
    columns = max(s.context_stop - s.context_start for s in spans(latent_w, tiling))
    return rows * columns * LATENT_STRIDE**2


def estimate_peak_bytes(
    config: TICConfig,
    height: int,
    width: int,
    operation: str,
    tiling: Tiling | None | str = AUTO_TILING,
    concurrent_tiles: int = 1,
) -> int:
    """Estimated peak memory (bytes) that encoding or decoding a height x width image adds to the
    process, coded with ``tiling`` (the encoder's default; for decoding, what a file records),
    with ``concurrent_tiles`` tiles in the transforms at once (`tiling.tiled_synthesis`)."""
    tiling = resolve_tiling(config, tiling)
    if concurrent_tiles < 1:
        raise ValueError(f"concurrent_tiles must be at least 1, got {concurrent_tiles}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    fit = PEAK_FITS[operation]
    pixels = math.ceil(height / STRIDE) * STRIDE * math.ceil(width / STRIDE) * STRIDE
    per_pixel = fit.bytes_per_pixel + fit.bytes_per_pixel_per_channel * config.N
    transform = fit.constant + transform_pixels(height, width, tiling) * per_pixel
    if transform_pixels(height, width, tiling) >= pixels:  # one call sees it all: the fit covers every phase
        return math.ceil(HEADROOM * max(0.0, transform) + ALLOCATOR_SLACK)
    whole, coding = WHOLE_IMAGE_COSTS[operation], CODING_COSTS[operation]
    tiles_phase = concurrent_tiles * transform + pixels * (whole.fixed + whole.per_latent_channel * config.M)
    coding_phase = fit.constant + pixels * (coding.fixed + coding.per_latent_channel * config.M)
    return math.ceil(HEADROOM * max(tiles_phase, coding_phase) + ALLOCATOR_SLACK)


def concurrent_decode_tiles(
    config: TICConfig, height: int, width: int, tiling: Tiling | None, threads: int, available_bytes: int | None = None
) -> int:
    """How many tiles g_s may decode at once: one per thread the caller allows, no more than the
    image has, and no more than fit in half the available memory beside what is kept whole, so
    that one decode leaves room for others (at least one; whether one fits is `check_fits`'s)."""
    latent_h, latent_w = math.ceil(height / STRIDE) * 4, math.ceil(width / STRIDE) * 4
    if tiling is None or not tiling.needed_for(latent_h, latent_w) or threads <= 1:
        return 1
    most = min(threads, tile_count(latent_h, latent_w, tiling))
    available = available_bytes if available_bytes is not None else available_memory_bytes()
    if available is None:
        return most
    for count in range(most, 1, -1):
        if estimate_peak_bytes(config, height, width, "decode", tiling, concurrent_tiles=count) <= available // 2:
            return count
    return 1


_SIZE_PATTERN = re.compile(
    r"^\s*(\d+(?:\.\d*)?)\s*(?:([kmgt])(i?)b?|b)?\s*$", re.IGNORECASE
)
_UNIT_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_memory_size(text: str) -> int:
    """'24G', '24GiB', '1.5 GiB', '512M' (binary), '24GB' (decimal) or plain bytes -> bytes."""
    match = _SIZE_PATTERN.match(text)
    if match is None:
        raise UsageError(
            f"{MEMORY_ENV} must be a size such as 16GiB, 512M or a number of bytes, got {text!r}"
        )
    number, unit, binary = match.groups()
    if unit is None:
        return int(float(number))
    decimal = text.strip().lower().endswith("b") and not binary  # "GB": powers of 1000
    base = 1000 if decimal else 1024
    return int(float(number) * base ** _UNIT_POWER[unit.lower()])


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, then v1), if it has a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if (
            limit_text == "max" or int(limit_text) >= 1 << 60
        ):  # v1 writes "no limit" as a huge number
            return None
        return max(0, int(limit_text) - usage)
    return None


def available_memory_bytes() -> int | None:
    """FCC_MAX_MEMORY if set, else what the machine (and its cgroup) can still give; None if unknown."""
    override = os.environ.get(MEMORY_ENV)
    if override is not None and override.strip():
        return parse_memory_size(override)
    candidates = [
        b for b in (_meminfo_available(), _cgroup_headroom()) if b is not None
    ]
    return min(candidates) if candidates else None


def format_bytes(count: float) -> str:
    if count >= 10 * 2**30:
        return f"{count / 2**30:.0f} GiB"
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    return f"{count / 2**20:.0f} MiB"


def config_label(config: TICConfig) -> str:
    """'the small model', or the widths of an unnamed configuration."""
    for name, named in CONFIGS.items():
        if named == config:
            return f"the {name} model"
    return f"a TIC model with N={config.N}, M={config.M}"


def check_fits(
    config: TICConfig,
    height: int,
    width: int,
    operation: str,
    available_bytes: int | None = None,
    *,
    label: str | None = None,
    tiling: Tiling | None | str = AUTO_TILING,
) -> int:
    """Raise `NotEnoughMemoryError` if coding the image would not fit in memory; return the estimate.

    `available_bytes` defaults to FCC_MAX_MEMORY or the machine's available memory (see
    `available_memory_bytes`); when neither is known the check passes. `label` (usually the
    file name) starts the message.
    """
    needed = estimate_peak_bytes(config, height, width, operation, tiling)
    from_environment = available_bytes is None and bool(
        os.environ.get(MEMORY_ENV, "").strip()
    )
    available = (
        available_bytes if available_bytes is not None else available_memory_bytes()
    )
    if available is None or needed <= available:
        return needed
    where = (
        f"{MEMORY_ENV} allows {format_bytes(available)}"
        if from_environment
        else f"this machine has {format_bytes(available)} available"
    )
    prefix = f"{label}: " if label else ""
    raise NotEnoughMemoryError(
        f"{prefix}{width}x{height} needs about {format_bytes(needed)} to {operation} with {config_label(config)};"
        f" {where}; set {MEMORY_ENV} (bytes, or e.g. 32GiB) to try anyway, or downscale the image"
    )


__all__ = [
    "AUTO_TILING",
    "MEMORY_ENV",
    "PEAK_FITS",
    "NotEnoughMemoryError",
    "available_memory_bytes",
    "check_fits",
    "concurrent_decode_tiles",
    "default_tiling",
    "estimate_peak_bytes",
    "parse_memory_size",
]
