"""The shipped codec's rate-distortion on real files: encode to .fcc, decode to PNG, measure.

Everything goes through the same file-level API as ``fcc encode`` / ``fcc decode``, so the rate is
that of real files (header included) and the PSNR that of the PNG a user gets back. Alongside,
the entropy coder is checked against the model's own estimate (payload / estimate − 1), and the
encode and decode times are recorded with the share spent in entropy coding.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..api import CodecStore, decode_file, encode_file
from ..errors import UsageError
from ..images import load_image, to_uint8
from ..zoo import Manifest

__all__ = [
    "CodecRD",
    "ImageRD",
    "QualityRD",
    "aggregate",
    "load_uint8",
    "measure_codec_rd",
    "mse_uint8",
    "psnr_from_mse",
    "registered_qualities",
]


@dataclass(frozen=True)
class ImageRD:
    """One image coded at one quality."""

    image: str
    width: int
    height: int
    quality: int
    lmbda: float
    file_bytes: int
    bpp: float  # the whole .fcc file, header included, per pixel
    payload_bpp: float  # the two entropy-coded streams
    estimated_bpp: float  # the model's Σ −log2 p
    rate_overhead: float  # payload / estimate − 1
    mse: float  # on the 8-bit scale (peak 255²)
    psnr: float  # RGB, 8-bit, decoded PNG vs the original as loaded
    encode_seconds: float  # load + transforms + entropy coding + writing the file
    decode_seconds: float  # reading + entropy decoding + transforms + writing the PNG
    encode_entropy_share: float
    decode_entropy_share: float

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityRD:
    """One quality over a set of images: means per image, and totals for the coder's overhead."""

    quality: int
    lmbda: float
    images: int
    mean_bpp: float
    mean_payload_bpp: float
    mean_estimated_bpp: float
    mean_psnr: float
    psnr_of_mean_mse: float
    total_payload_bits: float
    total_estimated_bits: float
    payload_vs_estimate: float  # total payload / total estimate − 1
    mean_encode_seconds: float
    mean_decode_seconds: float
    mean_encode_entropy_share: float
    mean_decode_entropy_share: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CodecRD:
    """Per-image points and per-quality aggregates of one codec configuration."""

    config_name: str
    per_image: list[ImageRD]
    per_quality: list[QualityRD]

    def points(self, quality: int) -> list[ImageRD]:
        return [p for p in self.per_image if p.quality == quality]

    def to_json(self) -> dict[str, Any]:
        return {
            "config_name": self.config_name,
            "per_quality": [q.to_json() for q in self.per_quality],
            "per_image": [p.to_json() for p in self.per_image],
        }


def registered_qualities(config_name: str, weights_dir: Path | None = None) -> list[int]:
    """The qualities the manifest has codec weights for, in this configuration."""
    manifest = Manifest.load(weights_dir)
    qualities = sorted(
        e.quality for e in manifest.entries.values()
        if e.kind == "codec" and e.config_name == config_name and e.quality is not None
    )
    if not qualities:
        raise UsageError(f"no {config_name} codec weights are registered in {manifest.directory}")
    return qualities


def load_uint8(path: Path) -> np.ndarray:
    """An image file as the codec sees it, rounded to ``(H, W, 3)`` uint8."""
    return to_uint8(load_image(path).pixels)


def mse_uint8(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of an MSE on the 8-bit scale; 0 gives ``inf``."""
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def _measure(
    store: CodecStore, config_name: str, quality: int, image_path: Path, original: np.ndarray, out_dir: Path, stem: str
) -> ImageRD:
    codec = store.get(config_name, quality)
    fcc_path = out_dir / f"{stem}.q{quality}.fcc"
    png_path = out_dir / f"{stem}.q{quality}.decoded.png"
    encoded = encode_file(codec, image_path, fcc_path, overwrite=True)
    decoded = decode_file(store, fcc_path, png_path, overwrite=True)
    if fcc_path.stat().st_size != encoded.file_bytes:
        raise AssertionError(f"{fcc_path}: file size differs from what the encoder reported")
    mse = mse_uint8(original, load_uint8(png_path))
    return ImageRD(
        image=image_path.name,
        width=encoded.width,
        height=encoded.height,
        quality=quality,
        lmbda=encoded.lmbda,
        file_bytes=encoded.file_bytes,
        bpp=encoded.bpp,
        payload_bpp=encoded.payload_bpp,
        estimated_bpp=encoded.estimated_bpp,
        rate_overhead=encoded.rate_overhead,
        mse=mse,
        psnr=psnr_from_mse(mse),
        encode_seconds=encoded.seconds,
        decode_seconds=decoded.seconds,
        encode_entropy_share=encoded.entropy_coding_share,
        decode_entropy_share=decoded.entropy_coding_share,
    )


def aggregate(points: Sequence[ImageRD]) -> QualityRD:
    """Means over the images of one quality; the coder's overhead from the totals (large images weigh more)."""
    if not points or len({p.quality for p in points}) != 1:
        raise ValueError("aggregate needs the points of exactly one quality")

    def mean(values: Sequence[float]) -> float:
        return float(np.mean(values))

    payload = sum(p.payload_bpp * p.pixels for p in points)
    estimate = sum(p.estimated_bpp * p.pixels for p in points)
    return QualityRD(
        quality=points[0].quality,
        lmbda=points[0].lmbda,
        images=len(points),
        mean_bpp=mean([p.bpp for p in points]),
        mean_payload_bpp=mean([p.payload_bpp for p in points]),
        mean_estimated_bpp=mean([p.estimated_bpp for p in points]),
        mean_psnr=mean([p.psnr for p in points]),
        psnr_of_mean_mse=psnr_from_mse(mean([p.mse for p in points])),
        total_payload_bits=payload,
        total_estimated_bits=estimate,
        payload_vs_estimate=payload / estimate - 1.0 if estimate > 0 else math.nan,
        mean_encode_seconds=mean([p.encode_seconds for p in points]),
        mean_decode_seconds=mean([p.decode_seconds for p in points]),
        mean_encode_entropy_share=mean([p.encode_entropy_share for p in points]),
        mean_decode_entropy_share=mean([p.decode_entropy_share for p in points]),
    )


def measure_codec_rd(
    images: Sequence[Path],
    config_name: str = "small",
    qualities: Sequence[int] | None = None,
    *,
    weights_dir: Path | None = None,
    work_dir: Path | None = None,
    progress: Callable[[ImageRD], None] | None = None,
) -> CodecRD:
    """Encode every image at every quality to a real .fcc file, decode it, and measure.

    ``qualities`` defaults to every registered quality of ``config_name``. The .fcc files and
    decoded PNGs go to ``work_dir`` (kept) or to a temporary folder (removed afterwards).
    ``progress`` is called with each point as it is measured.
    """
    if not images:
        raise UsageError("no images to evaluate")
    qualities = list(qualities) if qualities is not None else registered_qualities(config_name, weights_dir)
    store = CodecStore(weights_dir)
    originals = {Path(path): load_uint8(Path(path)) for path in images}
    per_image: list[ImageRD] = []
    with tempfile.TemporaryDirectory(prefix="fcc-rd-") as temporary:
        out_dir = Path(work_dir) if work_dir is not None else Path(temporary)
        out_dir.mkdir(parents=True, exist_ok=True)
        for quality in qualities:
            for index, (path, original) in enumerate(originals.items()):
                # the index keeps images of the same name from different folders apart
                point = _measure(store, config_name, quality, path, original, out_dir, f"{index:03d}-{path.stem}")
                per_image.append(point)
                if progress is not None:
                    progress(point)
    per_quality = [aggregate([p for p in per_image if p.quality == q]) for q in qualities]
    return CodecRD(config_name, per_image, per_quality)
