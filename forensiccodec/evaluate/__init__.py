"""Evaluating the codec: rate-distortion against JPEG and WebP, and Bjøntegaard deltas."""

from .bd_rate import (
    BjontegaardResult,
    CurveError,
    CurvesDoNotOverlap,
    bd_psnr,
    bd_rate,
    bjontegaard,
)

__all__ = ["BjontegaardResult", "CurveError", "CurvesDoNotOverlap", "bd_psnr", "bd_rate", "bjontegaard"]
