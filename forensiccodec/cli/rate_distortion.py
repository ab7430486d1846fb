"""``fcc eval-codec``: the codec's rate–distortion against JPEG and WebP on a folder of photographs.

The work is in :mod:`forensiccodec.evaluate.rd_report`; this module parses options, shows
progress on stderr and the tables on stdout. `scripts/evaluate_codec.py` is the maintainers'
wrapper of the same measurement (it also writes the manifest and weights/README.md).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from rich.console import Console

from .common import UsageError, escape, main, stderr, stdout, weights_dir_option

EVAL_CODEC_HELP = """Measure the codec against JPEG and WebP on a folder of photographs.

\b
Every image in DIR (PNG, JPEG, WebP, TIFF, BMP; not its subfolders) is encoded
at each quality into a real .fcc file and decoded: bpp is the file's (header
included), PSNR the decoded PNG's (RGB, 8-bit). JPEG (Pillow, 4:2:0) and WebP
(Pillow, method 6) then code each image at the codec's bpp for that image,
their PSNR interpolated in log-bpp between the two qualities that bracket it;
BD-rate and BD-PSNR compare the codec's mean points with their mean curves
over qualities 5..95. An image that cannot be read is reported (error: line,
exit code 1 at the end) and left out; the others are measured.

\b
Example:
  fcc eval-codec --images photos/ --qualities 1,4 --json rd.json
"""

# Piped output (a log, a file) would get rich's 80 columns, too few for the codec table's eleven.
PIPED_WIDTH = 140


def _qualities(value: str | None) -> list[int] | None:
    """``--qualities 1,4`` (``q1,q4`` too) as integers; the library checks that they are registered."""
    if value is None:
        return None
    names = [part.strip().removeprefix("q") for part in value.split(",") if part.strip()]
    try:
        qualities = [int(name) for name in names]
    except ValueError:
        raise UsageError(f"--qualities takes qualities separated by commas, e.g. 1,4; got {value!r}") from None
    if not qualities:
        raise UsageError("--qualities: give at least one quality")
    return qualities


def _command(images: Path, config_name: str, qualities: str | None, weights_dir: Path | None,
             json_path: Path | None) -> str:
    """The command line that reproduces this run, for the JSON report."""
    args = ["fcc", "eval-codec", "--images", str(images), "--config", config_name]
    if qualities is not None:
        args += ["--qualities", qualities]
    if weights_dir is not None:
        args += ["--weights-dir", str(weights_dir)]
    if json_path is not None:
        args += ["--json", str(json_path)]
    return shlex.join(args)


@main.command("eval-codec", help=EVAL_CODEC_HELP)
@click.option("--images", "images_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              metavar="DIR", help="folder of photographs")
@click.option("--config", "config_name", default="small", show_default=True, help="codec configuration")
@click.option("--qualities", default=None, metavar="Q,Q...",
              help="comma-separated qualities, e.g. 1,4 (default: every registered one)")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="write every measurement here (per image and quality, the baselines' curves)")
@weights_dir_option
def eval_codec_command(images_dir: Path, config_name: str, qualities: str | None, json_path: Path | None,
                       weights_dir: Path | None) -> None:
    chosen = _qualities(qualities)
    from ..errors import ImageError
    from ..evaluate.rd_report import (
        bd_lines,
        check_qualities,
        evaluate_rd,
        list_images,
        point_line,
        print_tables,
        readable_images,
        write_json,
    )

    chosen = check_qualities(config_name, chosen, weights_dir)  # before reading a folder of photographs
    images = list_images(images_dir)
    readable, unreadable = readable_images(images)
    for _, message in unreadable:
        stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    if not readable:
        raise ImageError(f"{images_dir}: none of its images can be read")
    skipped = f" ({len(unreadable)} left out)" if unreadable else ""
    stderr.print(f"{len(readable)} images from {escape(str(images_dir))}{skipped}; coding with tic-{escape(config_name)}…",
                 highlight=False, soft_wrap=True)
    report = evaluate_rd(
        readable, config_name, chosen, weights_dir=weights_dir, skipped=unreadable,
        on_point=lambda point: stderr.print(point_line(point), markup=False, highlight=False, soft_wrap=True),
        on_stage=lambda line: stderr.print(line, markup=False, highlight=False),
    )

    console = stdout if stdout.is_terminal else Console(width=max(stdout.width, PIPED_WIDTH))
    print_tables(console, report)
    for line in bd_lines(report):
        console.print(line, markup=False, highlight=False)
    if json_path is not None:
        write_json(json_path, report, _command(images_dir, config_name, qualities, weights_dir, json_path))
        stdout.print(f"wrote {escape(str(json_path))}", highlight=False, soft_wrap=True)
    if unreadable:
        sys.exit(ImageError.exit_code)  # the batch convention: results shown, the failures still count
