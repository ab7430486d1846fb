"""The numbers of one setting at one rate point, from its per-image measurements."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from forensiccodec.detector.confidence import DEFAULT_LEVEL, DEFAULT_RESAMPLES
from forensiccodec.detector.evaluation import CI_METRICS, summarise

# What every ``*_ci`` of a point is; report.json carries it as ``confidence_intervals``.
CONFIDENCE_INTERVALS = {
    "level": DEFAULT_LEVEL,
    "resamples": DEFAULT_RESAMPLES,
    "seed": 0,
    "method": "percentile bootstrap over images, stratified (each class resampled with replacement at its own count)",
}


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def summarise_point(images: list[dict[str, Any]]) -> dict[str, Any]:
    """Detector accuracy (threshold 0), AUC, per-class accuracy, each with its 95 % interval
    (``accuracy_ci`` and so on: ``[low, high]``, :data:`CONFIDENCE_INTERVALS`), mean bpp/PSNR/times.

    ``images`` are per-image dicts with ``label`` ("real"/"synthetic"), ``score``, ``bpp``,
    ``psnr``, ``encode_seconds``, ``decode_seconds``; images that failed (``error``) are left out.
    PSNR is averaged per image over finite values (an identical image has none to give).
    """
    measured = [i for i in images if "error" not in i]
    evaluation = summarise(
        [i["score"] for i in measured if i["label"] == "real"],
        [i["score"] for i in measured if i["label"] == "synthetic"],
    )
    bpps = [i["bpp"] for i in measured if i.get("bpp") is not None]
    return {
        "accuracy": evaluation.accuracy,
        "auc": evaluation.auc,
        "real_accuracy": evaluation.real_accuracy,
        "synthetic_accuracy": evaluation.synthetic_accuracy,
        **{f"{name}_ci": getattr(evaluation, f"{name}_ci") for name in CI_METRICS},
        "n_real": evaluation.n_real,
        "n_synthetic": evaluation.n_synthetic,
        "n_failed": len(images) - len(measured),
        "bpp_mean": float(np.mean(bpps)) if bpps else None,
        "bpp_std": float(np.std(bpps)) if bpps else None,
        "psnr_mean": _mean([i.get("psnr") for i in measured]),
        "encode_seconds_mean": _mean([i.get("encode_seconds") for i in measured]),
        "decode_seconds_mean": _mean([i.get("decode_seconds") for i in measured]),
    }
