import numpy as np
import pytest

from forensiccodec.detector.confidence import bootstrap_intervals
from forensiccodec.detector.evaluation import roc_auc


def _scores(n: int, separation: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(-separation / 2, 1.0, n), rng.normal(separation / 2, 1.0, n)


def test_point_values_match_the_plain_metrics() -> None:
    real, synthetic = _scores(40, 1.5)
    intervals = bootstrap_intervals(real, synthetic)
    assert intervals["auc"].value == pytest.approx(roc_auc(real, synthetic))
    expected_accuracy = ((real <= 0).sum() + (synthetic > 0).sum()) / 80
    assert intervals["accuracy"].value == pytest.approx(expected_accuracy)
    for interval in intervals.values():
        assert interval.low <= interval.value <= interval.high


def test_ties_count_half_in_the_auc() -> None:
    intervals = bootstrap_intervals([0.0, 1.0], [1.0, 2.0], resamples=10)
    assert intervals["auc"].value == pytest.approx(roc_auc([0.0, 1.0], [1.0, 2.0]))


def test_interval_narrows_as_the_split_grows() -> None:
    widths = []
    for n in (20, 80, 320):
        real, synthetic = _scores(n, 1.0)
        intervals = bootstrap_intervals(real, synthetic)
        widths.append((intervals["accuracy"].high - intervals["accuracy"].low,
                       intervals["auc"].high - intervals["auc"].low))
    assert widths[0][0] > widths[1][0] > widths[2][0]
    assert widths[0][1] > widths[1][1] > widths[2][1]


def test_same_seed_same_interval_and_a_perfect_split_is_certain() -> None:
    real, synthetic = _scores(30, 1.0)
    assert bootstrap_intervals(real, synthetic, seed=3) == bootstrap_intervals(real, synthetic, seed=3)
    perfect = bootstrap_intervals([-2.0, -1.0, -3.0], [1.0, 2.0, 5.0])
    assert perfect["accuracy"].to_json() == [1.0, 1.0]
    assert perfect["auc"].to_json() == [1.0, 1.0]


def test_an_empty_class_leaves_the_auc_undefined() -> None:
    intervals = bootstrap_intervals([-1.0, 0.5], [])
    assert intervals["auc"].to_json() == [None, None]
    assert intervals["real_accuracy"].value == pytest.approx(0.5)


def test_bad_level_is_refused() -> None:
    with pytest.raises(ValueError):
        bootstrap_intervals([0.0], [1.0], level=1.5)
