"""Codec RD on real .fcc files with a tiny exported model: sizes, PSNR and aggregates add up."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.codec.bitstream import read_fcc
from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import UsageError
from forensiccodec.evaluate.codec_rd import (
    aggregate,
    measure_codec_rd,
    psnr_from_mse,
    registered_qualities,
)
from forensiccodec.zoo import export_codec

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    for quality in (1, 2):
        torch.manual_seed(quality)
        export_codec(TIC(get_config("tiny")), config_name="tiny", quality=quality, weights_dir=directory)
    return directory


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for name, (height, width) in (("a", (40, 56)), ("b", (64, 33))):
        yy, xx = np.mgrid[0:height, 0:width]
        pixels = np.stack([4 * xx, 3 * yy, 128 + rng.integers(-20, 20, (height, width))], axis=-1)
        path = directory / f"{name}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def measured(weights_dir: Path, images: list[Path], tmp_path_factory: pytest.TempPathFactory):
    work_dir = tmp_path_factory.mktemp("work")
    seen = []
    result = measure_codec_rd(images, "tiny", weights_dir=weights_dir, work_dir=work_dir, progress=seen.append)
    return result, work_dir, seen


def test_registered_qualities(weights_dir: Path) -> None:
    assert registered_qualities("tiny", weights_dir) == [1, 2]
    with pytest.raises(UsageError, match="no small codec weights"):
        registered_qualities("small", weights_dir)


def test_every_image_is_coded_at_every_quality_into_real_files(measured, images: list[Path]) -> None:
    result, work_dir, seen = measured
    assert [(p.quality, p.image) for p in result.per_image] == [(q, i.name) for q in (1, 2) for i in images]
    assert seen == result.per_image
    for point in result.per_image:
        fcc = next(work_dir.glob(f"*-{Path(point.image).stem}.q{point.quality}.fcc"))
        data = fcc.read_bytes()
        header = read_fcc(data).header
        assert (header.width, header.height, header.quality) == (point.width, point.height, point.quality)
        assert point.file_bytes == len(data)
        assert point.bpp == pytest.approx(8 * len(data) / point.pixels)
        assert point.payload_bpp < point.bpp  # the header costs something
        assert point.rate_overhead == pytest.approx(point.payload_bpp / point.estimated_bpp - 1)
        assert point.encode_seconds > 0 and point.decode_seconds > 0
        assert 0 <= point.encode_entropy_share <= 1 and 0 <= point.decode_entropy_share <= 1


def test_psnr_is_that_of_the_decoded_png(measured, images: list[Path]) -> None:
    result, work_dir, _ = measured
    point = result.per_image[1]
    original = np.asarray(Image.open(images[1]).convert("RGB"), dtype=np.float64)
    decoded = np.asarray(Image.open(next(work_dir.glob("*-b.q1.decoded.png"))).convert("RGB"), dtype=np.float64)
    mse = np.mean((original - decoded) ** 2)
    assert point.mse == pytest.approx(mse) and point.psnr == pytest.approx(10 * math.log10(255**2 / mse))


def test_aggregates(measured) -> None:
    result, _, _ = measured
    assert [q.quality for q in result.per_quality] == [1, 2]
    for summary in result.per_quality:
        points = result.points(summary.quality)
        assert summary.images == 2 and summary.lmbda == points[0].lmbda
        assert summary.mean_bpp == pytest.approx((points[0].bpp + points[1].bpp) / 2)
        assert summary.mean_psnr == pytest.approx((points[0].psnr + points[1].psnr) / 2)
        assert summary.psnr_of_mean_mse == pytest.approx(psnr_from_mse((points[0].mse + points[1].mse) / 2))
        payload = sum(p.payload_bpp * p.pixels for p in points)
        estimate = sum(p.estimated_bpp * p.pixels for p in points)
        assert summary.payload_vs_estimate == pytest.approx(payload / estimate - 1)
    assert result.to_json()["per_quality"][0]["quality"] == 1
    with pytest.raises(ValueError):
        aggregate(result.per_image)  # two qualities mixed


def test_temporary_files_are_removed(weights_dir: Path, images: list[Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    result = measure_codec_rd(images[:1], "tiny", [2], weights_dir=weights_dir)
    assert len(result.per_image) == 1 and result.per_quality[0].quality == 2
    assert list(tmp_path.iterdir()) == []

