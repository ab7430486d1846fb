"""``fcc eval``: the paper's experiments on a labelled split, as report.json, plots and report.md.

The work is in :mod:`forensiccodec.evaluate.report`; this module parses options and shows progress.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import UsageError, escape, main, stderr, stdout, weights_dir_option

EVAL_HELP = """Run every setting on the images of a split and write a report with plots.

\b
Settings: uncompressed, base, adapters-paper, adapters-decoder, finetuned, jpeg, webp
(jpeg/webp: per image, the quality whose bpp is closest to the base codec's at each rate point).
Rate points: qualities 1..4 (λ 0.02, 0.03, 0.045, 0.07).
Writes OUT/report.json, OUT/report.md, OUT/*.png; encoded and decoded files go to OUT/cache/,
from which an interrupted run resumes. A setting whose weights are not installed is skipped
with a note in the report.
"""


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise UsageError("give at least one name")
    return names


def _rates(value: str | None) -> list[int] | None:
    names = _names(value)
    if names is None:
        return None
    try:
        return [int(name.removeprefix("q")) for name in names]
    except ValueError:
        raise UsageError(f"--rates takes qualities 1..4 separated by commas, got {value!r}") from None


@main.command("eval", help=EVAL_HELP)
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="folder with <split>/{real,synthetic}/")
@click.option("--split", default="test", show_default=True)
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("report"),
              show_default=True, help="report folder (its cache/ makes reruns resume)")
@click.option("--settings", default=None, help="comma-separated subset, e.g. uncompressed,base,jpeg (default: all)")
@click.option("--rates", default=None, help="comma-separated qualities, e.g. 1,3 (default: 1,2,3,4)")
@click.option("--dist-rate", type=int, default=None, help="rate point of the score distributions and crops (default: the lowest run)")
@click.option("--config", "config_name", default="small", show_default=True, help="codec configuration")
@click.option("--detector", "detector_config", default="small", show_default=True, help="detector configuration")
@click.option("--patches", "n_patches", type=click.IntRange(min=1), default=None, help="detector patches per image (default: the weights' own)")
@click.option("--top", "top_m", type=click.IntRange(min=1), default=None, help="average the top M patch scores")
@click.option("--fid-weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="pt_inception-2015-12-05-*.pth: report FID; without it a detector-feature Fréchet distance (not FID)")
@click.option("--fd-patches", type=click.IntRange(min=2), default=64, show_default=True,
              help="patches per image for the detector-feature Fréchet distance")
@click.option("--crop-image", default=None, help="file name of the image for the qualitative crop (default: the first synthetic)")
@click.option("--crop-size", type=click.IntRange(min=8), default=128, show_default=True)
@weights_dir_option
def eval_command(data_dir, split, out_dir, settings, rates, dist_rate, config_name, detector_config, n_patches, top_m,
                 fid_weights, fd_patches, crop_image, crop_size, weights_dir) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from ..evaluate.report.run import EvalOptions, run_evaluation

    if n_patches is not None and top_m is None:
        top_m = max(1, round(n_patches * 0.75))  # the detector's default share (600 of 800)
    options = EvalOptions(
        data_dir=data_dir, out_dir=out_dir, split=split, settings=_names(settings), rates=_rates(rates),
        config_name=config_name, detector_config=detector_config, n_patches=n_patches, top_m=top_m,
        dist_rate=dist_rate, fid_weights=fid_weights, fd_patches=fd_patches, crop_image=crop_image,
        crop_size=crop_size, weights_dir=weights_dir,
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, disable=not stderr.is_terminal) as progress:
        report = run_evaluation(options, progress)
    table = Table("setting", "rate", "bpp", "accuracy", "AUC", "PSNR", report["frechet"]["label"])
    for setting in report["settings"]:
        for p in setting["points"]:
            def show(value, digits=3):
                return "–" if value is None else f"{value:.{digits}f}"
            table.add_row(setting["name"], "–" if p["rate"] is None else f"q{p['rate']}", show(p["bpp_mean"], 4),
                          show(p["accuracy"]), show(p["auc"]), show(p["psnr_mean"], 2), show(p["frechet"], 2))
    stdout.print(table)
    for skipped in report["skipped"]:
        rate = "" if skipped["rate"] is None else f" q{skipped['rate']}"
        stderr.print(f"[yellow]skipped:[/yellow] {skipped['setting']}{rate}: {escape(skipped['reason'])}",
                     highlight=False, soft_wrap=True)
    stdout.print(f"report: {escape(str(out_dir / 'report.md'))}", highlight=False)
