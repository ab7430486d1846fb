"""Reading images into the codec's tensor layout, and writing reconstructions as PNG.

The codec works on RGB tensors ``[1, 3, H, W]`` of float32 in ``[0, 1]``. Reading maps
every supported file onto that layout and records what was there before in
:class:`ImageInfo`, so the decoder can write the image back in the same family:

* grayscale (``1``, ``L``, 16-bit ``I;16``/``I``) becomes three identical channels;
* palette images become RGB (a palette transparency counts as an alpha channel);
* alpha is **dropped, not composited**: the codec does not code alpha, the pixels are the
  colour channels exactly as stored, and ``had_alpha`` is set so the CLI can warn;
* CMYK, YCbCr... are converted to RGB by Pillow (embedded ICC profiles are ignored);
* 16-bit samples keep their precision (``x / 65535``). Pillow reads 48-bit RGB files at
  8 bits per sample; for those ``bit_depth`` still says 16 (the file's depth, so the
  decoder writes 16-bit) but the pixels have 8-bit precision;
* EXIF orientation is applied, so the tensor is the image as a viewer shows it.

The image size is checked from the header before any pixel is decoded, against a limit
of 100 megapixels (``DEFAULT_MAX_PIXELS``, overridable with the
``FCC_MAX_PIXELS`` environment variable or the ``max_pixels`` argument).

PNG output is deterministic: the same pixels always give the same bytes.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from forensiccodec.color_modes import ColorMode
from forensiccodec.errors import FccError, ImageError, UsageError
from forensiccodec.files import atomic_output

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "SUPPORTED_FORMATS",
    "ColorMode",
    "ImageInfo",
    "LoadedImage",
    "color_mode",
    "crop",
    "load_image",
    "pad_to_multiple",
    "padded_size",
    "psnr",
    "save_png",
    "to_uint8",
]

# Only these decoders are used: no surprises (e.g. EPS through Ghostscript) from whatever
# else Pillow can open.
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp"}
)

# The largest image read by default: 100 megapixels (a 12000x8000 photograph, beyond a 50 MP
# camera's). The codec codes such images in tiles from their integer samples; what they need
# in memory is checked separately (`codec.memory`), so this limit is about refusing decompression
# bombs early, from the header.
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "FCC_MAX_PIXELS"

PNG_COMPRESS_LEVEL = 6  # fixed, so that output bytes do not depend on library defaults

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


@dataclass(frozen=True)
class ImageInfo:
    """What the input file held, before it was mapped onto RGB float pixels.

    ``width``/``height`` are those of the pixels (after EXIF orientation); ``mode`` is
    Pillow's mode as read from the file; ``bit_depth`` is 8 or 16 bits per sample.
    """

    width: int
    height: int
    mode: str
    bit_depth: int
    had_alpha: bool
    format: str
    exif_transposed: bool


@dataclass
class LoadedImage:
    """An image as read: its integer samples and what the file held. ``pixels`` (float32
    ``[1, 3, H, W]`` in ``[0, 1]``) is made on first use; ``region`` gives a part of it as floats
    without making the whole, which is what lets a large photograph be coded in tiles."""

    samples: np.ndarray  # (H, W) or (H, W, 3): uint8, or 16-bit values (uint16 / int32)
    info: ImageInfo

    @functools.cached_property
    def pixels(self) -> torch.Tensor:
        return _samples_to_tensor(self.samples)

    @property
    def height(self) -> int:
        return int(self.samples.shape[0])

    @property
    def width(self) -> int:
        return int(self.samples.shape[1])

    def region(self, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """``pad_to_multiple(pixels)[..., top:top + height, left:left + width]`` for any size of
        padding: rows and columns past the image repeat its last ones (replicate padding)."""
        rows = np.minimum(np.arange(top, top + height), self.height - 1)
        columns = np.minimum(np.arange(left, left + width), self.width - 1)
        return _samples_to_tensor(self.samples[rows[:, None], columns[None, :]])


def color_mode(info: ImageInfo) -> ColorMode:
    """The mode family of an input: palette and CMYK images count as RGB."""
    gray = info.mode in _GRAY_MODES
    if info.had_alpha:
        return ColorMode.GRAY_ALPHA_DROPPED if gray else ColorMode.RGB_ALPHA_DROPPED
    return ColorMode.GRAY if gray else ColorMode.RGB


# ---------------------------------------------------------------------------- reading


def _max_pixels_from_environment() -> int:
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None or not value.strip():
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise UsageError(f"{MAX_PIXELS_ENV} must be a positive integer, got {value!r}")
    return limit


def _allow_in_pillow(max_pixels: int) -> None:
    """Raise Pillow's own bomb limit so that ours is the one that speaks.

    Pillow warns above MAX_IMAGE_PIXELS and fails with its own message above twice that;
    our header check refuses large images first, with a message saying how to proceed.
    The limit is only ever raised, never lowered, since it is process-wide.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _too_large_message(path: Path, width: int, height: int, limit: int) -> str:
    return (
        f"{path}: image is {width}x{height} ({width * height / 1e6:.1f} megapixels), "
        f"more than the limit of {limit / 1e6:.1f} megapixels; "
        f"set {MAX_PIXELS_ENV}={width * height} to allow it"
    )


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored); malformed EXIF counts as absent."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - any broken EXIF block just means "no orientation"
        return 1


def _file_bit_depth(image: Image.Image) -> int:
    """16 for 16-bit files, including 48/64-bit RGB(A) that Pillow reduces to 8 bits."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return 16
    # Before load(), the tile names the raw layout of the file, e.g. "RGB;16B".
    if any(";16" in str(tile.args) for tile in image.tile):
        return 16
    return 8


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _colour_channels(image: Image.Image, had_alpha: bool) -> np.ndarray:
    """The stored colour samples as an array ``(H, W)`` or ``(H, W, 3)``, alpha removed."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode in _GRAY_MODES:
        if mode not in _SIXTEEN_BIT_MODES:
            image = image.convert("L")  # "1" -> 0/255; "LA" -> its L channel, not composited
        return np.asarray(image)
    if mode == "F":
        raise ValueError("32-bit floating-point images are not supported")
    if mode in ("P", "PA") and had_alpha:
        # Through RGBA so that Pillow applies the palette's transparency without warning.
        return np.asarray(image.convert("RGBA"))[..., :3]
    if mode != "RGB":
        image = image.convert("RGB")  # RGBA/RGBX drop their 4th band; CMYK, YCbCr, P convert
    return np.asarray(image)


def _read_with_pillow(path: Path, max_pixels: int) -> tuple[np.ndarray, ImageInfo]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path, formats=SUPPORTED_FORMATS) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width <= 0 or height <= 0:
                raise ImageError(f"{path}: image has zero size ({width}x{height})")
            if width * height > max_pixels:
                raise ImageError(_too_large_message(path, width, height, max_pixels))
            mode, file_format = image.mode, image.format or "unknown"
            bit_depth = _file_bit_depth(image)
            had_alpha = _has_alpha(image)
            orientation = _exif_orientation(image)
            image.load()
            oriented = ImageOps.exif_transpose(image) if orientation != 1 else image
            samples = _colour_channels(oriented, had_alpha)
    info = ImageInfo(
        width=samples.shape[1],
        height=samples.shape[0],
        mode=mode,
        bit_depth=bit_depth,
        had_alpha=had_alpha,
        format=file_format,
        exif_transposed=orientation != 1,
    )
    return samples, info


def _samples_to_tensor(samples: np.ndarray) -> torch.Tensor:
    """uint8 / uint16 / int32 samples (H, W[, 3]) -> float32 [1, 3, H, W] in [0, 1]."""
    if samples.dtype == np.uint8:
        integers = torch.from_numpy(samples.copy())  # a copy: Pillow's arrays are read-only
        levels = 255
    else:
        # 16-bit samples (any byte order), or Pillow's 32-bit "I" holding 16-bit values.
        integers = torch.from_numpy(np.clip(samples.astype(np.int32), 0, 65535))
        levels = 65535
    if integers.ndim == 2:
        channels_first = integers.expand(3, *integers.shape)
    else:
        channels_first = integers.permute(2, 0, 1)
    # One pass from integers to contiguous floats; x / levels, so 8-bit values round-trip.
    pixels = channels_first.unsqueeze(0).to(torch.float32, memory_format=torch.contiguous_format)
    return pixels.div_(levels)


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> LoadedImage:
    """Read a PNG, JPEG, WebP, TIFF or BMP file as RGB pixels ``[1, 3, H, W]`` in ``[0, 1]``.

    ``max_pixels`` defaults to ``$FCC_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`; larger
    images are refused from their header, before decoding. Every failure (missing file,
    directory, not an image, truncated or corrupt data, too large) raises
    :class:`ImageError` with a one-line message that names the file.
    """
    path = Path(path)
    limit = max_pixels if max_pixels is not None else _max_pixels_from_environment()
    if limit <= 0:
        raise UsageError(f"max_pixels must be positive, got {limit}")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image")
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    _allow_in_pillow(limit)
    try:
        samples, info = _read_with_pillow(path, limit)
    except FccError:
        raise
    except UnidentifiedImageError as error:
        formats = ", ".join(SUPPORTED_FORMATS)
        raise ImageError(f"{path}: not a supported image ({formats})") from error
    except Image.DecompressionBombError as error:
        # Pillow's own check (at twice its limit) fired before our header check could.
        raise ImageError(
            f"{path}: image is larger than the limit of {limit / 1e6:.1f} megapixels; "
            f"set {MAX_PIXELS_ENV} to a larger pixel count to allow it"
        ) from error
    except PermissionError as error:
        raise ImageError(f"{path}: permission denied") from error
    except MemoryError as error:
        raise ImageError(f"{path}: not enough memory to decode this image") from error
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{path}: cannot read image: {reason}") from error
    return LoadedImage(samples=samples, info=info)


# ---------------------------------------------------------------------------- pixels


def _as_chw(pixels: torch.Tensor) -> torch.Tensor:
    if pixels.ndim == 4 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 3 or pixels.shape[0] != 3:
        raise ValueError(f"expected pixels [1, 3, H, W] or [3, H, W], got {tuple(pixels.shape)}")
    return pixels.detach().to("cpu", torch.float32)


def _quantize(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    """clamp(x, 0, 1) * levels, rounded half to even; NaN counts as 0."""
    return torch.round(torch.nan_to_num(pixels, nan=0.0).clamp(0.0, 1.0) * levels)


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """``[1, 3, H, W]`` or ``[3, H, W]`` floats in [0, 1] -> ``(H, W, 3)`` uint8.

    round-half-even of clamp(x, 0, 1) * 255: the same bytes on every platform.
    """
    chw = _quantize(_as_chw(pixels), 255)
    return chw.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def psnr(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0) -> float:
    """PSNR in dB between two images, both first rounded to 8 bits with :func:`to_uint8`.

    Rounding first measures what a PNG of each image holds. ``max_val`` is the peak in
    the pixels' units ([0, 1]). Identical images give ``inf``.
    """
    a8, b8 = to_uint8(a), to_uint8(b)
    if a8.shape != b8.shape:
        raise ValueError(f"images differ in size: {a8.shape} vs {b8.shape}")
    difference = (a8.astype(np.float64) - b8.astype(np.float64)) / 255.0
    mse = float(np.mean(difference**2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(max_val**2 / mse)


def padded_size(height: int, width: int, multiple: int = 64) -> tuple[int, int]:
    """The size :func:`pad_to_multiple` gives to a ``height x width`` image."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_to_multiple(x: torch.Tensor, multiple: int = 64) -> torch.Tensor:
    """Pad ``[N, C, H, W]`` at the bottom and right to multiples of ``multiple``.

    Replicate padding: constant rows and columns cost almost no bits, and it works for
    any size down to 1x1 (reflection needs the pad to be smaller than the image).
    """
    height, width = x.shape[-2:]
    target_height, target_width = padded_size(height, width, multiple)
    if (target_height, target_width) == (height, width):
        return x
    return F.pad(x, (0, target_width - width, 0, target_height - height), mode="replicate")


def crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height x width`` of ``[..., H, W]`` (undoes :func:`pad_to_multiple`)."""
    if height > x.shape[-2] or width > x.shape[-1] or height <= 0 or width <= 0:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to {(height, width)}")
    return x[..., :height, :width]


# ---------------------------------------------------------------------------- writing


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png_rgb16(samples: np.ndarray) -> bytes:
    """A 48-bit RGB PNG, which Pillow cannot write: IHDR, one IDAT, IEND.

    Every scanline uses the "Up" filter (difference to the row above, byte-wise modulo
    256), which is vectorised and fixed, so the output is deterministic.
    """
    height, width, _ = samples.shape
    rows = np.ascontiguousarray(samples, dtype=">u2").view(np.uint8).reshape(height, width * 6)
    filtered = rows.copy()
    np.subtract(rows[1:], rows[:-1], out=filtered[1:])  # uint8 arithmetic wraps mod 256
    filter_up = np.full((height, 1), 2, dtype=np.uint8)
    scanlines = np.concatenate([filter_up, filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16-bit truecolour
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), PNG_COMPRESS_LEVEL)),
            _png_chunk(b"IEND", b""),
        ]
    )


class SampleCanvas:
    """The integer samples of a decoded image, filled region by region (a tiled decoder pastes
    each tile as it is made), then written as a PNG. Quantisation is the same per pixel however
    the image is cut, so a tiled paste gives the bytes a whole one gives."""

    def __init__(self, height: int, width: int, *, mode: ColorMode = ColorMode.RGB, bit_depth: int = 8) -> None:
        if bit_depth not in (8, 16):
            raise UsageError(f"bit depth must be 8 or 16, got {bit_depth}")
        self.gray, self.bit_depth = ColorMode(mode).is_gray, bit_depth
        dtype = np.uint8 if bit_depth == 8 else np.uint16
        self.samples = np.zeros((height, width) if self.gray else (height, width, 3), dtype=dtype)

    def paste(self, top: int, left: int, pixels: torch.Tensor) -> None:
        """Quantise float pixels ``[1, 3, h, w]`` (clamped to [0, 1]; gray: the rounded channel mean)
        into the samples at (top, left)."""
        chw = _as_chw(pixels)
        levels = 255 if self.bit_depth == 8 else 65535
        if self.gray:
            quantized = _quantize(chw.clamp(0.0, 1.0).mean(dim=0), levels)
        else:
            quantized = _quantize(chw, levels).permute(1, 2, 0)
        height, width = quantized.shape[:2]
        self.samples[top : top + height, left : left + width] = quantized.to(torch.int32).numpy()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the samples as a PNG, atomically; the same samples always give the same bytes."""
        with atomic_output(path, overwrite) as temp:
            if self.bit_depth == 16 and self.samples.ndim == 3:
                temp.write_bytes(_encode_png_rgb16(self.samples))
            else:
                try:
                    Image.fromarray(self.samples).save(temp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
                except (OSError, ValueError) as error:
                    raise ImageError(f"cannot write {path}: {error}") from error


def save_png(
    pixels: torch.Tensor,
    path: str | os.PathLike[str],
    *,
    mode: ColorMode = ColorMode.RGB,
    bit_depth: int = 8,
    overwrite: bool = False,
) -> None:
    """Write pixels ``[1, 3, H, W]`` or ``[3, H, W]`` (clamped to [0, 1]) as a PNG, atomically.

    Gray modes write a single-channel PNG of the rounded channel mean; RGB modes write RGB
    (no alpha: the codec has none to give back). ``bit_depth`` 16 writes 16-bit gray or
    48-bit RGB. The same pixels always give the same bytes.
    """
    chw = _as_chw(pixels)
    canvas = SampleCanvas(chw.shape[1], chw.shape[2], mode=mode, bit_depth=bit_depth)
    canvas.paste(0, 0, chw)
    canvas.save(path, overwrite=overwrite)
