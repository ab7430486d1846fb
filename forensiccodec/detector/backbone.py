"""The patch classifier: an EfficientNet trunk and a 2-logit head, in named configurations.

The ``paper`` configuration reproduces the network of the public PoliMi real-vs-synthetic
detector (Mandelli, Bestagini, Tubaro, WIFS 2024), which wraps ``efficientnet_pytorch``'s
EfficientNet-B4: the trunk lives under ``efficientnet.`` with that package's module names
(``_conv_stem``, ``_bn0``, ``_blocks.N._depthwise_conv`` ...), its ``_fc`` is removed, and a
``classifier`` Linear(1792, 2) follows global average pooling and dropout. Its convolutions use
TensorFlow "SAME" padding frozen for a 380-pixel input, so a stride-2 convolution pads
asymmetrically (or symmetrically) according to the 380-pixel chain of sizes, whatever size the
patches are. Reproducing that padding is what makes the public weights give the same logits.

``small`` and ``tiny`` are the same family scaled down, with ordinary symmetric padding.
Upsampling traces live in the highest frequencies, so no configuration pools or strides away
pixels before the first learned layer: a stride-2 stem keeps at least 12 channels, enough to
carry all 12 values of each 2x2 pixel block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from forensiccodec.errors import UsageError


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks, in EfficientNet-B0 units (before width/depth scaling)."""

    repeats: int
    kernel: int
    stride: int
    expand_ratio: int
    out_channels: int


# EfficientNet-B0's stages; every other member of the family scales these.
B0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 16),
    StageSpec(2, 3, 2, 6, 24),
    StageSpec(2, 5, 2, 6, 40),
    StageSpec(3, 3, 2, 6, 80),
    StageSpec(3, 5, 1, 6, 112),
    StageSpec(4, 5, 2, 6, 192),
    StageSpec(1, 3, 1, 6, 320),
)

# B0 with the downsampling moved from the stem into the first block, for stride-1 stems.
SMALL_STAGES: tuple[StageSpec, ...] = (StageSpec(1, 3, 2, 1, 16),) + B0_STAGES[1:]


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture of a patch classifier.

    ``same_padding_size`` is the input size that TensorFlow-style "SAME" padding is frozen for
    (380 for the public B4 detector); ``None`` means symmetric ``kernel // 2`` padding.
    """

    width: float = 1.0
    depth: float = 1.0
    stages: tuple[StageSpec, ...] = B0_STAGES
    stem_channels: int = 32
    stem_stride: int = 2
    head_channels: int = 1280
    se_ratio: float = 0.25
    dropout: float = 0.2
    drop_connect: float = 0.2
    same_padding_size: int | None = None
    num_classes: int = 2
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01  # PyTorch convention (TensorFlow's 0.99)

    def channels(self, base: int) -> int:
        """Scale a B0 channel count by ``width`` the way EfficientNet rounds it (multiples of 8)."""
        divisor = 8
        scaled = base * self.width
        rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
        if rounded < 0.9 * scaled:  # never round down by more than 10 %
            rounded += divisor
        return int(rounded)

    def repeats(self, base: int) -> int:
        """Scale a B0 block count by ``depth`` (rounded up)."""
        return math.ceil(self.depth * base)


DETECTOR_CONFIGS: dict[str, DetectorConfig] = {
    # EfficientNet-B4 exactly as efficientnet_pytorch builds it for the public detector.
    "paper": DetectorConfig(width=1.4, depth=1.8, dropout=0.4, same_padding_size=380),
    # Trained here on the CPU: half width, half depth, 256-channel head, 0.6 M parameters.
    # The stem keeps stride 1, so a learned nonlinear layer sees the full-resolution pixel grid
    # where upsampling traces live; the first block then strides instead (16 MMAC per patch,
    # against 52 with B0's stride-1 first stage, which measured 1.7x slower). Batch-norm
    # momentum 0.1 (PyTorch's default): running statistics must settle within a short CPU
    # training run, which B4's 0.01 would not.
    "small": DetectorConfig(
        width=0.5, depth=0.5, stages=SMALL_STAGES, stem_stride=1, head_channels=512, dropout=0.2,
        bn_momentum=0.1,
    ),
    # For tests: three stages of one narrow block each, cheap stride-2 stem.
    "tiny": DetectorConfig(
        width=0.25, depth=0.25, stages=B0_STAGES[:3], stem_channels=48, head_channels=32,
        dropout=0.0, drop_connect=0.0, bn_momentum=0.1,
    ),
}


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one dimension for an input of ``size``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class PaddedConv2d(nn.Conv2d):
    """A bias-optional Conv2d whose padding is fixed at construction.

    With ``frozen_input_size`` the padding is TensorFlow "SAME" computed for that input size and
    applied to every input (as efficientnet_pytorch's static-same convolution does); without it,
    the padding is the symmetric ``kernel // 2``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
        groups: int = 1, bias: bool = False, frozen_input_size: int | None = None,
    ) -> None:
        symmetric = kernel // 2
        super().__init__(in_channels, out_channels, kernel, stride, padding=symmetric,
                         groups=groups, bias=bias)
        self._explicit_pad: tuple[int, int, int, int] | None = None
        if frozen_input_size is not None:
            before, after = _same_padding(frozen_input_size, kernel, stride)
            if before == after:
                self.padding = (before, before)
            else:  # asymmetric: pad explicitly (left, right, top, bottom)
                self.padding = (0, 0)
                self._explicit_pad = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._explicit_pad is not None:
            x = F.pad(x, self._explicit_pad)
        return super().forward(x)


def _drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch, rescaling the others."""
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.floor(keep + torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
    return x / keep * mask


class MBConvBlock(nn.Module):
    """Inverted bottleneck: 1x1 expand, depthwise kxk, squeeze-excite, 1x1 project, residual."""

    def __init__(
        self, config: DetectorConfig, in_channels: int, out_channels: int, kernel: int,
        stride: int, expand_ratio: int, input_size: int | None,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        eps, momentum = config.bn_eps, config.bn_momentum
        self.has_expansion = expand_ratio != 1
        if self.has_expansion:
            self._expand_conv = PaddedConv2d(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=eps, momentum=momentum)
        self._depthwise_conv = PaddedConv2d(hidden, hidden, kernel, stride, groups=hidden,
                                            frozen_input_size=input_size)
        self._bn1 = nn.BatchNorm2d(hidden, eps=eps, momentum=momentum)
        squeezed = max(1, int(in_channels * config.se_ratio))  # from the block's input width
        self._se_reduce = nn.Conv2d(hidden, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, hidden, 1)
        self._project_conv = PaddedConv2d(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)
        self.has_residual = stride == 1 and in_channels == out_channels
        self.drop_connect_rate = 0.0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expansion:
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        excite = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = torch.sigmoid(excite) * x
        x = self._bn2(self._project_conv(x))
        if self.has_residual:
            x = _drop_connect(x, self.drop_connect_rate, self.training) + inputs
        return x


class EfficientNetTrunk(nn.Module):
    """Stem, MBConv blocks and 1x1 head convolution; module names as in efficientnet_pytorch."""

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        eps, momentum = config.bn_eps, config.bn_momentum
        size = config.same_padding_size  # tracked only to freeze "SAME" padding
        stem = config.channels(config.stem_channels)
        self._conv_stem = PaddedConv2d(3, stem, 3, config.stem_stride, frozen_input_size=size)
        self._bn0 = nn.BatchNorm2d(stem, eps=eps, momentum=momentum)
        size = _next_size(size, config.stem_stride)

        blocks: list[MBConvBlock] = []
        # Indices of the last block at each resolution: the features used for perceptual losses.
        self.feature_block_indices: list[int] = []
        channels = stem
        for stage in config.stages:
            out_channels = config.channels(stage.out_channels)
            if stage.stride > 1 and blocks:
                self.feature_block_indices.append(len(blocks) - 1)
            for repeat in range(config.repeats(stage.repeats)):
                stride = stage.stride if repeat == 0 else 1
                blocks.append(MBConvBlock(config, channels, out_channels, stage.kernel, stride,
                                          stage.expand_ratio, size))
                size = _next_size(size, stride)
                channels = out_channels
        self.feature_block_indices.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        for index, block in enumerate(blocks):  # linearly growing stochastic depth
            block.drop_connect_rate = config.drop_connect * index / len(blocks)

        self.out_channels = config.channels(config.head_channels)
        self._conv_head = PaddedConv2d(channels, self.out_channels, 1)
        self._bn1 = nn.BatchNorm2d(self.out_channels, eps=eps, momentum=momentum)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of the last block at each resolution, then the head activation."""
        features: list[torch.Tensor] = []
        taps = set(self.feature_block_indices)
        x = F.silu(self._bn0(self._conv_stem(x)))
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in taps:
                features.append(x)
        features.append(F.silu(self._bn1(self._conv_head(x))))
        return features


def _next_size(size: int | None, stride: int) -> int | None:
    return None if size is None else math.ceil(size / stride)


class PatchClassifier(nn.Module):
    """EfficientNet trunk + average pooling + dropout + ``classifier`` Linear(C, 2).

    Logit 1 is the "synthetic" logit; the patch score of the detector is that logit.
    """

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.efficientnet = EfficientNetTrunk(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.efficientnet.out_channels, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps (ImageNet-normalised input); the last is the head's."""
        return self.efficientnet.forward_features(x)

    def logits_from_features(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits [B, 2] from the output of :meth:`forward_features`."""
        pooled = features[-1].mean(dim=(2, 3))
        return self.classifier(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.forward_features(x))


def resolve_config(config: str | DetectorConfig) -> DetectorConfig:
    """A configuration by name (``paper``, ``small``, ``tiny``) or as given."""
    if isinstance(config, DetectorConfig):
        return config
    try:
        return DETECTOR_CONFIGS[config]
    except KeyError:
        names = ", ".join(sorted(DETECTOR_CONFIGS))
        raise UsageError(f"unknown detector configuration {config!r} (choose from {names})") from None


def build_backbone(config: str | DetectorConfig, **overrides: object) -> PatchClassifier:
    """Build a randomly initialised patch classifier; ``overrides`` replace config fields."""
    resolved = resolve_config(config)
    if overrides:
        resolved = replace(resolved, **overrides)  # type: ignore[arg-type]
    return PatchClassifier(resolved)
