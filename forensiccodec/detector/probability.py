"""A calibrated probability beside the detector's raw score: Platt scaling.

The image score is a mean of class-1 logits; its sign is the decision, but its size has no
fixed meaning (−3 on one detector may be as sure as −30 on another). Platt scaling maps it to
``P(synthetic) = sigmoid(a·score + b)`` with ``a > 0``, fitted by maximum likelihood on labelled
images that the detector was not trained on (``fcc calibrate-detector``: the ``val`` split by
default). The map is increasing, so it never changes a ranking or the AUC.

Targets are Platt's smoothed ones, ``(N₊+1)/(N₊+2)`` for the synthetic images and
``1/(N₋+2)`` for the real ones, rather than 1 and 0: with hard targets a split the detector
separates perfectly (as small validation splits often are) has no maximum-likelihood fit, the
slope grows without bound and every probability becomes exactly 0 or 1. The smoothed targets
keep the fit finite and the probabilities off the ends, by less the more images there are.

The fit is Newton's method with a backtracking line search on the (convex) negative
log-likelihood, in float64 numpy (Lin, Lin and Weng, 2007, "A note on Platt's probabilistic
outputs for support vector machines").

The fitted map belongs to one weights file and its scoring settings: the manifest entry of the
detector stores it (``probability``: method, a, b, the split, the counts, n_patches, top_m), and
`weights.load_detector` attaches it to the detector. Scores drawn with other ``--patches`` are
noisier, so their probabilities are an approximation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forensiccodec.errors import UsageError, WeightsError

METHOD = "platt"
_MAX_ITERATIONS = 200
_MIN_STEP = 1e-10
_GRADIENT_TOLERANCE = 1e-9
_RIDGE = 1e-12  # keeps the Newton system solvable when every score is the same


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """1 / (1 + exp(−z)) without overflow."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


@dataclass(frozen=True)
class PlattScaling:
    """``P(synthetic | score) = sigmoid(a·score + b)``, and what it was fitted on."""

    a: float
    b: float
    split: str = ""
    n_real: int = 0
    n_synthetic: int = 0
    n_patches: int | None = None  # the scoring settings of the fitted scores
    top_m: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a <= 0:
            raise ValueError(f"a Platt scaling needs a finite slope a > 0 and a finite b, got a={self.a}, b={self.b}")

    def probability(self, score: float) -> float:
        """P(synthetic) for one image score."""
        return float(sigmoid(self.a * float(score) + self.b))

    def probabilities(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """P(synthetic) for many scores (float64)."""
        return sigmoid(self.a * np.asarray(scores, dtype=np.float64) + self.b)

    @property
    def score_at_half(self) -> float:
        """The score whose probability is 1/2 (−b/a); near 0 for a calibrated threshold."""
        return -self.b / self.a

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"method": METHOD, "a": self.a, "b": self.b, "split": self.split,
                                  "n_real": self.n_real, "n_synthetic": self.n_synthetic}
        if self.n_patches is not None:
            record.update(n_patches=self.n_patches, top_m=self.top_m)
        return record

    @classmethod
    def from_json(cls, record: Any, where: str = "manifest") -> PlattScaling | None:
        """The scaling a manifest entry stores (None for none), or a :class:`WeightsError`."""
        if record is None:
            return None
        try:
            if record.get("method") != METHOD:
                raise ValueError(f"unknown method {record.get('method')!r}")
            return cls(
                a=float(record["a"]), b=float(record["b"]), split=str(record.get("split", "")),
                n_real=int(record.get("n_real", 0)), n_synthetic=int(record.get("n_synthetic", 0)),
                n_patches=None if record.get("n_patches") is None else int(record["n_patches"]),
                top_m=None if record.get("top_m") is None else int(record["top_m"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{where}: not a valid probability calibration ({error})") from None


def platt_targets(n_real: int, n_synthetic: int) -> tuple[float, float]:
    """Platt's smoothed targets: ``(1/(N₋+2), (N₊+1)/(N₊+2))`` for real and synthetic images."""
    return 1.0 / (n_real + 2.0), (n_synthetic + 1.0) / (n_synthetic + 2.0)


def _objective(a: float, b: float, scores: np.ndarray, targets: np.ndarray) -> float:
    """The negative log-likelihood of the targets under sigmoid(a·s + b), computed stably."""
    z = a * scores + b
    return float(np.sum(targets * np.logaddexp(0.0, -z) + (1.0 - targets) * np.logaddexp(0.0, z)))


def fit_platt(real_scores: Sequence[float], synthetic_scores: Sequence[float]) -> tuple[float, float]:
    """The maximum-likelihood ``(a, b)`` of ``sigmoid(a·score + b)`` on labelled scores, with
    Platt's smoothed targets, in float64.

    Raises :class:`UsageError` when a class is empty, a score is not finite, or the fitted slope
    is not positive (the scores do not rise with the synthetic class, or do not vary at all):
    no increasing map fits such scores.
    """
    real = np.asarray(real_scores, dtype=np.float64).ravel()
    synthetic = np.asarray(synthetic_scores, dtype=np.float64).ravel()
    if real.size == 0 or synthetic.size == 0:
        raise UsageError("fitting a probability needs images of both classes")
    scores = np.concatenate([real, synthetic])
    if not np.isfinite(scores).all():
        raise UsageError("fitting a probability needs finite scores")
    low, high = platt_targets(real.size, synthetic.size)
    targets = np.concatenate([np.full(real.size, low), np.full(synthetic.size, high)])

    a, b = 0.0, math.log((synthetic.size + 1.0) / (real.size + 1.0))
    value = _objective(a, b, scores, targets)
    for _ in range(_MAX_ITERATIONS):
        p = sigmoid(a * scores + b)
        residual = p - targets
        gradient = np.array([residual @ scores, residual.sum()])
        if np.abs(gradient).max() < _GRADIENT_TOLERANCE * scores.size:
            break
        weight = p * (1.0 - p)
        hessian = np.array([[weight @ (scores * scores), weight @ scores], [weight @ scores, weight.sum()]])
        hessian += _RIDGE * np.eye(2)
        direction = -np.linalg.solve(hessian, gradient)
        step = 1.0
        while step >= _MIN_STEP:  # backtracking: accept a sufficient decrease
            candidate_a, candidate_b = a + step * direction[0], b + step * direction[1]
            candidate = _objective(candidate_a, candidate_b, scores, targets)
            if candidate <= value + 1e-4 * step * float(gradient @ direction):
                break
            step /= 2.0
        if step < _MIN_STEP:
            break  # no further decrease within floating-point precision: at the minimum
        a, b, value = candidate_a, candidate_b, candidate
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 1e-12:
        raise UsageError(
            f"the scores do not rise with the synthetic class (fitted slope {a:.3g}): no increasing"
            " probability fits them; is the detector trained, and are the labels right?"
        )
    return float(a), float(b)


def fit_probability(
    real_scores: Sequence[float], synthetic_scores: Sequence[float], *, split: str = "",
    n_patches: int | None = None, top_m: int | None = None,
) -> PlattScaling:
    """:func:`fit_platt` with its record (the split, the counts, the scoring settings)."""
    a, b = fit_platt(real_scores, synthetic_scores)
    return PlattScaling(a=a, b=b, split=split, n_real=len(real_scores), n_synthetic=len(synthetic_scores),
                        n_patches=n_patches, top_m=top_m)


__all__ = ["METHOD", "PlattScaling", "fit_platt", "fit_probability", "platt_targets", "sigmoid"]
