"""Detector evaluation: rank-based AUC, accuracy at threshold 0, transforms, whole splits."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.detector import PatchDetector
from forensiccodec.detector.evaluation import (
    evaluate_split,
    jpeg_round_trip,
    jpeg_transform,
    labelled_files,
    named_transform,
    roc_auc,
    score_histogram,
    summarise,
)
from forensiccodec.errors import FccError, UsageError

torch.set_num_threads(2)


def _pairwise_auc(real: list[float], synthetic: list[float]) -> float:
    wins = sum(1.0 if s > r else 0.5 if s == r else 0.0 for r, s in itertools.product(real, synthetic))
    return wins / (len(real) * len(synthetic))


def test_auc_extremes_and_ties() -> None:
    assert roc_auc([-3, -2, -1], [1, 2]) == 1.0
    assert roc_auc([1, 2], [-3, -2, -1]) == 0.0
    assert roc_auc([0, 0, 0], [0, 0]) == 0.5
    assert np.isnan(roc_auc([], [1.0]))


def test_auc_matches_pairwise_count_with_ties() -> None:
    rng = np.random.default_rng(1)
    real = list(rng.integers(-5, 5, size=37).astype(float))
    synthetic = list(rng.integers(-3, 7, size=23).astype(float))
    assert roc_auc(real, synthetic) == pytest.approx(_pairwise_auc(real, synthetic), abs=1e-12)


def test_summary_counts_threshold_zero_as_real() -> None:
    evaluation = summarise([-1.0, 0.0, 2.0], [3.0, -0.5])
    assert evaluation.real_accuracy == pytest.approx(2 / 3)
    assert evaluation.synthetic_accuracy == 0.5
    assert evaluation.accuracy == pytest.approx(3 / 5)
    assert evaluation.n_real == 3 and evaluation.n_synthetic == 2


def test_summary_carries_bootstrap_intervals_independent_of_file_order() -> None:
    rng = np.random.default_rng(3)
    real, synthetic = list(rng.normal(-1, 1, 30)), list(rng.normal(1, 1, 25))
    evaluation = summarise(real, synthetic)
    for name in ("accuracy", "auc", "real_accuracy", "synthetic_accuracy"):
        low, high = getattr(evaluation, f"{name}_ci")
        assert 0.0 <= low <= getattr(evaluation, name) <= high <= 1.0, name
        assert high - low > 0.02, name  # 55 images leave room for doubt
    assert evaluation.summary()["auc_ci"] == evaluation.auc_ci
    assert evaluation.to_json()["accuracy_ci"] == evaluation.accuracy_ci
    shuffled = summarise(real[::-1], list(rng.permutation(synthetic)))
    assert shuffled.summary() == evaluation.summary()  # sorted before resampling: order does not matter
    one_class = summarise([-1.0, 1.0], [])
    assert one_class.auc_ci == [None, None] and one_class.synthetic_accuracy_ci == [None, None]
    assert one_class.real_accuracy_ci[1] == 1.0


def test_histogram_clips_outliers_into_end_bins() -> None:
    assert score_histogram([-100, -1, 0.5, 100], [-2, 0, 2]) == [2, 2]


def test_jpeg_round_trip_is_lossy_but_close() -> None:
    torch.manual_seed(0)
    image = torch.rand(1, 3, 40, 48)
    low, high = jpeg_round_trip(image, 50), jpeg_round_trip(image, 95)
    assert low.shape == image.shape and jpeg_round_trip(image[0], 90).shape == image[0].shape
    assert (low - image).abs().mean() > (high - image).abs().mean() > 0


def test_transform_names() -> None:
    assert named_transform("none") is None
    assert named_transform("jpeg90").__name__ == "jpeg90"
    with pytest.raises(UsageError):
        named_transform("blur")
    with pytest.raises(UsageError):
        jpeg_transform(0)


def _layout(root: Path, per_class: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for label in ("real", "synthetic"):
        folder = root / "test" / label
        folder.mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, size=(100, 120, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


def test_evaluate_split_scores_every_image_after_the_transform(tmp_path: Path) -> None:
    data = _layout(tmp_path)
    assert [label for _, label in labelled_files(data, "test")] == [0, 0, 1, 1]
    calls = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(image.shape))
        return image

    torch.manual_seed(0)
    detector = PatchDetector("tiny").eval()
    evaluation = evaluate_split(detector, data, "test", transform=transform, n_patches=6, top_m=4)
    assert calls == [(1, 3, 100, 120)] * 4
    assert evaluation.n_real == 2 and evaluation.n_synthetic == 2
    assert evaluation.n_patches == 6 and evaluation.top_m == 4 and evaluation.transform == "transform"
    assert len(evaluation.real_scores) == 2 and len(evaluation.synthetic_files) == 2
    again = evaluate_split(detector, data, "test", n_patches=6, top_m=4, limit=1)
    assert again.n_real == 1 and again.real_scores[0] == pytest.approx(evaluation.real_scores[0])


def test_missing_split_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(FccError):
        labelled_files(tmp_path, "val")
