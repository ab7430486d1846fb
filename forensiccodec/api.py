"""File-level operations behind the command line: encode an image file, decode a .fcc file, inspect one.

Each function handles exactly one file and raises `FccError` for anything the user can cause, so
that the CLI (or a Python caller) can report it and go on with the next file.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .codec import pipeline
from .codec.bitstream import FccFile, read_fcc, write_fcc
from .codec.memory import check_fits
from .errors import BitstreamError, UsageError, WeightsError
from .files import atomic_write_bytes, ensure_not_same_file
from .images import ColorMode, color_mode, load_image, psnr, save_png
from .rate_points import rate_point_for_quality
from .zoo import LoadedCodec, load_codec

ADAPTER_CHOICES = ("none", "forensic")


class CodecStore:
    """Loads each (configuration, quality) codec once and keeps it for the rest of a batch."""

    def __init__(self, weights_dir: Path | None = None) -> None:
        self.weights_dir = weights_dir
        self._codecs: dict[tuple[str, int], LoadedCodec] = {}

    def get(self, config_name: str, quality: int) -> LoadedCodec:
        key = (config_name, quality)
        if key not in self._codecs:
            self._codecs[key] = load_codec(config_name, quality, self.weights_dir)
        return self._codecs[key]


@dataclass
class EncodeReport:
    input: str
    output: str
    width: int
    height: int
    file_bytes: int
    bpp: float  # whole .fcc file, header included, per original pixel
    payload_bpp: float  # the two entropy-coded streams only
    estimated_bpp: float  # the model's own estimate, Σ −log2 p
    rate_overhead: float  # payload / estimate − 1
    model: str
    quality: int
    lmbda: float
    seconds: float
    entropy_coding_share: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecodeReport:
    input: str
    output: str
    width: int
    height: int
    bpp: float
    model: str
    quality: int
    adapters: str
    seconds: float
    entropy_coding_share: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def model_config_name(model_name: str) -> str:
    """'tic-small' → 'small': the configuration a .fcc file's model name refers to."""
    if not model_name.startswith("tic-"):
        raise BitstreamError(f"this fcc cannot decode files of model {model_name!r}")
    return model_name.removeprefix("tic-")


def encode_file(
    codec: LoadedCodec,
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool = False,
    adapters: str = "none",
) -> EncodeReport:
    """Encode one image file into a .fcc file (written atomically)."""
    if adapters != "none":
        raise UsageError("encoder adapters are not available yet in this version; use --adapters none")
    ensure_not_same_file(input_path, output_path)
    start = time.perf_counter()
    image = load_image(input_path)
    check_fits(codec.model.config, image.info.height, image.info.width, "encode", label=str(input_path))
    compressed = pipeline.compress(codec.model, codec.tables, image.pixels)
    mode = color_mode(image.info)
    fcc = FccFile.build(
        model_name=codec.model_name,
        quality=codec.rate_point.quality,
        lmbda=codec.rate_point.lmbda,
        weights_fingerprint=codec.fingerprint,
        encoder_adapters=False,
        width=image.info.width,
        height=image.info.height,
        color_mode=int(mode),
        bit_depth=image.info.bit_depth,
        z_shape=compressed.z_shape,
        y_shape=compressed.y_shape,
        z_stream=compressed.z_stream,
        y_stream=compressed.y_stream,
    )
    data = write_fcc(fcc)
    atomic_write_bytes(output_path, data, overwrite=overwrite)
    seconds = time.perf_counter() - start
    pixels = image.info.width * image.info.height
    notes = []
    if image.info.had_alpha:
        notes.append("alpha channel dropped (the codec codes colour only)")
    return EncodeReport(
        input=str(input_path),
        output=str(output_path),
        width=image.info.width,
        height=image.info.height,
        file_bytes=len(data),
        bpp=8 * len(data) / pixels,
        payload_bpp=8 * compressed.payload_bytes / pixels,
        estimated_bpp=compressed.estimated_bits / pixels,
        rate_overhead=8 * compressed.payload_bytes / max(compressed.estimated_bits, 1e-9) - 1,
        model=codec.model_name,
        quality=codec.rate_point.quality,
        lmbda=codec.rate_point.lmbda,
        seconds=seconds,
        entropy_coding_share=compressed.timings.entropy_share,
        notes=notes,
    )


def read_fcc_file(path: Path) -> tuple[FccFile, int]:
    """Read and validate a .fcc file; returns it and its size in bytes."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BitstreamError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BitstreamError(f"{path}: is a directory") from None
    except OSError as error:
        raise BitstreamError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return read_fcc(data), len(data)
    except BitstreamError as error:
        raise BitstreamError(f"{path}: {error}") from None


def codec_for_file(store: CodecStore, fcc: FccFile, path: Path) -> LoadedCodec:
    """The installed codec that wrote this file, or a clear refusal."""
    header = fcc.header
    codec = store.get(model_config_name(header.model_name), header.quality)
    if header.weights_fingerprint != codec.fingerprint:
        raise WeightsError(
            f"{path}: written with {header.model_name} q{header.quality} weights {header.weights_fingerprint.hex()},"
            f" but the installed weights are {codec.fingerprint.hex()}; decoding would give a wrong image"
        )
    return codec


def decode_file(
    store: CodecStore,
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool = False,
    adapters: str = "none",
) -> DecodeReport:
    """Decode one .fcc file to a PNG (written atomically) in the original size, mode and bit depth."""
    if adapters not in ADAPTER_CHOICES:
        raise UsageError(f"unknown --adapters {adapters!r}; valid: {', '.join(ADAPTER_CHOICES)}")
    if adapters == "forensic":
        raise UsageError("forensic adapters are not available yet in this version; use --adapters none")
    ensure_not_same_file(input_path, output_path)
    start = time.perf_counter()
    fcc, size = read_fcc_file(input_path)
    codec = codec_for_file(store, fcc, input_path)
    header = fcc.header
    check_fits(codec.model.config, header.height, header.width, "decode", label=str(input_path))
    decoded = pipeline.decompress_fcc(codec.model, codec.tables, fcc)
    mode = ColorMode(header.color_mode)
    save_png(decoded.pixels, output_path, mode=mode, bit_depth=header.bit_depth, overwrite=overwrite)
    notes = []
    if mode in (ColorMode.RGB_ALPHA_DROPPED, ColorMode.GRAY_ALPHA_DROPPED):
        notes.append("the original had an alpha channel, which the codec does not code")
    return DecodeReport(
        input=str(input_path),
        output=str(output_path),
        width=header.width,
        height=header.height,
        bpp=8 * size / (header.width * header.height),
        model=header.model_name,
        quality=header.quality,
        adapters=adapters,
        seconds=time.perf_counter() - start,
        entropy_coding_share=decoded.timings.entropy_share,
        notes=notes,
    )


def file_info(path: Path) -> dict[str, Any]:
    """The header fields, stream sizes and bpp of a .fcc file."""
    fcc, size = read_fcc_file(path)
    header = fcc.header
    pixels = header.width * header.height
    return {
        "file": str(path),
        "format_version": f"{header.version_major}.{header.version_minor}",
        "model": header.model_name,
        "quality": header.quality,
        "lambda": rate_point_for_quality(header.quality).lmbda if 1 <= header.quality <= 4 else None,
        "weights_fingerprint": header.weights_fingerprint.hex(),
        "encoder_adapters": header.encoder_adapters,
        "width": header.width,
        "height": header.height,
        "color_mode": ColorMode(header.color_mode).name if header.color_mode in set(ColorMode) else header.color_mode,
        "bit_depth": header.bit_depth,
        "z_shape": list(header.z_shape),
        "y_shape": list(header.y_shape),
        "hyperprior_bytes": len(fcc.z_stream),
        "latent_bytes": len(fcc.y_stream),
        "file_bytes": size,
        "header_bytes": size - len(fcc.z_stream) - len(fcc.y_stream),
        "bpp": 8 * size / pixels,
    }


@dataclass
class RoundTripReport:
    encode: EncodeReport
    decode: DecodeReport
    psnr: float


def round_trip(
    codec: LoadedCodec, store: CodecStore, image_path: Path, out_dir: Path, *, overwrite: bool = True
) -> RoundTripReport:
    """Encode then decode an image into out_dir and measure PSNR against the original."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem
    fcc_path = out_dir / f"{stem}.q{codec.rate_point.quality}.fcc"
    png_path = out_dir / f"{stem}.q{codec.rate_point.quality}.decoded.png"
    encoded = encode_file(codec, image_path, fcc_path, overwrite=overwrite)
    decoded = decode_file(store, fcc_path, png_path, overwrite=overwrite)
    original = load_image(image_path).pixels
    reconstructed = load_image(png_path).pixels
    return RoundTripReport(encoded, decoded, psnr(original, reconstructed))


__all__ = [
    "CodecStore",
    "EncodeReport",
    "DecodeReport",
    "RoundTripReport",
    "encode_file",
    "decode_file",
    "file_info",
    "round_trip",
    "read_fcc_file",
]
