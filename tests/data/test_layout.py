from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.data.layout import LayoutError, RealSyntheticDataset, scan_split
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
