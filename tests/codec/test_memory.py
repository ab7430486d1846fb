"""The memory estimate and the refusal of images that would not fit."""

from __future__ import annotations

import itertools

import pytest

from forensiccodec.codec import memory
from forensiccodec.codec.config import CONFIGS
from forensiccodec.errors import FccError, ImageError, UsageError

SIZES = [(64, 64), (512, 768), (1080, 1920), (3000, 4000), (6000, 8000)]


@pytest.mark.parametrize("operation", memory.OPERATIONS)
def test_estimate_grows_with_size_and_width(operation: str) -> None:
    for name in ("tiny", "small", "paper"):
        estimates = [
            memory.estimate_peak_bytes(CONFIGS[name], h, w, operation) for h, w in SIZES
        ]
        assert all(a < b for a, b in itertools.pairwise(estimates)), (name, estimates)
        assert estimates[0] > 0
    for h, w in SIZES[1:]:
        tiny, small, paper = (
            memory.estimate_peak_bytes(CONFIGS[n], h, w, operation)
            for n in ("tiny", "small", "paper")
        )
        assert tiny <= small < paper


def test_estimate_counts_the_padding_to_64() -> None:
    config = CONFIGS["small"]
    assert memory.estimate_peak_bytes(
        config, 449, 577, "encode"
    ) == memory.estimate_peak_bytes(config, 512, 640, "encode")
    assert memory.estimate_peak_bytes(
        config, 448, 576, "encode"
    ) < memory.estimate_peak_bytes(config, 449, 576, "encode")


def test_estimate_rejects_unknown_operation() -> None:
    with pytest.raises(ValueError):
        memory.estimate_peak_bytes(CONFIGS["small"], 64, 64, "train")


def test_check_fits_refuses_with_low_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.MEMORY_ENV, "1M")
    with pytest.raises(memory.NotEnoughMemoryError) as raised:
        memory.check_fits(CONFIGS["small"], 6000, 8000, "encode", label="photo.png")
    message = str(raised.value)
    assert isinstance(raised.value, ImageError) and isinstance(raised.value, FccError)
    assert "\n" not in message
    assert message.startswith("photo.png: 8000x6000 needs about ")
    assert "to encode with the small model" in message
    assert "FCC_MAX_MEMORY allows 1 MiB" in message


def test_check_fits_refuses_with_explicit_budget() -> None:
    with pytest.raises(
        memory.NotEnoughMemoryError,
        match="to decode with the paper model; this machine has",
    ):
        memory.check_fits(CONFIGS["paper"], 6000, 8000, "decode", available_bytes=2**30)


def test_check_fits_accepts_small_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memory.MEMORY_ENV, raising=False)
    for operation in memory.OPERATIONS:
        needed = memory.check_fits(CONFIGS["small"], 256, 256, operation)
        assert needed == memory.estimate_peak_bytes(
            CONFIGS["small"], 256, 256, operation
        )
        assert needed < 2**30
    monkeypatch.setenv(memory.MEMORY_ENV, "64GiB")
    memory.check_fits(CONFIGS["small"], 1080, 1920, "encode")


def test_available_memory_is_known_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memory.MEMORY_ENV, raising=False)
    available = memory.available_memory_bytes()
    assert available is not None and available > 0
    monkeypatch.setenv(memory.MEMORY_ENV, "3GiB")
    assert memory.available_memory_bytes() == 3 * 2**30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1073741824", 2**30),
        ("512M", 512 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("2 gib", 2 * 2**30),
        ("2GB", 2 * 10**9),
        ("100b", 100),
    ],
)
def test_parse_memory_size(text: str, expected: int) -> None:
    assert memory.parse_memory_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "1X", "", "G"])
def test_parse_memory_size_refuses_nonsense(text: str) -> None:
    with pytest.raises(UsageError, match="FCC_MAX_MEMORY"):
        memory.parse_memory_size(text)


def test_tiles_bound_the_transform_memory():
    from forensiccodec.codec.memory import estimate_peak_bytes, transform_pixels
    from forensiccodec.codec.tiling import Tiling

    tiling = Tiling(64, 8)  # 1024-pixel tiles, 128 pixels of context
    assert transform_pixels(768, 512, tiling) == 768 * 512  # one tile: the whole image
    assert transform_pixels(6000, 8000, tiling) == (1024 + 256) ** 2  # an interior tile with context
    assert transform_pixels(6000, 8000, None) == 6016 * 8000
    small = CONFIGS["small"]
    tiled = estimate_peak_bytes(small, 6000, 8000, "decode", tiling)
    whole = estimate_peak_bytes(small, 6000, 8000, "decode", None)
    assert tiled < whole / 5
    # an image within one tile is estimated as before tiling existed
    assert estimate_peak_bytes(small, 512, 768, "encode", tiling) == estimate_peak_bytes(small, 512, 768, "encode", None)
    # beyond one tile the estimate still grows with the image (what is kept whole)
    assert estimate_peak_bytes(small, 12000, 8000, "encode", tiling) > estimate_peak_bytes(small, 6000, 8000, "encode", tiling)


def test_the_default_tiling_keeps_a_tiles_transform_within_budget() -> None:
    from forensiccodec.codec.memory import (
        PEAK_FITS,
        TILE_MEMORY_BUDGET,
        default_tiling,
        resolve_tiling,
    )
    from forensiccodec.codec.tiling import DEFAULT_TILING, LATENT_STRIDE, Tiling

    assert default_tiling(CONFIGS["small"]) == DEFAULT_TILING  # 1024-pixel tiles, as ever
    paper = default_tiling(CONFIGS["paper"])
    assert paper.overlap == DEFAULT_TILING.overlap and paper.tile < DEFAULT_TILING.tile
    for config in (CONFIGS["small"], CONFIGS["paper"]):
        tiling = default_tiling(config)
        for tile in (tiling.tile, tiling.tile + 8):  # the chosen tile fits, the next larger one does not
            side = (tile + 2 * tiling.overlap) * LATENT_STRIDE
            work = max(f.constant + side * side * (f.bytes_per_pixel + f.bytes_per_pixel_per_channel * config.N)
                       for f in PEAK_FITS.values())
            assert (work <= TILE_MEMORY_BUDGET) == (tile == tiling.tile) or tile > DEFAULT_TILING.tile
    assert resolve_tiling(CONFIGS["paper"], "auto") == paper
    assert resolve_tiling(CONFIGS["paper"], None) is None
    assert resolve_tiling(CONFIGS["paper"], Tiling(16, 8)) == Tiling(16, 8)
    with pytest.raises(ValueError):
        resolve_tiling(CONFIGS["paper"], "whole")


def test_a_tiled_estimate_takes_the_larger_phase_and_grows_slowly() -> None:
    """Above one tile the estimate grows by what is kept whole (a few bytes a pixel), not by the
    transforms' hundreds of bytes a pixel."""
    small = CONFIGS["small"]
    estimate_peak_bytes = memory.estimate_peak_bytes
    at_48 = estimate_peak_bytes(small, 6000, 8000, "encode")
    at_100 = estimate_peak_bytes(small, 8660, 11547, "encode")
    assert 0 < (at_100 - at_48) / (100e6 - 48e6) < 12  # bytes per added pixel
    assert at_100 < 2 * 2**30


def test_decoding_tiles_side_by_side_is_bounded_by_threads_tiles_and_memory() -> None:
    from forensiccodec.codec.tiling import DEFAULT_TILING

    small = CONFIGS["small"]
    plenty = 2**40
    concurrent = memory.concurrent_decode_tiles
    # a 12-megapixel photograph has 4 x 3 tiles of 1024 pixels
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=8, available_bytes=plenty) == 8
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=64, available_bytes=plenty) == 12
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=1, available_bytes=plenty) == 1
    assert concurrent(small, 3000, 4000, None, threads=8, available_bytes=plenty) == 1  # coded whole
    assert concurrent(small, 768, 1024, DEFAULT_TILING, threads=8, available_bytes=plenty) == 1  # within one tile
    one, three = (memory.estimate_peak_bytes(small, 3000, 4000, "decode", DEFAULT_TILING, concurrent_tiles=n)
                  for n in (1, 3))
    assert three > one
    # side-by-side tiles take at most half of what is available
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=8, available_bytes=2 * three) == 3
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=8, available_bytes=2 * three - 2) == 2
    assert concurrent(small, 3000, 4000, DEFAULT_TILING, threads=8, available_bytes=three) == 1
    with pytest.raises(ValueError):
        memory.estimate_peak_bytes(small, 3000, 4000, "decode", DEFAULT_TILING, concurrent_tiles=0)
