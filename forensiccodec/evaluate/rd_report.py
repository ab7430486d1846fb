"""The codec's rate–distortion against JPEG and WebP on a folder of photographs (`fcc eval-codec`).

Each photograph is encoded at every registered quality into a real .fcc file and decoded to a
PNG (`codec_rd`: the rate is the file's, header included). JPEG and WebP are then run on the same
photograph at the codec's bpp *for that photograph* (`classic_codecs.bpp_match`), so every
comparison is at matching bpp per image: the PSNR is interpolated in log-bpp between the two
qualities that bracket it, and the closest quality is reported too. BD-rate and BD-PSNR compare
the codec's per-quality mean points with the mean JPEG and WebP curves over qualities 5..95.

This module computes the report and renders it (rich tables, a JSON-safe dict); writing it into
the weights manifest or weights/README.md is the maintainer's `scripts/evaluate_codec.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ..errors import FccError, ImageError, UsageError
from ..images import IMAGE_EXTENSIONS
from .bd_rate import BjontegaardResult, bjontegaard
from .classic_codecs import CODECS, BppMatch, bpp_match, rd_curve
from .codec_rd import (
    CodecRD,
    ImageRD,
    load_uint8,
    measure_codec_rd,
    registered_qualities,
)

__all__ = [
    "BASELINE_NAMES",
    "CURVE_QUALITIES",
    "RDReport",
    "bd_against",
    "bd_lines",
    "bd_text",
    "check_qualities",
    "evaluate_rd",
    "json_safe",
    "list_images",
    "matches_at_codec_points",
    "mean_curves",
    "point_line",
    "print_tables",
    "psnr_cell",
    "readable_images",
    "summarise_matches",
    "write_json",
]

# The baselines' anchor curves: every fifth quality, away from both ends, where the
# encoders' rate stops responding to the quality
CURVE_QUALITIES = tuple(range(5, 96, 5))
BASELINE_NAMES = {"jpeg": "JPEG", "webp": "WebP"}


# ----------------------------------------------------------------------------- inputs


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name (a missing or empty folder is a UsageError)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of images")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise UsageError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return images


def readable_images(images: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The images that load, and ``(path, message)`` for each that does not.

    Each is loaded once here and dropped, so that one unreadable file in a folder of photographs
    is reported instead of stopping the measurement halfway (the codec would load it only when
    its turn came, after minutes of coding the others).
    """
    readable, unreadable = [], []
    for path in images:
        try:
            load_uint8(path)
        except ImageError as error:
            unreadable.append((path, str(error)))
        else:
            readable.append(path)
    return readable, unreadable


def check_qualities(config_name: str, qualities: Sequence[int] | None, weights_dir: Path | None = None) -> list[int]:
    """The qualities to measure: those given, each registered and once, or every registered one.

    Checked before any coding, so that a quality without weights fails at once rather than after
    the others have been measured.
    """
    registered = registered_qualities(config_name, weights_dir)
    if qualities is None:
        return registered
    chosen = list(qualities)
    for quality in chosen:
        if chosen.count(quality) > 1:
            raise UsageError(f"quality {quality} is given twice")
        if quality not in registered:
            raise UsageError(
                f"no tic-{config_name} weights for quality {quality}"
                f" (registered: {', '.join(map(str, registered))})"
            )
    if not chosen:
        raise UsageError("give at least one quality")
    return chosen


# ----------------------------------------------------------------------------- baselines


def matches_at_codec_points(codec_rd: CodecRD, originals: dict[str, np.ndarray]) -> dict[str, dict[int, list[BppMatch]]]:
    """For each baseline and quality: the baseline on each image at that image's codec bpp."""
    return {
        codec: {
            summary.quality: [bpp_match(originals[p.image], p.bpp, codec) for p in codec_rd.points(summary.quality)]
            for summary in codec_rd.per_quality
        }
        for codec in CODECS
    }


def summarise_matches(matches: list[BppMatch], points: list[ImageRD]) -> dict[str, Any]:
    """Means over images of a baseline matched to the codec's points (same order).

    The interpolated PSNR exists only for the images the baseline can reach; when some are out of
    its range the codec's PSNR over the same images is given too, so the two stay comparable.
    """
    in_range = [(m, p) for m, p in zip(matches, points, strict=True) if m.in_range]
    out_of_range = [
        {"image": p.image, "codec_bpp": p.bpp, "nearest_quality": m.closest.quality, "nearest_bpp": m.closest.bpp,
         "nearest_psnr": m.closest.psnr, "note": m.note}
        for m, p in zip(matches, points) if not m.in_range
    ]

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else math.nan

    return {
        "psnr_at_bpp": mean([m.interpolated_psnr for m, _ in in_range]),
        "codec_psnr_on_same_images": mean([p.psnr for _, p in in_range]),
        "psnr_gain_over_codec": mean([m.interpolated_psnr - p.psnr for m, p in in_range]),
        "images_in_range": len(in_range),
        "images": len(matches),
        "closest_quality_mean": mean([m.closest.quality for m in matches]),
        "closest_bpp_mean": mean([m.closest.bpp for m in matches]),
        "closest_psnr_mean": mean([m.closest.psnr for m in matches]),
        "out_of_range": out_of_range,
    }


def mean_curves(originals: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Each baseline over CURVE_QUALITIES: per-image points and the mean bpp / PSNR per quality."""
    curves = {}
    for codec in CODECS:
        per_image = {name: rd_curve(image, codec, CURVE_QUALITIES) for name, image in originals.items()}
        columns = list(zip(*per_image.values()))
        curves[codec] = {
            "qualities": list(CURVE_QUALITIES),
            "mean_bpp": [float(np.mean([p.bpp for p in column])) for column in columns],
            "mean_psnr": [float(np.mean([p.psnr for p in column])) for column in columns],
            "per_image": {name: [p.to_json() for p in points] for name, points in per_image.items()},
        }
    return curves


def bd_against(codec_rd: CodecRD, curves: dict[str, dict[str, Any]]) -> dict[str, BjontegaardResult]:
    """The codec's per-quality mean points against each baseline's mean curve (the anchor)."""
    rates = [q.mean_bpp for q in codec_rd.per_quality]
    psnrs = [q.mean_psnr for q in codec_rd.per_quality]
    return {codec: bjontegaard(curve["mean_bpp"], curve["mean_psnr"], rates, psnrs) for codec, curve in curves.items()}


# ----------------------------------------------------------------------------- the report


@dataclass
class RDReport:
    """Everything one evaluation measured: the codec's points, the baselines at its bpp, the deltas."""

    images: list[Path]  # the images measured, in order
    codec_rd: CodecRD
    matches: dict[str, dict[int, list[BppMatch]]]  # baseline -> quality -> one match per image
    summaries: dict[str, dict[int, dict[str, Any]]]  # baseline -> quality -> summarise_matches
    curves: dict[str, dict[str, Any]]  # baseline -> mean_curves
    bd: dict[str, BjontegaardResult]  # baseline -> the codec against its mean curve
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable images and why

    def to_json(self, command: str) -> dict[str, Any]:
        """Every measurement, with the command that reproduces it; pass through json_safe to write it."""
        report = {
            "command": command,
            "images": [p.as_posix() for p in self.images],
            "codec": self.codec_rd.to_json(),
            "baselines_at_codec_bpp": {
                codec: {
                    str(q): {"summary": self.summaries[codec][q], "per_image": [m.to_json() for m in ms]}
                    for q, ms in per_q.items()
                }
                for codec, per_q in self.matches.items()
            },
            "baseline_curves": self.curves,
            "bjontegaard": {codec: result.to_json() for codec, result in self.bd.items()},
        }
        if self.skipped:  # only then, so that a complete run's JSON keeps the layout it always had
            report["skipped"] = [{"image": p.as_posix(), "error": message} for p, message in self.skipped]
        return report


def evaluate_rd(
    images: Sequence[Path],
    config_name: str = "small",
    qualities: Sequence[int] | None = None,
    *,
    weights_dir: Path | None = None,
    skipped: Sequence[tuple[Path, str]] = (),
    on_point: Callable[[ImageRD], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> RDReport:
    """Measure the codec on ``images`` at ``qualities`` (default: every registered one) against JPEG and WebP.

    ``on_point`` is called with each codec point as it is measured, ``on_stage`` with a line as
    each baseline stage starts (the curves take about as long as the codec on small models).
    ``skipped`` (from `readable_images`) is carried into the report as it is.
    """
    if not images:
        raise UsageError("no images to evaluate")
    qualities = check_qualities(config_name, qualities, weights_dir)
    codec_rd = measure_codec_rd(images, config_name, qualities, weights_dir=weights_dir, progress=on_point)
    originals = {p.name: load_uint8(p) for p in images}
    if on_stage is not None:
        on_stage("JPEG and WebP at the codec's bpp per image…")
    matches = matches_at_codec_points(codec_rd, originals)
    summaries = {
        codec: {q: summarise_matches(m, codec_rd.points(q)) for q, m in per_q.items()}
        for codec, per_q in matches.items()
    }
    if on_stage is not None:
        on_stage(f"JPEG and WebP curves over qualities {CURVE_QUALITIES[0]}..{CURVE_QUALITIES[-1]}…")
    curves = mean_curves(originals)
    return RDReport(list(images), codec_rd, matches, summaries, curves, bd_against(codec_rd, curves), list(skipped))


# ----------------------------------------------------------------------------- output


def point_line(point: ImageRD) -> str:
    """One codec point as a progress line."""
    return (
        f"q{point.quality} {point.image}: {point.bpp:.4f} bpp, {point.psnr:.2f} dB,"
        f" payload/est. {point.rate_overhead:+.2%}, enc {point.encode_seconds:.1f}s dec {point.decode_seconds:.1f}s"
    )


def psnr_cell(summary: dict[str, Any]) -> str:
    """The interpolated PSNR; over a subset of images, with the count and the codec's PSNR on them."""
    if summary["images_in_range"] == 0:
        return "n/a (out of range)"
    cell = f"{summary['psnr_at_bpp']:.2f}"
    if summary["images_in_range"] < summary["images"]:
        cell += (
            f" ({summary['images_in_range']}/{summary['images']} photos;"
            f" codec {summary['codec_psnr_on_same_images']:.2f} on them)"
        )
    return cell


def bd_text(result: BjontegaardResult) -> str:
    """``BD-rate +44.2%, BD-PSNR -1.60 dB``, with what could not be measured and why."""
    if math.isnan(result.bd_rate_percent) and math.isnan(result.bd_psnr_db):
        return f"not measurable ({result.reason})"
    rate = f"{result.bd_rate_percent:+.1f}%" if math.isfinite(result.bd_rate_percent) else "n/a"
    psnr = f"{result.bd_psnr_db:+.2f} dB" if math.isfinite(result.bd_psnr_db) else "n/a"
    text = f"BD-rate {rate}, BD-PSNR {psnr}"
    return f"{text} ({result.reason})" if result.reason else text


def bd_lines(report: RDReport) -> list[str]:
    """One line per baseline: the codec's Bjøntegaard deltas against its mean curve."""
    anchor = f"mean curve over q{CURVE_QUALITIES[0]}..{CURVE_QUALITIES[-1]}"
    return [f"vs {BASELINE_NAMES[codec]} (anchor: {anchor}): {bd_text(result)}" for codec, result in report.bd.items()]


def print_tables(console: Console, report: RDReport) -> None:
    """The codec's own measurements, then the comparison with JPEG and WebP at the same bpp."""
    codec_rd, summaries = report.codec_rd, report.summaries
    images = codec_rd.per_quality[0].images
    codec_table = Table(title=f"tic-{codec_rd.config_name}: real .fcc files, means over {images} images")
    for header in ("q", "λ", "bpp", "payload bpp", "est. bpp", "payload/est.", "PSNR", "PSNR(mean MSE)", "enc s", "dec s", "entropy enc/dec"):
        codec_table.add_column(header, justify="right")
    for q in codec_rd.per_quality:
        codec_table.add_row(
            str(q.quality), f"{q.lmbda:g}", f"{q.mean_bpp:.4f}", f"{q.mean_payload_bpp:.4f}",
            f"{q.mean_estimated_bpp:.4f}", f"{q.payload_vs_estimate:+.2%}", f"{q.mean_psnr:.2f}",
            f"{q.psnr_of_mean_mse:.2f}", f"{q.mean_encode_seconds:.2f}", f"{q.mean_decode_seconds:.2f}",
            f"{q.mean_encode_entropy_share:.0%}/{q.mean_decode_entropy_share:.0%}",
        )
    console.print(codec_table)
    comparison = Table(title="PSNR at the codec's bpp per image: interpolated, and at the closest quality (mean q, bpp)")
    for header in ("q", "bpp", "PSNR", "JPEG", "JPEG closest", "WebP", "WebP closest"):
        comparison.add_column(header, justify="right")
    for q in codec_rd.per_quality:
        cells = []
        for codec in CODECS:
            summary = summaries[codec][q.quality]
            cells += [
                psnr_cell(summary),
                f"{summary['closest_psnr_mean']:.2f} (q{summary['closest_quality_mean']:.1f}, {summary['closest_bpp_mean']:.3f})",
            ]
        comparison.add_row(str(q.quality), f"{q.mean_bpp:.4f}", f"{q.mean_psnr:.2f}", *cells)
    console.print(comparison)


def json_safe(value: Any) -> Any:
    """The value with NaN and infinities as null, so that the JSON is standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, report: RDReport, command: str) -> None:
    """The report as standard JSON (NaN and infinities as null), creating the folder it goes in."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_safe(report.to_json(command)), indent=2, allow_nan=False) + "\n")
    except OSError as error:  # a read-only or missing place is the user's to fix: one line, not a traceback
        raise FccError(f"{path}: cannot write the report ({error.strerror or error})") from error
