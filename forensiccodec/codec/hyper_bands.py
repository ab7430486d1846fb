"""h_s over bands of ẑ rows: the hyperprior's float64 output never exists for a whole large latent.

h_s turns ẑ into a scale and a mean for every latent element, in float64 so that the entropy
coder's scale indexes are reproducible. Over a whole latent, those two tensors and h_s's
activations take about 70 bytes per latent element: 2.6 GB for a 100-megapixel photograph with
`small`. So coding runs h_s on bands of ẑ rows, each with ``halo`` rows of context above and
below, and keeps only the band's own rows.

Bands start on the hyper window grid (`hyper_window_size` rows of ẑ, which is also a whole number
of windows of h_s's second stage), so each Swin window inside a band is one of the whole latent's
windows, and the halo (two windows, more than the measured reach of h_s's two stages) keeps the
band's own rows away from the windows that wrap around its edges. Each kept element is then
computed from the same inputs as over the whole latent, and the output is identical bit for bit
(`tests/codec/test_hyper_bands.py` checks it for several shapes and configurations, and that a
file coded in bands is byte for byte the file coded whole). So bands need no record in the file
and every file decodes as before. (A BLAS that summed a matrix product in another order for
fewer rows could change the last bits of a float64 scale; a scale index would change only for a
scale within that distance of a level boundary, the same margin that makes float64 scales
reproducible across machines at all.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .tic import TIC

# Latent elements (halo included) that one band's h_s works on: with about 70 bytes each in
# float64, a band's work stays near 600 MiB however large the image.
BAND_ELEMENTS = 1 << 23
Y_ROWS_PER_Z_ROW = 4  # h_s upsamples ẑ twice by 2
HALO_WINDOWS = 2


@dataclass(frozen=True)
class HyperBand:
    """ẑ rows [first, end) kept from h_s run over rows [context_first, context_end)."""

    first: int
    end: int
    context_first: int
    context_end: int


def hyper_bands(model: TIC, z_rows: int, z_columns: int, band_elements: int = BAND_ELEMENTS) -> list[HyperBand]:
    """The bands of a ẑ of this size: one band (the whole latent, as computed unbanded) when it
    fits in ``band_elements``."""
    window = model.config.hyper_window_size
    halo = HALO_WINDOWS * window
    elements_per_row = Y_ROWS_PER_Z_ROW**2 * z_columns * model.config.M
    rows = (band_elements // max(1, elements_per_row) - 2 * halo) // window * window
    rows = max(window, rows)
    if z_rows <= rows + 2 * halo:
        return [HyperBand(0, z_rows, 0, z_rows)]
    return [
        HyperBand(first, min(z_rows, first + rows), max(0, first - halo), min(z_rows, first + rows + halo))
        for first in range(0, z_rows, rows)
    ]


def banded_hyper_synthesis(model: TIC, z_hat: Tensor, band_elements: int = BAND_ELEMENTS) -> Iterator[tuple[slice, Tensor, Tensor]]:
    """h_s in float64 band by band: for each band, the latent rows it covers and their (scales,
    means), as `TIC.hyper_synthesis` gives them for the whole ẑ."""
    with torch.inference_mode():
        for band in hyper_bands(model, z_hat.shape[2], z_hat.shape[3], band_elements):
            scales, means = model.hyper_synthesis(z_hat[:, :, band.context_first : band.context_end], dtype=torch.float64)
            keep = slice((band.first - band.context_first) * Y_ROWS_PER_Z_ROW, (band.end - band.context_first) * Y_ROWS_PER_Z_ROW)
            rows = slice(band.first * Y_ROWS_PER_Z_ROW, band.end * Y_ROWS_PER_Z_ROW)
            yield rows, scales[:, :, keep], means[:, :, keep]
