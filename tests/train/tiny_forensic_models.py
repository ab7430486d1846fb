"""The tiny base codec and detector that the forensic-training tests train and score with."""

from __future__ import annotations

import torch

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.detector import PatchDetector, build_backbone


def tiny_base() -> TIC:
    """The same seeded tiny codec at every call."""
    torch.manual_seed(1)
    return TIC(get_config("tiny")).eval()


def tiny_detector() -> PatchDetector:
    """The same seeded tiny detector (8 patches, top 6) at every call."""
    torch.manual_seed(2)
    return PatchDetector(build_backbone("tiny").eval(), n_patches=8, top_m=6).eval()
