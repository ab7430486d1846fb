"""A tiny detector whose scores tell two kinds of image apart, and a labelled split it separates.

A randomly initialised `tiny` backbone scores every image almost the same (its features vary by
about 1e-6), which is enough for the threshold but not for fitting a probability, whose slope
would follow float32 noise. Here the classifier's weights are scaled up so that a smooth image and
a noise image score far apart, and the folders are labelled so that the higher-scoring kind is
``synthetic``: the detector separates the split by construction, whatever its random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from forensiccodec.detector import PatchClassifier, PatchDetector, build_backbone
from forensiccodec.detector.weights import export_detector

SIZE = (100, 110)


def separating_backbone(seed: int = 1) -> PatchClassifier:
    torch.manual_seed(seed)
    backbone = build_backbone("tiny").eval()
    with torch.no_grad():
        backbone.classifier.weight.mul_(1e6)
    return backbone


def export_separating_detector(weights_dir: Path, n_patches: int = 12, top_m: int = 9, seed: int = 1) -> PatchClassifier:
    backbone = separating_backbone(seed)
    export_detector(backbone, config_name="tiny", weights_dir=weights_dir, n_patches=n_patches, top_m=top_m)
    return backbone


def _smooth(rng: np.random.Generator) -> np.ndarray:
    ramp = np.add.outer(np.linspace(0, 1, SIZE[0]), np.linspace(0, 1, SIZE[1]))[..., None] / 2
    return np.clip(0.2 + 0.3 * ramp + 0.02 * rng.standard_normal((*SIZE, 3)), 0, 1)


def _noise(rng: np.random.Generator) -> np.ndarray:
    return rng.random((*SIZE, 3))


def write_labelled_layout(root: Path, backbone: PatchClassifier, splits: tuple[str, ...] = ("train", "val", "test"),
                          per_class: int = 2, n_patches: int = 12, top_m: int = 9) -> Path:
    """``root/<split>/{real,synthetic}/<i>.png``: smooth images in one class, noise in the other,
    the kind ``backbone`` scores higher as synthetic."""
    rng = np.random.default_rng(0)
    detector = PatchDetector(backbone, n_patches=n_patches, top_m=top_m)

    def score(pixels: np.ndarray) -> float:
        return detector.score_image(torch.tensor(pixels, dtype=torch.float32).permute(2, 0, 1)).score

    smooth_is_synthetic = score(_smooth(np.random.default_rng(99))) > score(_noise(np.random.default_rng(99)))
    kinds = {"synthetic": _smooth, "real": _noise} if smooth_is_synthetic else {"synthetic": _noise, "real": _smooth}
    for split in splits:
        for label, make in kinds.items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                Image.fromarray(np.round(make(rng) * 255).astype(np.uint8)).save(folder / f"{label}-{index}.png")
    return root
