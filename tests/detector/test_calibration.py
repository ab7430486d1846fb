"""Threshold calibration: the choice of threshold, the shift folded into the head, registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from labelled_detector import separating_backbone, write_labelled_layout

from forensiccodec.detector import PatchDetector, build_backbone
from forensiccodec.detector.calibration import (
    calibrate,
    calibrate_registered,
    choose_threshold,
    count_errors,
    shift_decision,
)
from forensiccodec.detector.evaluation import evaluate_split
from forensiccodec.detector.probability import fit_platt
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


def test_calibrate_registered_replaces_the_weights_and_records_why(tmp_path: Path) -> None:
    backbone = separating_backbone()  # scores that a probability can be fitted to
    data = write_labelled_layout(tmp_path / "data", backbone, splits=("train", "val"), n_patches=12, top_m=8)
    weights = tmp_path / "weights"
    export_detector(backbone, config_name="tiny", weights_dir=weights, n_patches=12, top_m=8,
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

    # The probability is fitted on val as the registered (shifted) weights score it, and loads with them.
    assert entry["probability"] == result.probability.to_json()
    assert entry["probability"]["split"] == "val" and entry["probability"]["n_real"] == 2
    assert entry["calibrations"][0]["probability"] == entry["probability"]
    registered = load_detector("tiny", weights)
    val = evaluate_split(registered, data, "val")
    a, b = fit_platt(val.real_scores, val.synthetic_scores)
    assert registered.probability.a == pytest.approx(a, rel=1e-3)
    assert registered.probability.b == pytest.approx(b, rel=1e-3, abs=1e-3)
    assert registered.probability.a > 0 and abs(registered.probability.score_at_half) < 0.5


def test_calibration_fits_the_probability_on_its_split_after_the_shift(tmp_path: Path, monkeypatch) -> None:
    from forensiccodec.detector import calibration

    weights = tmp_path / "weights"
    torch.manual_seed(1)
    export_detector(build_backbone("tiny").eval(), config_name="tiny", weights_dir=weights, n_patches=12, top_m=8)
    scores = {"train": ([-3.0, -1.0], [2.0, 4.0]), "val": ([-2.0, 0.5, -4.0], [1.0, 6.0]), "test": ([9.0], [-9.0])}
    scored: list[str] = []

    def fake_scores(detector, data_dir, split, n_patches=None):
        scored.append(split if n_patches is None else f"{split}@{n_patches}")
        return scores[split]

    monkeypatch.setattr(calibration, "_split_scores", fake_scores)
    result = calibrate_registered("tiny", tmp_path / "data", weights_dir=weights)
    assert scored == ["train", "val"]  # val once, for the threshold and the probability
    shifted_real = [s - result.offset for s in scores["val"][0]]
    shifted_synthetic = [s - result.offset for s in scores["val"][1]]
    assert (result.probability.a, result.probability.b) == pytest.approx(fit_platt(shifted_real, shifted_synthetic))
    assert (result.probability.n_real, result.probability.n_synthetic) == (3, 2)
    assert (result.probability.n_patches, result.probability.top_m) == (12, 8)
    assert load_detector("tiny", weights).probability == result.probability

    on_train = calibrate_registered("tiny", tmp_path / "data", splits=("val",), weights_dir=weights, probability_split="train")
    assert on_train.probability.split == "train" and on_train.probability.n_real == 2
    without = calibrate_registered("tiny", tmp_path / "data", weights_dir=weights, probability_split=None)
    assert without.probability is None and without.to_json()["probability"] is None
    assert without.offset != 0.0  # so the weights changed, and the earlier fit no longer holds
    assert load_detector("tiny", weights).probability is None

    scored.clear()
    fewer = calibrate_registered("tiny", tmp_path / "data", weights_dir=weights, n_patches=4)
    assert scored == ["train@4", "val@4"]
    assert (fewer.probability.n_patches, fewer.probability.top_m) == (4, 3)  # the weights' share: 8 of 12
    assert Manifest.load(weights).entries["detector-tiny"].extra["calibrations"][-1]["n_patches"] == 4

    before = Manifest.load(weights).entries["detector-tiny"].sha256
    with pytest.raises(UsageError):  # scores that fall with the class: refused, nothing written
        calibrate_registered("tiny", tmp_path / "data", weights_dir=weights, probability_split="test")
    assert Manifest.load(weights).entries["detector-tiny"].sha256 == before
