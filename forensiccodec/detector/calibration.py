"""Placing the detector's decision threshold from labelled images, and folding it into the head.

A detector trained on few images can separate the classes perfectly (AUC 1) and still put the
boundary in the wrong place: on the demo set the `small` detector's real scores reach -0.2 and
its synthetic scores start at +2.4, so a real photograph of an unusual kind (fog, flat sky)
lands just above 0. Calibration chooses the threshold from the training and validation splits,
never the test split, and subtracts it from the class-1 bias of the classifier head. The image
score is the mean of patch class-1 logits, so every score moves down by exactly that amount and
"score > 0 means synthetic" stays the rule everywhere (CLI, evaluation, adapter training).

``fcc calibrate-detector --data DIR`` (`calibrate_registered`) scores the splits with the
registered detector, writes the shifted weights back in place of the registered ones and records
what it did in the manifest entry (measured metrics there are dropped, since they belonged to the
old threshold). It then fits the probability beside the score (`probability`: Platt scaling of
the calibrated scores of the ``val`` split) and stores it in the same entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from forensiccodec.detector.backbone import PatchClassifier
from forensiccodec.detector.evaluation import evaluate_split
from forensiccodec.detector.model import PatchDetector
from forensiccodec.detector.probability import PlattScaling, fit_probability
from forensiccodec.errors import UsageError
from forensiccodec.manifest import detector_entry_name

SYNTHETIC_CLASS = 1


@dataclass(frozen=True)
class Calibration:
    """Where the threshold went, and the evidence for it (and the probability fitted after it)."""

    offset: float  # subtracted from every score; the old threshold in the new coordinates is 0
    splits: tuple[str, ...]
    n_real: int
    n_synthetic: int
    max_real: float
    min_synthetic: float
    errors_at_zero: int  # mistakes on the calibration images before
    errors_at_offset: int  # and after
    probability: PlattScaling | None = None  # fitted on the shifted scores (`calibrate_registered`)

    def to_json(self) -> dict:
        record = asdict(self)
        record["splits"] = list(self.splits)
        record = {key: round(value, 5) if isinstance(value, float) else value for key, value in record.items()}
        record["probability"] = self.probability.to_json() if self.probability is not None else None
        return record


def choose_threshold(real_scores: Sequence[float], synthetic_scores: Sequence[float]) -> float:
    """The threshold with the highest balanced accuracy; among equals, the one farthest from any score.

    When the classes separate, that is the midpoint between the highest real and the lowest
    synthetic score.
    """
    real = np.asarray(real_scores, dtype=np.float64)
    synthetic = np.asarray(synthetic_scores, dtype=np.float64)
    if real.size == 0 or synthetic.size == 0:
        raise UsageError("calibration needs images of both classes")
    values = np.unique(np.concatenate([real, synthetic]))
    candidates = (values[:-1] + values[1:]) / 2 if values.size > 1 else values
    best: tuple[float, float] | None = None
    threshold = float(candidates[0])
    for candidate in candidates:
        balanced = ((real <= candidate).mean() + (synthetic > candidate).mean()) / 2
        margin = float(np.min(np.abs(values - candidate)))
        key = (float(balanced), margin)
        if best is None or key > best:
            best, threshold = key, float(candidate)
    return threshold


def count_errors(real_scores: Sequence[float], synthetic_scores: Sequence[float], threshold: float) -> int:
    """Images on the wrong side of ``threshold`` (real above it, synthetic at or below it)."""
    return int(sum(s > threshold for s in real_scores) + sum(s <= threshold for s in synthetic_scores))


def shift_decision(backbone: PatchClassifier, offset: float) -> None:
    """Lower every patch's class-1 logit, and so every image score, by ``offset``."""
    with torch.no_grad():
        backbone.classifier.bias[SYNTHETIC_CLASS] -= offset


def _split_scores(
    detector: PatchDetector, data_dir: str | Path, split: str, n_patches: int | None = None,
) -> tuple[list[float], list[float]]:
    evaluation = evaluate_split(detector, data_dir, split, n_patches=n_patches,
                                top_m=None if n_patches is None else detector.top_for(n_patches))
    return list(evaluation.real_scores), list(evaluation.synthetic_scores)


def _calibration(real: list[float], synthetic: list[float], splits: Sequence[str]) -> Calibration:
    offset = choose_threshold(real, synthetic)
    return Calibration(
        offset=offset, splits=tuple(splits), n_real=len(real), n_synthetic=len(synthetic),
        max_real=max(real), min_synthetic=min(synthetic),
        errors_at_zero=count_errors(real, synthetic, 0.0),
        errors_at_offset=count_errors(real, synthetic, offset),
    )


def calibrate(detector: PatchDetector, data_dir: str | Path, splits: Sequence[str] = ("train", "val")) -> Calibration:
    """Score ``splits`` of a real/synthetic folder with ``detector`` and choose the offset (the
    detector itself is not changed; apply it with :func:`shift_decision`)."""
    real: list[float] = []
    synthetic: list[float] = []
    for split in splits:
        split_real, split_synthetic = _split_scores(detector, data_dir, split)
        real += split_real
        synthetic += split_synthetic
    return _calibration(real, synthetic, splits)


def calibrate_registered(
    config_name: str, data_dir: str | Path, splits: Sequence[str] = ("train", "val"), weights_dir: Path | None = None,
    probability_split: str | None = "val", n_patches: int | None = None,
) -> Calibration:
    """Calibrate the registered detector of ``config_name`` and register the shifted weights.

    With a ``probability_split`` (default ``val``), also fit the Platt scaling of the shifted
    scores into P(synthetic) on that split (`probability`) and store it in the manifest entry as
    ``probability``, where `weights.load_detector` finds it. Each split is scored once. A fit
    that fails (scores that do not rise with the class) stops the command before anything is
    written. Without one, the entry keeps no probability when the weights change.

    ``n_patches`` scores each image on fewer patches than the weights' own (their share of top
    patches kept): thousands of calibration tiles at 800 patches take hours on a CPU.
    """
    from forensiccodec.detector.weights import (
        PROBABILITY_KEY,
        export_detector,
        load_detector,
    )
    from forensiccodec.zoo import Manifest

    detector = load_detector(config_name, weights_dir)
    scores = {split: _split_scores(detector, data_dir, split, n_patches)
              for split in dict.fromkeys([*splits, *([probability_split] if probability_split else [])])}
    real = [score for split in splits for score in scores[split][0]]
    synthetic = [score for split in splits for score in scores[split][1]]
    result = _calibration(real, synthetic, splits)
    if probability_split:
        # the registered weights score exactly `offset` lower (`shift_decision`): fit those scores
        split_real, split_synthetic = scores[probability_split]
        fitted = fit_probability(
            [score - result.offset for score in split_real], [score - result.offset for score in split_synthetic],
            split=probability_split, n_patches=n_patches or detector.n_patches,
            top_m=detector.top_for(n_patches) if n_patches else detector.top_m,
        )
        result = replace(result, probability=fitted)
    shift_decision(detector.backbone, result.offset)
    manifest = Manifest.load(weights_dir)
    entry = manifest.entries[detector_entry_name(config_name)]
    record = {**result.to_json(), "data": str(data_dir), **({"n_patches": n_patches} if n_patches else {})}
    history = list(entry.extra.get("calibrations", [])) + [record]
    extra: dict = {"calibrations": history}
    if result.probability is not None:
        extra[PROBABILITY_KEY] = result.probability.to_json()
    export_detector(
        detector.backbone, config_name=config_name, weights_dir=weights_dir,
        n_patches=detector.n_patches, top_m=detector.top_m, extra=extra, overwrite=True,
    )
    return result  # the shifted file drops what was measured at the old threshold (zoo.carried_over_extra)
