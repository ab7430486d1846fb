"""``fcc eval``: the paper's experiments on a labelled split, as report.json, plots and report.md.

The work is in :mod:`forensiccodec.evaluate.report`; this module parses options and shows progress.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from .common import (
    UsageError,
    escape,
    main,
    shard_options,
    stderr,
    stdout,
    weights_dir_option,
)

EVAL_HELP = """Run every setting on the images of a split and write a report with plots.

\b
Settings: uncompressed, base, adapters-paper, adapters-decoder, finetuned, jpeg, webp
(jpeg/webp: per image, the quality whose bpp is closest to the base codec's at each rate point).
Rate points: qualities 1..4 (λ 0.02, 0.03, 0.045, 0.07).
Writes OUT/report.json, OUT/report.md, OUT/*.png; encoded and decoded files go to OUT/cache/,
from which an interrupted run resumes. A setting whose weights are not installed is skipped
with a note in the report.

\b
Over several processes or machines (docs/scaling.md):
  fcc eval --data D --shard K/N -o OUT   part K of N of the images; writes
                                         OUT/report-shard-K-of-N.json, no report
                                         (K/N also from a Slurm array, a Kubernetes
                                         Indexed Job or torchrun: see --shard)
  fcc eval --merge OUT... [-o REPORT]    the N shards' records (one folder, or one
                                         each) as the report of one run over all
Under torchrun every rank runs its shard and rank 0 merges them into -o.
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
@click.argument("merge_dirs", nargs=-1, type=click.Path(path_type=Path, file_okay=False), metavar="[DIR]...")
@click.option("--merge", is_flag=True, help="merge the shard records in the folders DIR... into one report (-o)")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="folder with <split>/{real,synthetic}/ (required unless --merge)")
@click.option("--split", default="test", show_default=True)
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="report folder (its cache/ makes reruns resume); default: report, or with --merge the one DIR")
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
@shard_options
@weights_dir_option
def eval_command(merge_dirs, merge, data_dir, split, out_dir, settings, rates, dist_rate, config_name, detector_config,
                 n_patches, top_m, fid_weights, fd_patches, crop_image, crop_size, shard_spec, shard_count,
                 weights_dir) -> None:
    if merge:
        _merge_command(merge_dirs, out_dir)
        return
    if merge_dirs:
        raise UsageError(f"unexpected argument {str(merge_dirs[0])!r} (folders to merge go with --merge)")
    if data_dir is None:
        raise UsageError("missing option '--data' (the folder with <split>/{real,synthetic}/)")
    out_dir = Path("report") if out_dir is None else out_dir
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ..evaluate.report.options import EvalOptions
    from ..evaluate.report.run import run_evaluation
    from ..sharding import resolve_shard

    shard = resolve_shard(shard_spec, shard_count)
    if n_patches is not None and top_m is None:
        from ..detector.model import top_for

        top_m = top_for(n_patches)  # the same rule as fcc detect
    options = EvalOptions(
        data_dir=data_dir, out_dir=out_dir, split=split, settings=_names(settings), rates=_rates(rates),
        config_name=config_name, detector_config=detector_config, n_patches=n_patches, top_m=top_m,
        dist_rate=dist_rate, fid_weights=fid_weights, fd_patches=fd_patches, crop_image=crop_image,
        crop_size=crop_size, weights_dir=weights_dir, shard=shard,
    )
    # torchrun: every rank runs its shard into the same -o, then rank 0 merges them after a barrier.
    together = shard is not None and shard.source == "RANK" and "MASTER_ADDR" in os.environ
    if together:
        import torch.distributed as dist

        dist.init_process_group("gloo", timeout=timedelta(days=7))  # a barrier waits for the slowest rank
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=stderr, disable=not stderr.is_terminal) as progress:
            report = run_evaluation(options, progress, announce=_announce(shard))
        if shard is not None:
            _show_shard(report)
        if together:
            dist.barrier()
            if shard.index == 1:
                from ..evaluate.report.shards import merge_shards

                _show_report(merge_shards([out_dir], out_dir, count=shard.count), out_dir)
    finally:
        if together:
            dist.destroy_process_group()
    if shard is None:
        _show_report(report, out_dir)


def _merge_command(merge_dirs: tuple[Path, ...], out_dir: Path | None) -> None:
    from ..evaluate.report.shards import merge_shards

    context = click.get_current_context()
    given = [param for param in context.command.params
             if param.name not in ("merge", "merge_dirs", "out_dir")
             and context.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise UsageError(f"--merge takes the shard folders and -o only; {given[0].opts[0]} belongs to the shard runs")
    if not merge_dirs:
        raise UsageError("--merge needs the folders that hold the shard records (report-shard-K-of-N.json)")
    if out_dir is None:
        if len(merge_dirs) > 1:
            raise UsageError("give -o for the report merged from several folders")
        out_dir = merge_dirs[0]
    report = merge_shards(list(merge_dirs), out_dir)
    stderr.print(f"merged {report['merged_from']['shards']} shards", highlight=False)
    _show_report(report, out_dir)


def _announce(shard: Any) -> Any:
    """Say which partition this process took, once the split is listed (one line on stderr)."""
    if shard is None:
        return None
    return lambda taken, total: stderr.print(shard.describe(taken, total, "images"), highlight=False,
                                             soft_wrap=True, markup=False)


def _show_shard(records: dict[str, Any]) -> None:
    stdout.print(f"shard records: {escape(records['records_file'])} (merge every shard's with fcc eval --merge)",
                 highlight=False, soft_wrap=True)


def _show(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _with_interval(point: dict[str, Any], key: str, separator: str = " ") -> str:
    """``0.944 [0.86–1.00]``: the value and its 95 % bootstrap interval (report.json's ``<key>_ci``)."""
    interval = point.get(f"{key}_ci")
    if point.get(key) is None or not interval or None in interval:
        return _show(point.get(key))
    return f"{point[key]:.3f}{separator}[{interval[0]:.2f}–{interval[1]:.2f}]"


def _show_report(report: dict[str, Any], out_dir: Path) -> None:
    from rich.table import Column, Table

    separator = " " if stdout.width >= 100 else "\n"  # a narrow terminal: the interval under its value
    table = Table(Column("setting", no_wrap=True), "rate", "bpp", Column("accuracy\n[95 % CI]", no_wrap=True),
                  Column("AUC\n[95 % CI]", no_wrap=True), "PSNR", report["frechet"]["label"], pad_edge=False)
    for setting in report["settings"]:
        for p in setting["points"]:
            table.add_row(setting["name"], "–" if p["rate"] is None else f"q{p['rate']}", _show(p["bpp_mean"], 4),
                          _with_interval(p, "accuracy", separator), _with_interval(p, "auc", separator),
                          _show(p["psnr_mean"], 2), _show(p["frechet"], 2))
    stdout.print(table)
    for skipped in report["skipped"]:
        rate = "" if skipped["rate"] is None else f" q{skipped['rate']}"
        stderr.print(f"[yellow]skipped:[/yellow] {skipped['setting']}{rate}: {escape(skipped['reason'])}",
                     highlight=False, soft_wrap=True)
    stdout.print(f"report: {escape(str(out_dir / 'report.md'))}", highlight=False)
