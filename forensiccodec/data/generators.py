"""Small convolutional autoencoders that leave the upsampling traces of generative networks.

Zhang, Karaman and Chang (2019, "Detecting and simulating artifacts in GAN fake images")
showed that an autoencoder whose decoder shares a GAN's upsampling design reproduces the
GAN's spectral artefacts: the traces come from the upsampling, not from what the network
learned. Each :class:`UpsamplingAutoencoder` here downsamples by ``2**stages`` with stride-2
convolutions and upsamples back with one of four designs found in GAN generators and learned
codecs (:data:`UPSAMPLING_DESIGNS`). The networks are tiny (tens of thousands of parameters)
so that :func:`train_autoencoder` fits each in well under a minute on a laptop CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from forensiccodec.errors import UsageError

# name -> short description (written into the demo set's manifest and README)
UPSAMPLING_DESIGNS: dict[str, str] = {
    "transposed": "transposed convolution (3x3, stride 2), as in DCGAN/CycleGAN decoders",
    "nearest": "nearest-neighbour 2x upsampling followed by a 3x3 convolution",
    "bilinear": "bilinear 2x upsampling followed by a 3x3 convolution",
    "pixelshuffle": "sub-pixel convolution (3x3 convolution to 4x channels, pixel shuffle)",
}


@dataclass(frozen=True)
class GeneratorConfig:
    """Size of one autoencoder: ``stages`` stride-2 steps down (and as many up), the channel
    width of the first stage (doubled at each further stage) and the latent channels."""

    width: int = 16
    latent_channels: int = 32
    stages: int = 2

    @property
    def factor(self) -> int:
        """Input sides must be a multiple of this (the total downsampling)."""
        return 2**self.stages


@dataclass(frozen=True)
class TrainingConfig:
    """How :func:`train_autoencoder` trains: Adam with a cosine learning-rate decay on random
    square crops whose side is drawn per step from ``crop_sizes``; loss L1 + ``mse_weight``·MSE."""

    steps: int = 300
    batch_size: int = 4
    crop_sizes: tuple[int, ...] = (64,)
    learning_rate: float = 3e-3
    mse_weight: float = 0.1


def _upsampling(design: str, in_channels: int, out_channels: int) -> nn.Module:
    if design == "transposed":
        return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
    if design in ("nearest", "bilinear"):
        upsample = nn.Upsample(scale_factor=2, mode=design, **({"align_corners": False} if design == "bilinear" else {}))
        return nn.Sequential(upsample, nn.Conv2d(in_channels, out_channels, 3, padding=1))
    if design == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(in_channels, out_channels * 4, 3, padding=1), nn.PixelShuffle(2))
    raise UsageError(f"unknown upsampling design {design!r}; choose one of {', '.join(UPSAMPLING_DESIGNS)}")


class UpsamplingAutoencoder(nn.Module):
    """Image [N,3,H,W] in [0,1] -> reconstruction of the same size (H, W multiples of
    ``config.factor``). The decoder upsamples only with ``design``; the final 3x3 convolution
    is linear, so the output may leave [0, 1] slightly (clamp before saving)."""

    def __init__(self, design: str, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        if config.stages < 1:
            raise UsageError(f"an autoencoder needs at least one stage, got {config.stages}")
        self.design = design
        self.config = config
        widths = [config.width * 2**i for i in range(config.stages)]
        encoder: list[nn.Module] = []
        channels = 3
        for width in widths:
            # Non-overlapping 2x2 stride-2 kernels: the encoder can pass detail through
            # losslessly, so the short training spends itself on the decoder.
            encoder += [nn.Conv2d(channels, width, 2, stride=2), nn.LeakyReLU(0.2)]
            channels = width
        encoder.append(nn.Conv2d(channels, config.latent_channels, 3, padding=1))
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [nn.Conv2d(config.latent_channels, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        for width in reversed([config.width] + widths[:-1]):
            decoder += [_upsampling(design, channels, width), nn.LeakyReLU(0.2)]
            channels = width
        output = nn.Conv2d(channels, 3, 3, padding=1)
        nn.init.constant_(output.bias, 0.45)  # start near mid-grey: saves the first steps
        decoder.append(output)
        self.decoder = nn.Sequential(*decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.config.factor
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise UsageError(f"autoencoder input sides must be multiples of {factor}, got {tuple(x.shape[-2:])}")
        return self.decoder(self.encoder(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class TrainingReport:
    """What one :func:`train_autoencoder` run did (recorded in the demo set's manifest)."""

    design: str
    parameters: int
    steps: int
    first_loss: float  # mean of the first 10% of steps
    final_loss: float  # mean of the last 10% of steps
    seconds: float


def sample_crops(images: Sequence[np.ndarray], rng: np.random.Generator, batch_size: int, size: int) -> torch.Tensor:
    """``batch_size`` random ``size``-square crops (random image, position and horizontal flip)
    from uint8 HxWx3 arrays at least ``size`` on each side, as float32 [B,3,size,size] in [0,1]."""
    batch = np.empty((batch_size, size, size, 3), dtype=np.uint8)
    for i in range(batch_size):
        image = images[int(rng.integers(len(images)))]
        top = int(rng.integers(image.shape[0] - size + 1))
        left = int(rng.integers(image.shape[1] - size + 1))
        crop = image[top : top + size, left : left + size]
        batch[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor, mse_weight: float) -> torch.Tensor:
    return (output - target).abs().mean() + mse_weight * (output - target).square().mean()


def train_autoencoder(
    model: UpsamplingAutoencoder,
    images: Sequence[np.ndarray],
    config: TrainingConfig,
    *,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainingReport:
    """Train ``model`` in place to reconstruct random crops of ``images`` (uint8 HxWx3).

    Crops and initial weights depend only on ``seed`` (the caller seeds torch before building
    the model), so the same seed on the same machine gives the same weights. ``on_step(step,
    loss)`` is called after every step (for a progress bar)."""
    return train_generator(
        model, images, config, seed=seed, factor=model.config.factor, name=model.design,
        loss=lambda batch: reconstruction_loss(model(batch), batch, config.mse_weight), on_step=on_step,
    )


def train_generator(
    model: nn.Module,
    images: Sequence[np.ndarray],
    config: TrainingConfig,
    *,
    seed: int,
    factor: int,
    name: str,
    loss: Callable[[torch.Tensor], torch.Tensor],
    on_step: Callable[[int, float], None] | None = None,
) -> TrainingReport:
    """Train ``model`` in place on random crops of ``images``: ``loss(batch)`` is the objective
    of one batch [B,3,S,S] in [0,1], with S drawn from ``config.crop_sizes`` (multiples of
    ``factor`` that fit the smallest image). Adam, cosine decay; crops depend only on ``seed``."""
    largest = max(min(image.shape[:2]) for image in images)
    sizes = [s for s in config.crop_sizes if s % factor == 0 and s <= largest]
    if not sizes:
        raise UsageError(
            f"no crop size in {config.crop_sizes} is a multiple of {factor} and fits a training image "
            f"(the largest is {largest} px on its shorter side)"
        )
    # Crops of each size come from the images large enough for it.
    fitting = {size: [image for image in images if min(image.shape[:2]) >= size] for size in sizes}
    rng = np.random.Generator(np.random.PCG64([seed, 0x6E6]))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # Cosine decay to 5% of the rate: a short run still ends on small, stable steps.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(1, config.steps)))
    )
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    for step in range(config.steps):
        size = sizes[int(rng.integers(len(sizes)))]
        batch = sample_crops(fitting[size], rng, config.batch_size, size)
        value = loss(batch)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        schedule.step()
        losses.append(value.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    window = max(1, len(losses) // 10)
    return TrainingReport(
        design=name,
        parameters=parameter_count(model),
        steps=config.steps,
        first_loss=float(np.mean(losses[:window])) if losses else float("nan"),
        final_loss=float(np.mean(losses[-window:])) if losses else float("nan"),
        seconds=time.perf_counter() - start,
    )


@torch.no_grad()
def reconstruct(model: UpsamplingAutoencoder, image: np.ndarray) -> np.ndarray:
    """The autoencoder's reconstruction of a uint8 HxWx3 image (sides multiples of the
    model's factor), rounded and clamped back to uint8."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    y = model(x).clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return y.squeeze(0).permute(1, 2, 0).contiguous().numpy()
