"""95 % confidence intervals for a detector's accuracy and AUC, by bootstrap over images.

A split of a few dozen images moves accuracy by several points per image, so a number without
its interval cannot tell two detectors (or two adapter sets) apart. The bootstrap resamples the
images of each class with replacement (stratified: each resample keeps the split's class
counts, as the split itself was built balanced), recomputes the metric and takes the 2.5th and
97.5th percentiles. The generator is seeded, so a report is reproducible to the digit.

Images are the resampling unit. Tiles cut from one photograph are not independent; where that
matters, pass one score per photograph (or accept that the interval is somewhat too narrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A metric's value on the split and its bootstrap interval ``[low, high]``."""

    value: float
    low: float
    high: float

    def to_json(self, digits: int = 5) -> list[float | None]:
        """``[low, high]``, rounded, for reports (``None`` where undefined)."""
        return [_round(self.low, digits), _round(self.high, digits)]

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def _round(value: float, digits: int) -> float | None:
    return round(float(value), digits) if np.isfinite(value) else None


def _auc_sorted(real_sorted: np.ndarray, synthetic: np.ndarray) -> float:
    """P(synthetic > real) + ½·P(equal), with the real scores already sorted."""
    below = np.searchsorted(real_sorted, synthetic, side="left")
    not_above = np.searchsorted(real_sorted, synthetic, side="right")
    return float((below + not_above).sum() / (2.0 * real_sorted.size * synthetic.size))


def _resample_indices(rng: np.random.Generator, size: int, resamples: int) -> np.ndarray:
    return rng.integers(0, size, size=(resamples, size)) if size else np.zeros((resamples, 0), dtype=np.int64)


def bootstrap_intervals(
    real_scores: Sequence[float],
    synthetic_scores: Sequence[float],
    *,
    threshold: float = 0.0,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> dict[str, Interval]:
    """Intervals for ``accuracy`` (score > ``threshold`` means synthetic), ``auc``,
    ``real_accuracy`` and ``synthetic_accuracy``.

    A metric that a split cannot define (AUC with an empty class) is NaN, interval included.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"need at least one resample, got {resamples}")
    real = np.asarray(real_scores, dtype=np.float64)
    synthetic = np.asarray(synthetic_scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    real_draws = real[_resample_indices(rng, real.size, resamples)]
    synthetic_draws = synthetic[_resample_indices(rng, synthetic.size, resamples)]

    real_correct = (real_draws <= threshold).sum(axis=1)
    synthetic_correct = (synthetic_draws > threshold).sum(axis=1)
    total = real.size + synthetic.size
    samples: dict[str, np.ndarray] = {
        "accuracy": (real_correct + synthetic_correct) / total if total else np.full(resamples, np.nan),
        "real_accuracy": real_correct / real.size if real.size else np.full(resamples, np.nan),
        "synthetic_accuracy": synthetic_correct / synthetic.size if synthetic.size else np.full(resamples, np.nan),
    }
    if real.size and synthetic.size:
        real_draws.sort(axis=1)
        samples["auc"] = np.array([_auc_sorted(r, s) for r, s in zip(real_draws, synthetic_draws)])
        point_auc = _auc_sorted(np.sort(real), synthetic)
    else:
        samples["auc"] = np.full(resamples, np.nan)
        point_auc = float("nan")

    points = {
        "accuracy": ((real <= threshold).sum() + (synthetic > threshold).sum()) / total if total else float("nan"),
        "real_accuracy": float((real <= threshold).mean()) if real.size else float("nan"),
        "synthetic_accuracy": float((synthetic > threshold).mean()) if synthetic.size else float("nan"),
        "auc": point_auc,
    }
    tail = (1.0 - level) / 2.0 * 100.0
    intervals = {}
    for name, values in samples.items():
        if np.isnan(values).all():
            intervals[name] = Interval(float(points[name]), float("nan"), float("nan"))
        else:
            low, high = np.percentile(values, [tail, 100.0 - tail])
            intervals[name] = Interval(float(points[name]), float(low), float(high))
    return intervals
