"""JPEG and WebP through Pillow, as baselines: code an image at a quality, or at a target bpp.

JPEG uses 4:2:0 chroma subsampling and optimised Huffman tables; WebP is lossy at ``method=6``
(the slowest, best search). Both are asked for a quality 1..100; the rate they give grows with
it, so the quality that hits a bpp is found by bisection. Interpolating between the two
qualities that bracket a target gives the PSNR *at* that bpp; below quality 1 (JPEG cannot go
under a few tenths of a bpp on small photographs) nothing is extrapolated: the lowest point is
reported as it is.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ..errors import UsageError

__all__ = [
    "CODECS",
    "MAX_QUALITY",
    "MIN_QUALITY",
    "BppMatch",
    "Coded",
    "RDPoint",
    "bpp_match",
    "code_image",
    "match_bpp",
    "psnr_uint8",
    "rd_curve",
]

CODECS = ("jpeg", "webp")
MIN_QUALITY, MAX_QUALITY = 1, 100


class Coded(NamedTuple):
    """The compressed file and what a decoder gives back from it, ``(H, W, 3)`` uint8."""

    data: bytes
    decoded: np.ndarray


@dataclass(frozen=True)
class RDPoint:
    """One coding of one image: the quality asked for, the bits it took and the PSNR it kept."""

    codec: str
    quality: int
    bytes: int
    bpp: float
    psnr: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BppMatch:
    """A classic codec at a target bpp: the closest quality, and the PSNR interpolated at the target.

    ``lower``/``upper`` are the qualities whose bpp bracket the target; when the target lies
    outside what qualities 1..100 reach, one of them is None and ``interpolated_psnr`` is NaN
    (``note`` says which end): the nearest point is then ``closest``, at a different bpp.
    """

    codec: str
    target_bpp: float
    closest: RDPoint
    lower: RDPoint | None
    upper: RDPoint | None
    interpolated_psnr: float
    note: str = ""

    @property
    def in_range(self) -> bool:
        return self.lower is not None and self.upper is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "target_bpp": self.target_bpp,
            "closest": self.closest.to_json(),
            "lower": self.lower.to_json() if self.lower else None,
            "upper": self.upper.to_json() if self.upper else None,
            "interpolated_psnr": self.interpolated_psnr if math.isfinite(self.interpolated_psnr) else None,
            "note": self.note,
        }


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise UsageError(f"unknown baseline codec {codec!r}; valid: {', '.join(CODECS)}")


def code_image(image: np.ndarray, codec: str, quality: int) -> Coded:
    """Compress an ``(H, W, 3)`` uint8 image with JPEG or WebP at a quality 1..100 and decode it."""
    _check_image(image)
    _check_codec(codec)
    if not MIN_QUALITY <= quality <= MAX_QUALITY:
        raise UsageError(f"quality must be {MIN_QUALITY}..{MAX_QUALITY}, got {quality}")
    buffer = io.BytesIO()
    picture = Image.fromarray(image)
    if codec == "jpeg":
        picture.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=True)
    else:
        picture.save(buffer, format="WEBP", quality=quality, method=6)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as decoded:
        pixels = np.asarray(decoded.convert("RGB"))
    return Coded(data, pixels)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images (peak 255); identical images give ``inf``."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def _point(image: np.ndarray, codec: str, quality: int) -> RDPoint:
    data, decoded = code_image(image, codec, quality)
    height, width = image.shape[:2]
    return RDPoint(codec, quality, len(data), 8 * len(data) / (height * width), psnr_uint8(image, decoded))


def rd_curve(image: np.ndarray, codec: str, qualities: Iterable[int]) -> list[RDPoint]:
    """The codec's RD points for one image at the given qualities."""
    return [_point(image, codec, q) for q in qualities]


class _Search:
    """Bisection over integer qualities, each quality coded at most once."""

    def __init__(self, image: np.ndarray, codec: str) -> None:
        _check_image(image)
        _check_codec(codec)
        self.image, self.codec = image, codec
        self.points: dict[int, RDPoint] = {}

    def at(self, quality: int) -> RDPoint:
        if quality not in self.points:
            self.points[quality] = _point(self.image, self.codec, quality)
        return self.points[quality]

    def first_reaching(self, target_bpp: float) -> int:
        """The lowest quality whose bpp ≥ target, or MAX_QUALITY + 1 if none reaches it."""
        lo, hi = MIN_QUALITY, MAX_QUALITY + 1  # invariant: answer in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if self.at(mid).bpp >= target_bpp:
                hi = mid
            else:
                lo = mid + 1
        return lo


def bpp_match(image: np.ndarray, target_bpp: float, codec: str) -> BppMatch:
    """The codec at ``target_bpp`` on this image: closest quality and interpolated PSNR (in log bpp)."""
    if not target_bpp > 0:
        raise UsageError(f"target bpp must be positive, got {target_bpp}")
    search = _Search(image, codec)
    first = search.first_reaching(target_bpp)
    if first == MIN_QUALITY:
        lowest = search.at(MIN_QUALITY)
        if lowest.bpp > target_bpp:
            return BppMatch(
                codec, target_bpp, lowest, None, lowest, math.nan,
                f"{codec} cannot go below {lowest.bpp:.3f} bpp (quality {MIN_QUALITY}); not extrapolated",
            )
        return BppMatch(codec, target_bpp, lowest, lowest, lowest, lowest.psnr)
    if first > MAX_QUALITY:
        highest = search.at(MAX_QUALITY)
        return BppMatch(
            codec, target_bpp, highest, highest, None, math.nan,
            f"{codec} does not reach {target_bpp:.3f} bpp (quality {MAX_QUALITY} gives {highest.bpp:.3f}); not extrapolated",
        )
    lower, upper = search.at(first - 1), search.at(first)
    closest = min((lower, upper), key=lambda p: abs(p.bpp - target_bpp))
    return BppMatch(codec, target_bpp, closest, lower, upper, _interpolate_psnr(lower, upper, target_bpp))


def _interpolate_psnr(lower: RDPoint, upper: RDPoint, target_bpp: float) -> float:
    """PSNR linear in log(bpp) between two bracketing points (equal bpp: their mean)."""
    if upper.bpp == lower.bpp:
        return (lower.psnr + upper.psnr) / 2.0
    fraction = math.log(target_bpp / lower.bpp) / math.log(upper.bpp / lower.bpp)
    return lower.psnr + fraction * (upper.psnr - lower.psnr)


def match_bpp(image: np.ndarray, target_bpp: float, codec: str) -> RDPoint:
    """The quality 1..100 whose bpp is closest to ``target_bpp``, and its point."""
    return bpp_match(image, target_bpp, codec).closest
