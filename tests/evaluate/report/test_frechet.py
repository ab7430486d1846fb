"""The Fréchet distance and the FID Inception network's key layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from forensiccodec.errors import WeightsError
from forensiccodec.evaluate.report.fid_inception import (
    fid_inception,
    load_fid_inception,
)
from forensiccodec.evaluate.report.frechet import frechet_distance


def test_identical_sets_are_at_distance_zero() -> None:
    features = np.random.default_rng(0).normal(size=(200, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_a_shift_adds_its_squared_length() -> None:
    features = np.random.default_rng(1).normal(size=(300, 5))
    shift = np.array([3.0, 0.0, -1.0, 0.0, 2.0])
    assert frechet_distance(features, features + shift) == pytest.approx(14.0, rel=1e-9)


def test_gaussians_of_known_covariance() -> None:
    # N(0, I) against N(0, 4I) in d dims: tr I + tr 4I − 2 tr 2I = d.
    rng = np.random.default_rng(2)
    first = rng.normal(size=(20000, 3))
    assert frechet_distance(first, 2 * rng.normal(size=(20000, 3))) == pytest.approx(3.0, rel=0.05)


def test_rank_deficient_covariances_give_a_finite_distance() -> None:
    rng = np.random.default_rng(3)
    distance = frechet_distance(rng.normal(size=(5, 64)), rng.normal(size=(5, 64)) + 1.0)
    assert np.isfinite(distance) and distance > 64 * 0.5


def test_fid_inception_loads_a_state_dict_of_its_layout(tmp_path: Path) -> None:
    state = fid_inception().state_dict()
    assert state["fc.weight"].shape == (1008, 2048) and not any(k.startswith("AuxLogits") for k in state)
    path = tmp_path / "pt_inception-2015-12-05-test.pth"
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, path)
    load_fid_inception(path)


def test_fid_inception_refuses_other_weights(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="not the FID Inception weights"):
        load_fid_inception(path)
    with pytest.raises(WeightsError, match="no such"):
        load_fid_inception(tmp_path / "missing.pth")
