"""Training dataset: random square crops from a folder of photographs.

All images are decoded once into memory as uint8 (a few dozen photographs at <=768 px are
~30 MB), so workers never touch the disk. Item ``i`` is a crop whose position and flip are
drawn from a generator seeded with ``(seed, epoch, i)``: the same index always gives the same
crop, and DDP ranks, which get disjoint indices from a DistributedSampler, see different crops.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from forensiccodec.errors import FccError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


class DatasetError(FccError):
    """A training folder is missing, empty, or holds an unreadable image."""


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly in ``folder`` or below it, sorted by path (deterministic)."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"not a folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    return files


def images_at_least(files: Iterable[Path], size: int) -> tuple[list[Path], list[Path]]:
    """``files`` split into those whose shorter side (EXIF orientation aside) is at least ``size``
    and the smaller ones, which a crop of ``size`` would have to upscale. Reads headers only."""
    large, small = [], []
    for path in files:
        try:
            with Image.open(path) as opened:
                (large if min(opened.size) >= size else small).append(path)
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read image {path}: {error}") from error
    return large, small


class RandomCropDataset(Dataset[torch.Tensor]):
    """Random ``crop_size`` crops (random position, random horizontal flip) as float32
    tensors [3, crop, crop] in [0, 1].

    An image smaller than the crop on a side is first upscaled (Lanczos, aspect kept) so
    that its shorter side equals the crop: reflection padding would show mirrored seams that
    the codec would learn to spend bits on.

    ``epoch_length`` is the number of items per epoch (default: one per image). Call
    :meth:`set_epoch` to draw new crops for the same indices (the loop does, like
    DistributedSampler.set_epoch).

    ``augment`` (for codec training) draws each crop from the eight flips and 90° rotations,
    and half of the time from a randomly downscaled copy of the photograph (down to
    ``MIN_DOWNSCALE``, never below the crop): more distinct content per photograph, and
    detail at the scales a camera's larger photographs have.
    """

    def __init__(
        self,
        folder_or_files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        crop_size: int = 256,
        *,
        epoch_length: int | None = None,
        seed: int = 0,
        augment: bool = False,
    ) -> None:
        if crop_size < 1:
            raise DatasetError(f"crop size must be positive, got {crop_size}")
        if isinstance(folder_or_files, (str, os.PathLike)):
            files = list_images(folder_or_files)
        else:
            files = [Path(f) for f in folder_or_files]
            if not files:
                raise DatasetError("no image files given")
        self.files = files
        self.crop_size = crop_size
        self.seed = seed
        self.augment = augment
        self.epoch = 0
        self.images = [_load_at_least(path, crop_size) for path in files]
        self.epoch_length = len(files) if epoch_length is None else epoch_length
        if self.epoch_length < 1:
            raise DatasetError(f"epoch length must be positive, got {self.epoch_length}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.epoch_length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.epoch_length:
            raise IndexError(index)
        rng = np.random.Generator(np.random.PCG64([self.seed, self.epoch, index]))
        # Cycle through the images across epochs so each is used equally often, even when
        # an epoch is shorter than the image list; the position within it is random.
        image = self.images[(self.epoch * self.epoch_length + index) % len(self.images)]
        if self.augment:
            return augmented_crop_tensor(image, self.crop_size, rng)
        return random_crop_tensor(image, self.crop_size, rng)


def random_crop_tensor(pixels: np.ndarray, crop_size: int, rng: np.random.Generator) -> torch.Tensor:
    """A ``crop_size`` crop of (H, W, 3) uint8 pixels at a random position, flipped
    horizontally half of the time, as a float32 [3, crop, crop] tensor in [0, 1]."""
    height, width = pixels.shape[:2]
    top = int(rng.integers(height - crop_size + 1))
    left = int(rng.integers(width - crop_size + 1))
    crop = pixels[top : top + crop_size, left : left + crop_size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    # np.array copies: a crop of a read-only decoded image would otherwise stay read-only.
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1).float().div_(255.0)


MIN_DOWNSCALE = 0.5


def augmented_crop_tensor(pixels: np.ndarray, crop_size: int, rng: np.random.Generator) -> torch.Tensor:
    """A ``crop_size`` crop, half of the time from the photograph downscaled by a random factor
    in [max(MIN_DOWNSCALE, crop/shorter side), 1] (only the region the crop needs is resized,
    with Lanczos), then one of the eight flips and 90° rotations; float32 [3, crop, crop]."""
    height, width = pixels.shape[:2]
    smallest_scale = max(MIN_DOWNSCALE, crop_size / min(height, width))
    scale = float(rng.uniform(smallest_scale, 1.0)) if rng.random() < 0.5 and smallest_scale < 1.0 else 1.0
    region = min(height, width, math.ceil(crop_size / scale))
    top = int(rng.integers(height - region + 1))
    left = int(rng.integers(width - region + 1))
    crop = pixels[top : top + region, left : left + region]
    if region != crop_size:
        crop = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((crop_size, crop_size), Image.LANCZOS))
    crop = np.rot90(crop, k=int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1).float().div_(255.0)


def upscale_to_at_least(image: Image.Image, size: int) -> Image.Image:
    """The image itself, or upscaled (Lanczos, aspect kept) so that its shorter side is ``size``."""
    width, height = image.size
    if min(width, height) >= size:
        return image
    scale = size / min(width, height)
    return image.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.LANCZOS)


def _load_at_least(path: Path, crop_size: int) -> np.ndarray:
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error
    return np.asarray(upscale_to_at_least(image, crop_size), dtype=np.uint8)
