"""Threshold calibration: the choice of threshold, the shift folded into the head, registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.detector import PatchDetector, build_backbone
from forensiccodec.detector.calibration import (
    calibrate,
    calibrate_registered,
    choose_threshold,
    count_errors,
    shift_decision,
)
from forensiccodec.detector.weights import export_detector, load_detector
from forensiccodec.errors import UsageError
from forensiccodec.zoo import Manifest

torch.set_num_threads(1)


def test_separable_scores_get_the_midpoint_of_the_gap() -> None:
    assert choose_threshold([-3.0, -0.2, -1.0], [2.4, 5.0]) == pytest.approx(1.1)


def test_overlapping_scores_get_the_best_balanced_accuracy() -> None:
    real = [-2.0, -1.0, 0.5, 3.0]  # one real far inside the synthetic range
    synthetic = [1.0, 2.0, 4.0]
    threshold = choose_threshold(real, synthetic)
    assert 0.5 < threshold < 1.0
    assert count_errors(real, synthetic, threshold) == 1
    assert count_errors(real, synthetic, 0.0) == 2


def test_one_class_only_is_refused() -> None:
    with pytest.raises(UsageError):
        choose_threshold([], [1.0])


def test_shift_moves_every_score_by_the_offset() -> None:
    torch.manual_seed(0)
    backbone = build_backbone("tiny").eval()
    image = torch.rand(3, 120, 140)
    before = PatchDetector(backbone, n_patches=30, top_m=20).score_image(image)
    shift_decision(backbone, 0.75)
    after = PatchDetector(backbone, n_patches=30, top_m=20).score_image(image)
    assert after.score == pytest.approx(before.score - 0.75, abs=1e-5)
    assert np.allclose(after.patch_scores, np.asarray(before.patch_scores) - 0.75, atol=1e-5)


def _layout(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("real", "synthetic"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(2):
                Image.fromarray(rng.integers(0, 256, size=(100, 110, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return root


def test_calibrate_registered_replaces_the_weights_and_records_why(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    weights = tmp_path / "weights"
    torch.manual_seed(1)
    export_detector(build_backbone("tiny").eval(), config_name="tiny", weights_dir=weights, n_patches=12, top_m=8,
                    extra={"metrics": {"demo-test": {"accuracy": 0.5}}})
    old_sha = Manifest.load(weights).entries["detector-tiny"].sha256
    before = calibrate(load_detector("tiny", weights), data)

    result = calibrate_registered("tiny", data, weights_dir=weights)
    assert result.offset == pytest.approx(before.offset)
    entry = json.loads((weights / "manifest.json").read_text())["weights"]["detector-tiny"]
    assert entry["sha256"] != old_sha and "metrics" not in entry
    assert entry["calibrations"][0]["offset"] == pytest.approx(result.offset, abs=1e-5)
    # Calibrating again finds the threshold at zero: the shift is in the registered weights.
    again = calibrate(load_detector("tiny", weights), data)
    assert again.offset == pytest.approx(0.0, abs=1e-4)
    assert again.errors_at_zero == result.errors_at_offset
