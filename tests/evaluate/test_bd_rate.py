"""Bjøntegaard deltas: known shifts give known deltas, and the PCHIP matches the reference one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forensiccodec.evaluate.bd_rate import (
    CurveError,
    CurvesDoNotOverlap,
    bd_psnr,
    bd_rate,
    bjontegaard,
    pchip_integral,
    pchip_slopes,
)

# A realistic, unevenly spaced curve: bpp and PSNR of four rate points.
RATES = [0.12, 0.21, 0.37, 0.66]
PSNRS = [27.1, 29.0, 31.3, 33.2]


def test_identical_curves_give_zero() -> None:
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)


def test_rates_scaled_by_0_9_give_minus_ten_percent() -> None:
    scaled = [0.9 * r for r in RATES]
    assert bd_rate(RATES, PSNRS, scaled, PSNRS) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(scaled, PSNRS, RATES, PSNRS) == pytest.approx(100 / 0.9 - 100, abs=1e-6)


def test_constant_psnr_shift_gives_that_bd_psnr() -> None:
    shifted = [p + 1.0 for p in PSNRS]
    assert bd_psnr(RATES, PSNRS, RATES, shifted) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(RATES, shifted, RATES, PSNRS) == pytest.approx(-1.0, abs=1e-9)
    # a better curve needs fewer bits for the same PSNR
    assert bd_rate(RATES, PSNRS, RATES, shifted) < 0


def test_point_order_does_not_matter() -> None:
    other_rates, other_psnrs = [0.1, 0.2, 0.4, 0.8], [26.0, 29.5, 31.0, 34.0]
    forward = bd_rate(RATES, PSNRS, other_rates, other_psnrs)
    backward = bd_rate(RATES[::-1], PSNRS[::-1], other_rates[::-1], other_psnrs[::-1])
    assert forward == pytest.approx(backward, abs=1e-12)


def test_only_the_overlap_counts() -> None:
    # Straight lines (two points each): log-rate differs by 0.5·ln 10 on the shared 35–40 dB.
    anchor_rates, anchor_psnrs = [0.1, 1.0], [30.0, 40.0]
    test_rates, test_psnrs = [0.1, 1.0], [35.0, 45.0]
    expected = (10**-0.5 - 1.0) * 100.0
    assert bd_rate(anchor_rates, anchor_psnrs, test_rates, test_psnrs) == pytest.approx(expected, abs=1e-9)
    assert bd_psnr(anchor_rates, anchor_psnrs, test_rates, test_psnrs) == pytest.approx(5.0, abs=1e-9)


def test_curves_that_do_not_overlap_are_refused() -> None:
    higher = [p + 20.0 for p in PSNRS]
    with pytest.raises(CurvesDoNotOverlap, match="do not overlap in PSNR"):
        bd_rate(RATES, PSNRS, RATES, higher)
    result = bjontegaard(RATES, PSNRS, RATES, higher)
    assert math.isnan(result.bd_rate_percent) and "do not overlap" in result.reason
    assert result.bd_psnr_db == pytest.approx(20.0)
    assert result.to_json()["bd_rate_percent"] is None


@pytest.mark.parametrize(
    ("rates", "psnrs", "message"),
    [([0.1], [30.0], "at least 2"), ([0.1, -0.2], [30.0, 31.0], "positive"), ([0.1, 0.2], [30.0, 30.0], "same PSNR")],
)
def test_unusable_curves_are_refused(rates: list[float], psnrs: list[float], message: str) -> None:
    with pytest.raises(CurveError, match=message):
        bd_rate(RATES, PSNRS, rates, psnrs)


def test_pchip_matches_scipy_reference() -> None:
    interpolate = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(0)
    for n in (2, 3, 4, 7):
        x = np.sort(rng.uniform(0, 10, n))
        x[1:] += np.arange(1, n) * 1e-3  # strictly increasing
        y = rng.normal(size=n)
        reference = interpolate.PchipInterpolator(x, y)
        np.testing.assert_allclose(pchip_slopes(x, y), reference.derivative()(x), rtol=1e-10, atol=1e-12)
        lo, hi = x[0] + 0.3 * (x[1] - x[0]), x[-1]
        assert pchip_integral(x, y, lo, hi) == pytest.approx(reference.integrate(lo, hi), rel=1e-10, abs=1e-12)


def test_pchip_does_not_overshoot_monotone_data() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])  # a step: a plain cubic would dip below 0 and above 1
    slopes = pchip_slopes(x, y)
    assert slopes[1] == 0.0 and slopes[2] == 0.0
    assert pchip_integral(x, y, 0.0, 3.0) == pytest.approx(1.5)
