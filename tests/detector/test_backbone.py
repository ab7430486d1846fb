"""The patch classifier configurations: shapes, features, padding."""

import pytest
import torch

from forensiccodec.detector.backbone import (
    DETECTOR_CONFIGS,
    PaddedConv2d,
    build_backbone,
)
from forensiccodec.errors import UsageError


def test_registry_names():
    assert set(DETECTOR_CONFIGS) >= {"paper", "small", "tiny"}
    with pytest.raises(UsageError):
        build_backbone("huge")


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_forward_gives_two_logits_and_features_end_with_the_head(name):
    torch.manual_seed(0)
    model = build_backbone(name).eval()
    x = torch.randn(2, 3, 96, 96)
    features = model.forward_features(x)
    logits = model(x)
    assert logits.shape == (2, 2)
    assert len(features) >= 2
    assert features[-1].shape[1] == model.classifier.in_features
    assert torch.allclose(model.logits_from_features(features), logits)
    # Resolutions never grow along the list.
    sizes = [f.shape[-1] for f in features]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_stems_have_room_for_every_pixel(name):
    # A stride-s stem needs at least 3*s*s channels to pass every pixel of its input on.
    stem = build_backbone(name).efficientnet._conv_stem
    assert stem.out_channels >= 3 * stem.stride[0] * stem.stride[1]
    assert stem.kernel_size[0] >= stem.stride[0]


def test_small_sees_full_resolution_before_any_stride():
    model = build_backbone("small")
    assert model.efficientnet._conv_stem.stride == (1, 1)


def test_paper_is_efficientnet_b4_with_a_two_class_head():
    model = build_backbone("paper")
    state = model.state_dict()
    assert state["efficientnet._conv_stem.weight"].shape == (48, 3, 3, 3)
    assert state["classifier.weight"].shape == (2, 1792)
    assert state["classifier.bias"].shape == (2,)
    assert len(model.efficientnet._blocks) == 32
    assert "efficientnet._blocks.0._expand_conv.weight" not in state  # expansion 1 in stage 1
    assert "efficientnet._blocks.1._expand_conv.weight" not in state
    assert state["efficientnet._blocks.2._expand_conv.weight"].shape == (144, 24, 1, 1)
    assert not any(key.startswith("efficientnet._fc") for key in state)


def test_frozen_same_padding_is_computed_for_the_frozen_size_not_the_input():
    # 380 -> 190 with a 3x3 stride-2 kernel needs one pixel of padding, all of it after.
    conv = PaddedConv2d(1, 1, 3, stride=2, frozen_input_size=380)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.ones(1, 1, 96, 96)
    out = conv(x)
    assert out.shape[-1] == 48
    assert out[0, 0, 0, 0] == 9.0  # top-left window: no padding before it, all nine pixels
    assert out[0, 0, -1, -1] == 4.0  # bottom-right window: one padded row and column
    # An odd frozen size (95 -> 48 with a 5x5 kernel) pads symmetrically.
    symmetric = PaddedConv2d(1, 1, 5, stride=2, frozen_input_size=95)
    assert symmetric.padding == (2, 2)
