"""Fixed feature extractors for the Fréchet distance: the FID Inception network when its
weights are given, otherwise the shipped detector's backbone (clearly *not* FID).

Each extractor maps an image [3,H,W] in [0, 1] to feature vectors [n, d]. The detector
extractor takes ``patches_per_image`` 96x96 patches at positions drawn from a fixed seed (the
same places in an original and in its decoded versions) and mean-pools the backbone's head
activation, so a test split of a few dozen images still gives more samples than dimensions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from forensiccodec.detector import patches as P
from forensiccodec.detector.model import PatchDetector

FEATURE_SEED = 1234  # not the detector's scoring seed: features look at other patches


class FeatureExtractor(Protocol):
    name: str  # file-name safe, e.g. "fd-detector-small"
    label: str  # what the report calls the distance, e.g. "FD-detector-small (not FID)"
    is_fid: bool
    description: str

    def features(self, image: torch.Tensor) -> np.ndarray: ...


class DetectorPatchFeatures:
    """Mean-pooled head activations of the detector's backbone on fixed random patches."""

    is_fid = False

    def __init__(self, detector: PatchDetector, config_name: str, patches_per_image: int = 64) -> None:
        self.detector = detector
        self.patches_per_image = patches_per_image
        self.name = f"fd-detector-{config_name}-p{patches_per_image}"
        self.label = f"FD-detector-{config_name} (not FID)"
        self.description = (
            f"Fréchet distance on the {config_name} detector's pooled head features of {patches_per_image}"
            f" fixed random {detector.patch_size}x{detector.patch_size} patches per image (seed {FEATURE_SEED});"
            " not FID: no Inception weights were given (--fid-weights), and these features are those of a"
            " detector trained on this kind of data, not ImageNet"
        )

    @torch.inference_mode()
    def features(self, image: torch.Tensor) -> np.ndarray:
        backbone = self.detector.backbone.eval()
        image = image.reshape(-1, *image.shape[-3:])[:1].float()
        prepared = P.prepare_image(image, patch_size=self.detector.patch_size)[0]
        height, width = prepared.shape[-2:]
        generator = P.make_generator(FEATURE_SEED)
        positions = P.sample_positions(height, width, self.patches_per_image, self.detector.patch_size, generator)
        patches = P.normalize(P.extract_patches(prepared, positions, self.detector.patch_size))
        head = backbone.forward_features(patches)[-1]
        return head.mean(dim=(2, 3)).double().numpy()


def make_extractor(detector: PatchDetector, detector_config: str, fid_weights: Path | None,
                   patches_per_image: int = 64) -> FeatureExtractor:
    """The FID Inception extractor for ``fid_weights``, else the detector's patch features."""
    if fid_weights is not None:
        from .fid_inception import InceptionFeatures

        return InceptionFeatures(fid_weights)
    return DetectorPatchFeatures(detector, detector_config, patches_per_image)
