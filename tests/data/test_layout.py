from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.data.layout import LayoutError, RealSyntheticDataset, contents_sha256, scan_split
from forensiccodec.errors import FccError


def _image(path: Path, value: int, size=(12, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


@pytest.fixture()
def root(tmp_path):
    _image(tmp_path / "train/real/b.png", 10)
    _image(tmp_path / "train/real/a.jpg", 20)
    _image(tmp_path / "train/synthetic/c.webp", 30)
    _image(tmp_path / "train/synthetic/d.JPEG", 40)
    (tmp_path / "train/synthetic/notes.txt").write_text("not an image")
    _image(tmp_path / "train/synthetic/.hidden.png", 50)
    return tmp_path


def test_scan_split_lists_real_then_synthetic_sorted_with_labels(root):
    items = scan_split(root, "train")
    assert [(p.name, label) for p, label in items] == [
        ("a.jpg", 0), ("b.png", 0), ("c.webp", 1), ("d.JPEG", 1)]


@pytest.mark.parametrize(
    "split, missing, message",
    [("val", None, "no val/ folder"), ("train", "synthetic", "no synthetic/ folder"),
     ("bogus", None, "unknown split")],
)
def test_missing_folders_give_clear_errors(root, split, missing, message):
    if missing:
        for path in (root / "train" / missing).iterdir():
            path.unlink()
        (root / "train" / missing).rmdir()
    with pytest.raises(LayoutError, match=message):
        scan_split(root, split)


def test_empty_class_and_missing_root_are_errors(root, tmp_path):
    (root / "test/real").mkdir(parents=True)
    (root / "test/synthetic").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no images"):
        scan_split(root, "test")
    with pytest.raises(FccError, match="not found"):
        scan_split(tmp_path / "nowhere", "train")


def test_dataset_returns_float_images_labels_and_applies_transform(root):
    dataset = RealSyntheticDataset(root, "train", transform=lambda x: x[:, :4, :4])
    assert len(dataset) == 4 and dataset.labels == [0, 0, 1, 1]
    assert dataset.class_counts() == {"real": 2, "synthetic": 2}
    image, label = dataset[3]
    assert image.shape == (3, 4, 4) and image.dtype == torch.float32 and label == 1
    assert abs(float(image.mean()) - 40 / 255) < 0.02  # JPEG is lossy, flat grey survives


def test_unreadable_image_raises_layout_error(root):
    (root / "train/real/b.png").write_bytes(b"not a png")
    with pytest.raises(LayoutError, match="cannot read"):
        RealSyntheticDataset(root, "train")[1]


def _digest(root):
    samples = scan_split(root, "train")
    return contents_sha256(samples, [path.relative_to(root).as_posix() for path, _ in samples])


def test_contents_digest_changes_with_pixels_not_with_listing_order(root):
    before = _digest(root)
    samples = scan_split(root, "train")
    keys = [path.relative_to(root).as_posix() for path, _ in samples]
    assert contents_sha256(samples[::-1], keys[::-1]) == before
    _image(root / "train/real/b.png", 11)  # same name, other pixels: a rebuilt set, say
    assert _digest(root) != before


def test_contents_digest_of_an_unreadable_file_is_a_layout_error(root, tmp_path):
    samples = [(tmp_path / "gone.png", 0)]
    with pytest.raises(LayoutError, match="cannot read .*gone.png"):
        contents_sha256(samples, ["gone.png"])
