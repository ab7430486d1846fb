"""The SFMA adapter on its own (layout, identity at init, both branches) and inside the tiny TIC."""

import numpy as np
import pytest
import torch
from torch import nn

from forensiccodec.codec.config import get_config
from forensiccodec.codec.sfma import SFMA
from forensiccodec.codec.tic import TIC
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


def test_inference_gives_the_same_bits_with_one_thread_or_two() -> None:
    """Decoded pixels must not depend on the thread count; float32 convolutions of this size do."""
    adapter = _randomised(96)
    x = torch.randn(1, 96, 32, 32)
    outputs = []
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                outputs.append(adapter(x))
    finally:
        torch.set_num_threads(previous)
    assert outputs[0].dtype == torch.float32
    assert torch.equal(outputs[0], outputs[1])


def test_inference_computes_what_training_computes() -> None:
    adapter = _randomised()
    x = torch.randn(2, 8, 8, 6)
    with torch.no_grad():
        inference = adapter(x)
    torch.testing.assert_close(inference, x + adapter.spatial(x) + adapter.frequency(x))


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


# --- the adapter-equipped TIC (tiny configuration) -----------------------------------------

SIZES = [(64, 64), (64, 192), (320, 128)]


def _base_and_adapted(randomise_adapters: bool = True) -> tuple[TIC, TIC]:
    """A seeded base TIC and an adapter TIC with the same base weights."""
    torch.manual_seed(3)
    base = TIC(get_config("tiny")).eval()
    adapted = TIC(get_config("tiny"), adapters=True).eval()
    missing, unexpected = adapted.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all("_sfmas." in key for key in missing)
    if randomise_adapters:
        with torch.no_grad():
            for parameter in adapted.adapter_parameters():
                parameter.copy_(0.2 * torch.randn_like(parameter))
    return base, adapted


def _round_trip(model: TIC, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        out = model(x)
        return model.analysis(x), out["x_hat"]


def test_adapter_keys_lead_the_state_dict_and_the_base_keys_are_unchanged() -> None:
    base_keys = list(TIC(get_config("tiny")).state_dict())
    keys = list(TIC(get_config("tiny"), adapters=True).state_dict())
    adapter_keys = [f"{side}_sfmas.{i}.{name}" for side in ("encoder", "decoder") for i in range(3)
                    for name, _ in EXPECTED_LAYOUT]  # fmt: skip
    assert keys == adapter_keys + base_keys
    assert not any("_sfmas" in key for key in base_keys)


def test_a_fresh_adapter_model_is_the_base_codec_bit_for_bit() -> None:
    base, adapted = _base_and_adapted(randomise_adapters=False)
    x = torch.rand(1, 3, 128, 64)
    for a, b in zip(_round_trip(base, x), _round_trip(adapted, x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("size", SIZES)
def test_adapters_off_is_the_base_codec_bit_for_bit(size: tuple[int, int]) -> None:
    base, adapted = _base_and_adapted()
    adapted.set_adapters(encoder=False, decoder=False)
    x = torch.rand(2, 3, *size)
    for a, b in zip(_round_trip(base, x), _round_trip(adapted, x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("size", SIZES)
def test_adapters_on_change_the_output_and_keep_the_shapes(size: tuple[int, int]) -> None:
    base, adapted = _base_and_adapted()
    x = torch.rand(1, 3, *size)
    y_base, x_hat_base = _round_trip(base, x)
    y, x_hat = _round_trip(adapted, x)
    assert y.shape == y_base.shape and x_hat.shape == x_hat_base.shape
    assert not torch.equal(y, y_base) and not torch.equal(x_hat, x_hat_base)
    assert torch.isfinite(y).all() and torch.isfinite(x_hat).all()


def test_switching_touches_only_its_own_side() -> None:
    base, adapted = _base_and_adapted()
    x = torch.rand(1, 3, 64, 128)
    with torch.inference_mode():
        y_base, y_hat = base.analysis(x), torch.round(base.analysis(x))
        x_hat_base = base.synthesis(y_hat)
        adapted.set_adapters(encoder=False, decoder=True)
        assert torch.equal(adapted.analysis(x), y_base)
        x_hat_decoder_only = adapted.synthesis(y_hat)
        assert not torch.equal(x_hat_decoder_only, x_hat_base)
        adapted.set_adapters(encoder=True, decoder=False)
        assert not torch.equal(adapted.analysis(x), y_base)
        assert torch.equal(adapted.synthesis(y_hat), x_hat_base)
        adapted.set_adapters(encoder=True, decoder=True)
        assert torch.equal(adapted.synthesis(y_hat), x_hat_decoder_only)
    assert (adapted.encoder_adapters_enabled, adapted.decoder_adapters_enabled) == (True, True)


def test_decoder_adapters_run_in_reverse_index_order() -> None:
    # Only decoder_sfmas[2] non-trivial: it must act on g_s1's output (M -> N at H/8).
    _, adapted = _base_and_adapted(randomise_adapters=False)
    seen: list[tuple[int, ...]] = []
    adapted.decoder_sfmas[2].register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    adapted.decoder_sfmas[0].register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    with torch.inference_mode():
        adapted.synthesis(torch.zeros(1, adapted.config.M, 4, 4))
    assert seen == [(1, adapted.config.N, 8, 8), (1, adapted.config.N, 32, 32)]


def test_a_codec_without_adapters_refuses_to_switch_them_on() -> None:
    model = TIC(get_config("tiny"))
    assert not model.has_adapters and model.adapter_parameters() == []
    model.set_adapters(encoder=False, decoder=False)
    with pytest.raises(UsageError):
        model.set_adapters(encoder=False, decoder=True)


def test_gradients_reach_only_the_adapters_when_the_base_is_frozen() -> None:
    _, adapted = _base_and_adapted()
    adapted.train()
    adapter_ids = {id(p) for p in adapted.adapter_parameters()}
    for parameter in adapted.parameters():
        if id(parameter) not in adapter_ids:
            parameter.requires_grad_(False)
    before = {k: v.clone() for k, v in adapted.state_dict().items() if "_sfmas." not in k}
    out = adapted(torch.rand(1, 3, 64, 64))
    loss = out["x_hat"].square().mean() + sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    loss.backward()
    for name, parameter in adapted.named_parameters():
        if id(parameter) in adapter_ids:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        else:
            assert parameter.grad is None, name
    torch.optim.Adam(adapted.adapter_parameters(), lr=1e-3).step()
    after = adapted.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(adapter_ids) == 96
