"""The detector's commands: ``fcc detect``, ``fcc train-detector``, ``fcc demo-data``.

Registered on the ``fcc`` group by ``cli.py`` (``main.add_command(...)``). As there, no model
logic lives here, every user-caused failure is an ``FccError``, and a batch reports a bad
file in one line and goes on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Column, Table

from .errors import UsageError

DETECT_HELP = """Say whether images are real photographs or synthetic (generated) images.

\b
Each image is scored on N random 96x96 patches (the same patches every run for a given
--seed); the score is the mean of the M highest patch scores, and a score above 0 means
synthetic. FILES may be images or folders of images.
"""


@dataclass
class DetectReport:
    input: str
    score: float
    label: str
    patches_used: int
    n_patches: int
    config: str
    width: int
    height: int
    seconds: float
    heatmap: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _heatmap_path(path: Path, heatmap: Path | None, heatmap_dir: Path | None) -> Path | None:
    if heatmap is not None:
        return heatmap
    if heatmap_dir is not None:
        return heatmap_dir / f"{path.stem}-heatmap.png"
    return None


@click.command(help=DETECT_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("--patches", "n_patches", type=click.IntRange(min=1), default=None, help="patches per image (default: the weights' own, 800)")
@click.option("--top", "top_m", type=click.IntRange(min=1), default=None, help="average the top M patch scores (default 600)")
@click.option("--seed", type=int, default=0, show_default=True, help="patch positions; another seed gives a second opinion")
@click.option("--config", "config_name", default="small", show_default=True, help="detector configuration (small, paper)")
@click.option("--heatmap", type=click.Path(path_type=Path, dir_okay=False), default=None, help="write the patch scores over the image (one input only)")
@click.option("--heatmap-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="write <name>-heatmap.png for every input here")
@click.option("--force", is_flag=True, help="overwrite existing heatmaps")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option(
    "--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="weights folder (default: $FCC_WEIGHTS_DIR or the installed weights/)",
)
def detect(inputs, n_patches, top_m, seed, config_name, heatmap, heatmap_dir, force, recursive, as_json, weights_dir) -> None:
    from .cli import IMAGE_EXTENSIONS, _expand, _run_batch, stdout
    from .detector.weights import load_detector
    from .files import atomic_output
    from .images import load_image

    if heatmap is not None and heatmap_dir is not None:
        raise UsageError("give --heatmap or --heatmap-dir, not both")
    files, problems = _expand(inputs, IMAGE_EXTENSIONS, recursive)
    if heatmap is not None and len(files) + len(problems) > 1:
        raise UsageError("--heatmap names one output file; use --heatmap-dir for several inputs")
    if heatmap_dir is not None:
        heatmap_dir.mkdir(parents=True, exist_ok=True)
    detector = load_detector(config_name, weights_dir, seed=seed)
    if n_patches is not None and top_m is None:
        top_m = min(detector.top_m, max(1, round(n_patches * detector.top_m / detector.n_patches)))

    def work(path: Path) -> DetectReport:
        start = time.perf_counter()
        image = load_image(path)
        result = detector.score_image(image.pixels, n_patches=n_patches, top_m=top_m)
        out = _heatmap_path(path, heatmap, heatmap_dir)
        if out is not None:
            with atomic_output(out, overwrite=force) as temporary:
                detector.heatmap(image.pixels, result).save(temporary, format="PNG")
        return DetectReport(
            input=str(path), score=result.score, label=result.label,
            patches_used=result.patches_used, n_patches=int(result.patch_scores.numel()),
            config=config_name, width=image.info.width, height=image.info.height,
            seconds=round(time.perf_counter() - start, 3), heatmap=str(out) if out is not None else None,
        )

    def render(reports: list[DetectReport]) -> None:
        table = Table("score", "label", "patches used", "seconds")
        table.columns.insert(0, Column("file", overflow="fold"))  # a forensic report shows whole paths
        for r in reports:
            colour = "red" if r.label == "synthetic" else "green"
            table.add_row(escape(r.input), f"{r.score:+.3f}", f"[{colour}]{r.label}[/{colour}]",
                          f"{r.patches_used}/{r.n_patches}", f"{r.seconds:.2f}")
        stdout.print(table)
        for r in reports:
            if r.heatmap is not None:
                stdout.print(f"heatmap: {escape(r.heatmap)}", highlight=False)

    _run_batch(files, problems, work, as_json=as_json, describe="detecting", render=render)


@click.command("train-detector")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="folder with train/ and val/, each holding real/ and synthetic/")
@click.option("--config", "config_name", default="small", show_default=True, help="small, paper, tiny")
@click.option("--steps", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="patches per step per process")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--jpeg-prob", "jpeg_probability", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="fraction of patches (both classes) re-saved as JPEG q85-100")
@click.option("--init", "init_from", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="start from these detector weights (a .safetensors file) instead of random ones")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="default: runs/detector-<config>")
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in --checkpoint-dir")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-seconds", type=float, default=None, help="stop cleanly (with a checkpoint) after this long")
@click.option("--validate-every", type=click.IntRange(min=1), default=None,
              help="also validate on DIR/val every N steps (the history goes into the weights' training record)")
@click.option("--val-patches", type=click.IntRange(min=1), default=100, show_default=True, help="patches per validation image")
@click.option("--val-top", type=click.IntRange(min=1), default=75, show_default=True)
@click.option("--export/--no-export", default=True, show_default=True, help="register the result under the weights folder")
@click.option("--force", "overwrite", is_flag=True, help="replace a detector already registered")
@click.option(
    "--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="weights folder (default: $FCC_WEIGHTS_DIR or the installed weights/)",
)
def train_detector_command(**options: Any) -> None:
    """Train a detector on DIR/train (random 96x96 patches, cross-entropy), validate on DIR/val.

    Runs under torchrun too: torchrun --nproc_per_node=2 -m forensiccodec.detector.training --data DIR
    """
    from .cli import stdout
    from .detector.training import train_detector

    summary = train_detector(**options)
    validation = summary.get("validation")
    stdout.print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s", highlight=False)
    if validation:
        stdout.print(
            f"validation ({validation['n_real']} real, {validation['n_synthetic']} synthetic; "
            f"{validation['n_patches']} patches, top {validation['top_m']}): "
            f"accuracy {validation['accuracy']:.4f}, AUC {validation['auc']:.4f}", highlight=False,
        )
    best = summary.get("best_validation")
    if best and len(summary.get("validation_history", [])) > 1:
        stdout.print(
            f"best validation at step {best['step']}: accuracy {best['accuracy']:.4f}, AUC {best['auc']:.4f} "
            f"({len(summary['validation_history'])} validations)", highlight=False,
        )
    if "exported" in summary:
        stdout.print(f"registered {escape(summary['exported'])}", highlight=False)


@click.command("demo-data")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--photos", "photos_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="photographs collected by `fcc collect-photos` (default: datasets/photos, collected if missing)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tile-size", type=click.IntRange(min=96), default=256, show_default=True)
@click.option("--paired", is_flag=True,
              help="every tile twice, as itself and reconstructed: classes matched in content (twice the images)")
@click.option("--train-stride", type=click.IntRange(min=1), default=None,
              help="pixels between training tiles (default: the tile size); smaller gives more, overlapping "
                   "training tiles, while val and test stay the same non-overlapping tiles")
@click.option("--extra-train-photos", "extra_train_photos_dir",
              type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="another `fcc collect-photos` folder whose photographs all become training tiles; they train no "
                   "generator and choose no val photograph, so val and test stay the same files")
@click.option("--extra-val-photos", "extra_val_photos_dir",
              type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="another `fcc collect-photos` folder whose photographs all become val tiles, after the main val "
                   "tiles: a larger val split for --keep-best; train, test and the main val tiles stay the same files")
def demo_data(out_dir, photos_dir, seed, tile_size, paired, train_stride, extra_train_photos_dir,
              extra_val_photos_dir) -> None:
    """Build a small real-vs-synthetic set in OUT_DIR/{train,val,test}/{real,synthetic} (no network)."""
    from .cli import stderr, stdout
    from .data.demo import DemoSettings, build_demo_data

    summary = build_demo_data(out_dir, photos_dir=photos_dir, seed=seed,
                              settings=DemoSettings(tile_size=tile_size, paired=paired, train_stride=train_stride),
                              progress=stderr.is_terminal, extra_train_photos_dir=extra_train_photos_dir,
                              extra_val_photos_dir=extra_val_photos_dir)
    stdout.print(summary.table())
    stdout.print(summary.generator_table())
    stdout.print(f"{summary.total_bytes / 1e6:.1f} MB in {summary.seconds:.0f} s", highlight=False)
