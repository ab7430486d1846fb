"""The ``paper`` backbone and the public checkpoint reader against the public detector's own network, built with efficientnet_pytorch.

The public PoliMi detector wraps ``EfficientNet.from_name('efficientnet-b4')`` as
``efficientnet`` (its ``_fc`` deleted) and adds ``classifier = Linear(1792, 2)`` after average
pooling and dropout. Both networks get the same random weights; their logits must agree.
efficientnet_pytorch is a test-only dependency (``from_name`` downloads nothing).

Random weights alone make a deep network's output nearly constant, which would hide padding
mistakes; so the reference's batch-norm statistics are first calibrated on random patches
(a data-dependent initialisation) to keep the logits input-dependent.
Measured on CPU: max |difference| about 3e-7 on 96x96 patches (logits of order 0.1) and a
relative difference about 6e-6 on a 380x380 input.
"""

import pickle

import pytest
import torch
from torch import nn

from forensiccodec.detector.backbone import build_backbone
from forensiccodec.detector.official import (
    check_official_keys,
    load_official_state_dict,
)
from forensiccodec.errors import WeightsError

PATCH_TOLERANCE = 1e-5  # absolute, on logits of order 0.1-1
RELATIVE_TOLERANCE = 1e-4  # at 380x380, relative to the largest logit


class PublicDetectorNetwork(nn.Module):
    """The public detector's wrapping of efficientnet_pytorch, rebuilt for the test."""

    def __init__(self) -> None:
        super().__init__()
        efficientnet_pytorch = pytest.importorskip("efficientnet_pytorch")
        self.efficientnet = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b4")
        self.classifier = nn.Linear(self.efficientnet._conv_head.out_channels, 2)
        del self.efficientnet._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.efficientnet.extract_features(x)
        x = self.efficientnet._avg_pooling(x).flatten(start_dim=1)
        return self.classifier(self.efficientnet._dropout(x))


@pytest.fixture(scope="module")
def reference() -> PublicDetectorNetwork:
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    network = PublicDetectorNetwork()
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the calibration batch
            module.reset_running_stats()
            with torch.no_grad():
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    network.train()
    with torch.no_grad():
        network(torch.randn(4, 3, 96, 96, generator=generator))
    return network.eval()


@pytest.fixture(scope="module")
def ours(reference):
    model = build_backbone("paper").eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return model


def test_keys_and_shapes_match_the_public_network(reference):
    theirs = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    mine = {key: tuple(value.shape) for key, value in build_backbone("paper").state_dict().items()}
    assert mine == theirs
    check_official_keys(reference.state_dict())  # does not raise


def test_patch_logits_agree(reference, ours):
    patches = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, actual = reference(patches), ours(patches)
    assert expected.std(dim=0).min() > 1e-3, "logits should depend on the input"
    assert (expected - actual).abs().max() < PATCH_TOLERANCE


def test_symmetric_padding_would_not_agree(reference):
    # The same weights with ordinary padding give other logits: the test can see padding errors.
    symmetric = build_backbone("paper", same_padding_size=None).eval()
    symmetric.load_state_dict(reference.state_dict())
    patches = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        difference = (reference(patches) - symmetric(patches)).abs().max()
    assert difference > 100 * PATCH_TOLERANCE


@pytest.mark.slow
def test_full_size_input_logits_agree(reference, ours):
    image = torch.randn(1, 3, 380, 380, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, actual = reference(image), ours(image)
    scale = expected.abs().max().clamp_min(1.0)
    assert ((expected - actual).abs().max() / scale) < RELATIVE_TOLERANCE


# ---- reading the public checkpoint ---------------------------------------------------------


def test_published_layout_loads_with_data_parallel_prefix_stripped(tmp_path):
    state = build_backbone("paper").state_dict()
    path = tmp_path / "synth_vs_real.pth"
    torch.save({"net": {"module." + key: value for key, value in state.items()}, "epoch": 7}, path)
    loaded = load_official_state_dict(path)
    assert set(loaded) == set(state)
    check_official_keys(loaded)
    build_backbone("paper").load_state_dict(loaded, strict=True)


@pytest.mark.parametrize(
    "content",
    [b"not a checkpoint at all\n", pickle.dumps({"net": {"x": object()}}), None],
    ids=["text", "arbitrary-pickle", "no-state-dict"],
)
def test_other_files_are_refused_with_a_weights_error(tmp_path, content):
    path = tmp_path / "weights.pth"
    if content is None:
        torch.save({"epoch": 3}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError) as error:
        load_official_state_dict(path)
    assert "\n" not in str(error.value)


def test_missing_file_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError):
        load_official_state_dict(tmp_path / "absent.pth")


def test_state_dicts_of_other_networks_are_refused():
    with pytest.raises(WeightsError, match="missing"):
        check_official_keys(build_backbone("tiny").state_dict())
    state = build_backbone("paper").state_dict()
    state["classifier.weight"] = torch.zeros(1, 1792)
    with pytest.raises(WeightsError, match="wrong shape"):
        check_official_keys(state)
