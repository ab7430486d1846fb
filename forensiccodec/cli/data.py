"""``fcc collect-photos`` and ``fcc demo-data``: the photographs and the real/synthetic demo set."""

from __future__ import annotations

from pathlib import Path

import click

from .common import LibraryChoice, main, stderr, stdout


@main.command("collect-photos")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--debian/--no-debian", default=True, show_default=True, help="also take photographs from Debian wallpaper packages")
@click.option("--max-side", type=int, default=768, show_default=True, help="downscale photographs to this longer side")
@click.option("--source", "sources", type=LibraryChoice("forensiccodec.data.photos", "PHOTO_SOURCES"), multiple=True,
              help="where to take photographs from; repeat for several (default: python and wallpapers, the demo "
                   "set's; the others add the photographs of more Debian packages and PyPI wheels, see docs/data.md; "
                   "outside: the ones no data set here uses, to check a detector on; all: every source)")
def collect_photos(out_dir, debian, max_side, sources) -> None:
    """Gather real photographs that ship inside packages into OUT_DIR/{train,holdout}."""
    from ..data.photos import DEFAULT_SOURCES
    from ..data.photos import collect_photos as collect

    records = collect(out_dir, include_debian=debian, sources=sources or DEFAULT_SOURCES, max_side=max_side)
    stdout.print(f"{len(records)} photographs in {out_dir}")


@main.command("demo-data")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--photos", "photos_dirs", type=click.Path(path_type=Path, exists=True, file_okay=False), multiple=True,
              help="photographs collected by `fcc collect-photos` (default: datasets/photos, collected if missing); "
                   "repeat for several folders: each one's holdout photographs give test tiles")
@click.option("--families", default="upsampling", show_default=True,
              help="generator families for the synthetic images, comma-separated, or 'all': "
                   "upsampling, deep-autoencoder, vae, diffusion, codec (docs/data.md)")
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
def demo_data(out_dir, photos_dirs, families, seed, tile_size, paired, train_stride, extra_train_photos_dir,
              extra_val_photos_dir) -> None:
    """Build a small real-vs-synthetic set in OUT_DIR/{train,val,test}/{real,synthetic} (no network)."""
    from ..data.demo import DemoSettings, build_demo_data
    from ..data.generator_families import FAMILIES

    chosen = tuple(FAMILIES) if families.strip() == "all" else tuple(f.strip() for f in families.split(",") if f.strip())
    settings = DemoSettings(tile_size=tile_size, paired=paired, train_stride=train_stride, families=chosen)
    summary = build_demo_data(out_dir, photos_dir=list(photos_dirs) or None, seed=seed, settings=settings,
                              progress=stderr.is_terminal, extra_train_photos_dir=extra_train_photos_dir,
                              extra_val_photos_dir=extra_val_photos_dir)
    stdout.print(summary.table())
    stdout.print(summary.generator_table())
    stdout.print(f"{summary.total_bytes / 1e6:.1f} MB in {summary.seconds:.0f} s", highlight=False)
