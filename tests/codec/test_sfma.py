"""The SFMA adapter module on its own: layout, identity at init, the two branches, gradients."""

import numpy as np
import pytest
import torch
from torch import nn

from forensiccodec.codec.sfma import SFMA
from forensiccodec.errors import UsageError

torch.set_num_threads(2)

# Adapt-ICMH's SFMA(in_dim=C): names, registration order and shapes (C=8, middle 4).
EXPECTED_LAYOUT = [
    ("s_down1.weight", (4, 8, 1, 1)), ("s_down1.bias", (4,)),
    ("s_down2.weight", (4, 8, 1, 1)), ("s_down2.bias", (4,)),
    ("s_dw.weight", (4, 1, 5, 5)), ("s_dw.bias", (4,)),
    ("s_up.weight", (8, 4, 1, 1)), ("s_up.bias", (8,)),
    ("f_down.weight", (4, 8, 1, 1)), ("f_down.bias", (4,)),
    ("f_up.weight", (8, 4, 1, 1)), ("f_up.bias", (8,)),
    ("f_dw.weight", (4, 1, 3, 3)), ("f_dw.bias", (4,)),
    ("f_inter.weight", (4, 4, 1, 1)), ("f_inter.bias", (4,)),
]  # fmt: skip


def _randomised(channels: int = 8, seed: int = 0) -> SFMA:
    """An adapter with every parameter random (no zero projection), so each branch matters."""
    torch.manual_seed(seed)
    adapter = SFMA(channels)
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.copy_(0.3 * torch.randn_like(parameter))
    return adapter


def test_state_dict_layout_is_adapt_icmh() -> None:
    state = SFMA(8).state_dict()
    assert [(key, tuple(t.shape)) for key, t in state.items()] == EXPECTED_LAYOUT


def test_a_new_adapter_is_exactly_the_identity() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 8, 12, 10)
    assert torch.equal(SFMA(8)(x), x)


def test_reset_to_identity_undoes_training() -> None:
    adapter = _randomised()
    x = torch.randn(1, 8, 8, 8)
    assert not torch.equal(adapter(x), x)
    adapter.reset_to_identity()
    assert torch.equal(adapter(x), x)


def test_spatial_branch_formula() -> None:
    adapter = _randomised()
    x = torch.randn(1, 8, 9, 7)
    a = adapter.s_dw(adapter.s_down1(x))
    expected = adapter.s_up(torch.relu(a * adapter.s_down2(x)))
    torch.testing.assert_close(adapter.spatial(x), expected)


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (5, 12)])
def test_open_gate_makes_the_frequency_branch_a_spectral_round_trip(size: tuple[int, int]) -> None:
    # sigmoid(large) == 1: the amplitude is kept, so irfft2(rfft2(h), s=size) must give back h.
    adapter = _randomised()
    with torch.no_grad():
        adapter.f_inter.weight.zero_()
        adapter.f_inter.bias.fill_(50.0)
    x = torch.randn(1, 8, *size)
    expected = adapter.f_up(torch.relu(adapter.f_down(x)))
    torch.testing.assert_close(adapter.frequency(x), expected, atol=1e-5, rtol=1e-5)


def test_frequency_branch_against_numpy_float64() -> None:
    adapter = _randomised().double()
    x = torch.randn(1, 8, 6, 9, dtype=torch.float64)
    h = adapter.f_down(x).detach().numpy()
    spectrum = np.fft.rfft2(h)
    amplitude = np.abs(spectrum)
    with torch.no_grad():
        gate_logits = adapter.f_inter(torch.relu(adapter.f_dw(torch.from_numpy(amplitude)))).numpy()
    gated = amplitude / (1.0 + np.exp(-gate_logits)) * np.exp(1j * np.angle(spectrum))
    t = torch.from_numpy(np.fft.irfft2(gated, s=h.shape[-2:]))
    expected = adapter.f_up(torch.relu(t))
    torch.testing.assert_close(adapter.frequency(x), expected, atol=1e-10, rtol=1e-10)


def test_output_is_input_plus_both_branches() -> None:
    adapter = _randomised()
    x = torch.randn(2, 8, 8, 6)
    torch.testing.assert_close(adapter(x), x + adapter.spatial(x) + adapter.frequency(x))


def test_gradients_reach_every_adapter_parameter() -> None:
    adapter = _randomised()
    x = torch.randn(1, 8, 8, 8, requires_grad=True)
    adapter(x).square().sum().backward()
    for name, parameter in adapter.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_zero_init_trains_the_output_projections_first() -> None:
    adapter = SFMA(8)
    adapter(torch.randn(1, 8, 8, 8)).square().sum().backward()
    assert adapter.s_up.weight.grad.abs().sum() > 0 and adapter.f_up.weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in adapter.parameters())


def test_bfloat16_runs_the_fft_in_float32() -> None:
    adapter = _randomised().to(torch.bfloat16)
    x = torch.randn(1, 8, 8, 8)
    out = adapter(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    reference = _randomised()(x)
    assert (out.float() - reference).abs().max() < 0.1 * reference.abs().max()


@pytest.mark.parametrize("channels", [0, 1, 7])
def test_bad_channel_counts_are_a_usage_error(channels: int) -> None:
    with pytest.raises(UsageError):
        SFMA(channels)


def test_parameter_count_for_the_paper_width() -> None:
    # 287,232 adapter elements for six SFMA(128) in TIC_SFMA (conformance sfma_keys.json).
    assert 6 * sum(p.numel() for p in SFMA(128).parameters()) == 287_232
    assert isinstance(SFMA(128).s_dw, nn.Conv2d) and SFMA(128).s_dw.groups == 64
