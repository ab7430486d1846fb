"""JPEG and WebP baselines: settings, bpp search by bisection, interpolation and honest limits."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from forensiccodec.errors import UsageError
from forensiccodec.evaluate.classic_codecs import (
    bpp_match,
    code_image,
    match_bpp,
    psnr_uint8,
    rd_curve,
)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A small photo-like image: smooth colour gradients, an edge and some texture."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:72, 0:88].astype(np.float64)
    red = 120 + 80 * np.sin(xx / 9.0)
    green = 90 + 60 * np.cos(yy / 7.0) + 40 * (xx > 50)
    blue = 60 + yy + rng.normal(0, 12, yy.shape)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


def test_jpeg_is_4_2_0_and_optimized(image: np.ndarray) -> None:
    data, decoded = code_image(image, "jpeg", 75)
    assert data[:2] == b"\xff\xd8" and decoded.shape == image.shape and decoded.dtype == np.uint8
    with Image.open(io.BytesIO(data)) as jpeg:
        assert JpegImagePlugin.get_sampling(jpeg) == 2  # 4:2:0
    plain = io.BytesIO()
    Image.fromarray(image).save(plain, format="JPEG", quality=75, subsampling="4:2:0")
    assert len(data) < len(plain.getvalue())  # optimised Huffman tables


def test_webp_is_lossy_riff(image: np.ndarray) -> None:
    data, decoded = code_image(image, "webp", 75)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and b"VP8 " in data[:40]
    assert decoded.shape == image.shape and 20 < psnr_uint8(image, decoded) < math.inf


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_rate_and_quality_grow_with_the_quality_setting(image: np.ndarray, codec: str) -> None:
    points = rd_curve(image, codec, [5, 30, 60, 95])
    assert [p.quality for p in points] == [5, 30, 60, 95]
    assert all(a.bpp < b.bpp and a.psnr < b.psnr for a, b in itertools.pairwise(points))
    height, width = image.shape[:2]
    assert points[0].bpp == pytest.approx(8 * points[0].bytes / (height * width))


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_bpp_match_brackets_the_target_and_interpolates_between(image: np.ndarray, codec: str) -> None:
    target = rd_curve(image, codec, [40])[0].bpp * 1.03  # between two qualities, not on one
    match = bpp_match(image, target, codec)
    assert match.in_range and match.note == ""
    assert match.lower.quality + 1 == match.upper.quality
    assert match.lower.bpp < target <= match.upper.bpp
    assert match.closest in (match.lower, match.upper)
    others = [match.lower, match.upper]
    assert abs(match.closest.bpp - target) == min(abs(p.bpp - target) for p in others)
    low, high = sorted((match.lower.psnr, match.upper.psnr))
    assert low <= match.interpolated_psnr <= high
    # the neighbours outside the bracket are further from the target
    below, above = rd_curve(image, codec, [match.lower.quality - 1, match.upper.quality + 1])
    assert below.bpp <= match.lower.bpp and above.bpp >= match.upper.bpp
    assert match_bpp(image, target, codec) == match.closest


def test_a_target_hit_exactly_gives_that_quality(image: np.ndarray) -> None:
    point = rd_curve(image, "jpeg", [63])[0]
    match = bpp_match(image, point.bpp, "jpeg")
    assert match.closest.quality == 63 and match.interpolated_psnr == pytest.approx(point.psnr)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_targets_out_of_reach_are_reported_not_extrapolated(image: np.ndarray, codec: str) -> None:
    low = bpp_match(image, 1e-3, codec)
    assert low.closest.quality == 1 and low.lower is None and math.isnan(low.interpolated_psnr)
    assert "cannot go below" in low.note and low.closest.bpp > 1e-3
    high = bpp_match(image, 1000.0, codec)
    assert high.closest.quality == 100 and high.upper is None and math.isnan(high.interpolated_psnr)
    assert high.to_json()["interpolated_psnr"] is None


def test_bad_arguments_are_refused(image: np.ndarray) -> None:
    with pytest.raises(UsageError, match="unknown baseline codec"):
        code_image(image, "avif", 50)
    with pytest.raises(UsageError, match="quality"):
        code_image(image, "jpeg", 0)
    with pytest.raises(UsageError, match="uint8"):
        code_image(image.astype(np.float32), "jpeg", 50)
    with pytest.raises(UsageError, match="positive"):
        bpp_match(image, 0.0, "jpeg")


def test_psnr_uint8() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert psnr_uint8(a, b) == math.inf
    b[0, 0, 0] = 255  # mse = 255² / 48
    assert psnr_uint8(a, b) == pytest.approx(10 * math.log10(48))
