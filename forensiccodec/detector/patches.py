"""Patch sampling and score aggregation of the patch-based detector.

The detector looks at N random 96x96 colour patches of an image, wherever they fall, and
averages the M highest patch scores (the upper 75 % by default). Everything here is plain
tensor work, separate from the CNN, so that it can be tested by hand:

- :func:`prepare_image` upsamples images whose shorter side is under 256 pixels;
- :func:`sample_positions` draws patch corners from a seeded generator (same image, same score);
- :func:`extract_patches` gathers patches with one indexing operation (differentiable);
- :func:`normalize` applies the ImageNet mean/std the backbone expects;
- :func:`aggregate_top_mean` turns patch scores into the image score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from forensiccodec.errors import ImageError

PATCH_SIZE = 96
N_PATCHES = 800
TOP_M = 600
MIN_SHORT_SIDE = 256
DEFAULT_SEED = 0
# Upsampling a very thin image to a 256-pixel short side could need gigabytes.
MAX_ANALYSED_PIXELS = 64_000_000

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class DetectionResult:
    """The verdict on one image.

    ``score`` is the mean of the top ``patches_used`` patch scores (class-1 logits); a positive
    score means synthetic. ``positions`` are the (top, left) corners of the patches in the
    analysed image, whose (height, width) is ``analysed_size`` (the input, upsampled if its
    shorter side was under 256).
    """

    score: float
    label: str
    patch_scores: torch.Tensor
    positions: torch.Tensor
    patches_used: int
    analysed_size: tuple[int, int] = (0, 0)


def label_for(score: float) -> str:
    """``"synthetic"`` for a positive score, ``"real"`` otherwise."""
    return "synthetic" if score > 0 else "real"


def analysed_size(height: int, width: int, min_short_side: int = MIN_SHORT_SIDE) -> tuple[int, int]:
    """The (height, width) an image is analysed at: upsampled so the shorter side is at least
    ``min_short_side``, keeping the aspect ratio; larger images are left untouched."""
    if height <= 0 or width <= 0:
        raise ImageError(f"image has no pixels ({width}x{height})")
    short = min(height, width)
    if short >= min_short_side:
        return height, width
    scale = min_short_side / short
    new_h = max(min_short_side, round(height * scale))
    new_w = max(min_short_side, round(width * scale))
    if new_h * new_w > MAX_ANALYSED_PIXELS:
        raise ImageError(f"image is too elongated to analyse ({width}x{height})")
    return new_h, new_w


def prepare_image(
    images: torch.Tensor, min_short_side: int = MIN_SHORT_SIDE, patch_size: int = PATCH_SIZE,
) -> torch.Tensor:
    """Upsample [B,3,H,W] images whose shorter side is under ``min_short_side`` (bilinear).

    Only upsampling ever happens here, where antialiasing has no effect, so it is off; the
    interpolation is differentiable. The target is never below ``patch_size``, so a patch
    always fits.
    """
    height, width = images.shape[-2:]
    target = analysed_size(height, width, max(min_short_side, patch_size))
    if target == (height, width):
        return images
    return F.interpolate(images, size=target, mode="bilinear", align_corners=False, antialias=False)


def make_generator(seed: int = DEFAULT_SEED, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded for one call, so that the same image always gets the same patches."""
    return torch.Generator(device=device).manual_seed(seed)


def sample_positions(
    height: int, width: int, count: int, patch_size: int = PATCH_SIZE,
    generator: torch.Generator | None = None, batch: int | None = None,
) -> torch.Tensor:
    """(top, left) corners of ``count`` patches drawn uniformly (with replacement) inside an
    image of ``height`` x ``width``: a [count, 2] int64 tensor, or [batch, count, 2]."""
    if height < patch_size or width < patch_size:
        raise ImageError(f"image {width}x{height} is smaller than a {patch_size}-pixel patch")
    if count < 1:
        raise ValueError("at least one patch is needed")
    shape = (count,) if batch is None else (batch, count)
    device = generator.device if generator is not None else "cpu"
    tops = torch.randint(0, height - patch_size + 1, shape, generator=generator, device=device)
    lefts = torch.randint(0, width - patch_size + 1, shape, generator=generator, device=device)
    return torch.stack([tops, lefts], dim=-1)


def extract_patches(image: torch.Tensor, positions: torch.Tensor, patch_size: int = PATCH_SIZE) -> torch.Tensor:
    """Patches [K,C,p,p] of a [C,H,W] image at ``positions`` [K,2], in one gather.

    Works for a batch too: [B,C,H,W] images with [B,K,2] positions give [B,K,C,p,p].
    Gradients flow back to the image pixels.
    """
    offsets = torch.arange(patch_size, device=image.device)
    positions = positions.to(image.device)
    rows = positions[..., 0, None] + offsets  # [..., K, p]
    cols = positions[..., 1, None] + offsets
    if image.dim() == 3:
        patches = image[:, rows[:, :, None], cols[:, None, :]]  # [C, K, p, p]
        return patches.permute(1, 0, 2, 3)
    batch_index = torch.arange(image.shape[0], device=image.device)[:, None, None, None]
    # Channels last in the indexing result, then moved into place: [B, K, p, p, C] -> [B, K, C, p, p]
    patches = image.permute(0, 2, 3, 1)[batch_index, rows[:, :, :, None], cols[:, :, None, :]]
    return patches.permute(0, 1, 4, 2, 3)


def normalize(patches: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std normalisation of [..., 3, h, w] pixels in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=patches.dtype, device=patches.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=patches.dtype, device=patches.device)[:, None, None]
    return (patches - mean) / std


def aggregate_top_mean(patch_scores: torch.Tensor, top_m: int = TOP_M) -> tuple[float, int]:
    """The image score (mean of the ``top_m`` highest patch scores) and how many were averaged."""
    used = max(1, min(top_m, patch_scores.numel()))
    top = torch.topk(patch_scores.flatten().float(), used).values
    return float(top.mean()), used
