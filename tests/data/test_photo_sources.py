"""The Debian photo sources of forensiccodec.data.photo_sources, on small packages built here
(no network, no apt-get): the Qt rcc reader, the per-package finders, licences and the CLI."""

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from forensiccodec.data import photo_sources, photos
from forensiccodec.data.photo_sources import (
    DEBIAN_PHOTO_SETS,
    MIN_SHORT_SIDE,
    debian_photo_sources,
    largest_embedded_jpeg,
    parse_gcompris_readme,
    scene_of,
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
    monkeypatch.setattr(photo_sources, "_has_debian_tools", lambda: True)
    monkeypatch.setattr(photo_sources, "_download_and_extract",
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

    assert set(DEBIAN_PHOTO_SETS) == set(photos.MORE_DEBIAN_SOURCES)
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
    with pytest.raises(photos.PhotoCollectionError, match="no photographs found"):
        photos.collect_photos(tmp_path / "a", sources=["all"], progress=False)
    assert called == list(photos.ALL_SOURCES) == [s for s in photos.PHOTO_SOURCES if s != "all"]
    called.clear()
    with pytest.raises(photos.PhotoCollectionError, match="--no-debian skips"):
        photos.collect_photos(tmp_path / "b", sources=["gcompris", "rmagick"], include_debian=False, progress=False)
    assert called == []


def test_missing_debian_tools_are_a_note(monkeypatch, tmp_path):
    monkeypatch.setattr(photo_sources, "_has_debian_tools", lambda: False)
    notes = []
    assert debian_photo_sources("tuxpaint", Path(tmp_path), notes.append) == []
    assert notes == ["apt-get/dpkg not found: skipped tuxpaint"]


def test_rcc_reader_reports_a_truncated_file():
    rcc = build_rcc({"a/b.webp": (b"x" * 40, FLAG_ZLIB)})
    with pytest.raises(RccError, match="corrupt"):
        RccArchive(rcc[:-10]).entries()
