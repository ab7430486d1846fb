"""Random crops of a real/synthetic split, with their labels: what adapter training eats.

Images are read lazily (one file per item), so a paper-scale set (70 000 faces) costs no
memory up front. Crop positions and flips come from a generator seeded with
``(seed, epoch, index)``: an index gives the same crop within an epoch, whatever the process,
and a resumed run sees the same data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from forensiccodec.data.crops import random_crop_tensor, upscale_to_at_least
from forensiccodec.data.layout import read_rgb, scan_split


class LabelledCropDataset(Dataset[tuple[torch.Tensor, int]]):
    """Item ``i``: ``(crop, label)``, a float32 [3, crop, crop] tensor in [0, 1] of image ``i``
    at a random position (and a random horizontal flip), and 0 for real, 1 for synthetic.

    An image whose shorter side is under the crop is first upscaled (Lanczos, aspect kept) to
    fit it, as the detector itself upsamples small images before it looks at them.
    """

    def __init__(self, samples: Sequence[tuple[str | os.PathLike[str], int]], crop_size: int = 256, *, seed: int = 0) -> None:
        if crop_size < 1:
            raise ValueError(f"crop size must be positive, got {crop_size}")
        self.samples = [(Path(path), int(label)) for path, label in samples]
        self.crop_size = crop_size
        self.seed = seed
        self.epoch = 0

    @classmethod
    def from_split(cls, root: str | os.PathLike[str], split: str, crop_size: int = 256, *, seed: int = 0) -> LabelledCropDataset:
        """The images of ``root/split/{real,synthetic}`` (see :mod:`forensiccodec.data.layout`)."""
        return cls(scan_split(root, split), crop_size, seed=seed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        pixels = np.asarray(upscale_to_at_least(Image.fromarray(read_rgb(path)), self.crop_size), dtype=np.uint8)
        rng = np.random.Generator(np.random.PCG64([self.seed, self.epoch, index]))
        return random_crop_tensor(pixels, self.crop_size, rng), label
