import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensiccodec.data.photo_source import PhotoSource
from forensiccodec.data.photos import (
    PhotoCollectionError,
    assign_splits,
    collect_photos,
    downscale_size,
    resize_linear_light,
)

def _source(package, group):
    return PhotoSource(group, package, group, Path(group), "x", "x", False, group)


def test_splits_are_deterministic_per_package_and_keep_groups_together():
    sources = [_source("a", f"a{i}") for i in range(10)] + [_source("b", f"b{i}") for i in range(5)]
    sources += [_source("c", "c0"), _source("c", "c1")]
    splits = assign_splits(sources)
    assert splits == assign_splits(list(reversed(sources)))
    assert sum(splits[f"a{i}"] == "holdout" for i in range(10)) == 2
    assert sum(splits[f"b{i}"] == "holdout" for i in range(5)) == 1
    assert splits["c0"] == splits["c1"] == "train"  # too few photographs to hold any out
    # Adding another package does not move anyone.
    assert {k: v for k, v in assign_splits(sources[:10]).items()} == {f"a{i}": splits[f"a{i}"] for i in range(10)}


def test_downscale_sizes():
    assert downscale_size((640, 427), 768, is_wallpaper=False) == (640, 427)
    assert downscale_size((1411, 1411), 768, is_wallpaper=False) == (768, 768)
    assert downscale_size((1280, 1024), 768, is_wallpaper=True) == (640, 512)  # at least 2x
    assert downscale_size((5312, 2988), 768, is_wallpaper=True) == (768, 432)


def test_linear_light_resize_keeps_flat_colours():
    image = Image.new("RGB", (64, 48), (200, 30, 90))
    small = resize_linear_light(image, (16, 12))
    assert small.size == (16, 12)
    pixels = np.asarray(small).reshape(-1, 3)
    assert (pixels == [200, 30, 90]).all()


def test_collect_python_package_photos(tmp_path):
    pytest.importorskip("skimage")
    out = tmp_path / "photos"
    notes = []
    records = collect_photos(out, include_debian=False, max_side=256, progress=False, notify=notes.append)
    names = {r.name for r in records}
    assert {"skimage-astronaut", "skimage-chelsea", "skimage-coffee"} <= names
    assert not any("logo" in n or "color" in n for n in names)  # synthetic images are skipped
    manifest = json.loads((out / "photos.json").read_text())
    assert len(manifest["photos"]) == len(records)
    assert manifest["counts"]["train"] + manifest["counts"]["holdout"] == len(records)
    assert manifest["counts"]["holdout"] >= 1
    for record in records:
        path = out / record.file
        assert path.parent.name == record.split
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == tuple(record.saved_size)
        assert max(record.saved_size) <= 256
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "CC0-1.0" in attribution and "skimage-astronaut" in attribution
    # A second run is identical, and removes files that no longer belong.
    (out / "train" / "stale.png").write_bytes(b"")
    again = collect_photos(out, include_debian=False, max_side=256, progress=False)
    assert [r.sha256 for r in again] == [r.sha256 for r in records]
    assert not (out / "train" / "stale.png").exists()


def test_sources_are_chosen_by_name(tmp_path, monkeypatch):
    from forensiccodec.data import photos

    called = []
    monkeypatch.setattr(photos, "python_package_sources", lambda note: called.append("python") or [])
    monkeypatch.setattr(photos, "debian_sources", lambda work, note: called.append("wallpapers") or [])
    monkeypatch.setattr(photos, "opencv_doc_sources", lambda work, note: called.append("opencv-doc") or [])
    with pytest.raises(PhotoCollectionError, match="no photographs found in source"):
        collect_photos(tmp_path / "a", sources=["opencv-doc"], progress=False)
    assert called == ["opencv-doc"]
    called.clear()
    with pytest.raises(PhotoCollectionError, match="no photographs found"):
        collect_photos(tmp_path / "b", progress=False)
    assert called == ["python", "wallpapers"]  # the default: the demo set's sources
    with pytest.raises(PhotoCollectionError, match="--no-debian skips"):
        collect_photos(tmp_path / "d", sources=["opencv-doc"], include_debian=False, progress=False)
    assert called == ["python", "wallpapers"]  # nothing more was tried
    with pytest.raises(PhotoCollectionError, match="unknown photo source"):
        collect_photos(tmp_path / "c", sources=["flickr"], progress=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(PhotoCollectionError):
        collect_photos(tmp_path, include_debian=False, max_side=10, progress=False)
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(PhotoCollectionError):
        collect_photos(file, include_debian=False, progress=False)
