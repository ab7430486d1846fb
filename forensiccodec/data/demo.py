"""`fcc demo-data OUT`: an offline real-vs-synthetic image set for the detector.

Real images are fixed tiles of the collected photographs (``fcc collect-photos``). Synthetic
images are other tiles of the same photographs passed through small generators that the command
trains on the training photographs: by default four autoencoders
(:mod:`forensiccodec.data.generators`) with the upsampling traces of transposed convolution,
nearest or bilinear upsampling + convolution, or pixel shuffle, as in Zhang, Karaman and Chang
(2019); with ``DemoSettings(families=...)`` further families of generators
(:mod:`forensiccodec.data.generator_families`), for measuring detection of unseen generators.

Splits follow the photographs: ``photos.json``'s holdout photographs give ``test``, its
training photographs give ``train`` and ``val`` (a few whole photographs, mixed across
sources), so no photograph's content crosses splits. Within a split, real and synthetic
images come from different tiles (alternating over the tile grid), so the two classes never
show the same pixels. Output (see :mod:`forensiccodec.data.layout`)::

    OUT/{train,val,test}/{real,synthetic}/*.png   OUT/manifest.json   OUT/README.md

The same seed, photographs and machine give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.table import Table

from forensiccodec.data.generator_families import (
    FAMILIES,
    UPSAMPLING_FAMILY,
    GeneratorSpec,
    family_generators,
    synthesise,
    tile_noise,
)
from forensiccodec.data.generators import (
    UPSAMPLING_DESIGNS,
    GeneratorConfig,
    TrainingConfig,
    TrainingReport,
    train_generator,
)
from forensiccodec.data.layout import CLASSES, SPLITS, read_rgb
from forensiccodec.errors import FccError
from forensiccodec.files import atomic_write_bytes

DEFAULT_PHOTOS_DIR = Path("datasets/photos")
MARKER_FILE = ".fcc-demo-data"  # written first: a rerun may reuse a half-built folder
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class DemoDataError(FccError):
    """The demo data set cannot be built (no photographs, unusable output folder, too few tiles)."""


@dataclass(frozen=True)
class DemoSettings:
    """Everything that shapes the set besides the seed and the photographs.

    ``context`` pixels around a tile (where the photograph has them) go through the generator
    with it and are cut away afterwards, so synthetic tiles carry no zero-padding border that a
    detector could key on."""

    tile_size: int = 256
    val_fraction: float = 0.15
    context: int = 32
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    designs: tuple[str, ...] = tuple(UPSAMPLING_DESIGNS)  # the upsampling family's members
    # Generator families (generator_families.FAMILIES); synthetic tiles take the families in
    # turn, and within a family its generators in turn.
    families: tuple[str, ...] = (UPSAMPLING_FAMILY,)
    # Replaces the other families' own training settings (tests train them for a few steps).
    family_training: TrainingConfig | None = None
    # True: every tile appears twice, as itself and reconstructed (twice the images, classes
    # matched in content as in Zhang et al.'s training); False: the classes use different tiles.
    paired: bool = False
    # Step between training tiles; None = tile_size (no overlap). A smaller step gives more,
    # overlapping training tiles of the same photographs; val and test stay non-overlapping,
    # so they are the same images whatever the step.
    train_stride: int | None = None


@dataclass(frozen=True)
class DemoImage:
    """One image of the set, as listed in manifest.json."""

    file: str  # relative to the set's folder, e.g. "test/real/mate-Dune-x0-y112.png"
    split: str
    label: str  # "real" or "synthetic"
    source_photo: str  # photos.json name of the photograph the tile comes from
    generator: str | None  # synthetic images: the generator's name (an upsampling design, "vae", ...)
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the photograph
    sha256: str
    psnr_db: float | None  # synthetic: PSNR of the reconstruction against its own tile


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`build_demo_data` built."""

    out_dir: Path
    counts: dict[str, dict[str, int]]  # split -> class -> images
    photos: dict[str, list[str]]  # split -> source photographs
    generators: list[TrainingReport]
    mean_psnr_db: dict[str, float]  # generator -> mean PSNR of its synthetic images
    total_bytes: int
    seconds: float

    def table(self) -> Table:
        """A rich Table of image counts per split and class (for the CLI to print)."""
        table = Table(title=f"demo data set: {self.out_dir}")
        table.add_column("split")
        table.add_column("photographs", justify="right")
        for name in CLASSES:
            table.add_column(name, justify="right")
        for split in SPLITS:
            table.add_row(split, str(len(self.photos[split])), *(str(self.counts[split][c]) for c in CLASSES))
        totals = [str(sum(self.counts[s][c] for s in SPLITS)) for c in CLASSES]
        table.add_row("total", str(sum(len(p) for p in self.photos.values())), *totals, style="bold")
        return table

    def generator_table(self) -> Table:
        """A rich Table of the trained generators (parameters, loss, time, PSNR)."""
        table = Table(title="generators")
        for column in ("generator", "parameters", "training loss", "train s", "PSNR dB"):
            table.add_column(column, justify="left" if column == "generator" else "right")
        for report in self.generators:
            table.add_row(
                report.design, f"{report.parameters:,}", f"{report.first_loss:.4f} → {report.final_loss:.4f}",
                f"{report.seconds:.1f}", f"{self.mean_psnr_db.get(report.design, float('nan')):.2f}",
            )
        return table


@dataclass(frozen=True)
class _Photo:
    name: str
    file: Path
    package: str
    group: str
    split: str  # demo split: train, val or test
    extra: bool = False  # from --extra-train-photos or --extra-val-photos: trains no generator, chooses no val


@dataclass(frozen=True)
class _Tile:
    photo: str
    split: str
    box: tuple[int, int, int, int]
    label: str
    generator: str | None

    @property
    def file(self) -> str:
        left, top = self.box[:2]
        suffix = f"-{self.generator}" if self.generator else ""
        return f"{self.split}/{self.label}/{self.photo}-x{left}-y{top}{suffix}.png"


def build_demo_data(
    out_dir: str | os.PathLike[str],
    *,
    photos_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    seed: int = 0,
    tile_size: int = 256,
    progress: bool = True,
    settings: DemoSettings | None = None,
    extra_train_photos_dir: str | os.PathLike[str] | None = None,
    extra_val_photos_dir: str | os.PathLike[str] | None = None,
) -> DemoSummary:
    """Build the demo set in ``out_dir`` from the photographs in ``photos_dir`` (default
    ``datasets/photos``; collected there first with :func:`collect_photos` when it has no
    ``photos.json``). Several ``fcc collect-photos`` folders may be given: each one's holdout
    photographs go to ``test`` and its training photographs to ``train`` and ``val``, as for one. ``settings`` overrides everything but ``tile_size``, which is a shortcut
    for ``settings.tile_size``. Rebuilding into a folder this function made replaces its files
    and removes images that are no longer part of the set.

    ``extra_train_photos_dir`` (another ``fcc collect-photos`` folder) adds training content
    only: all of its photographs, holdout ones included, give ``train`` tiles, and they do not
    train the generators or take part in choosing val, so the val and test images are the same
    files as without them. ``extra_val_photos_dir`` does the same for the val split: all of its
    photographs give ``val`` tiles after the main set's, which stay the same files, and the
    train and test images are unchanged. A larger val split chooses between trained weights on
    more content (its 18 + 18 tiles decide by one image)."""
    start = time.perf_counter()
    if settings is None:
        settings = DemoSettings(tile_size=tile_size)
    _check_settings(settings)
    photos_roots = _photo_roots(photos_dir)
    photos_root = photos_roots[0]
    extra_roots = {
        split: Path(folder) for split, folder in (("train", extra_train_photos_dir), ("val", extra_val_photos_dir))
        if folder is not None
    }
    photos = _read_photos(_ensure_photos(photos_root, progress), settings.val_fraction)
    for root in photos_roots[1:]:
        more = _read_photos(root, settings.val_fraction)
        _refuse_name_clashes(more, photos, root)
        photos += more
    for split, root in extra_roots.items():
        extra = _read_extra_photos(root, split)
        _refuse_name_clashes(extra, photos, root)
        photos += extra
    out = _prepare_output(Path(out_dir))
    pixels = {photo.name: read_rgb(photo.file) for photo in photos}
    tiles = plan_tiles(photos, {n: p.shape[:2] for n, p in pixels.items()}, settings)

    with _progress(progress) as bar:
        generators, reports = _train_generators(photos, pixels, settings, seed, bar)
        images = _write_tiles(out, tiles, pixels, generators, settings, seed, bar)
    _remove_stale_images(out, images)
    manifest = _manifest(images, photos, reports, settings, seed, photos_roots, extra_roots)
    atomic_write_bytes(out / MANIFEST_FILE, manifest.encode(), overwrite=True)
    atomic_write_bytes(out / "README.md", _readme(images, photos, reports, settings, seed).encode(), overwrite=True)

    counts = {s: {c: sum(i.split == s and i.label == c for i in images) for c in CLASSES} for s in SPLITS}
    psnr = {
        r.design: float(np.mean([i.psnr_db for i in images if i.generator == r.design]))
        for r in reports if any(i.generator == r.design for i in images)
    }
    return DemoSummary(
        out_dir=out,
        counts=counts,
        photos={s: sorted(p.name for p in photos if p.split == s) for s in SPLITS},
        generators=reports,
        mean_psnr_db=psnr,
        total_bytes=sum((out / i.file).stat().st_size for i in images),
        seconds=time.perf_counter() - start,
    )


# --- photographs and splits ---------------------------------------------------------------


def _photo_roots(photos_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    if photos_dir is None:
        return [DEFAULT_PHOTOS_DIR]
    if isinstance(photos_dir, (str, os.PathLike)):
        return [Path(photos_dir)]
    roots = [Path(p) for p in photos_dir]
    if not roots:
        raise DemoDataError("no photo folder given")
    for root in roots[1:]:
        if not (root / "photos.json").is_file():
            raise DemoDataError(f"{root} has no photos.json; point --photos at a folder made by `fcc collect-photos`")
    return roots


def _ensure_photos(photos_root: Path, progress: bool) -> Path:
    if (photos_root / "photos.json").is_file():
        return photos_root
    if photos_root.exists() and any(photos_root.iterdir()):
        raise DemoDataError(
            f"{photos_root} has no photos.json; point --photos at a folder made by `fcc collect-photos`"
        )
    from forensiccodec.data.photos import collect_photos

    # Debian wallpapers need apt-get and dpkg; without them the Python-package photographs
    # (a dozen) still make a small set.
    debian = shutil.which("apt-get") is not None and shutil.which("dpkg") is not None
    collect_photos(photos_root, include_debian=debian, progress=progress)
    return photos_root


def photo_group(record: dict[str, Any]) -> str:
    """Photographs of one scene share a split: photos.json's ``group`` when it has one, else
    the name without a stereo-view suffix (``motorcycle_left``/``_right``)."""
    if record.get("group"):
        return str(record["group"])
    name = str(record["name"])
    for suffix in ("_left", "_right"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_photos(photos_root: Path, val_fraction: float) -> list[_Photo]:
    try:
        manifest = json.loads((photos_root / "photos.json").read_text())
        records = manifest["photos"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DemoDataError(f"cannot read {photos_root / 'photos.json'}: {error}") from error
    train_groups: dict[str, str] = {}  # group -> package
    for record in records:
        if record["split"] == "train":
            train_groups.setdefault(photo_group(record), record["source_package"])
    val_groups = select_val_groups(train_groups, val_fraction)
    photos = []
    for record in sorted(records, key=lambda r: r["name"]):
        path = photos_root / record["file"]
        if not path.is_file():
            raise DemoDataError(f"{path} is listed in photos.json but missing; rerun `fcc collect-photos`")
        group = photo_group(record)
        if record["split"] == "holdout":
            split = "test"
        else:
            split = "val" if group in val_groups else "train"
        photos.append(_Photo(record["name"], path, record["source_package"], group, split))
    return photos


def _read_extra_photos(root: Path, split: str) -> list[_Photo]:
    """Every photograph of another collect-photos folder, as extra content of ``split``."""
    if not (root / "photos.json").is_file():
        raise DemoDataError(f"{root} has no photos.json; point --extra-{split}-photos at a folder made by `fcc collect-photos`")
    # Whatever split the folder gave a photograph, here it is content of this one.
    return [_Photo(p.name, p.file, p.package, p.group, split, extra=True) for p in _read_photos(root, val_fraction=0.0)]


def _refuse_name_clashes(extra: list[_Photo], photos: list[_Photo], extra_root: Path | None) -> None:
    """Tile file names come from photograph names, so two photographs may not share one."""
    clashes = sorted({p.name for p in extra} & {p.name for p in photos})
    if clashes:
        raise DemoDataError(
            f"{extra_root} repeats photograph(s) of the main set ({', '.join(clashes[:3])}"
            f"{', …' if len(clashes) > 3 else ''}); collect it from other sources"
        )


def select_val_groups(groups: dict[str, str], fraction: float) -> set[str]:
    """Which training groups (group -> source package) become validation: ``round(fraction *
    groups)`` of them, at least one when there are two or more and never all, picked one per
    package in turn (each package's groups ordered by the sha256 of their name) so that the
    validation photographs mix sources. Depends only on the names."""
    if len(groups) < 2:
        return set()
    count = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    by_package: dict[str, list[str]] = {}
    for group, package in groups.items():
        by_package.setdefault(package, []).append(group)
    queues = [sorted(g, key=_name_hash) for _, g in sorted(by_package.items())]
    order: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return set(order[:count])


def _name_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def tile_grid(height: int, width: int, tile: int, stride: int | None = None) -> list[tuple[int, int, int, int]]:
    """``tile``-square boxes (left, top, right, bottom) every ``stride`` pixels (default
    ``tile``: non-overlapping), as many as fit, the grid centred in the photograph, in raster
    order."""
    step = tile if stride is None else stride
    if height < tile or width < tile:
        return []
    rows, cols = (height - tile) // step + 1, (width - tile) // step + 1
    top0 = (height - tile - (rows - 1) * step) // 2
    left0 = (width - tile - (cols - 1) * step) // 2
    return [
        (left0 + c * step, top0 + r * step, left0 + c * step + tile, top0 + r * step + tile)
        for r in range(rows) for c in range(cols)
    ]


def plan_tiles(photos: list[_Photo], sizes: dict[str, tuple[int, int]], settings: DemoSettings) -> list[_Tile]:
    """Every image of the set: per split, the tiles of its photographs (by name, raster order)
    alternate real / synthetic (or, with ``settings.paired``, each tile is both), synthetic
    ones take the generator families in turn (and each family's generators in turn), and a
    surplus real tile is dropped so each split is balanced."""
    members = [[g.name for g in family] for family in _generator_specs(settings)]
    tiles: list[_Tile] = []
    for split in SPLITS:
        boxes = [
            (photo.name, box)
            for photo in photos if photo.split == split
            for box in tile_grid(
                *sizes[photo.name], settings.tile_size, settings.train_stride if split == "train" else None
            )
        ]
        n_synthetic = len(boxes) if settings.paired else len(boxes) // 2
        if n_synthetic == 0:
            raise DemoDataError(
                f"the photographs give no {split} images at {settings.tile_size} px tiles "
                f"({len(boxes)} tile(s)); add photographs or use smaller tiles"
            )
        if settings.paired:
            real, synthetic = boxes, boxes
        else:
            real = [b for i, b in enumerate(boxes) if i % 2 == 0][:n_synthetic]
            synthetic = [b for i, b in enumerate(boxes) if i % 2 == 1]
        tiles += [_Tile(name, split, box, "real", None) for name, box in real]
        tiles += [
            _Tile(name, split, box, "synthetic", _generator_for(i, members))
            for i, (name, box) in enumerate(synthetic)
        ]
    return tiles


def _generator_for(index: int, members: list[list[str]]) -> str:
    """The ``index``-th synthetic tile's generator: families in turn, each family's generators in turn."""
    family = members[index % len(members)]
    return family[(index // len(members)) % len(family)]


# --- generators and images -----------------------------------------------------------------


def _generator_specs(settings: DemoSettings) -> list[list[GeneratorSpec]]:
    return family_generators(settings.families, settings.designs, settings.generator, settings.training,
                             other_training=settings.family_training)


def _train_generators(
    photos: list[_Photo], pixels: dict[str, np.ndarray], settings: DemoSettings, seed: int, bar: Any
) -> tuple[dict[str, tuple[GeneratorSpec, torch.nn.Module]], list[TrainingReport]]:
    """Every generator, trained on the ``train`` split's photographs only (not the extra
    training photographs, so that adding them leaves every generator as it was)."""
    train_images = [pixels[p.name] for p in photos if p.split == "train" and not p.extra]
    generators: dict[str, tuple[GeneratorSpec, torch.nn.Module]] = {}
    reports: list[TrainingReport] = []
    specs = [spec for family in _generator_specs(settings) for spec in family]
    for index, spec in enumerate(specs):
        task = bar.add_task(f"training {spec.name}", total=spec.training.steps, note="") if bar else None
        # Own RNG stream per generator, without disturbing the caller's global torch state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + index)
            model = spec.build()
            report = train_generator(
                model, train_images, spec.training, seed=seed * 1000 + index, factor=spec.factor, name=spec.name,
                loss=lambda batch, spec=spec, model=model: spec.objective(model, batch),
                on_step=(lambda step, loss, task=task: bar.update(task, advance=1, note=f"loss {loss:.4f}")) if bar else None,
            )
        generators[spec.name] = (spec, model)
        reports.append(report)
    return generators, reports


def _write_tiles(
    out: Path,
    tiles: list[_Tile],
    pixels: dict[str, np.ndarray],
    generators: dict[str, tuple[GeneratorSpec, torch.nn.Module]],
    settings: DemoSettings,
    seed: int,
    bar: Any,
) -> list[DemoImage]:
    for split in SPLITS:
        for name in CLASSES:
            (out / split / name).mkdir(parents=True, exist_ok=True)
    task = bar.add_task("writing images", total=len(tiles), note="") if bar else None
    images = []
    for tile in tiles:
        photo = pixels[tile.photo]
        left, top, right, bottom = tile.box
        source = photo[top:bottom, left:right]
        psnr = None
        if tile.generator is None:
            image = source
        else:
            spec, model = generators[tile.generator]
            image = _generate_in_context(spec, model, photo, tile.box, settings.context, tile_noise(seed, tile.file))
            psnr = _psnr(image, source)
        data = _png_bytes(image)
        atomic_write_bytes(out / tile.file, data, overwrite=True)
        images.append(DemoImage(
            file=tile.file, split=tile.split, label=tile.label, source_photo=tile.photo,
            generator=tile.generator, box=tile.box, sha256=hashlib.sha256(data).hexdigest(), psnr_db=psnr,
        ))
        if bar:
            bar.update(task, advance=1)
    return images


def _generate_in_context(
    spec: GeneratorSpec, model: torch.nn.Module, photo: np.ndarray, box: tuple[int, int, int, int], context: int,
    noise: torch.Generator,
) -> np.ndarray:
    """Generate the tile with up to ``context`` pixels of the photograph around it (margins
    rounded down to the generator's factor so the sides stay valid), then cut the tile out."""
    factor = spec.factor
    left, top, right, bottom = box
    height, width = photo.shape[:2]
    m_left, m_top = min(context, left) // factor * factor, min(context, top) // factor * factor
    m_right = min(context, width - right) // factor * factor
    m_bottom = min(context, height - bottom) // factor * factor
    region = photo[top - m_top : bottom + m_bottom, left - m_left : right + m_right]
    output = synthesise(spec, model, region, noise)
    return output[m_top : m_top + bottom - top, m_left : m_left + right - left]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return round(float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse), 3)


def _png_bytes(image: np.ndarray) -> bytes:
    # No metadata and a fixed compression level: the same pixels always give the same bytes.
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# --- output folder ---------------------------------------------------------------------------


def _check_settings(settings: DemoSettings) -> None:
    if not settings.families:
        raise DemoDataError("at least one generator family is needed")
    unknown_families = [f for f in settings.families if f not in FAMILIES]
    if unknown_families:
        raise DemoDataError(f"unknown generator family {', '.join(unknown_families)}; choose from {', '.join(FAMILIES)}")
    if UPSAMPLING_FAMILY in settings.families:
        if not settings.designs:
            raise DemoDataError("at least one generator design is needed")
        unknown = [d for d in settings.designs if d not in UPSAMPLING_DESIGNS]
        if unknown:
            raise DemoDataError(f"unknown generator design(s) {', '.join(unknown)}; choose from {', '.join(UPSAMPLING_DESIGNS)}")
    factor = max(spec.factor for family in _generator_specs(settings) for spec in family)
    if settings.tile_size < factor or settings.tile_size % factor:
        raise DemoDataError(f"tile size must be a positive multiple of {factor}, got {settings.tile_size}")
    if settings.train_stride is not None and not 0 < settings.train_stride <= settings.tile_size:
        raise DemoDataError(
            f"training tile stride must be between 1 and the tile size ({settings.tile_size}), got {settings.train_stride}"
        )
    if not 0 <= settings.val_fraction < 1:
        raise DemoDataError(f"validation fraction must be in [0, 1), got {settings.val_fraction}")


def _prepare_output(out: Path) -> Path:
    """Refuse a folder that holds something other than an earlier demo set; mark ours first."""
    if out.exists() and not out.is_dir():
        raise DemoDataError(f"output path exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise DemoDataError(f"{out} is not empty and was not made by `fcc demo-data`; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER_FILE).write_text("made by fcc demo-data; safe to rebuild in place\n")
    return out


def _remove_stale_images(out: Path, images: list[DemoImage]) -> None:
    """Images of an earlier build (other seed, tile size or photographs) must not linger."""
    wanted = {image.file for image in images}
    for split in SPLITS:
        for name in CLASSES:
            for path in (out / split / name).glob("*.png"):
                if f"{split}/{name}/{path.name}" not in wanted:
                    path.unlink()


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [
        TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    ]
    with Progress(*columns, transient=False) as bar:
        yield bar


def _manifest(
    images: list[DemoImage], photos: list[_Photo], reports: list[TrainingReport],
    settings: DemoSettings, seed: int, photos_roots: list[Path], extra_roots: dict[str, Path] | None = None,
) -> str:
    several_families = settings.families != (UPSAMPLING_FAMILY,)
    manifest = {
        "format": "fcc-demo-data",
        "version": FORMAT_VERSION,
        "seed": seed,
        "photos_dir": str(photos_roots[0]),
        # Keys for further photographs and families only when there are some: without them the
        # manifest stays byte-identical to older builds.
        **({"more_photos_dirs": [str(r) for r in photos_roots[1:]]} if len(photos_roots) > 1 else {}),
        **{f"extra_{split}_photos_dir": str(root) for split, root in (extra_roots or {}).items()},
        "torch": torch.__version__,
        "settings": {k: v for k, v in asdict(settings).items()
                     if k not in ("families", "family_training") or several_families},
        "designs": {d: UPSAMPLING_DESIGNS[d] for d in settings.designs},
        **({"families": {
            family: {"description": FAMILIES[family], "generators": [g.name for g in members]}
            for family, members in zip(settings.families, _generator_specs(settings))
        }} if several_families else {}),
        "photos": [
            {"name": p.name, "source_package": p.package, "group": p.group, "split": p.split,
             **({f"extra_{p.split}": True} if p.extra else {})}
            for p in photos
        ],
        # Timings stay out: the manifest of a rebuild is byte-identical too.
        "generators": [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in reports],
        "counts": {s: {c: sum(i.split == s and i.label == c for i in images) for c in CLASSES} for s in SPLITS},
        "images": [asdict(i) for i in images],
    }
    return json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"


def _readme(
    images: list[DemoImage], photos: list[_Photo], reports: list[TrainingReport], settings: DemoSettings, seed: int
) -> str:
    lines = [
        "# Demo real-vs-synthetic image set",
        "",
        "Built by `fcc demo-data` (forensiccodec), offline, from the photographs collected by",
        "`fcc collect-photos`. Layout: `{train,val,test}/{real,synthetic}/*.png`; label 0 = real,",
        "1 = synthetic. `manifest.json` lists every image with its split, source photograph, tile box",
        "(left, top, right, bottom), generator and sha256.",
        "",
        f"- **Real**: {settings.tile_size}x{settings.tile_size} tiles of the photographs, non-overlapping"
        + (
            "." if settings.train_stride in (None, settings.tile_size)
            else f" in val and test, every {settings.train_stride} px (overlapping) in train."
        ),
        "- **Synthetic**: other tiles of the same split's photographs, reconstructed by a small",
        (
            "  convolutional autoencoder (downsampling by "
            f"{settings.generator.factor}, then as many upsampling stages) trained"
        ),
        "  with L1 + MSE on random crops of the `train` photographs only (Zhang, Karaman, Chang 2019:",
        "  the decoder's upsampling leaves the same traces as in GAN generators). Designs:",
    ]
    specs = {spec.name: spec for family in _generator_specs(settings) for spec in family}
    for report in reports:
        spec = specs[report.design]
        family = f"family `{spec.family}`: " if settings.families != (UPSAMPLING_FAMILY,) else ""
        lines.append(f"  - `{report.design}`: {family}{spec.description}"
                     f" ({report.parameters:,} parameters, {report.steps} steps)")
    lines += [
        "- **Splits by photograph**: `test` = the photographs' holdout split; `val` = a few whole",
        "  training photographs; `train` = the rest. No photograph contributes to two splits, and",
        "  within a split real and synthetic images come from different tiles"
        + (" (here: paired, each tile is both)." if settings.paired else "."),
        *(
            [f"- **Extra training photographs**: {n_extra} more photographs give `train` tiles only;",
             "  they train no generator and choose no val photograph, so val and test are unchanged."]
            if (n_extra := sum(p.extra and p.split == "train" for p in photos)) else []
        ),
        *(
            [f"- **Extra validation photographs**: {n_extra_val} more photographs give `val` tiles only,",
             "  after the main set's; they train no generator, so train, test and the main val tiles are unchanged."]
            if (n_extra_val := sum(p.extra and p.split == "val" for p in photos)) else []
        ),
        f"- Seed {seed}; the same seed, photographs and machine rebuild identical files.",
        "",
        "| split | photographs | real | synthetic |",
        "|---|---|---|---|",
    ]
    for split in SPLITS:
        real = sum(i.split == split and i.label == "real" for i in images)
        synthetic = sum(i.split == split and i.label == "synthetic" for i in images)
        lines.append(f"| {split} | {sum(p.split == split for p in photos)} | {real} | {synthetic} |")
    lines += [
        "",
        "Each photograph keeps its licence (see the photo folder's `ATTRIBUTION.md`); the tiles",
        "and reconstructions are derivative works of them.",
    ]
    return "\n".join(lines) + "\n"
