"""The real-vs-synthetic folder layout that every ``--data`` option reads.

::

    DIR/{train,val,test}/{real,synthetic}/*.{png,jpg,jpeg,webp}

Label 0 is real, 1 is synthetic. ``fcc demo-data`` writes this layout, and any other set
arranged the same way (FFHQ faces against StyleGAN faces, say) works in its place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from forensiccodec.errors import FccError

SPLITS = ("train", "val", "test")
CLASSES = ("real", "synthetic")  # index = label
LAYOUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LAYOUT_HINT = "expected DIR/{train,val,test}/{real,synthetic}/*.{png,jpg,jpeg,webp}"


class LayoutError(FccError):
    """A data folder does not follow the real/synthetic layout, or an image in it is unreadable."""


def scan_split(root: str | os.PathLike[str], split: str) -> list[tuple[Path, int]]:
    """``(path, label)`` for every image of ``root/split`` (label 0 real, 1 synthetic), real
    first, each class sorted by file name. Hidden files are skipped; sub-folders are not read.

    Raises :class:`LayoutError` when the root, the split, a class folder is missing, or a class
    holds no image."""
    if split not in SPLITS:
        raise LayoutError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    base = Path(root)
    if not base.is_dir():
        raise LayoutError(f"data folder not found: {base} ({LAYOUT_HINT})")
    split_dir = base / split
    if not split_dir.is_dir():
        raise LayoutError(f"{base} has no {split}/ folder ({LAYOUT_HINT})")
    items: list[tuple[Path, int]] = []
    for label, name in enumerate(CLASSES):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            raise LayoutError(f"{split_dir} has no {name}/ folder ({LAYOUT_HINT})")
        files = sorted(
            p for p in class_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in LAYOUT_SUFFIXES
        )
        if not files:
            raise LayoutError(f"no images ({', '.join(LAYOUT_SUFFIXES)}) in {class_dir}")
        items += [(path, label) for path in files]
    return items


def contents_sha256(samples: Sequence[tuple[Path, int]], keys: Sequence[str]) -> str:
    """sha256 over every image's key, label and file contents, in key order.

    Two folders with the same file names can hold other pixels (a set rebuilt on another machine,
    say); numbers measured on a split name it by this digest, so they attach to its images."""
    lines = []
    for (path, label), key in sorted(zip(samples, keys), key=lambda item: item[1]):
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as error:
            raise LayoutError(f"cannot read {path}: {error.strerror or error}") from None
        lines.append(f"{key}\t{label}\t{digest}")
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as uint8 HxWx3 RGB (EXIF orientation applied); :class:`LayoutError` if
    it cannot be read."""
    try:
        with Image.open(path) as opened:
            return np.array(ImageOps.exif_transpose(opened).convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise LayoutError(f"cannot read image {path}: {error}") from error


class RealSyntheticDataset(Dataset[tuple[torch.Tensor, int]]):
    """One split of the layout: item ``i`` is ``(image, label)`` with ``image`` a float32
    tensor [3, H, W] in [0, 1] (or whatever ``transform`` makes of it) and ``label`` 0 for
    real, 1 for synthetic. Images are read lazily, so a large set costs no memory up front."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.items = scan_split(root, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        image = torch.from_numpy(read_rgb(path)).permute(2, 0, 1).float().div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.items]

    def class_counts(self) -> dict[str, int]:
        return {name: self.labels.count(label) for label, name in enumerate(CLASSES)}
