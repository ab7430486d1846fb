"""Tiled g_a / g_s: the tile grid, parity with whole-image transforms, and files that record the
tiling their decoder must reproduce."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec import api
from forensiccodec.codec import pipeline
from forensiccodec.codec.bitstream import read_fcc
from forensiccodec.codec.config import get_config
from forensiccodec.codec.entropy_coding import EntropyTables
from forensiccodec.codec.threads import one_thread
from forensiccodec.codec.tic import TIC
from forensiccodec.codec.tiling import (
    ALIGN,
    Tiling,
    spans,
    tile_count,
    tiled_analysis,
    tiled_synthesis,
)
from forensiccodec.errors import UsageError
from forensiccodec.rate_points import rate_point_for_quality
from forensiccodec.zoo import LoadedCodec

SMALL_TILES = Tiling(tile=8, overlap=8)  # 128-pixel tiles: a 320x256 image has 3x2 of them


@pytest.fixture(scope="module")
def model() -> TIC:
    torch.manual_seed(0)
    return TIC(get_config("tiny")).eval()


@pytest.fixture(scope="module")
def codec(model) -> LoadedCodec:
    return LoadedCodec(model, EntropyTables.from_model(model), "tiny", rate_point_for_quality(1), "ab" * 32)


def smooth_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 16 + 1, width // 16 + 1, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


def test_spans_cover_the_axis_on_the_grid():
    for length in (4, 8, 12, 20, 64, 68):
        parts = spans(length, Tiling(8, 8))
        assert [p.start for p in parts] == list(range(0, length, 8))
        assert parts[-1].stop == length and all(a.stop == b.start for a, b in itertools.pairwise(parts))
        for part in parts:
            assert part.context_start % ALIGN == 0 and part.context_start == max(0, part.start - 8)
            assert part.context_stop == min(length, part.stop + 8)
    assert tile_count(20, 12, Tiling(8, 0)) == 3 * 2


@pytest.mark.parametrize(("tile", "overlap"), [(0, 8), (12, 8), (8, 4), (8, -8)])
def test_tiles_off_the_grid_are_refused(tile, overlap):
    with pytest.raises(UsageError):
        Tiling(tile, overlap)


def test_tiled_transforms_match_the_whole_image_with_overlap_and_not_without(model):
    x = smooth_image(256, 320)
    with torch.inference_mode():
        y = model.analysis(x)
        y_hat = torch.round(y)
        whole = model.synthesis(y_hat)
        for tiling, close in ((SMALL_TILES, True), (Tiling(8, 0), False)):
            x_hat = tiled_synthesis(model, y_hat, tiling)
            y_tiled = tiled_analysis(model, lambda t, l, h, w: x[:, :, t : t + h, l : l + w], x.shape[-2:], tiling)
            assert x_hat.shape == whole.shape and y_tiled.shape == y.shape
            synthesis_error = float((x_hat - whole).abs().max())
            analysis_error = float((y_tiled - y).abs().max())
            if close:
                assert synthesis_error < 1e-3 and analysis_error < 1e-3
            else:  # without context the tile borders show: the parity above is the overlap's doing
                assert synthesis_error > 1e-2


def test_progress_counts_every_tile(model):
    seen = []
    with torch.inference_mode():
        tiled_synthesis(model, torch.zeros(1, model.config.M, 16, 20), SMALL_TILES, lambda done, total: seen.append((done, total)))
    assert seen == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]


@pytest.mark.parametrize("workers", [2, 4])
def test_tiles_decoded_side_by_side_give_the_same_pixels_in_grid_order(model, workers):
    y_hat = torch.round(4 * torch.randn(1, model.config.M, 16, 20, generator=torch.Generator().manual_seed(1)))
    with one_thread(), torch.inference_mode():
        alone = tiled_synthesis(model, y_hat, SMALL_TILES)
        together = tiled_synthesis(model, y_hat, SMALL_TILES, workers=workers)
        pasted, seen = [], []
        tiled_synthesis(model, y_hat, SMALL_TILES, lambda done, total: seen.append(done),
                        lambda top, left, tile: pasted.append((top, left, tile.clone())), workers=workers)
    assert torch.equal(alone, together)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert [(top, left) for top, left, _ in pasted] == [(r, c) for r in (0, 128) for c in (0, 128, 256)]
    for top, left, tile in pasted:
        assert torch.equal(tile, alone[:, :, top : top + tile.shape[2], left : left + tile.shape[3]])


def test_tiles_decoded_side_by_side_run_in_the_callers_grad_mode(model):
    y_hat = torch.zeros(1, model.config.M, 16, 20)
    with torch.inference_mode():
        assert tiled_synthesis(model, y_hat, SMALL_TILES, workers=2).is_inference()
    with torch.no_grad():
        assert not tiled_synthesis(model, y_hat, SMALL_TILES, workers=2).requires_grad
    assert tiled_synthesis(model, y_hat, SMALL_TILES, workers=2).requires_grad  # the weights' gradients flow


def test_a_failing_tile_stops_the_decode_with_its_error(model):
    class Broken(torch.nn.Module):
        config = model.config

        def synthesis(self, piece):
            raise RuntimeError("tile failed")

    with pytest.raises(RuntimeError, match="tile failed"):
        tiled_synthesis(Broken(), torch.zeros(1, model.config.M, 16, 20), SMALL_TILES, workers=3)


def save_photo(path, height: int, width: int) -> None:
    pixels = (smooth_image(height, width)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(path)


def test_a_file_records_its_tiling_and_decodes_over_it(codec, tmp_path):
    save_photo(tmp_path / "large.png", 256, 320)
    report = api.encode_file(codec, tmp_path / "large.png", tmp_path / "large.fcc", tiling=SMALL_TILES)
    fcc = read_fcc((tmp_path / "large.fcc").read_bytes())
    assert fcc.header.tiling == (8, 8) and fcc.header.version_minor == 2
    whole = api.encode_file(codec, tmp_path / "large.png", tmp_path / "whole.fcc", tiling=None)
    assert read_fcc((tmp_path / "whole.fcc").read_bytes()).header.tiling is None
    assert abs(report.estimated_bpp - whole.estimated_bpp) / whole.estimated_bpp < 0.005

    decoded = pipeline.decompress_fcc(codec.model, codec.tables, fcc)
    header = fcc.header
    by_hand = pipeline.decompress(codec.model, codec.tables, fcc.z_stream, fcc.y_stream, header.z_shape,
                                  header.y_shape, header.height, header.width, tiling=SMALL_TILES)
    assert torch.equal(decoded.pixels, by_hand.pixels)  # the recorded tiling, exactly
    untiled = pipeline.decompress(codec.model, codec.tables, fcc.z_stream, fcc.y_stream, header.z_shape,
                                  header.y_shape, header.height, header.width)
    assert float((decoded.pixels - untiled.pixels).abs().max()) < 1e-3


def test_an_image_within_one_tile_is_coded_as_before(codec, tmp_path):
    save_photo(tmp_path / "small.png", 96, 128)
    api.encode_file(codec, tmp_path / "small.png", tmp_path / "default.fcc")
    api.encode_file(codec, tmp_path / "small.png", tmp_path / "whole.fcc", tiling=None)
    data = (tmp_path / "default.fcc").read_bytes()
    assert data == (tmp_path / "whole.fcc").read_bytes()
    assert read_fcc(data).header.tiling is None and read_fcc(data).header.version_minor == 0
