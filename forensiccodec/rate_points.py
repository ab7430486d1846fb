"""The four rate points, named by the paper's adapter λ and paired with base-codec qualities.

The paper trains one adapter set per λ ∈ {0.02, 0.03, 0.045, 0.07}, each on top of the TransTIC
base codec of quality 1–4. The base codec itself was trained with the TransTIC λ of its quality,
which is a different number on a different scale (it weights 255²·MSE, not a forensic loss).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class RatePoint:
    quality: int  # 1 (lowest rate) .. 4 (highest rate)
    lmbda: float  # the paper's adapter λ, the name users see
    codec_lambda: float  # the TransTIC base-codec λ for 255²·MSE + bpp


RATE_POINTS: tuple[RatePoint, ...] = (
    RatePoint(1, 0.02, 0.0018),
    RatePoint(2, 0.03, 0.0035),
    RatePoint(3, 0.045, 0.0067),
    RatePoint(4, 0.07, 0.013),
)


def _valid_lambdas() -> str:
    return ", ".join(f"{p.lmbda:g}" for p in RATE_POINTS)


def rate_point_for_quality(quality: int) -> RatePoint:
    for point in RATE_POINTS:
        if point.quality == quality:
            return point
    raise UsageError(f"unknown quality {quality}; valid qualities are 1, 2, 3, 4 (λ {_valid_lambdas()})")


def rate_point_for_lambda(lmbda: float) -> RatePoint:
    for point in RATE_POINTS:
        if abs(point.lmbda - lmbda) < 1e-9:
            return point
    raise UsageError(f"unknown --lambda {lmbda:g}; valid values are {_valid_lambdas()} (lowest to highest rate)")


def resolve_rate_point(lmbda: float | None, quality: int | None, default_quality: int = 3) -> RatePoint:
    """Pick the rate point from --lambda or its alias --quality; both given must agree."""
    if lmbda is not None and quality is not None:
        point = rate_point_for_lambda(lmbda)
        if point.quality != quality:
            raise UsageError(f"--lambda {lmbda:g} is quality {point.quality}, but --quality {quality} was given")
        return point
    if lmbda is not None:
        return rate_point_for_lambda(lmbda)
    return rate_point_for_quality(quality if quality is not None else default_quality)
