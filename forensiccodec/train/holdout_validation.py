"""Held-out rate and distortion during codec training: the points of the learning curve.

Every held-out photograph is coded whole (padded to the codec's size multiple, as `fcc encode`
does) in eval mode, so its latents are rounded as in a real file; the rate is the model's own
estimate, Σ −log₂ p of ŷ and ẑ over the original pixels (within a fraction of a percent of a
real `.fcc` file's payload, `weights/README.md`), and PSNR is that of the decoded pixels rounded
to 8 bits. These are indications for steering and plotting; the numbers to report come from
real files (`scripts/evaluate_codec.py`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from forensiccodec.codec.tic import TIC
from forensiccodec.data.crops import list_images
from forensiccodec.images import crop, pad_to_multiple

# Above this many pixels a held-out photograph is centre-cropped: validation stays short.
MAX_VALIDATION_PIXELS = 768 * 768


class HoldoutRateDistortion:
    """``validate(step)`` for the training loop: mean bpp, PSNR and λ·255²·MSE + bpp over the
    photographs of a folder (never ones the codec trains on)."""

    def __init__(self, model: TIC, folder: Path, codec_lambda: float) -> None:
        self.model = model
        self.codec_lambda = codec_lambda
        self.images = [_load_pixels(path) for path in list_images(folder)]

    @torch.no_grad()
    def __call__(self, step: int) -> dict[str, float]:
        self.model.eval()
        device = next(self.model.parameters()).device
        bpps, psnrs, losses = [], [], []
        for pixels in self.images:
            x = pixels.to(device).unsqueeze(0)
            height, width = x.shape[-2:]
            output = self.model(pad_to_multiple(x))
            bits = sum((-torch.log2(p.double())).sum() for p in output["likelihoods"].values())
            bpp = float(bits) / (height * width)
            decoded = crop(output["x_hat"].float(), height, width).clamp(0, 1).mul(255).round().div(255)
            mse = float(torch.mean((decoded - x) ** 2))
            bpps.append(bpp)
            psnrs.append(10 * math.log10(1 / mse) if mse > 0 else 100.0)
            losses.append(self.codec_lambda * 255**2 * mse + bpp)
        return {"loss": float(np.mean(losses)), "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))}


def _load_pixels(path: Path) -> torch.Tensor:
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    pixels = np.asarray(image, dtype=np.uint8)
    height, width = pixels.shape[:2]
    if height * width > MAX_VALIDATION_PIXELS:
        side = math.isqrt(MAX_VALIDATION_PIXELS)
        top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
        pixels = pixels[top : top + side, left : left + side]
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float().div_(255.0)
