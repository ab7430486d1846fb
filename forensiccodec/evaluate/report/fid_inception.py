"""The FID Inception-v3 network, so that the standard weights file
(``pt_inception-2015-12-05-*.pth``, the TensorFlow FID graph ported to PyTorch) loads by its keys.

The FID graph differs from torchvision's Inception-v3 in four places, all in the pooling
branches of the mixed blocks: average pools exclude the padding (Mixed_5*, 6*, 7b) and the last
block (Mixed_7c) takes a max pool. Layers and key names are otherwise torchvision's, with 1008
classes. Features are the 2048-d global average pool before the classifier; images are resized
to 299x299 (bilinear) and mapped from [0, 1] to [-1, 1], as the FID reference does.

One vector per image: with fewer images than 2048 the covariance is rank-deficient (see
:mod:`.frechet`), so the value is only comparable to others computed on the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from forensiccodec.errors import WeightsError
from forensiccodec.state_dicts import check_fit

FID_CLASSES = 1008
FID_SIZE = 299


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _FIDInceptionA(InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_average_pool(x))], 1)


class _FIDInceptionC(InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(_average_pool(x))], 1)


class _FIDInceptionE(InceptionE):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool  # the FID graph's last block pools with max, the one before with avg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _average_pool(x)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


def fid_inception() -> Inception3:
    """The FID Inception-v3 with untrained weights (load the FID file into it)."""
    net = Inception3(num_classes=FID_CLASSES, aux_logits=False, init_weights=False)
    net.Mixed_5b = _FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = _FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = _FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = _FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = _FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = _FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = _FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = _FIDInceptionE(1280, max_pool=False)
    net.Mixed_7c = _FIDInceptionE(2048, max_pool=True)
    return net.eval()


def load_fid_inception(path: Path) -> Inception3:
    """The FID network with the weights of ``path``, or a :class:`WeightsError` saying why not."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such FID weights file") from None
    except Exception as error:  # noqa: BLE001 - torch.load reports a bad file in many types
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({type(error).__name__})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: not a state dict")
    net = fid_inception()
    check_fit(net, state, f"{path}: not the FID Inception weights (pt_inception-2015-12-05-*.pth)")
    net.load_state_dict(state, strict=True)
    return net


@torch.inference_mode()
def pool3_features(net: Inception3, images: torch.Tensor) -> torch.Tensor:
    """2048-d pool3 features of [B,3,H,W] images in [0, 1]."""
    x = F.interpolate(images.float(), size=(FID_SIZE, FID_SIZE), mode="bilinear", align_corners=False)
    x = 2.0 * x - 1.0
    for layer in (net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1, net.Conv2d_3b_1x1,
                  net.Conv2d_4a_3x3, net.maxpool2, net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                  net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c):
        x = layer(x)
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class InceptionFeatures:
    """FID: pool3 features of the whole image, one vector per image."""

    is_fid = True
    name = "fid-inception"
    label = "FID"

    def __init__(self, weights: Path) -> None:
        self.net = load_fid_inception(Path(weights))
        self.description = (
            f"FID: Inception-v3 pool3 features (weights {Path(weights).name}) of each whole image resized to"
            " 299x299; one vector per image, so with fewer than 2048 images the covariance is rank-deficient"
            " and the value is comparable only between settings on this same split"
        )

    def features(self, image: torch.Tensor) -> np.ndarray:
        return pool3_features(self.net, image.reshape(-1, *image.shape[-3:])[:1]).double().numpy()
