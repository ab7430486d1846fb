"""Platt scaling of detector scores into P(synthetic): the fit, its record, its registry entry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from forensiccodec.detector import build_backbone
from forensiccodec.detector.probability import (
    PlattScaling,
    fit_platt,
    fit_probability,
    platt_targets,
    sigmoid,
)
from forensiccodec.detector.weights import (
    export_detector,
    load_detector,
    update_detector_record,
)
from forensiccodec.errors import UsageError, WeightsError
from forensiccodec.zoo import Manifest

torch.set_num_threads(1)


def _gradient(a: float, b: float, real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """The gradient of the smoothed-target negative log-likelihood at (a, b)."""
    low, high = platt_targets(real.size, synthetic.size)
    scores = np.concatenate([real, synthetic])
    targets = np.concatenate([np.full(real.size, low), np.full(synthetic.size, high)])
    residual = sigmoid(a * scores + b) - targets
    return np.array([residual @ scores, residual.sum()])


def test_overlapping_scores_fit_the_maximum_likelihood() -> None:
    rng = np.random.default_rng(0)
    real, synthetic = rng.normal(-1.0, 1.0, 400), rng.normal(1.0, 1.0, 400)
    a, b = fit_platt(real, synthetic)
    assert a == pytest.approx(2.0, rel=0.15) and abs(b) < 0.2  # the log-odds of two unit normals at ±1: 2s
    assert np.abs(_gradient(a, b, real, synthetic)).max() < 1e-6


def test_probability_is_monotonic_and_within_the_unit_interval() -> None:
    scaling = fit_probability([-4.0, -2.5, -1.0, 0.5], [-0.5, 1.0, 3.0, 7.0], split="val")
    scores = np.concatenate([np.linspace(-50, 50, 2001), [-1e6, 1e6]])
    p = scaling.probabilities(np.sort(scores))
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) >= 0) and p[-1] > p[0]
    assert scaling.probability(3.0) == pytest.approx(float(sigmoid(scaling.a * 3.0 + scaling.b)))
    assert scaling.a > 0 and (scaling.n_real, scaling.n_synthetic, scaling.split) == (4, 4, "val")


@pytest.mark.parametrize("gap", [1.0, 50.0, 1e4])
def test_a_perfectly_separated_split_stays_finite(gap: float) -> None:
    real = np.array([-3.0, -2.0, -1.5]) - gap
    synthetic = np.array([1.0, 2.5, 4.0]) + gap
    a, b = fit_platt(real, synthetic)
    assert np.isfinite(a) and np.isfinite(b) and a > 0
    assert np.abs(_gradient(a, b, real, synthetic)).max() < 1e-6 * max(1.0, gap)
    p = PlattScaling(a, b).probabilities(np.concatenate([real, synthetic]))
    low, high = platt_targets(3, 3)  # 1/5 and 4/5: the fit stays off 0 and 1
    assert np.all(p > low / 2) and np.all(p < (1 + high) / 2)


def test_targets_are_platts() -> None:
    assert platt_targets(3, 8) == (pytest.approx(1 / 5), pytest.approx(9 / 10))


@pytest.mark.parametrize(("real", "synthetic"), [
    ([1.0, 2.0, 3.0], [-1.0, -2.0]),  # falling with the class
    ([0.5, 0.5], [0.5, 0.5]),  # no information
    ([], [1.0]),
    ([0.0, float("nan")], [1.0]),
])
def test_no_increasing_fit_is_refused(real: list[float], synthetic: list[float]) -> None:
    with pytest.raises(UsageError):
        fit_platt(real, synthetic)


def test_record_round_trips_and_bad_records_are_weights_errors() -> None:
    scaling = fit_probability([-2.0, -1.0], [1.0, 3.0], split="val", n_patches=800, top_m=600)
    record = json.loads(json.dumps(scaling.to_json()))
    assert record["method"] == "platt" and set(record) >= {"a", "b", "split", "n_real", "n_synthetic"}
    assert PlattScaling.from_json(record) == scaling
    assert PlattScaling.from_json(None) is None
    for bad in ({"method": "isotonic", "a": 1.0, "b": 0.0}, {"method": "platt", "a": -1.0, "b": 0.0},
                {"method": "platt", "b": 0.0}, "platt"):
        with pytest.raises(WeightsError):
            PlattScaling.from_json(bad)


def test_the_registry_loads_the_probability_and_a_new_file_drops_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    export_detector(build_backbone("tiny"), config_name="tiny", weights_dir=tmp_path, n_patches=12, top_m=9)
    assert load_detector("tiny", tmp_path).probability is None
    scaling = PlattScaling(a=0.8, b=-0.1, split="val", n_real=3, n_synthetic=3)
    update_detector_record("tiny", tmp_path, probability=scaling.to_json())
    detector = load_detector("tiny", tmp_path)
    assert detector.probability == scaling
    assert detector.probability_of(2.0) == pytest.approx(scaling.probability(2.0))

    same = load_detector("tiny", tmp_path).backbone  # re-registering the same file keeps it
    export_detector(same, config_name="tiny", weights_dir=tmp_path, n_patches=12, top_m=9, overwrite=True)
    assert load_detector("tiny", tmp_path).probability == scaling
    torch.manual_seed(1)  # other weights: the fit belonged to the old scores
    export_detector(build_backbone("tiny"), config_name="tiny", weights_dir=tmp_path, n_patches=12, top_m=9, overwrite=True)
    assert "probability" not in Manifest.load(tmp_path).entries["detector-tiny"].extra
    assert load_detector("tiny", tmp_path).probability is None
