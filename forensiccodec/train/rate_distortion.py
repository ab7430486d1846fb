"""The rate-distortion loss of the base codec: λ·255²·MSE + bpp (CompressAI / TransTIC)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

# λ per base quality, as TransTIC trains TIC_hp (MSE on [0, 1] pixels, scaled by 255²).
QUALITY_LAMBDAS: dict[int, float] = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.013}


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Total −log2 likelihood of all latents, divided by N·H·W."""
    total_bits = sum((-torch.log2(l)).sum() for l in likelihoods.values())
    return total_bits / num_pixels


def psnr_from_mse(mse: Tensor | float, peak: float = 1.0) -> float:
    mse = float(mse)
    return math.inf if mse <= 0.0 else 10.0 * math.log10(peak * peak / mse)


class RateDistortionLoss(nn.Module):
    """``loss = lmbda · 255² · MSE(x̂, x) + bpp``, computed in float32.

    ``forward(output, target)`` takes the model output dict (``x_hat``, ``likelihoods``)
    and returns ``{"loss", "bpp", "mse", "psnr"}`` as 0-d tensors (PSNR in dB, detached,
    computed on the device so that logging does not synchronise with the GPU).
    """

    def __init__(self, lmbda: float) -> None:
        super().__init__()
        if lmbda <= 0:
            raise ValueError(f"lambda must be positive, got {lmbda}")
        self.lmbda = lmbda

    def forward(self, output: dict, target: Tensor) -> dict[str, Tensor | float]:
        n, _, h, w = target.shape
        x_hat = output["x_hat"].float()
        bpp = bits_per_pixel({k: v.float() for k, v in output["likelihoods"].items()}, n * h * w)
        mse = torch.mean((x_hat - target.float()) ** 2)
        loss = self.lmbda * 255.0**2 * mse + bpp
        psnr = -10.0 * torch.log10(mse.detach())  # peak 1.0; +inf for a perfect reconstruction
        return {"loss": loss, "bpp": bpp, "mse": mse, "psnr": psnr}
