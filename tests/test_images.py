"""Tests for forensiccodec.images: every input mode, PNG output, pixels helpers.

All images are generated with Pillow in tmp_path; no binary fixtures.
"""

from __future__ import annotations

import math
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from forensiccodec import images
from forensiccodec.errors import ImageError, UsageError
from forensiccodec.images import (
    DEFAULT_MAX_PIXELS,
    ColorMode,
    color_mode,
    crop,
    load_image,
    pad_to_multiple,
    padded_size,
    psnr,
    save_png,
    to_uint8,
)

torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _random_rgb(rng: np.random.Generator, height: int = 5, width: int = 7) -> np.ndarray:
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _check_layout(pixels: torch.Tensor, height: int, width: int) -> None:
    assert pixels.shape == (1, 3, height, width)
    assert pixels.dtype == torch.float32
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0


# ------------------------------------------------------------------ loading, by mode


@pytest.mark.parametrize(
    ("file_format", "suffix"), [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif")]
)
def test_rgb_is_exact(
    tmp_path: Path, rng: np.random.Generator, file_format: str, suffix: str
) -> None:
    array = _random_rgb(rng)
    path = tmp_path / f"rgb{suffix}"
    Image.fromarray(array).save(path, format=file_format)
    loaded = load_image(path)
    _check_layout(loaded.pixels, 5, 7)
    np.testing.assert_array_equal(to_uint8(loaded.pixels), array)
    info = loaded.info
    assert (info.width, info.height, info.mode, info.bit_depth) == (7, 5, "RGB", 8)
    assert (info.had_alpha, info.format, info.exif_transposed) == (False, file_format, False)
    assert color_mode(info) is ColorMode.RGB


def test_lossless_webp_is_exact(tmp_path: Path, rng: np.random.Generator) -> None:
    array = _random_rgb(rng)
    path = tmp_path / "a.webp"
    Image.fromarray(array).save(path, lossless=True)
    loaded = load_image(path)
    np.testing.assert_array_equal(to_uint8(loaded.pixels), array)
    assert loaded.info.format == "WEBP"


def test_gray_becomes_three_identical_channels(tmp_path: Path, rng: np.random.Generator) -> None:
    gray = rng.integers(0, 256, size=(4, 6), dtype=np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    loaded = load_image(path)
    _check_layout(loaded.pixels, 4, 6)
    np.testing.assert_array_equal(to_uint8(loaded.pixels), np.repeat(gray[..., None], 3, axis=2))
    assert loaded.info.mode == "L"
    assert color_mode(loaded.info) is ColorMode.GRAY


def test_bilevel_image_is_gray(tmp_path: Path) -> None:
    path = tmp_path / "bw.bmp"
    image = Image.new("1", (3, 2), 0)
    image.putpixel((1, 0), 1)
    image.save(path)
    loaded = load_image(path)
    assert color_mode(loaded.info) is ColorMode.GRAY
    assert to_uint8(loaded.pixels)[0, 1].tolist() == [255, 255, 255]
    assert to_uint8(loaded.pixels)[0, 0].tolist() == [0, 0, 0]


def _palette_image() -> Image.Image:
    image = Image.new("P", (3, 2))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0, 0, 0] * 254)
    image.putpixel((2, 1), 1)
    return image


def test_palette_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    _palette_image().save(path)
    loaded = load_image(path)
    assert (loaded.info.mode, loaded.info.had_alpha) == ("P", False)
    assert color_mode(loaded.info) is ColorMode.RGB
    pixels = to_uint8(loaded.pixels)
    assert pixels[0, 0].tolist() == [10, 20, 30]
    assert pixels[1, 2].tolist() == [200, 100, 50]


def test_palette_transparency_counts_as_alpha(tmp_path: Path) -> None:
    path = tmp_path / "palette_transparent.png"
    _palette_image().save(path, transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's palette-transparency warning must not leak
        loaded = load_image(path)
    assert (loaded.info.mode, loaded.info.had_alpha) == ("P", True)
    assert color_mode(loaded.info) is ColorMode.RGB_ALPHA_DROPPED
    # The transparent index keeps its stored colour: nothing is composited.
    assert to_uint8(loaded.pixels)[0, 0].tolist() == [10, 20, 30]


def test_rgba_alpha_is_dropped_not_composited(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = np.concatenate([_random_rgb(rng), np.zeros((5, 7, 1), np.uint8)], axis=2)
    rgba[0, 0, 3] = 255
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    loaded = load_image(path)
    np.testing.assert_array_equal(to_uint8(loaded.pixels), rgba[..., :3])
    assert (loaded.info.mode, loaded.info.had_alpha) == ("RGBA", True)
    assert color_mode(loaded.info) is ColorMode.RGB_ALPHA_DROPPED


def test_la_alpha_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.new("LA", (2, 3), (77, 0)).save(path)
    loaded = load_image(path)
    assert (to_uint8(loaded.pixels) == 77).all()
    assert (loaded.info.mode, loaded.info.had_alpha) == ("LA", True)
    assert color_mode(loaded.info) is ColorMode.GRAY_ALPHA_DROPPED


def _sixteen_bit_gray() -> np.ndarray:
    return np.array([[0, 1, 2, 255], [256, 12345, 65534, 65535]], dtype=np.uint16)


@pytest.mark.parametrize(("file_format", "suffix"), [("PNG", ".png"), ("TIFF", ".tiff")])
def test_sixteen_bit_gray_keeps_full_precision(
    tmp_path: Path, file_format: str, suffix: str
) -> None:
    samples = _sixteen_bit_gray()
    path = tmp_path / f"gray16{suffix}"
    Image.fromarray(samples).save(path, format=file_format)
    loaded = load_image(path)
    assert loaded.info.bit_depth == 16
    assert loaded.info.mode.startswith("I")
    assert color_mode(loaded.info) is ColorMode.GRAY
    expected = torch.from_numpy(samples.astype(np.float32)) / 65535
    for channel in range(3):
        torch.testing.assert_close(loaded.pixels[0, channel], expected, rtol=0, atol=0)
    recovered = torch.round(loaded.pixels[0, 0] * 65535).to(torch.int64).numpy()
    np.testing.assert_array_equal(recovered, samples)


def test_pillow_int32_mode_is_read_as_sixteen_bit(tmp_path: Path) -> None:
    path = tmp_path / "int32.tif"
    Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32), mode="I").save(path)
    loaded = load_image(path)
    assert loaded.info.bit_depth == 16
    assert loaded.pixels[0, 0, 0].tolist() == [0.0, 1.0, 1.0, 0.0]


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(path, quality=95)  # magenta ink
    loaded = load_image(path)
    assert (loaded.info.mode, loaded.info.format) == ("CMYK", "JPEG")
    assert color_mode(loaded.info) is ColorMode.RGB
    mean = loaded.pixels.mean(dim=(0, 2, 3))
    torch.testing.assert_close(mean, torch.tensor([1.0, 0.0, 1.0]), atol=0.03, rtol=0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 32 wide x 16 high, left half white; orientation 6 = rotate 90 degrees clockwise
    # for display, so the viewer sees 16 wide x 32 high with the white half on top.
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    loaded = load_image(path)
    _check_layout(loaded.pixels, 32, 16)
    assert (loaded.info.width, loaded.info.height, loaded.info.exif_transposed) == (16, 32, True)
    assert float(loaded.pixels[..., :12, :].mean()) > 0.95
    assert float(loaded.pixels[..., 20:, :].mean()) < 0.05


def test_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(path)
    loaded = load_image(path)
    _check_layout(loaded.pixels, 1, 1)
    assert to_uint8(loaded.pixels)[0, 0].tolist() == [1, 2, 3]


def test_48_bit_png_reports_sixteen_bits(tmp_path: Path) -> None:
    path = tmp_path / "rgb48.png"
    save_png(torch.full((1, 3, 2, 2), 0.5), path, bit_depth=16)
    loaded = load_image(path)
    assert (loaded.info.mode, loaded.info.bit_depth) == ("RGB", 16)
    # Pillow keeps 8 bits of each 16-bit sample.
    torch.testing.assert_close(loaded.pixels, torch.full((1, 3, 2, 2), 0.5), atol=1 / 255, rtol=0)


# ------------------------------------------------------------------ loading, refusals


def _png_bytes(rng: np.random.Generator, size: int = 64) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(_random_rgb(rng, size, size)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_truncated_file_is_refused(tmp_path: Path, rng: np.random.Generator, kind: str) -> None:
    full = tmp_path / f"full.{kind}"
    Image.fromarray(_random_rgb(rng, 64, 64)).save(full, format=kind.upper())
    data = full.read_bytes()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageError, match=r"cut\.(png|jpeg): cannot read image"):
        load_image(path)


def test_text_file_named_png_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello\n")
    with pytest.raises(ImageError, match=r"notes\.png: not a supported image"):
        load_image(path)


def test_unlisted_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    Image.new("P", (2, 2)).save(path)
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(path)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.png: no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


def test_zero_size_header_is_refused(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    body = b"IHDR" + header
    chunk = struct.pack(">I", len(header)) + body + struct.pack(">I", zlib.crc32(body))
    path = tmp_path / "empty.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    with pytest.raises(ImageError, match=r"empty\.png"):
        load_image(path)


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert "\n" not in str(caught.value)


def test_too_many_pixels_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (4, 4)).save(path)

    def must_not_decode(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(ImageError, match=r"4x4 .*limit.*FCC_MAX_PIXELS=16"):
        load_image(path, max_pixels=10)


def test_max_pixels_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (4, 4)).save(path)
    monkeypatch.setenv("FCC_MAX_PIXELS", "15")
    with pytest.raises(ImageError, match="FCC_MAX_PIXELS"):
        load_image(path)
    monkeypatch.setenv("FCC_MAX_PIXELS", "16")
    assert load_image(path).info.width == 4
    monkeypatch.setenv("FCC_MAX_PIXELS", "lots")
    with pytest.raises(UsageError, match="FCC_MAX_PIXELS must be a positive integer"):
        load_image(path)


def test_pillow_bomb_check_gives_our_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (4, 4)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)
    monkeypatch.setattr(images, "_allow_in_pillow", lambda _limit: None)
    with pytest.raises(ImageError, match="larger than the limit"):
        load_image(path, max_pixels=1000)


def test_default_limit_is_the_documented_100_megapixels() -> None:
    assert DEFAULT_MAX_PIXELS == 100_000_000 >= 8000 * 6000


def test_a_region_is_the_padded_image_in_floats(tmp_path) -> None:
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)).save(tmp_path / "odd.png")
    image = load_image(tmp_path / "odd.png")
    padded = images.pad_to_multiple(image.pixels, 64)
    assert torch.equal(image.region(0, 0, 64, 64), padded)
    assert torch.equal(image.region(16, 32, 48, 32), padded[:, :, 16:64, 32:64])
    assert (image.height, image.width) == (37, 50)


# ------------------------------------------------------------------ writing PNG


def test_to_uint8_is_exact_for_every_8_bit_value() -> None:
    levels = torch.arange(256, dtype=torch.float32) / 255
    pixels = levels.reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    np.testing.assert_array_equal(to_uint8(pixels)[..., 0].ravel(), np.arange(256))


def test_to_uint8_clamps_and_rounds_half_to_even() -> None:
    values = torch.tensor([-0.5, 1.5, float("nan"), 0.5 / 255, 1.5 / 255, 2.5 / 255])
    pixels = values.reshape(1, 1, 6).expand(3, 1, 6)
    assert to_uint8(pixels)[0, :, 0].tolist() == [0, 255, 0, 0, 2, 2]


def test_save_png_round_trips_8_bit_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    array = _random_rgb(rng)
    pixels = torch.from_numpy(array).permute(2, 0, 1).float().div(255)
    path = tmp_path / "out.png"
    save_png(pixels, path)  # [3, H, W] is accepted too
    loaded = load_image(path)
    np.testing.assert_array_equal(to_uint8(loaded.pixels), array)
    assert (loaded.info.mode, loaded.info.bit_depth) == ("RGB", 8)


def test_save_png_is_deterministic(tmp_path: Path, rng: np.random.Generator) -> None:
    pixels = torch.from_numpy(rng.random((1, 3, 9, 11), dtype=np.float32))
    for bit_depth in (8, 16):
        save_png(pixels, tmp_path / f"a{bit_depth}.png", bit_depth=bit_depth)
        save_png(pixels, tmp_path / f"b{bit_depth}.png", bit_depth=bit_depth)
        assert (tmp_path / f"a{bit_depth}.png").read_bytes() == (
            tmp_path / f"b{bit_depth}.png"
        ).read_bytes()


@pytest.mark.parametrize("mode", [ColorMode.GRAY, ColorMode.GRAY_ALPHA_DROPPED])
def test_save_png_gray_writes_rounded_channel_mean(tmp_path: Path, mode: ColorMode) -> None:
    pixels = torch.zeros(1, 3, 1, 2)
    pixels[0, :, 0, 0] = torch.tensor([10, 20, 31]) / 255  # mean 20.33 -> 20
    pixels[0, :, 0, 1] = torch.tensor([0, 0, 2]) / 255  # mean 0.67 -> 1
    path = tmp_path / "gray.png"
    save_png(pixels, path, mode=mode)
    with Image.open(path) as image:
        assert image.mode == "L"
        assert np.asarray(image).tolist() == [[20, 1]]
    assert color_mode(load_image(path).info) is ColorMode.GRAY


def test_save_png_rgb_modes_write_rgb(tmp_path: Path) -> None:
    path = tmp_path / "rgb.png"
    save_png(torch.rand(1, 3, 2, 2), path, mode=ColorMode.RGB_ALPHA_DROPPED)
    with Image.open(path) as image:
        assert image.mode == "RGB"


def test_save_png_16_bit_gray_round_trips(tmp_path: Path) -> None:
    samples = _sixteen_bit_gray()
    gray = torch.from_numpy(samples.astype(np.float32)) / 65535
    path = tmp_path / "gray16.png"
    save_png(gray.expand(1, 3, *gray.shape), path, mode=ColorMode.GRAY, bit_depth=16)
    loaded = load_image(path)
    assert (loaded.info.bit_depth, color_mode(loaded.info)) == (16, ColorMode.GRAY)
    recovered = torch.round(loaded.pixels[0, 0] * 65535).to(torch.int64).numpy()
    np.testing.assert_array_equal(recovered, samples)


def _read_png_rgb16(data: bytes) -> np.ndarray:
    """Independent reader for the writer's output: IHDR, IDAT, IEND; Up filter only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        position += 12 + length
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (16, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + width * 6)
    assert (raw[:, 0] == 2).all()
    rows = np.cumsum(raw[:, 1:].astype(np.int64), axis=0) % 256
    return rows.astype(np.uint8).view(">u2").reshape(height, width, 3)


def test_save_png_16_bit_rgb_round_trips(tmp_path: Path, rng: np.random.Generator) -> None:
    samples = rng.integers(0, 65536, size=(5, 4, 3), dtype=np.uint16)
    pixels = torch.from_numpy(samples.astype(np.float32)).permute(2, 0, 1) / 65535
    path = tmp_path / "rgb48.png"
    save_png(pixels, path, bit_depth=16)
    np.testing.assert_array_equal(_read_png_rgb16(path.read_bytes()), samples)
    with Image.open(path) as image:  # a valid PNG for other readers too
        assert (image.size, image.mode) == ((4, 5), "RGB")
        np.testing.assert_array_equal(np.asarray(image), (samples >> 8).astype(np.uint8))


def test_save_png_refuses_existing_file_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    save_png(torch.zeros(1, 3, 1, 1), path)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="--force"):
        save_png(torch.ones(1, 3, 1, 1), path)
    assert path.read_bytes() == before
    save_png(torch.ones(1, 3, 1, 1), path, overwrite=True)
    assert path.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_png_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="bit depth"):
        save_png(torch.zeros(1, 3, 1, 1), tmp_path / "a.png", bit_depth=12)
    with pytest.raises(ValueError, match="expected pixels"):
        save_png(torch.zeros(1, 4, 1, 1), tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ pixel helpers


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 7), (65, 1), (64, 128)])
def test_pad_and_crop(height: int, width: int) -> None:
    x = torch.rand(1, 3, height, width)
    padded = pad_to_multiple(x, 64)
    assert padded.shape[-2:] == padded_size(height, width, 64)
    assert padded.shape[-2] % 64 == 0 and padded.shape[-1] % 64 == 0
    assert torch.equal(crop(padded, height, width), x)
    # Replicated: the padding repeats the last row and column.
    assert torch.equal(
        padded[..., height:, :width], x[..., -1:, :].expand(-1, -1, padded.shape[-2] - height, -1)
    )
    assert torch.equal(
        padded[..., :, width:], padded[..., :, width - 1 : width].expand_as(padded[..., :, width:])
    )


def test_padded_size_values() -> None:
    assert padded_size(1, 1) == (64, 64)
    assert padded_size(65, 1) == (128, 64)
    assert padded_size(64, 64) == (64, 64)
    assert padded_size(10, 10, multiple=8) == (16, 16)


def test_crop_refuses_growing() -> None:
    with pytest.raises(ValueError):
        crop(torch.zeros(1, 3, 4, 4), 5, 4)


def test_psnr() -> None:
    a = torch.zeros(1, 3, 2, 2)
    assert psnr(a, a) == math.inf
    b = a.clone()
    b[0, 0, 0, 0] = 1.0  # one of 12 samples is off by the full range
    assert psnr(a, b) == pytest.approx(10 * math.log10(12))
    # Differences below half an 8-bit level vanish: PSNR is measured on rounded pixels.
    assert psnr(a, a + 0.4 / 255) == math.inf
    with pytest.raises(ValueError):
        psnr(a, torch.zeros(1, 3, 2, 3))


def test_float_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.zeros((2, 2), np.float32)).save(path)
    with pytest.raises(ImageError, match="floating-point images are not supported"):
        load_image(path)
