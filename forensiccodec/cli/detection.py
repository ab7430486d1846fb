"""``fcc detect`` and ``fcc calibrate-detector``: the deepfake detector on images, and its threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import (
    IMAGE_EXTENSIONS,
    UsageError,
    escape,
    expand,
    json_option,
    main,
    run_batch,
    shard_options,
    stdout,
    take_shard,
    weights_dir_option,
)

DETECT_HELP = """Say whether images are real photographs or synthetic (generated) images.

\b
Each image is scored on N random 96x96 patches (the same patches every run for a given
--seed); the score is the mean of the M highest patch scores, and a score above 0 means
synthetic. FILES may be images or folders of images.

\b
P(synthetic) is the score as a probability: sigmoid(a*score + b), fitted on labelled
images by `fcc calibrate-detector` and stored with the weights ("–", and null in --json,
for weights without one). It holds for images like those it was fitted on, scored with
the weights' own --patches.

\b
Images in folders named real/ and synthetic/ (DIR/<split>/{real,synthetic}) are
labelled: the table view ends with their accuracy and AUC, each with a 95 % bootstrap
interval over images; --summary adds the same numbers to --json as a last record,
{"summary": {...}}, after the per-file records (with --shard: this shard's images).
"""


def _heatmap_path(path: Path, heatmap: Path | None, heatmap_dir: Path | None) -> Path | None:
    if heatmap is not None:
        return heatmap
    if heatmap_dir is not None:
        return heatmap_dir / f"{path.stem}-heatmap.png"
    return None


def _interval(summary: dict[str, Any], name: str) -> str:
    value, (low, high) = summary[name], summary[f"{name}_ci"]
    if value is None:
        return "–"
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")


@main.command(help=DETECT_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("--patches", "n_patches", type=click.IntRange(min=1), default=None, help="patches per image (default: the weights' own, 800)")
@click.option("--top", "top_m", type=click.IntRange(min=1), default=None,
              help="average the top M patch scores (default: the weights' own share of --patches, 600 of 800)")
@click.option("--seed", type=int, default=0, show_default=True, help="patch positions; another seed gives a second opinion")
@click.option("--config", "config_name", default="small", show_default=True, help="detector configuration (small, paper)")
@click.option("--heatmap", type=click.Path(path_type=Path, dir_okay=False), default=None, help="write the patch scores over the image (one input only)")
@click.option("--heatmap-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="write <name>-heatmap.png for every input here")
@click.option("--force", is_flag=True, help="overwrite existing heatmaps")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@click.option("--summary", "with_summary", is_flag=True,
              help="with --json: end with {\"summary\": ...}, accuracy and AUC of the images in real/ and synthetic/ folders")
@shard_options
@json_option
@weights_dir_option
def detect(inputs, n_patches, top_m, seed, config_name, heatmap, heatmap_dir, force, recursive, with_summary, shard_spec,
           shard_count, as_json, weights_dir) -> None:
    from rich.table import Column, Table

    from ..api import class_from_path, detect_file, detect_summary
    from ..detector.weights import load_detector

    if heatmap is not None and heatmap_dir is not None:
        raise UsageError("give --heatmap or --heatmap-dir, not both")
    files, problems = expand(inputs, IMAGE_EXTENSIONS, recursive)
    if heatmap is not None and len(files) + len(problems) > 1:
        raise UsageError("--heatmap names one output file; use --heatmap-dir for several inputs")
    if heatmap_dir is not None:
        heatmap_dir.mkdir(parents=True, exist_ok=True)
    files, problems = take_shard(shard_spec, shard_count, inputs, files, problems, as_json=as_json)
    detector = load_detector(config_name, weights_dir, seed=seed)

    def work(path: Path) -> Any:
        return detect_file(detector, path, n_patches=n_patches, top_m=top_m,
                           heatmap=_heatmap_path(path, heatmap, heatmap_dir), overwrite=force)

    def summarise(reports: list[Any]) -> dict[str, Any] | None:
        return {"summary": detect_summary(reports)} if with_summary else None

    def render(reports: list[Any]) -> None:
        table = Table("score", "P(synthetic)", "label", "patches used", "seconds")
        table.columns.insert(0, Column("file", overflow="fold"))  # a forensic report shows whole paths
        for r in reports:
            colour = "red" if r.label == "synthetic" else "green"
            probability = "–" if r.probability is None else f"{r.probability:.3f}"
            table.add_row(escape(r.input), f"{r.score:+.3f}", probability, f"[{colour}]{r.label}[/{colour}]",
                          f"{r.patches_used}/{r.n_patches}", f"{r.seconds:.2f}")
        stdout.print(table)
        for r in reports:
            if r.heatmap is not None:
                stdout.print(f"heatmap: {escape(r.heatmap)}", highlight=False)
        if any(class_from_path(r.input) is not None for r in reports):
            summary = detect_summary(reports)
            stdout.print(
                f"labelled: {summary['n_real']} real, {summary['n_synthetic']} synthetic"
                + (f" ({summary['n_unlabelled']} unlabelled)" if summary["n_unlabelled"] else "")
                + f"; accuracy {_interval(summary, 'accuracy')}, AUC {_interval(summary, 'auc')}"
                " (95 % bootstrap intervals)", highlight=False, soft_wrap=True)

    run_batch(files, problems, work, as_json=as_json, describe="detecting", render=render, summarise=summarise)


@main.command("calibrate-detector")
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="a DIR/{train,val,test}/{real,synthetic} folder")
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--splits", default="train,val", show_default=True, help="splits to place the threshold on (never the test split you report)")
@click.option("--probability-split", default="val", show_default=True,
              help="split to fit P(synthetic) on (Platt scaling of the calibrated scores); 'none' fits none")
@click.option("--patches", "n_patches", type=click.IntRange(min=1), default=None,
              help="patches per image (default: the weights' own); fewer for large calibration splits")
@weights_dir_option
def calibrate_detector(data: Path, config_name: str, splits: str, probability_split: str, n_patches: int | None,
                       weights_dir: Path | None) -> None:
    """Place the registered detector's threshold on labelled splits, fit the probability of its
    scores (P(synthetic)) on one split, and register the result."""
    from ..detector.calibration import calibrate_registered

    result = calibrate_registered(config_name, data, tuple(s for s in splits.split(",") if s), weights_dir,
                                  probability_split=None if probability_split in ("none", "") else probability_split,
                                  n_patches=n_patches)
    click.echo(json.dumps(result.to_json()))
