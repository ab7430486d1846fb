"""The paper's training objective: keep the detector's decisions through the codec.

``L = R + λ·(L_C + L_P)`` (Gnutti et al., eq. 1):

- ``R``: bits per pixel of ŷ and ẑ under the codec's own entropy model;
- ``L_C``: cross-entropy between the detector's logits on x̂ and the image's real/synthetic label;
- ``L_P``: MSE between the detector's intermediate features on x and on x̂, at the same patches
  (the mean over the feature levels, so that the term does not grow with the backbone's depth).

A departure from eq. 1, off by default: ``fidelity`` > 0 adds ``fidelity·λ_q·255²·MSE(x̂, x)``,
the base codec's own distortion term at its rate point (λ_q, ``RatePoint.codec_lambda``). At 1
the adapters pay for lost fidelity as much as the base codec did; the trade-off between the
detector's decisions and the picture becomes the user's choice.

:class:`ForensicCodecPass` is the model the training loop calls: the codec (adapters or all of
it trainable) followed by the frozen detector. Both always run as at inference (eval mode:
frozen batch-norm statistics, no stochastic depth), whatever the loop asks for, because only
the adapters may change what the base codec and the detector compute.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forensiccodec.codec.tic import TIC, at_least_float32
from forensiccodec.detector.model import PATCH_AGGREGATES, PatchDetector
from forensiccodec.train.rate_distortion import bits_per_pixel

TRAINING_PATCHES = 50  # detector patches per image in training (the paper's setting)


def round_straight_through(x: Tensor, centers: Tensor) -> Tensor:
    """round(x - centers) + centers forward, identity backward: the decoder sees integers,
    the encoder still gets a gradient."""
    return x + (torch.round(x - centers) + centers - x).detach()


class ForensicCodecPass(nn.Module):
    """codec(x) → x̂ → detector, returning what :class:`ForensicLoss` needs.

    ``forward(images)`` gives ``x_hat`` (clamped to [0, 1]), ``likelihoods`` (``y`` of the
    rounded latent, ``z`` with additive noise, as the codec was trained), ``logits`` [B, 2] on
    x̂ (``k_patches`` patch logits per image, aggregated by ``patch_aggregate``: see
    :meth:`PatchDetector.score_batch`), and the detector features of x̂ and x at the same patch
    positions (drawn from the global RNG, which the loop checkpoints).
    """

    def __init__(self, codec: TIC, detector: PatchDetector, k_patches: int = TRAINING_PATCHES,
                 patch_aggregate: str = "mean") -> None:
        super().__init__()
        if k_patches < 1:
            raise ValueError(f"k_patches must be at least 1, got {k_patches}")
        if patch_aggregate not in PATCH_AGGREGATES:
            raise ValueError(f"patch_aggregate must be one of {', '.join(PATCH_AGGREGATES)}, got {patch_aggregate!r}")
        self.codec = codec
        self.detector = detector
        self.k_patches = k_patches
        self.patch_aggregate = patch_aggregate
        self.passes = 0  # forward passes with gradients (training steps) since construction
        for parameter in detector.parameters():
            parameter.requires_grad_(False)
        self.train()

    def train(self, mode: bool = True) -> ForensicCodecPass:
        super().train(mode)
        self.codec.eval()
        self.detector.eval()
        return self

    def _encoder_needs_grad(self) -> bool:
        encoder = [p for name, p in self.codec.named_parameters() if name.startswith(("g_a", "h_a", "encoder_sfmas"))]
        return any(p.requires_grad for p in encoder) and torch.is_grad_enabled()

    def reconstruct(self, images: Tensor) -> dict[str, Any]:
        """x̂ and the likelihoods, quantising as the real decoder does (rounded latents).

        Under bf16 autocast the transforms and the detector run in bf16, but the rounding and
        the entropy models stay in float32, as in :meth:`TIC.forward`: bf16 cannot hold the
        offsets from the means that rounding keeps, and bf16 likelihoods would bias the rate."""
        codec = self.codec
        device = images.device.type
        with torch.set_grad_enabled(self._encoder_needs_grad()):
            y = codec.analysis(images)
            z = codec.hyper_analysis(y)
        with torch.autocast(device, enabled=False):
            z = at_least_float32(z)
            _, z_likelihoods = codec.entropy_bottleneck(z, training=True)
            medians = codec.entropy_bottleneck.medians().reshape(1, -1, 1, 1)
            z_hat = round_straight_through(z, medians)
        scales, means = codec.hyper_synthesis(z_hat, dtype=None)
        with torch.autocast(device, enabled=False):
            y, scales, means = at_least_float32(y), at_least_float32(scales), at_least_float32(means)
            y_hat = round_straight_through(y, means)
            y_likelihoods = codec.gaussian_conditional.likelihood(y_hat, scales, means)
        x_hat = codec.synthesis(y_hat).clamp(0.0, 1.0)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def forward(self, images: Tensor) -> dict[str, Any]:
        self.passes += int(torch.is_grad_enabled())
        output = self.reconstruct(images)
        positions = self.detector.sample_batch_positions(images, self.k_patches)
        logits, features_hat = self.detector.score_batch(output["x_hat"], positions=positions,
                                                         aggregate=self.patch_aggregate)
        with torch.no_grad():
            _, features = self.detector.score_batch(images, positions=positions)
        output.update(logits=logits, features_hat=features_hat, features=features)
        return output

    def aux_loss(self) -> Tensor:
        """The entropy bottleneck's quantile loss (full fine-tuning trains the quantiles too)."""
        return self.codec.aux_loss()


class ForensicLoss(nn.Module):
    """``loss = bpp + λ·(cross_entropy + perceptual) [+ fidelity·λ_q·255²·MSE]`` with its parts
    and the batch accuracy.

    ``forward(output, batch)`` takes :class:`ForensicCodecPass`'s output and the loop's batch
    ``(images, labels)``. ``codec_lambda`` (λ_q) is needed only when ``fidelity`` > 0.
    """

    def __init__(self, lmbda: float, fidelity: float = 0.0, codec_lambda: float | None = None) -> None:
        super().__init__()
        if lmbda <= 0:
            raise ValueError(f"lambda must be positive, got {lmbda}")
        if fidelity < 0:
            raise ValueError(f"fidelity must be 0 or more, got {fidelity}")
        if fidelity > 0 and (codec_lambda is None or codec_lambda <= 0):
            raise ValueError("a fidelity term needs the base codec's positive λ (codec_lambda)")
        self.lmbda = lmbda
        self.distortion_weight = fidelity * (codec_lambda or 0.0) * 255.0**2

    def forward(self, output: dict[str, Any], batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        images, labels = batch[0], batch[1].long()
        n, _, height, width = images.shape
        bpp = bits_per_pixel({k: v.float() for k, v in output["likelihoods"].items()}, n * height * width)
        logits = output["logits"].float()
        cross_entropy = F.cross_entropy(logits, labels)
        levels = [F.mse_loss(a.float(), b.float()) for a, b in zip(output["features_hat"], output["features"], strict=True)]
        perceptual = torch.stack(levels).mean()
        loss = bpp + self.lmbda * (cross_entropy + perceptual)
        mse = torch.mean((output["x_hat"].float() - images.float()) ** 2)
        if self.distortion_weight:
            loss = loss + self.distortion_weight * mse
        mse = mse.detach()
        return {
            "loss": loss,
            "bpp": bpp.detach(),
            "ce": cross_entropy.detach(),
            "perceptual": perceptual.detach(),
            "accuracy": ((logits.detach()[:, 1] > 0).long() == labels).float().mean(),  # score = class-1 logit
            "psnr": -10.0 * torch.log10(mse),
        }
