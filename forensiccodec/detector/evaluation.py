"""Measuring a detector on a labelled split: accuracy, AUC, per-class accuracy, score lists.

A split is ``DIR/<split>/{real,synthetic}/*`` (see :mod:`forensiccodec.data.layout`). Each image
can be transformed before detection, to measure what a processing step does to the detector:
``none``, JPEG at quality 50 or 90 (Pillow, 4:2:0 chroma subsampling, its default), or any
callable ``transform(x: Tensor[1,3,H,W]) -> Tensor[1,3,H,W]`` such as a codec's round trip.

Scores follow the detector's convention: class-1 logits, positive means synthetic, so the
accuracy is measured at threshold 0 and the AUC is threshold-free.

Every accuracy and AUC comes with its 95 % confidence interval (``accuracy_ci``, ``auc_ci``,
``real_accuracy_ci``, ``synthetic_accuracy_ci``: ``[low, high]``, ``None`` where undefined), a
stratified bootstrap over images (:mod:`forensiccodec.detector.confidence`: 2000 resamples,
seeded). The scores of each class are sorted before resampling, so the interval depends on the
scores only, not on the order the images were listed in (a merged sharded run gives one run's).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from forensiccodec.detector.confidence import DEFAULT_RESAMPLES, bootstrap_intervals
from forensiccodec.detector.model import PatchDetector
from forensiccodec.errors import UsageError
from forensiccodec.images import load_image, to_uint8

REAL, SYNTHETIC = 0, 1
CI_METRICS = ("accuracy", "auc", "real_accuracy", "synthetic_accuracy")  # each has a ``<name>_ci``
Transform = Callable[[torch.Tensor], torch.Tensor]


def roc_auc(real_scores: Sequence[float], synthetic_scores: Sequence[float]) -> float:
    """Area under the ROC curve, synthetic as the positive class (Mann-Whitney U statistic).

    The probability that a random synthetic image scores above a random real one, ties
    counting one half; computed from average ranks, so it is exact and O(n log n).
    """
    real = np.asarray(real_scores, dtype=np.float64)
    synthetic = np.asarray(synthetic_scores, dtype=np.float64)
    if real.size == 0 or synthetic.size == 0:
        return float("nan")
    scores = np.concatenate([real, synthetic])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < scores.size:  # equal scores share their average rank (1-based)
        end = start
        while end + 1 < scores.size and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    synthetic_rank_sum = ranks[real.size:].sum()
    u = synthetic_rank_sum - synthetic.size * (synthetic.size + 1) / 2.0
    return float(u / (real.size * synthetic.size))


def jpeg_round_trip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """``image`` [1,3,H,W] (or [3,H,W]) saved as a JPEG of ``quality`` with Pillow and read back."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0
    result = torch.from_numpy(decoded).permute(2, 0, 1)
    return result[None] if image.dim() == 4 else result


def jpeg_transform(quality: int) -> Transform:
    """A transform that re-saves each image as a JPEG of ``quality``."""
    if not 1 <= quality <= 100:
        raise UsageError(f"JPEG quality must be 1..100, got {quality}")

    def transform(image: torch.Tensor) -> torch.Tensor:
        return jpeg_round_trip(image, quality)

    transform.__name__ = f"jpeg{quality}"
    return transform


def named_transform(name: str) -> Transform | None:
    """``none`` (no transform) or ``jpegQ`` (e.g. ``jpeg50``, ``jpeg90``)."""
    if name == "none":
        return None
    if name.startswith("jpeg") and name[4:].isdigit():
        return jpeg_transform(int(name[4:]))
    raise UsageError(f"unknown transform {name!r} (use none or jpegQ, e.g. jpeg90)")


def labelled_files(data_dir: str | Path, split: str) -> list[tuple[Path, int]]:
    """(path, label) of every image in ``data_dir/split/{real,synthetic}``, label 0 real / 1 synthetic."""
    from forensiccodec.data.layout import scan_split

    return [(Path(path), int(label)) for path, label in scan_split(Path(data_dir), split)]


@dataclass
class Evaluation:
    """Detector results on a set of labelled images (lists are in file order)."""

    transform: str
    n_patches: int
    top_m: int
    accuracy: float
    auc: float
    real_accuracy: float
    synthetic_accuracy: float
    n_real: int
    n_synthetic: int
    accuracy_ci: list[float | None] = field(default_factory=lambda: [None, None])  # 95 %, bootstrap over images
    auc_ci: list[float | None] = field(default_factory=lambda: [None, None])
    real_accuracy_ci: list[float | None] = field(default_factory=lambda: [None, None])
    synthetic_accuracy_ci: list[float | None] = field(default_factory=lambda: [None, None])
    real_scores: list[float] = field(default_factory=list)
    synthetic_scores: list[float] = field(default_factory=list)
    real_files: list[str] = field(default_factory=list)
    synthetic_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The numbers without the per-file lists."""
        keys = ("transform", "n_patches", "top_m", "accuracy", "auc", "real_accuracy",
                "synthetic_accuracy", "n_real", "n_synthetic", *(f"{name}_ci" for name in CI_METRICS), "seconds")
        return {key: getattr(self, key) for key in keys}


def summarise(
    real_scores: Sequence[float], synthetic_scores: Sequence[float], *, transform: str = "none",
    n_patches: int = 0, top_m: int = 0, resamples: int = DEFAULT_RESAMPLES,
) -> Evaluation:
    """Accuracy at threshold 0, AUC and per-class accuracy from two lists of scores, each with its
    95 % bootstrap interval over images (``resamples`` stratified resamples, seed 0)."""
    real = np.asarray(real_scores, dtype=np.float64)
    synthetic = np.asarray(synthetic_scores, dtype=np.float64)
    real_correct = int((real <= 0).sum())
    synthetic_correct = int((synthetic > 0).sum())
    total = real.size + synthetic.size
    # Sorted: the resamples then depend on the scores, not on the order of the files.
    intervals = bootstrap_intervals(np.sort(real), np.sort(synthetic), threshold=0.0, resamples=resamples)
    return Evaluation(
        transform=transform, n_patches=n_patches, top_m=top_m,
        accuracy=(real_correct + synthetic_correct) / total if total else float("nan"),
        auc=roc_auc(real, synthetic),
        real_accuracy=real_correct / real.size if real.size else float("nan"),
        synthetic_accuracy=synthetic_correct / synthetic.size if synthetic.size else float("nan"),
        n_real=int(real.size), n_synthetic=int(synthetic.size),
        **{f"{name}_ci": intervals[name].to_json() for name in CI_METRICS},
        real_scores=[float(s) for s in real], synthetic_scores=[float(s) for s in synthetic],
    )


def evaluate_files(
    detector: PatchDetector,
    samples: Sequence[tuple[Path, int]],
    *,
    transform: Transform | None = None,
    transform_name: str | None = None,
    n_patches: int | None = None,
    top_m: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Score every (path, label) image, after ``transform`` if given, and summarise."""
    started = time.monotonic()
    n_patches = detector.n_patches if n_patches is None else n_patches
    top_m = detector.top_m if top_m is None else top_m
    scores: dict[int, list[float]] = {REAL: [], SYNTHETIC: []}
    files: dict[int, list[str]] = {REAL: [], SYNTHETIC: []}
    for index, (path, label) in enumerate(samples):
        image = load_image(path).pixels
        if transform is not None:
            with torch.no_grad():
                image = transform(image).clamp(0, 1)
        result = detector.score_image(image, n_patches=n_patches, top_m=top_m)
        scores[label].append(result.score)
        files[label].append(str(path))
        if progress is not None:
            progress(index + 1, len(samples))
    name = transform_name or ("none" if transform is None else getattr(transform, "__name__", "custom"))
    evaluation = summarise(scores[REAL], scores[SYNTHETIC], transform=name, n_patches=n_patches, top_m=min(top_m, n_patches))
    evaluation.real_files, evaluation.synthetic_files = files[REAL], files[SYNTHETIC]
    evaluation.seconds = time.monotonic() - started
    return evaluation


def evaluate_split(
    detector: PatchDetector,
    data_dir: str | Path,
    split: str = "test",
    *,
    transform: Transform | None = None,
    transform_name: str | None = None,
    n_patches: int | None = None,
    top_m: int | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """:func:`evaluate_files` on ``data_dir/split``; ``limit`` keeps the first images of each class."""
    samples = labelled_files(data_dir, split)
    if limit is not None:
        samples = [s for s in samples if s[1] == REAL][:limit] + [s for s in samples if s[1] == SYNTHETIC][:limit]
    return evaluate_files(detector, samples, transform=transform, transform_name=transform_name,
                          n_patches=n_patches, top_m=top_m, progress=progress)


def score_histogram(scores: Sequence[float], bins: Sequence[float]) -> list[int]:
    """Counts of ``scores`` per bin (edges ``bins``; values outside fall in the end bins)."""
    edges = np.asarray(bins, dtype=np.float64)
    clipped = np.clip(np.asarray(scores, dtype=np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return [int(c) for c in counts]
