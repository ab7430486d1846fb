"""The report's figures, after the paper's: rate-accuracy (Fig. 4), score distributions (Fig. 5),
rate-distortion (Fig. 6) and the same crop under every setting (Fig. 7).

Matplotlib's object API (``Figure``, no pyplot), so that no global backend state is touched;
every PNG is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from forensiccodec.errors import UsageError
from forensiccodec.files import atomic_output
from forensiccodec.images import load_image, to_uint8

FIGURES = {
    "rate_accuracy": "rate_accuracy.png",
    "score_distributions": "score_distributions.png",
    "rate_distortion": "rate_distortion.png",
    "qualitative": "qualitative.png",
}
MARKERS = {"base": "o", "adapters-paper": "s", "adapters-decoder": "D", "finetuned": "^", "jpeg": "v", "webp": "P"}


def _save(figure: Figure, path: Path) -> None:
    with atomic_output(path, overwrite=True) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")


def _curves(report: dict[str, Any], key: str) -> list[tuple[dict[str, Any], list[float], list[float]]]:
    """(setting, bpps, values) of every coded setting with at least one value of ``key``."""
    curves = []
    for setting in report["settings"]:
        points = [p for p in setting["points"] if p.get("bpp_mean") is not None and p.get(key) is not None]
        if points:
            curves.append((setting, [p["bpp_mean"] for p in points], [p[key] for p in points]))
    return curves


def _reference_point(report: dict[str, Any]) -> dict[str, Any] | None:
    for setting in report["settings"]:
        if setting["kind"] == "reference" and setting["points"]:
            return setting["points"][0]
    return None


def _interval(point: dict[str, Any], key: str) -> tuple[float, float] | None:
    """``point``'s 95 % interval of ``key`` (``accuracy_ci`` and so on), or None where it has none."""
    interval = point.get(f"{key}_ci")
    if not interval or None in interval:
        return None
    return float(interval[0]), float(interval[1])


def _error_bars(setting: dict[str, Any], key: str) -> tuple[list[float], list[float], np.ndarray] | None:
    """(bpps, values, yerr [2, n]) of the points of ``setting`` whose ``key`` has an interval."""
    bpps, values, below, above = [], [], [], []
    for point in setting["points"]:
        interval = _interval(point, key)
        if point.get("bpp_mean") is None or point.get(key) is None or interval is None:
            continue
        bpps.append(point["bpp_mean"])
        values.append(point[key])
        below.append(max(0.0, point[key] - interval[0]))  # a percentile interval may sit beside its value
        above.append(max(0.0, interval[1] - point[key]))
    return (bpps, values, np.array([below, above])) if bpps else None


def rate_accuracy_figure(report: dict[str, Any], path: Path) -> None:
    """Accuracy and AUC against bpp, each point with its 95 % interval as an error bar (the
    uncompressed reference's as a grey band)."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    reference = _reference_point(report)
    for axis, key, name in zip(figure.subplots(1, 2), ("accuracy", "auc"), ("accuracy (threshold 0)", "AUC")):
        for setting, bpps, values in _curves(report, key):
            (line,) = axis.plot(bpps, values, marker=MARKERS.get(setting["name"], "o"), label=setting["label"])
            bars = _error_bars(setting, key)
            if bars is not None:
                axis.errorbar(bars[0], bars[1], yerr=bars[2], fmt="none", ecolor=line.get_color(), elinewidth=1,
                              capsize=3, alpha=0.7)
        if reference is not None and reference.get(key) is not None:
            axis.axhline(reference[key], color="black", linestyle="--", label="uncompressed (upper bound)")
            interval = _interval(reference, key)
            if interval is not None:
                axis.axhspan(interval[0], interval[1], color="black", alpha=0.08, linewidth=0)
        axis.set_xlabel("bpp (measured file size)")
        axis.set_ylabel(name)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8, loc="lower right")
    figure.suptitle(f"Detector {report['detector']['config']} against rate"
                    + (" (bars: 95 % bootstrap intervals over images)" if report.get("confidence_intervals") else ""))
    _save(figure, path)


def _points_at(report: dict[str, Any], rate: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(setting, point) of every setting at ``rate`` (the reference at its only point)."""
    chosen = []
    for setting in report["settings"]:
        for point in setting["points"]:
            if point["rate"] is None or point["rate"] == rate:
                chosen.append((setting, point))
                break
    return chosen


def score_distributions_figure(report: dict[str, Any], path: Path) -> None:
    chosen = _points_at(report, report["dist_rate"])
    columns = min(4, max(1, len(chosen)))
    rows = max(1, -(-len(chosen) // columns))
    figure = Figure(figsize=(3.6 * columns, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    scores = [i["score"] for _, p in chosen for i in p["images"] if "score" in i]
    low, high = (min(scores + [0.0]), max(scores + [0.0])) if scores else (-1.0, 1.0)
    bins = np.linspace(low, high + 1e-9, 25)
    for axis, (setting, point) in zip(axes, chosen):
        for label, colour in (("real", "tab:green"), ("synthetic", "tab:red")):
            values = [i["score"] for i in point["images"] if i.get("label") == label and "score" in i]
            axis.hist(values, bins=bins, alpha=0.55, color=colour, label=label)
        axis.axvline(0.0, color="black", linewidth=0.8)
        if point["rate"] is None:
            rate = ""
        elif point.get("bpp_mean") is None:  # no image of this setting was coded (each one's error is in the report)
            rate = f" (q{point['rate']}, no image coded)"
        else:
            rate = f" (q{point['rate']}, {point['bpp_mean']:.3f} bpp)"
        axis.set_title(f"{setting['name']}{rate}", fontsize=9)
        axis.set_xlabel("detector score (> 0: synthetic)", fontsize=8)
    for axis in axes[len(chosen):]:
        axis.set_visible(False)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"Score distributions at rate point q{report['dist_rate']}")
    _save(figure, path)


def rate_distortion_figure(report: dict[str, Any], path: Path) -> None:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    for setting, bpps, values in _curves(report, "psnr_mean"):
        left.plot(bpps, values, marker=MARKERS.get(setting["name"], "o"), label=setting["label"])
    for setting, bpps, values in _curves(report, "frechet"):
        right.plot(bpps, values, marker=MARKERS.get(setting["name"], "o"), label=setting["label"])
    left.set_ylabel("PSNR (dB, mean over images)")
    right.set_ylabel(report["frechet"]["label"] + " (lower is better)")
    for axis in (left, right):
        axis.set_xlabel("bpp (measured file size)")
        axis.grid(alpha=0.3)
    left.legend(fontsize=8)
    _save(figure, path)


def _crop_box(height: int, width: int, size: int) -> tuple[int, int, int]:
    size = min(size, height, width)
    return (height - size) // 2, (width - size) // 2, size


def qualitative_figure(report: dict[str, Any], path: Path, out_dir: Path, crop_image: str | None, crop_size: int) -> str:
    """The same centre crop of one image under every setting at the distribution rate; returns its name."""
    chosen = _points_at(report, report["dist_rate"])
    reference = next((p for s, p in chosen if s["kind"] == "reference"), None) or (chosen[0][1] if chosen else None)
    if reference is None:
        raise UsageError("no setting produced images to crop")
    candidates = [i for i in reference["images"] if "error" not in i]
    if crop_image is not None:
        candidates = [i for i in candidates if Path(i["file"]).name == crop_image]
        if not candidates:
            raise UsageError(f"--crop-image {crop_image}: no such image in the split")
    else:
        candidates = [i for i in candidates if i["label"] == "synthetic"] or candidates
    name = Path(candidates[0]["file"]).name
    panels = [("original", Path(candidates[0]["file"]), "")]
    for setting, point in chosen:
        match = next((i for i in point["images"] if Path(i["file"]).name == name and "error" not in i), None)
        if match is None or setting["kind"] == "reference":
            continue
        caption = f"{match['bpp']:.3f} bpp" + (f", {match['psnr']:.1f} dB" if match.get("psnr") else "")
        panels.append((setting["name"], out_dir / match["decoded"], caption))
    figure = Figure(figsize=(2.4 * len(panels), 2.9), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels), squeeze=False)).ravel()
    for axis, (title, image_path, caption) in zip(axes, panels):
        pixels = to_uint8(load_image(image_path).pixels)
        top, left, size = _crop_box(*pixels.shape[:2], crop_size)
        axis.imshow(pixels[top:top + size, left:left + size], interpolation="nearest")
        axis.set_title(f"{title}\n{caption}", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"{name}, centre {min(crop_size, *pixels.shape[:2])}px crop, rate point q{report['dist_rate']}", fontsize=9)
    _save(figure, path)
    return name


def write_plots(report: dict[str, Any], out_dir: Path, *, crop_image: str | None = None, crop_size: int = 128) -> dict[str, str]:
    """Write every figure into ``out_dir``; returns {figure: file name} (and the cropped image's name)."""
    rate_accuracy_figure(report, out_dir / FIGURES["rate_accuracy"])
    score_distributions_figure(report, out_dir / FIGURES["score_distributions"])
    rate_distortion_figure(report, out_dir / FIGURES["rate_distortion"])
    cropped = qualitative_figure(report, out_dir / FIGURES["qualitative"], out_dir, crop_image, crop_size)
    return {**FIGURES, "qualitative_image": cropped}
