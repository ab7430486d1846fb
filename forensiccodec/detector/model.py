"""`PatchDetector`: the real-vs-synthetic detector of Mandelli, Bestagini, Tubaro (WIFS 2024).

A patch classifier (see :mod:`.backbone`) scores N random 96x96 patches of an image; the image
score is the mean of the M highest patch scores, and a positive score means synthetic. Two
entry points share that backbone:

- :meth:`PatchDetector.score_image` for analysis: deterministic, chunked, no gradients;
- :meth:`PatchDetector.score_batch` for training codec adapters: K patches per image, with
  gradients flowing back to the pixels, and the backbone's intermediate features for a
  perceptual loss MSE(F(x), F(x_hat)).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from forensiccodec.detector import patches as P
from forensiccodec.detector.backbone import (
    DETECTOR_CONFIGS,
    DetectorConfig,
    PatchClassifier,
    build_backbone,
)
from forensiccodec.detector.patches import DetectionResult
from forensiccodec.detector.probability import PlattScaling
from forensiccodec.errors import ImageError

SYNTHETIC_CLASS = 1
PATCH_AGGREGATES = ("mean", "top")  # how score_batch turns patch logits into image logits


def top_for(n_patches: int, n_default: int = P.N_PATCHES, top_default: int = P.TOP_M) -> int:
    """How many of ``n_patches`` patch scores an image score averages when only the number of
    patches is given: the same share as the defaults (``top_default`` of ``n_default``, 600 of
    800 = 75 %), rounded, at least one and at most ``n_patches``.

    The one rule for a default top-M: `fcc detect --patches N`, `fcc eval --patches N`,
    :func:`load_detector` given ``n_patches`` alone, and the ``top`` training aggregate.
    """
    if n_patches < 1 or n_default < 1 or top_default < 1:
        raise ValueError(f"patch counts must be positive, got {n_patches}, {n_default}, {top_default}")
    return max(1, min(n_patches, round(n_patches * top_default / n_default)))


def top_patch_count(k_patches: int) -> int:
    """How many of ``k_patches`` training patches the ``top`` aggregate averages: the share
    of inference (``TOP_M`` of ``N_PATCHES``), at least one (:func:`top_for`)."""
    return top_for(k_patches)


class PatchDetector(nn.Module):
    """Patch-based detector around a :class:`PatchClassifier`.

    ``backbone`` is a configuration name (``paper``, ``small``, ``tiny``), a
    :class:`DetectorConfig`, or an already built classifier. ``chunk_size`` bounds how many
    patches go through the CNN at once (memory), never the result.
    """

    def __init__(
        self,
        backbone: str | DetectorConfig | PatchClassifier = "small",
        n_patches: int = P.N_PATCHES,
        top_m: int = P.TOP_M,
        patch_size: int = P.PATCH_SIZE,
        seed: int = P.DEFAULT_SEED,
        chunk_size: int = 100,
    ) -> None:
        super().__init__()
        self.backbone = backbone if isinstance(backbone, PatchClassifier) else build_backbone(backbone)
        self.n_patches = n_patches
        self.top_m = top_m
        self.patch_size = patch_size
        self.seed = seed
        self.chunk_size = chunk_size
        self.config_name = backbone if isinstance(backbone, str) else _config_name(self.backbone)
        # Platt scaling of the score into P(synthetic), fitted on labelled images
        # (`detector.probability`); the registry sets it from the weights' manifest entry.
        self.probability: PlattScaling | None = None

    def top_for(self, n_patches: int) -> int:
        """The top-M for ``n_patches`` patches: this detector's own share (:func:`top_for`)."""
        return top_for(n_patches, self.n_patches, self.top_m)

    def probability_of(self, score: float) -> float | None:
        """P(synthetic) for an image score, or None when no probability was fitted for these weights."""
        return None if self.probability is None else self.probability.probability(score)

    # ---- analysis -------------------------------------------------------------------------

    @torch.inference_mode()
    def score_image(
        self, image: torch.Tensor, n_patches: int | None = None, top_m: int | None = None,
        seed: int | None = None,
    ) -> DetectionResult:
        """Score one image [3,H,W] (or [1,3,H,W]) with pixels in [0, 1].

        The patch positions come from a generator seeded with ``seed`` (the detector's own by
        default), so the same image always gets the same score.
        """
        image = _single_image(image)
        n_patches = self.n_patches if n_patches is None else n_patches
        top_m = self.top_m if top_m is None else top_m
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            device = _device_of(self.backbone)
            image = image.to(device=device, dtype=torch.float32)
            prepared = P.prepare_image(image[None], patch_size=self.patch_size)[0]
            height, width = prepared.shape[-2:]
            generator = P.make_generator(self.seed if seed is None else seed)
            positions = P.sample_positions(height, width, n_patches, self.patch_size, generator)
            scores = torch.empty(n_patches, dtype=torch.float32)
            for start in range(0, n_patches, self.chunk_size):
                chunk = positions[start:start + self.chunk_size]
                patches = P.normalize(P.extract_patches(prepared, chunk, self.patch_size))
                # Channels-last inputs take oneDNN's faster depthwise kernels on CPU.
                logits = self.backbone(patches.contiguous(memory_format=torch.channels_last))
                scores[start:start + len(chunk)] = logits[:, SYNTHETIC_CLASS].float().cpu()
        finally:
            self.backbone.train(was_training)
        score, used = P.aggregate_top_mean(scores, top_m)
        return P.DetectionResult(
            score=score, label=P.label_for(score), patch_scores=scores, positions=positions.cpu(),
            patches_used=used, analysed_size=(int(height), int(width)),
        )

    # ---- training -------------------------------------------------------------------------

    def sample_batch_positions(
        self, images: torch.Tensor, k_patches: int = 50, generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Patch corners [B,K,2] for :meth:`score_batch`; draw them once to score an original and
        its reconstruction at the same places (the perceptual loss compares those patches)."""
        height, width = P.analysed_size(*images.shape[-2:], max(P.MIN_SHORT_SIDE, self.patch_size))
        return P.sample_positions(height, width, k_patches, self.patch_size, generator,
                                  batch=images.shape[0])

    def score_batch(
        self,
        images: torch.Tensor,
        k_patches: int = 50,
        generator: torch.Generator | None = None,
        positions: torch.Tensor | None = None,
        aggregate: str = "mean",
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Image logits [B,2] and per-patch features for a batch [B,3,H,W] in [0, 1].

        Each image contributes ``k_patches`` patches (at ``positions`` [B,K,2] if given). With
        ``aggregate="mean"`` its logits are the mean of all its patch logits, so every patch
        receives gradient. With ``"top"`` they are the mean over the patches with the highest
        synthetic scores, in the proportion :meth:`score_image` averages (``TOP_M/N_PATCHES``,
        12 of 16): the decision rule the detector applies at inference, so a real image is
        penalised by its most synthetic-looking patches. Features are the backbone's
        intermediate maps, [B*K, C, h, w] each, patches ordered image by image. Gradients
        flow to ``images``; the backbone's train/eval mode is left to the caller.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ImageError(f"expected a batch of RGB images [B,3,H,W], got {list(images.shape)}")
        if aggregate not in PATCH_AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(PATCH_AGGREGATES)}, got {aggregate!r}")
        prepared = P.prepare_image(images, patch_size=self.patch_size)
        if positions is None:
            positions = self.sample_batch_positions(images, k_patches, generator)
        batch, k = positions.shape[:2]
        patches = P.extract_patches(prepared, positions, self.patch_size)
        patches = P.normalize(patches.reshape(batch * k, *patches.shape[2:]))
        features = self.backbone.forward_features(patches)
        patch_logits = self.backbone.logits_from_features(features)
        patch_logits = patch_logits.reshape(batch, k, -1)
        if aggregate == "top":
            used = top_patch_count(k)
            order = torch.topk(patch_logits[..., SYNTHETIC_CLASS].detach(), used, dim=1).indices
            patch_logits = torch.gather(patch_logits, 1, order.unsqueeze(-1).expand(-1, -1, patch_logits.shape[-1]))
        return patch_logits.mean(dim=1), features

    # ---- rendering ------------------------------------------------------------------------

    def heatmap(self, image: torch.Tensor, result: DetectionResult, opacity: float = 0.6) -> Image.Image:
        """The image with the patch scores painted over it: red where patches call it
        synthetic, blue where they call it real, more opaque for more confident scores.

        Overlapping patches average their scores pixel by pixel; pixels no patch covered keep
        their colours.
        """
        return render_heatmap(image, result, self.patch_size, opacity)



def render_heatmap(
    image: torch.Tensor, result: DetectionResult, patch_size: int = P.PATCH_SIZE, opacity: float = 0.6,
) -> Image.Image:
    """See :meth:`PatchDetector.heatmap`; drawn at the image's own size."""
    image = _single_image(image)
    height, width = image.shape[-2:]
    analysed_h, analysed_w = result.analysed_size if result.analysed_size != (0, 0) else (height, width)
    scale_y, scale_x = height / analysed_h, width / analysed_w
    positions = result.positions.numpy().astype(np.float64)
    top = np.floor(positions[:, 0] * scale_y).astype(np.int64)
    left = np.floor(positions[:, 1] * scale_x).astype(np.int64)
    bottom = np.minimum(np.ceil((positions[:, 0] + patch_size) * scale_y).astype(np.int64), height)
    right = np.minimum(np.ceil((positions[:, 1] + patch_size) * scale_x).astype(np.int64), width)
    scores = result.patch_scores.numpy().astype(np.float64)

    # Sum of scores and count of patches per pixel, via 2-D difference arrays (no per-patch loop
    # over pixels): +v at (top, left), -v at (top, right), -v at (bottom, left), +v at (bottom, right).
    total = np.zeros((height + 1, width + 1))
    count = np.zeros((height + 1, width + 1))
    for grid, values in ((total, scores), (count, np.ones_like(scores))):
        np.add.at(grid, (top, left), values)
        np.add.at(grid, (top, right), -values)
        np.add.at(grid, (bottom, left), -values)
        np.add.at(grid, (bottom, right), values)
    total = total.cumsum(0).cumsum(1)[:height, :width]
    count = count.cumsum(0).cumsum(1)[:height, :width]
    mean_score = np.divide(total, count, out=np.zeros_like(total), where=count > 0.5)

    scale = max(float(np.abs(scores).max()), 1e-6)
    strength = np.clip(np.abs(mean_score) / scale, 0.0, 1.0)[..., None] * opacity
    colour = np.where(mean_score[..., None] > 0, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.3, 1.0]))
    pixels = image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    blended = pixels * (1 - strength) + colour * strength
    return Image.fromarray(np.round(blended * 255).astype(np.uint8))


def _config_name(backbone: PatchClassifier) -> str:
    """The registered name of a backbone's configuration, or ``custom``."""
    return next((name for name, config in DETECTOR_CONFIGS.items() if config == backbone.config), "custom")


def _single_image(image: torch.Tensor) -> torch.Tensor:
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ImageError(f"expected one RGB image [3,H,W], got {list(image.shape)}")
    return image


def _device_of(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
