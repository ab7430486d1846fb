"""scripts/real_photo_model.py: the shrunk Gaussian of real features, the distance from it, and
the tail probabilities that put the classifier and the distance on one scale."""

from __future__ import annotations

import numpy as np
from maintainer_scripts import load_script

model = load_script("real_photo_model")


def test_tail_probability_counts_the_reference_at_or_above_each_score() -> None:
    reference = np.array([0.0, 1.0, 2.0, 3.0])
    u = model.tail_probability(np.array([-1.0, 0.5, 3.0, 5.0]), reference)
    assert np.allclose(u, [5 / 5, 4 / 5, 2 / 5, 1 / 5])
    assert np.all(np.diff(model.tail_probability(np.linspace(-2, 6, 50), reference)) <= 0)  # monotone


def test_ledoit_wolf_is_invertible_with_fewer_samples_than_dimensions_and_finds_outliers() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(20, 40))  # n < d: the sample covariance alone is singular
    mean, covariance = model.ledoit_wolf(real)
    assert np.all(np.linalg.eigvalsh(covariance) > 0)
    inliers = model.mahalanobis(rng.normal(size=(50, 40)), mean, covariance)
    outliers = model.mahalanobis(rng.normal(loc=3.0, size=(50, 40)), mean, covariance)
    assert outliers.min() > np.median(inliers)


def test_open_set_scores_put_zero_at_the_threshold() -> None:
    rng = np.random.default_rng(1)
    groups = {
        "train": {"features": rng.normal(size=(200, 4))},
        "val": {"features": rng.normal(size=(400, 4)), "scores": rng.normal(size=400)},
        "test": {"features": np.vstack([rng.normal(size=(100, 4)), rng.normal(loc=4.0, size=(100, 4))]),
                 "scores": rng.normal(size=200)},
    }
    scores = model.open_set_scores(groups, alpha=0.025)
    real_called, far_called = (scores["combined"][:100] > 0).mean(), (scores["combined"][100:] > 0).mean()
    assert real_called < 0.15 and far_called > 0.9  # about 5 % of real ones cross the threshold, the far ones all do
    assert np.array_equal(scores["classifier"], groups["test"]["scores"])
