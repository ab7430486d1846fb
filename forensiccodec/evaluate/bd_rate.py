"""Bjøntegaard deltas between two rate-distortion curves: average rate saving and PSNR gain.

Each curve is a few (rate, PSNR) points. BD-rate interpolates log(rate) as a function of PSNR,
BD-PSNR interpolates PSNR as a function of log(rate); both integrate the difference of the two
interpolants over the interval the curves share and divide by its width. The interpolant is the
shape-preserving piecewise-cubic Hermite (PCHIP, Fritsch–Carlson slopes), as in the common
modern implementations (e.g. the JVET/AOM anchors' scripts), instead of Bjøntegaard's original
single cubic fit, which overshoots between widely spaced points.

Rates may be in any unit (bpp, bytes) as long as both curves use the same one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FccError

__all__ = [
    "BjontegaardResult",
    "CurveError",
    "CurvesDoNotOverlap",
    "bd_psnr",
    "bd_rate",
    "bjontegaard",
    "pchip_integral",
    "pchip_slopes",
]


class CurveError(FccError):
    """An RD curve cannot be used: too few points, repeated or non-finite values."""


class CurvesDoNotOverlap(CurveError):
    """The two curves share no PSNR (or rate) interval, so no delta can be measured without extrapolating."""


@dataclass(frozen=True)
class BjontegaardResult:
    """BD-rate in percent (negative: the test curve needs fewer bits) and BD-PSNR in dB.

    A value is NaN when it cannot be measured; ``reason`` then says why.
    """

    bd_rate_percent: float
    bd_psnr_db: float
    reason: str = ""

    def to_json(self) -> dict[str, float | str | None]:
        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {"bd_rate_percent": finite(self.bd_rate_percent), "bd_psnr_db": finite(self.bd_psnr_db), "reason": self.reason}


# ----------------------------------------------------------------------------- PCHIP


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson derivatives at the knots x (strictly increasing) of the data y.

    Interior slopes are the weighted harmonic mean of the neighbouring secant slopes, or 0 where
    those change sign (so the interpolant never overshoots the data); the end slopes use the
    one-sided three-point formula, clipped the same way.
    """
    h = np.diff(x)
    secants = np.diff(y) / h
    if x.size == 2:
        return np.full(2, secants[0])
    slopes = np.zeros_like(y, dtype=np.float64)
    left, right = secants[:-1], secants[1:]
    w1 = 2.0 * h[1:] + h[:-1]
    w2 = h[1:] + 2.0 * h[:-1]
    same_sign = (np.sign(left) * np.sign(right)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / left + w2 / right)
    slopes[1:-1] = np.where(same_sign, harmonic, 0.0)
    slopes[0] = _end_slope(h[0], h[1], secants[0], secants[1])
    slopes[-1] = _end_slope(h[-1], h[-2], secants[-1], secants[-2])
    return slopes


def _end_slope(h0: float, h1: float, s0: float, s1: float) -> float:
    slope = ((2.0 * h0 + h1) * s0 - h0 * s1) / (h0 + h1)
    if np.sign(slope) != np.sign(s0):
        return 0.0
    if np.sign(s0) != np.sign(s1) and abs(slope) > abs(3.0 * s0):
        return 3.0 * s0
    return slope


def pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """∫ from lo to hi of the PCHIP interpolant of (x, y); requires x[0] ≤ lo ≤ hi ≤ x[-1]."""
    slopes = pchip_slopes(x, y)
    total = 0.0
    for k in range(x.size - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if a >= b:
            continue
        h = x[k + 1] - x[k]
        secant = (y[k + 1] - y[k]) / h
        # y_k + d_k t + c2 t² + c3 t³ with t = x − x_k: the cubic Hermite segment.
        c2 = (3.0 * secant - 2.0 * slopes[k] - slopes[k + 1]) / h
        c3 = (slopes[k] + slopes[k + 1] - 2.0 * secant) / h**2

        def antiderivative(t: float, k: int = k, c2: float = c2, c3: float = c3) -> float:
            return y[k] * t + slopes[k] * t**2 / 2.0 + c2 * t**3 / 3.0 + c3 * t**4 / 4.0

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return total


# ----------------------------------------------------------------------------- deltas


def _curve(rates: Sequence[float], psnrs: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    rate = np.asarray(rates, dtype=np.float64)
    psnr = np.asarray(psnrs, dtype=np.float64)
    if rate.ndim != 1 or rate.shape != psnr.shape:
        raise CurveError(f"{name} curve: rates and PSNRs must be two lists of the same length")
    if rate.size < 2:
        raise CurveError(f"{name} curve: needs at least 2 points, got {rate.size}")
    if not (np.isfinite(rate).all() and np.isfinite(psnr).all()) or (rate <= 0).any():
        raise CurveError(f"{name} curve: rates must be positive and PSNRs finite")
    return np.log(rate), psnr


def _mean_difference(
    anchor_x: np.ndarray, anchor_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, axis: str
) -> float:
    """Mean of (test − anchor) over the shared x interval, each curve PCHIP-interpolated in x."""
    curves = []
    for x, y, name in ((anchor_x, anchor_y, "anchor"), (test_x, test_y, "test")):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        if (np.diff(x) == 0).any():
            raise CurveError(f"{name} curve: two points share the same {axis}; cannot interpolate along it")
        curves.append((x, y))
    lo = max(curves[0][0][0], curves[1][0][0])
    hi = min(curves[0][0][-1], curves[1][0][-1])
    if not lo < hi:
        raise CurvesDoNotOverlap(f"the two RD curves do not overlap in {axis}; a Bjøntegaard delta needs a shared interval")
    anchor_area = pchip_integral(*curves[0], lo, hi)
    test_area = pchip_integral(*curves[1], lo, hi)
    return (test_area - anchor_area) / (hi - lo)


def bd_rate(
    anchor_rates: Sequence[float],
    anchor_psnrs: Sequence[float],
    test_rates: Sequence[float],
    test_psnrs: Sequence[float],
) -> float:
    """Average rate difference of test vs anchor at equal PSNR, in percent (−10 = 10% fewer bits)."""
    anchor_log_rate, anchor_psnr = _curve(anchor_rates, anchor_psnrs, "anchor")
    test_log_rate, test_psnr = _curve(test_rates, test_psnrs, "test")
    mean_log_ratio = _mean_difference(anchor_psnr, anchor_log_rate, test_psnr, test_log_rate, "PSNR")
    return (math.exp(mean_log_ratio) - 1.0) * 100.0


def bd_psnr(
    anchor_rates: Sequence[float],
    anchor_psnrs: Sequence[float],
    test_rates: Sequence[float],
    test_psnrs: Sequence[float],
) -> float:
    """Average PSNR difference of test vs anchor at equal rate, in dB."""
    anchor_log_rate, anchor_psnr = _curve(anchor_rates, anchor_psnrs, "anchor")
    test_log_rate, test_psnr = _curve(test_rates, test_psnrs, "test")
    return _mean_difference(anchor_log_rate, anchor_psnr, test_log_rate, test_psnr, "rate")


def bjontegaard(
    anchor_rates: Sequence[float],
    anchor_psnrs: Sequence[float],
    test_rates: Sequence[float],
    test_psnrs: Sequence[float],
) -> BjontegaardResult:
    """Both deltas; a delta that cannot be measured is NaN and the reason says why (no exception)."""
    reasons = []
    values = []
    for function in (bd_rate, bd_psnr):
        try:
            values.append(function(anchor_rates, anchor_psnrs, test_rates, test_psnrs))
        except CurveError as error:
            values.append(math.nan)
            reasons.append(f"{function.__name__}: {error}")
    return BjontegaardResult(values[0], values[1], "; ".join(reasons))
