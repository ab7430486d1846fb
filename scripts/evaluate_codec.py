"""Rate-distortion of the shipped codec against JPEG and WebP on held-out photographs.

    python scripts/evaluate_codec.py --images datasets/photos/holdout --config small \
        --update-manifest --readme weights/README.md --json rd-holdout.json

Each photograph is encoded at every registered quality into a real .fcc file and decoded to a
PNG (the rate is the file's, header included). JPEG and WebP are then run on the same photograph
at the codec's bpp for that photograph, so every comparison is at matching bpp per image: the
PSNR is interpolated in log-bpp between the two qualities that bracket it (the closest quality is
reported too). BD-rate and BD-PSNR compare the codec's per-quality mean points with the mean JPEG
and WebP curves over qualities 5..95. Prints a table; optionally writes JSON, stores the
per-quality metrics in the weights manifest (the weight files are not touched) and writes the
table into weights/README.md between the rd-table markers.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from forensiccodec.errors import FccError, UsageError
from forensiccodec.evaluate.bd_rate import BjontegaardResult, bjontegaard
from forensiccodec.evaluate.classic_codecs import CODECS, BppMatch, bpp_match, rd_curve
from forensiccodec.evaluate.codec_rd import (
    CodecRD,
    ImageRD,
    load_uint8,
    measure_codec_rd,
)
from forensiccodec.images import IMAGE_EXTENSIONS
from forensiccodec.zoo import Manifest, codec_entry_name

README_START = "<!-- rd-table:start -->"
README_END = "<!-- rd-table:end -->"
README_HEADER = """# Weights

The codec weights this package ships, one safetensors file per configuration and quality
(`tic-<config>-q<quality>.safetensors`: the model's state dict, its integer entropy-coding tables
and its configuration). `manifest.json` names every file with its sha256 (a file that does not
match is refused), how it was trained and what it measures.

"""
CURVE_QUALITIES = tuple(range(5, 96, 5))
NAMES = {"jpeg": "JPEG", "webp": "WebP"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of photographs")
    parser.add_argument("--config", default="small", help="codec configuration (default: small)")
    parser.add_argument("--qualities", type=int, nargs="+", default=None, help="default: every registered one")
    parser.add_argument("--weights-dir", type=Path, default=None, help="default: $FCC_WEIGHTS_DIR or weights/")
    parser.add_argument("--json", type=Path, default=None, help="write every measurement here")
    parser.add_argument("--update-manifest", action="store_true", help="store per-quality metrics in the manifest")
    parser.add_argument("--metrics-key", default=None, help="key under 'metrics' (default: the folder's name)")
    parser.add_argument("--readme", type=Path, default=None, help="write the table into this README's rd-table section")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser.parse_args(argv)


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of images")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise UsageError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return images


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


# ----------------------------------------------------------------------------- output


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
    if math.isnan(result.bd_rate_percent) and math.isnan(result.bd_psnr_db):
        return f"not measurable ({result.reason})"
    rate = f"{result.bd_rate_percent:+.1f}%" if math.isfinite(result.bd_rate_percent) else "n/a"
    psnr = f"{result.bd_psnr_db:+.2f} dB" if math.isfinite(result.bd_psnr_db) else "n/a"
    text = f"BD-rate {rate}, BD-PSNR {psnr}"
    return f"{text} ({result.reason})" if result.reason else text


def print_tables(console: Console, codec_rd: CodecRD, summaries: dict[str, dict[int, dict[str, Any]]]) -> None:
    """The codec's own measurements, then the comparison with JPEG and WebP at the same bpp."""
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


def readme_section(
    codec_rd: CodecRD,
    summaries: dict[str, dict[int, dict[str, Any]]],
    bd: dict[str, BjontegaardResult],
    images_folder: Path,
    images: list[Path],
    command: str,
) -> str:
    sides = [side for p in codec_rd.points(codec_rd.per_quality[0].quality) for side in (p.width, p.height)]
    lines = [
        README_START,
        f"### Rate–distortion on `{images_folder.as_posix()}` ({len(images)} photographs)",
        "",
        (
            f"The `{codec_rd.config_name}` codec on the {len(images)} photographs of `{images_folder.as_posix()}`"
            f" ({min(sides)}–{max(sides)} px per side). bpp is that of the real `.fcc` files (header included) and PSNR (RGB,"
            " 8-bit, dB) that of the decoded PNGs, both averaged over the photographs. JPEG (Pillow, 4:2:0,"
            " optimised Huffman tables) and WebP (Pillow, `method=6`) are run on each photograph at the codec's"
            " bpp *for that photograph*, their PSNR interpolated in log-bpp between the two qualities that"
            " bracket it. \"payload vs estimate\" is the entropy coder's streams against the model's own"
            " Σ −log₂ p, over all photographs."
        ),
        "",
        "| quality | λ | bpp | PSNR | JPEG PSNR at the same bpp | WebP PSNR at the same bpp | payload vs estimate |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in codec_rd.per_quality:
        lines.append(
            f"| {q.quality} | {q.lmbda:g} | {q.mean_bpp:.3f} | {q.mean_psnr:.2f} | {psnr_cell(summaries['jpeg'][q.quality])}"
            f" | {psnr_cell(summaries['webp'][q.quality])} | {q.payload_vs_estimate:+.2%} |"
        )
    lines.append("")
    for codec, result in bd.items():
        lines.append(f"- Against {NAMES[codec]}: {bd_text(result)}.")
    lines.append(
        f"- Bjøntegaard deltas (PCHIP) of the codec's per-quality mean points against each baseline's mean curve"
        f" over qualities {CURVE_QUALITIES[0]}–{CURVE_QUALITIES[-1]} (step {CURVE_QUALITIES[1] - CURVE_QUALITIES[0]});"
        " a negative BD-rate means fewer bits for the same PSNR."
    )
    for codec, per_quality in summaries.items():
        for quality, summary in per_quality.items():
            for miss in summary["out_of_range"]:
                end = "lowest" if miss["codec_bpp"] < miss["nearest_bpp"] else "highest"
                lines.append(
                    f"- q{quality}, {miss['image']}: the codec takes {miss['codec_bpp']:.3f} bpp, beyond {NAMES[codec]}'s"
                    f" {end} rate ({miss['nearest_bpp']:.3f} bpp, {miss['nearest_psnr']:.2f} dB at quality"
                    f" {miss['nearest_quality']}); left out of that cell rather than extrapolated."
                )
    lines += ["", "Reproduce (a few minutes on a CPU; `fcc collect-photos datasets/photos` first on a fresh clone):", "", "```bash", command, "```", README_END]
    return "\n".join(lines) + "\n"


def write_readme(path: Path, section: str) -> None:
    """Replace the rd-table section, append it if absent, or create the README with a short header."""
    text = path.read_text() if path.exists() else README_HEADER
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def rounded(value: Any, digits: int = 5) -> Any:
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def update_manifest(
    weights_dir: Path | None,
    codec_rd: CodecRD,
    summaries: dict[str, dict[int, dict[str, Any]]],
    bd: dict[str, BjontegaardResult],
    key: str,
    images_folder: Path,
    command: str,
) -> None:
    """Store each quality's metrics under entry['metrics'][key]; other fields and the files stay as they are."""
    manifest = Manifest.load(weights_dir)
    for q in codec_rd.per_quality:
        entry = manifest.entries[codec_entry_name(codec_rd.config_name, q.quality)]
        metrics = {
            "images": q.images,
            "image_folder": images_folder.as_posix(),
            "bpp": q.mean_bpp,
            "payload_bpp": q.mean_payload_bpp,
            "estimated_bpp": q.mean_estimated_bpp,
            "payload_vs_estimate": q.payload_vs_estimate,
            "psnr": q.mean_psnr,
            "psnr_of_mean_mse": q.psnr_of_mean_mse,
            **{
                f"{codec}_psnr_at_same_bpp": summaries[codec][q.quality]["psnr_at_bpp"]
                for codec in CODECS
            },
            **{
                f"{codec}_images_in_range": summaries[codec][q.quality]["images_in_range"]
                for codec in CODECS
            },
            **{f"bd_rate_vs_{codec}_percent": bd[codec].bd_rate_percent for codec in CODECS},
            **{f"bd_psnr_vs_{codec}_db": bd[codec].bd_psnr_db for codec in CODECS},
            "encode_seconds": q.mean_encode_seconds,
            "decode_seconds": q.mean_decode_seconds,
            "command": command,
        }
        entry.extra.setdefault("metrics", {})[key] = {k: rounded(v) for k, v in metrics.items()}
    manifest.save()


def json_safe(value: Any) -> Any:
    """The value with NaN and infinities as null, so that the JSON is standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def progress_line(console: Console, point: ImageRD) -> None:
    console.print(
        f"q{point.quality} {point.image}: {point.bpp:.4f} bpp, {point.psnr:.2f} dB,"
        f" payload/est. {point.rate_overhead:+.2%}, enc {point.encode_seconds:.1f}s dec {point.decode_seconds:.1f}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # piped output (logs, CI) gets room for the tables instead of rich's 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=140)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python " + shlex.join(["scripts/evaluate_codec.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        images = list_images(args.images)
        console.print(f"[bold]{len(images)} images[/] from {args.images}; coding with tic-{args.config}…")
        codec_rd = measure_codec_rd(
            images, args.config, args.qualities, weights_dir=args.weights_dir,
            progress=lambda point: progress_line(console, point),
        )
        originals = {p.name: load_uint8(p) for p in images}
        console.print("JPEG and WebP at the codec's bpp per image…")
        matches = matches_at_codec_points(codec_rd, originals)
        summaries = {
            codec: {q: summarise_matches(m, codec_rd.points(q)) for q, m in per_q.items()}
            for codec, per_q in matches.items()
        }
        console.print(f"JPEG and WebP curves over qualities {CURVE_QUALITIES[0]}..{CURVE_QUALITIES[-1]}…")
        curves = mean_curves(originals)
        bd = bd_against(codec_rd, curves)
    except FccError as error:
        console.print(f"error: {error}", markup=False, highlight=False)
        return error.exit_code

    print_tables(console, codec_rd, summaries)
    for codec, result in bd.items():
        console.print(f"vs {NAMES[codec]} (anchor: mean curve over q{CURVE_QUALITIES[0]}..{CURVE_QUALITIES[-1]}): {bd_text(result)}")

    if args.json:
        report = {
            "command": command,
            "images": [p.as_posix() for p in images],
            "codec": codec_rd.to_json(),
            "baselines_at_codec_bpp": {
                codec: {
                    str(q): {"summary": summaries[codec][q], "per_image": [m.to_json() for m in ms]}
                    for q, ms in per_q.items()
                }
                for codec, per_q in matches.items()
            },
            "baseline_curves": curves,
            "bjontegaard": {codec: result.to_json() for codec, result in bd.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
        console.print(f"wrote {args.json}")
    if args.update_manifest:
        key = args.metrics_key or args.images.resolve().name
        update_manifest(args.weights_dir, codec_rd, summaries, bd, key, args.images, command)
        console.print(f"stored metrics['{key}'] in the {args.config} manifest entries")
    if args.readme:
        write_readme(args.readme, readme_section(codec_rd, summaries, bd, args.images, images, command))
        console.print(f"wrote the rd-table section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
