"""Maintainer wrapper of `fcc eval-codec`: the shipped codec's rate-distortion against JPEG and
WebP on held-out photographs, written where the project quotes it.

    python scripts/evaluate_codec.py --images datasets/photos/holdout --config small \
        --update-manifest --readme weights/README.md --json rd-holdout.json

The measurement and the tables are `forensiccodec.evaluate.rd_report`'s, the same as
`fcc eval-codec --images DIR` gives a user (see there for the method). This script adds what only
the people who ship the weights do: store the per-quality metrics in the weights manifest (the
weight files are not touched; `--update-manifest`) and write the table into weights/README.md
between the rd-table markers (`--readme`). Unlike `fcc eval-codec`, which reports an unreadable
image and measures the others, it stops at one: a published table covers the whole folder.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from forensiccodec.errors import FccError
from forensiccodec.evaluate.classic_codecs import CODECS
from forensiccodec.evaluate.rd_report import (
    BASELINE_NAMES,
    CURVE_QUALITIES,
    RDReport,
    bd_lines,
    bd_text,
    evaluate_rd,
    list_images,
    point_line,
    print_tables,
    psnr_cell,
    readable_images,
    write_json,
)
from forensiccodec.zoo import Manifest, codec_entry_name

README_START = "<!-- rd-table:start -->"
README_END = "<!-- rd-table:end -->"
README_HEADER = """# Weights

The codec weights this package ships, one safetensors file per configuration and quality
(`tic-<config>-q<quality>.safetensors`: the model's state dict, its integer entropy-coding tables
and its configuration). `manifest.json` names every file with its sha256 (a file that does not
match is refused), how it was trained and what it measures.

"""
NAMES = BASELINE_NAMES


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


def readme_section(report: RDReport, images_folder: Path, command: str) -> str:
    """The rd-table section of weights/README.md: the table, the deltas, what was left out, the command."""
    codec_rd, summaries, bd, images = report.codec_rd, report.summaries, report.bd, report.images
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


def update_manifest(weights_dir: Path | None, report: RDReport, key: str, images_folder: Path, command: str) -> None:
    """Store each quality's metrics under entry['metrics'][key]; other fields and the files stay as they are."""
    codec_rd, summaries, bd = report.codec_rd, report.summaries, report.bd
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
        _, unreadable = readable_images(images)
        for _, message in unreadable:
            console.print(f"error: {message}", markup=False, highlight=False)
        if unreadable:
            return 1  # ImageError's exit code: a published table needs every photograph
        report = evaluate_rd(
            images, args.config, args.qualities, weights_dir=args.weights_dir,
            on_point=lambda point: console.print(point_line(point)), on_stage=console.print,
        )
    except FccError as error:
        console.print(f"error: {error}", markup=False, highlight=False)
        return error.exit_code

    print_tables(console, report)
    for line in bd_lines(report):
        console.print(line)

    if args.json:
        write_json(args.json, report, command)
        console.print(f"wrote {args.json}")
    if args.update_manifest:
        key = args.metrics_key or args.images.resolve().name
        update_manifest(args.weights_dir, report, key, args.images, command)
        console.print(f"stored metrics['{key}'] in the {args.config} manifest entries")
    if args.readme:
        write_readme(args.readme, readme_section(report, args.images, command))
        console.print(f"wrote the rd-table section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
