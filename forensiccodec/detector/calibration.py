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
old threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from forensiccodec.detector.backbone import PatchClassifier
from forensiccodec.detector.evaluation import evaluate_split
from forensiccodec.detector.model import PatchDetector
from forensiccodec.errors import UsageError
from forensiccodec.manifest import detector_entry_name

SYNTHETIC_CLASS = 1


@dataclass(frozen=True)
class Calibration:
    """Where the threshold went, and the evidence for it."""

    offset: float  # subtracted from every score; the old threshold in the new coordinates is 0
    splits: tuple[str, ...]
    n_real: int
    n_synthetic: int
    max_real: float
    min_synthetic: float
    errors_at_zero: int  # mistakes on the calibration images before
    errors_at_offset: int  # and after

    def to_json(self) -> dict:
        record = asdict(self)
        record["splits"] = list(self.splits)
        return {key: round(value, 5) if isinstance(value, float) else value for key, value in record.items()}


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


def calibrate(detector: PatchDetector, data_dir: str | Path, splits: Sequence[str] = ("train", "val")) -> Calibration:
    """Score ``splits`` of a real/synthetic folder with ``detector`` and choose the offset (the
    detector itself is not changed; apply it with :func:`shift_decision`)."""
    real: list[float] = []
    synthetic: list[float] = []
    for split in splits:
        evaluation = evaluate_split(detector, data_dir, split)
        real += evaluation.real_scores
        synthetic += evaluation.synthetic_scores
    offset = choose_threshold(real, synthetic)
    return Calibration(
        offset=offset, splits=tuple(splits), n_real=len(real), n_synthetic=len(synthetic),
        max_real=max(real), min_synthetic=min(synthetic),
        errors_at_zero=count_errors(real, synthetic, 0.0),
        errors_at_offset=count_errors(real, synthetic, offset),
    )


def calibrate_registered(
    config_name: str, data_dir: str | Path, splits: Sequence[str] = ("train", "val"), weights_dir: Path | None = None,
) -> Calibration:
    """Calibrate the registered detector of ``config_name`` and register the shifted weights."""
    from forensiccodec.detector.weights import export_detector, load_detector
    from forensiccodec.zoo import Manifest

    detector = load_detector(config_name, weights_dir)
    result = calibrate(detector, data_dir, splits)
    shift_decision(detector.backbone, result.offset)
    manifest = Manifest.load(weights_dir)
    entry = manifest.entries[detector_entry_name(config_name)]
    history = list(entry.extra.get("calibrations", [])) + [{**result.to_json(), "data": str(data_dir)}]
    export_detector(
        detector.backbone, config_name=config_name, weights_dir=weights_dir,
        n_patches=detector.n_patches, top_m=detector.top_m, extra={"calibrations": history}, overwrite=True,
    )
    return result  # the shifted file drops the metrics measured at the old threshold (zoo.carried_over_extra)
