"""Measure the registered detector: accuracy and AUC on a split of a real/synthetic folder for
uncompressed images, JPEG and the base codec's reconstructions; scores of real photographs from
outside the set; patches per second of each configuration.

Every number in docs/detector.md's "Measured" section comes from this script. Each accuracy and
AUC of ``split`` comes with its 95 % interval (``accuracy_ci``, ``auc_ci``, ``real_accuracy_ci``,
``synthetic_accuracy_ci``: ``[low, high]`` in the JSON), a stratified bootstrap over images
(``forensiccodec.detector.confidence``). Examples:

    python scripts/evaluate_detector.py split --data datasets/demo --transforms none,jpeg90,jpeg50 \
        --codec-qualities 1,2,3,4 --patches 200 --top 150 --json runs/detector-test.json \
        --histogram docs/detector_scores.png --update-manifest
    python scripts/evaluate_detector.py photos runs/outside --resave 90,75 --json runs/detector-outside.json
    python scripts/evaluate_detector.py throughput --configs small,paper
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from forensiccodec.detector import PatchDetector
from forensiccodec.detector.evaluation import (
    CI_METRICS,
    Evaluation,
    Transform,
    evaluate_files,
    jpeg_round_trip,
    labelled_files,
    named_transform,
    score_histogram,
    summarise,
)
from forensiccodec.detector.weights import load_detector, update_detector_record
from forensiccodec.images import load_image, to_uint8

HISTOGRAM_EDGES = [-40.0, -8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0, 40.0]


def codec_transform(config_name: str, quality: int, weights_dir: Path | None) -> Transform:
    """Encode and decode with the registered base codec, rounded to 8 bits as its PNG would be."""
    from forensiccodec.api import CodecStore
    from forensiccodec.codec import pipeline

    codec = CodecStore(weights_dir).get(config_name, quality)
    rates: list[float] = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        compressed = pipeline.compress(codec.model, codec.tables, image)
        decoded = pipeline.decompress(
            codec.model, codec.tables, compressed.z_stream, compressed.y_stream,
            compressed.z_shape, compressed.y_shape, height, width,
        )
        rates.append(8 * compressed.payload_bytes / (height * width))
        return torch.from_numpy(to_uint8(decoded.pixels)).permute(2, 0, 1)[None].float() / 255

    transform.__name__ = f"codec-{config_name}-q{quality}"
    transform.rates = rates  # type: ignore[attr-defined]
    return transform


def _per_family(evaluation: Evaluation, data: Path) -> list[tuple[str, Evaluation]]:
    """The evaluation split by the generator family of the synthetic images (all real images in each)."""
    manifest = json.loads((data / "manifest.json").read_text())
    if "families" not in manifest:
        raise click.UsageError(f"{data} has one generator family; --by-family needs a set built with --families")
    family_of = {g: f for f, record in manifest["families"].items() for g in record["generators"]}
    generator_of = {str((data / i["file"]).resolve()): i["generator"] for i in manifest["images"] if i["generator"]}
    by_family: dict[str, list[float]] = {f: [] for f in manifest["families"]}
    for path, score in zip(evaluation.synthetic_files, evaluation.synthetic_scores):
        by_family[family_of[generator_of[str(Path(path).resolve())]]].append(score)
    return [(family, summarise(evaluation.real_scores, synthetic, transform=evaluation.transform,
                               n_patches=evaluation.n_patches, top_m=evaluation.top_m))
            for family, synthetic in by_family.items()]


def _row(evaluation: Evaluation, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    row = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in evaluation.summary().items()}
    row["histogram_real"] = score_histogram(evaluation.real_scores, HISTOGRAM_EDGES)
    row["histogram_synthetic"] = score_histogram(evaluation.synthetic_scores, HISTOGRAM_EDGES)
    row["median_real"] = round(float(np.median(evaluation.real_scores)), 3)
    row["median_synthetic"] = round(float(np.median(evaluation.synthetic_scores)), 3)
    row.update(extra or {})
    return row


def _with_interval(row: dict[str, Any], key: str, digits: int) -> str:
    """``0.9444 [0.861, 1.000]``: the value and its 95 % bootstrap interval (``<key>_ci``)."""
    value, interval = row[key], row.get(f"{key}_ci")
    if value is None or not np.isfinite(value):  # undefined (NaN): a class without images
        return "-"
    if not interval or None in interval:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _condition(row: dict[str, Any]) -> str:
    return f"{row['transform']}, {row['family']} only" if "family" in row else row["transform"]


def _print_table(rows: list[dict[str, Any]]) -> None:
    click.echo("| condition | bpp | accuracy [95 % CI] | AUC [95 % CI] | real acc. [95 % CI] | synthetic acc. [95 % CI]"
               " | median real | median synthetic | patches/top |")
    click.echo("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bpp = f"{r['bpp']:.3f}" if "bpp" in r else "-"
        click.echo(
            f"| {_condition(r)} | {bpp} | {_with_interval(r, 'accuracy', 4)} | {_with_interval(r, 'auc', 4)} | "
            f"{_with_interval(r, 'real_accuracy', 3)} | {_with_interval(r, 'synthetic_accuracy', 3)} | "
            f"{r['median_real']:+.2f} | {r['median_synthetic']:+.2f} | {r['n_patches']}/{r['top_m']} |"
        )
    click.echo("[95 % CI]: stratified bootstrap over images (2000 resamples, seed 0); tiles of one photograph"
               " are not independent, so it is somewhat too narrow.")


def _histogram_png(rows: list[dict[str, Any]], scores: dict[str, tuple[list[float], list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(4, len(rows))
    lines = (len(rows) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.6 * lines), squeeze=False)
    every = [s for pair in scores.values() for part in pair for s in part]
    bins = np.linspace(min(every), max(every), 40)
    for axis, row in zip(axes.flat, rows):
        real, synthetic = scores[row["transform"]]
        axis.hist(real, bins=bins, alpha=0.6, color="tab:blue", label="real")
        axis.hist(synthetic, bins=bins, alpha=0.6, color="tab:red", label="synthetic")
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(f"{row['transform']}\nacc {_with_interval(row, 'accuracy', 3)}, AUC {_with_interval(row, 'auc', 3)}",
                       fontsize=7)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(rows):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.supxlabel("detector score (> 0: synthetic)", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


@click.group()
def main() -> None:
    """Detector measurements (see the module docstring)."""
    torch.set_num_threads(2)


@main.command()
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--split", default="test", show_default=True)
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--patches", "n_patches", type=int, default=None, help="default: the weights' own (800)")
@click.option("--top", "top_m", type=int, default=None, help="default: the weights' own (600)")
@click.option("--transforms", default="none,jpeg90,jpeg50", show_default=True)
@click.option("--codec-qualities", default="", help="comma-separated base-codec qualities, e.g. 1,2,3,4")
@click.option("--codec-config", default="small", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--histogram", "histogram_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--update-manifest", is_flag=True, help="record the results in the detector's manifest entry")
@click.option("--by-family", is_flag=True,
              help="also each generator family's synthetic images against all real ones (a set built with --families)")
def split(data, split, config_name, weights_dir, n_patches, top_m, transforms, codec_qualities, codec_config,
          json_path, histogram_path, update_manifest, by_family) -> None:
    """Accuracy, AUC and score distributions on DATA/SPLIT under each transform."""
    command = "python scripts/evaluate_detector.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    detector = load_detector(config_name, weights_dir)
    conditions: list[tuple[str, Transform | None]] = [
        (name, named_transform(name)) for name in transforms.split(",") if name
    ]
    for quality in (int(q) for q in codec_qualities.split(",") if q):
        transform = codec_transform(codec_config, quality, weights_dir)
        conditions.append((transform.__name__, transform))
    samples = labelled_files(data, split)
    rows, scores = [], {}
    for name, transform in conditions:
        started = time.monotonic()
        evaluation = evaluate_files(detector, samples, transform=transform, transform_name=name,
                                    n_patches=n_patches, top_m=top_m)
        rates = getattr(transform, "rates", None)
        extra = {"bpp": round(float(np.mean(rates)), 4)} if rates else {}
        row = _row(evaluation, extra)  # all synthetic images; the per-family rows follow it
        rows.append(row)
        scores[name] = (evaluation.real_scores, evaluation.synthetic_scores)
        if by_family:
            rows += [_row(family_evaluation, {**extra, "family": family})
                     for family, family_evaluation in _per_family(evaluation, data)]
        click.echo(f"{name}: accuracy {_with_interval(row, 'accuracy', 4)}, AUC {_with_interval(row, 'auc', 4)} "
                   f"({time.monotonic() - started:.0f} s)", err=True)
    _print_table(rows)
    click.echo(f"histogram bins: {HISTOGRAM_EDGES} (outside values clipped into the end bins)")
    for row in rows:
        click.echo(f"  {_condition(row):>16}: real {row['histogram_real']}  synthetic {row['histogram_synthetic']}")
    result = {"command": command, "data": str(data), "split": split, "config": config_name,
              "histogram_edges": HISTOGRAM_EDGES, "conditions": rows, "scores": scores}
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1))
    if histogram_path is not None:
        _histogram_png([row for row in rows if "family" not in row], scores, histogram_path)
    if update_manifest:
        keys = ("accuracy", "auc", "real_accuracy", "synthetic_accuracy", *(f"{name}_ci" for name in CI_METRICS),
                "n_real", "n_synthetic", "n_patches", "top_m")
        metrics = {_condition(row): {k: row[k] for k in keys + (("bpp",) if "bpp" in row else ())} for row in rows}
        update_detector_record(config_name, weights_dir, metrics={f"{Path(data).name}-{split}": {**metrics, "command": command}})


@main.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--patches", "n_patches", type=int, default=None)
@click.option("--top", "top_m", type=int, default=None)
@click.option("--resave", default="90,75", show_default=True, help="also score each photo re-saved as JPEG at these qualities")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
def photos(folder, config_name, weights_dir, n_patches, top_m, resave, json_path) -> None:
    """Scores of real photographs (every image in FOLDER), as they are and re-saved as JPEG."""
    command = "python scripts/evaluate_detector.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    detector = load_detector(config_name, weights_dir)
    qualities = [int(q) for q in resave.split(",") if q]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".webp"})
    table = []
    for path in files:
        image = load_image(path)
        versions = [("as is", image.pixels)] + [(f"jpeg{q}", jpeg_round_trip(image.pixels, q)) for q in qualities]
        row = {"file": path.name, "size": f"{image.info.width}x{image.info.height}"}
        for name, pixels in versions:
            row[name] = round(detector.score_image(pixels, n_patches=n_patches, top_m=top_m).score, 3)
        table.append(row)
        click.echo(json.dumps(row), err=True)
    names = ["as is"] + [f"jpeg{q}" for q in qualities]
    click.echo("| photograph | size | " + " | ".join(names) + " |")
    click.echo("|---|---|" + "---|" * len(names))
    for row in table:
        click.echo(f"| {row['file']} | {row['size']} | " + " | ".join(f"{row[n]:+.2f}" for n in names) + " |")
    called_real = {n: sum(row[n] <= 0 for row in table) for n in names}
    click.echo("called real: " + ", ".join(f"{n} {called_real[n]}/{len(table)}" for n in names))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"command": command, "photos": table, "called_real": called_real}, indent=1))


@main.command()
@click.option("--configs", default="small,paper", show_default=True)
@click.option("--patches", "n_patches", type=int, default=200, show_default=True)
@click.option("--repeats", type=int, default=2, show_default=True)
def throughput(configs, n_patches, repeats) -> None:
    """Patches per second of score_image (random weights, a 512x512 image, 2 threads)."""
    image = torch.rand(3, 512, 512, generator=torch.Generator().manual_seed(0))
    for name in configs.split(","):
        detector = PatchDetector(name).eval()
        detector.score_image(image, n_patches=min(n_patches, 100))  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            detector.score_image(image, n_patches=n_patches)
            times.append(time.perf_counter() - started)
        best = min(times)
        click.echo(f"{name}: {n_patches / best:.1f} patches/s (best of {repeats}: {best:.2f} s for {n_patches} patches; "
                   f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
