"""The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian.

    d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½

The cross term is computed from symmetric eigen-decompositions (no matrix inverse, no complex
square root), so it stays defined when a covariance is rank-deficient — as it is whenever there
are fewer samples than feature dimensions. A rank-deficient estimate is biased, so distances are
comparable only between sets of the same size; the report says how many samples it used.
"""

from __future__ import annotations

import numpy as np

from forensiccodec.errors import UsageError


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and covariance [d, d] (unbiased) of ``features`` [n, d]."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise UsageError(f"a Fréchet distance needs at least two feature vectors, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """The Fréchet distance (squared, as FID reports it) between two feature sets [n, d]."""
    mean1, cov1 = gaussian_statistics(first)
    mean2, cov2 = gaussian_statistics(second)
    if mean1.shape != mean2.shape:
        raise UsageError(f"feature sizes differ: {mean1.shape[0]} vs {mean2.shape[0]}")
    root1 = _psd_sqrt(cov1)
    cross = root1 @ cov2 @ root1
    cross_trace = float(np.sqrt(np.clip(np.linalg.eigvalsh((cross + cross.T) / 2), 0.0, None)).sum())
    distance = float(((mean1 - mean2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * cross_trace)
    return max(distance, 0.0)  # rounding can take identical sets a hair below zero
