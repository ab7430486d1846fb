"""h_s band by band gives the whole latent's scales and means bit for bit, so coding in bands
changes no byte of a file and no decoded pixel."""

from __future__ import annotations

import pytest
import torch

from forensiccodec.codec import hyper_bands, pipeline
from forensiccodec.codec.config import get_config
from forensiccodec.codec.entropy_coding import EntropyTables
from forensiccodec.codec.hyper_bands import banded_hyper_synthesis
from forensiccodec.codec.tic import TIC


def _model(config: str) -> TIC:
    torch.manual_seed(0)
    return TIC(get_config(config)).eval()


@pytest.mark.parametrize("config", ["tiny", "small"])
@pytest.mark.parametrize(("z_rows", "z_columns"), [(37, 5), (24, 3), (9, 9)])
def test_bands_give_the_whole_latents_output_bit_for_bit(config: str, z_rows: int, z_columns: int) -> None:
    model = _model(config)
    z_hat = (torch.randn(1, model.config.N, z_rows, z_columns) * 4).round()
    with torch.inference_mode():
        scales, means = model.hyper_synthesis(z_hat, dtype=torch.float64)
    # the smallest bands there are: one hyper window of rows each
    one_row = hyper_bands.Y_ROWS_PER_Z_ROW**2 * z_columns * model.config.M
    bands = hyper_bands.hyper_bands(model, z_rows, z_columns, band_elements=one_row)
    assert len(bands) > 1 or z_rows <= 5 * model.config.hyper_window_size
    covered = torch.zeros(scales.shape[2], dtype=torch.int64)
    for rows, band_scales, band_means in banded_hyper_synthesis(model, z_hat, band_elements=one_row):
        assert torch.equal(band_scales, scales[:, :, rows]) and torch.equal(band_means, means[:, :, rows])
        covered[rows] += 1
    assert (covered == 1).all()


def test_a_latent_that_fits_is_one_band_over_all_of_it() -> None:
    model = _model("tiny")
    assert hyper_bands.hyper_bands(model, 20, 20) == [hyper_bands.HyperBand(0, 20, 0, 20)]


def test_coding_in_bands_writes_the_same_file_and_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model("tiny")
    tables = EntropyTables.from_model(model)
    torch.manual_seed(1)
    image = torch.rand(1, 3, 2048, 128)  # 32 rows of ẑ

    def code() -> tuple[bytes, bytes, torch.Tensor]:
        compressed = pipeline.compress(model, tables, image, tiling=None)
        decoded = pipeline.decompress(model, tables, compressed.z_stream, compressed.y_stream, compressed.z_shape,
                                      compressed.y_shape, 2048, 128)
        return compressed.z_stream, compressed.y_stream, decoded.pixels

    whole = code()
    monkeypatch.setattr(hyper_bands, "BAND_ELEMENTS", 1)  # as small as bands get
    monkeypatch.setattr(hyper_bands.banded_hyper_synthesis, "__defaults__", (1,))
    assert len(hyper_bands.hyper_bands(model, 32, 2, band_elements=1)) > 1
    banded = code()
    assert whole[0] == banded[0] and whole[1] == banded[1]
    assert torch.equal(whole[2], banded[2])
