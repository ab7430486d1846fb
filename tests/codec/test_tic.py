"""TIC with the tiny configuration: shapes at several sizes, stages, dtype, loading."""

import warnings

import pytest
import torch
from compressai.models import CompressionModel

from forensiccodec.codec.config import get_config
from forensiccodec.codec.entropy_models import to_legacy_names
from forensiccodec.codec.tic import TIC, from_transtic_state_dict
from forensiccodec.errors import UsageError
from forensiccodec.zoo import codec_file_tensors

torch.set_num_threads(2)

SIZES = [(64, 64), (128, 192), (320, 64)]


@pytest.fixture(scope="module")
def model() -> TIC:
    torch.manual_seed(0)
    return TIC(get_config("tiny")).eval()


def test_module_names_follow_upstream_order(model: TIC) -> None:
    names = [name for name, _ in model.named_children()]
    expected = (
        [f"g_a{i}" for i in range(8)] + [f"h_a{i}" for i in range(4)] + [f"h_s{i}" for i in range(4)]
        + ["entropy_bottleneck", "gaussian_conditional"] + [f"g_s{i}" for i in range(8)]
    )  # fmt: skip
    assert names == expected
    assert not any(key.endswith("attn_mask") for key in model.state_dict())


@pytest.mark.parametrize("size", SIZES)
def test_stage_shapes(model: TIC, size: tuple[int, int]) -> None:
    height, width = size
    config = model.config
    x = torch.rand(1, 3, height, width)
    with torch.inference_mode():
        y = model.analysis(x)
        z = model.hyper_analysis(y)
        scales, means = model.hyper_synthesis(torch.round(z))
        x_hat = model.synthesis(torch.round(y - means.float()) + means.float())
    assert y.shape == (1, config.M, height // 16, width // 16)
    assert z.shape == (1, config.N, height // 64, width // 64)
    assert scales.shape == means.shape == y.shape
    assert scales.dtype == torch.float64
    assert x_hat.shape == x.shape


@pytest.mark.parametrize("size", SIZES)
def test_eval_forward_is_the_stage_sequence(model: TIC, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    with torch.inference_mode():
        out = model(x)
        y = model.analysis(x)
        z_hat, _ = model.entropy_bottleneck(model.hyper_analysis(y), training=False)
        _, means = model.hyper_synthesis(z_hat, dtype=None)
        x_hat = model.synthesis(torch.round(y - means) + means)
    torch.testing.assert_close(out["x_hat"], x_hat)
    assert out["likelihoods"]["y"].shape == y.shape
    assert out["likelihoods"]["z"].shape == z_hat.shape


def test_training_forward_has_gradients() -> None:
    torch.manual_seed(1)
    model = TIC(get_config("tiny")).train()
    out = model(torch.rand(2, 3, 64, 128))
    bits = sum(-torch.log2(likelihood).sum() for likelihood in out["likelihoods"].values())
    (bits + out["x_hat"].square().mean()).backward()
    assert model.g_a0.weight.grad is not None and model.h_s3.weight.grad is not None
    assert model.g_s1.weight.grad is not None and model.entropy_bottleneck.matrices[1].grad is not None
    model.aux_loss().backward()
    assert model.entropy_bottleneck.quantiles.grad is not None


def test_hyper_synthesis_float64_leaves_weights_alone_and_follows_updates() -> None:
    torch.manual_seed(2)
    model = TIC(get_config("tiny")).eval()
    z_hat = torch.round(torch.randn(1, model.config.N, 2, 3) * 2)
    with torch.inference_mode():
        scales64, means64 = model.hyper_synthesis(z_hat)
        scales32, means32 = model.hyper_synthesis(z_hat, dtype=None)
    assert means64.dtype == torch.float64 and means32.dtype == torch.float32
    assert scales64.dtype == torch.float64 and scales32.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    torch.testing.assert_close(means64.float(), means32, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        for block in model.h_s0.residual_group.blocks:
            block.attn.relative_position_bias_table.add_(1.0)
            block.attn.proj.weight.mul_(3.0)
    with torch.inference_mode():
        _, changed = model.hyper_synthesis(z_hat)
    assert not torch.allclose(changed, means64)


def test_sdpa_and_reference_models_agree(model: TIC) -> None:
    x = torch.rand(1, 3, 128, 192)
    with torch.inference_mode():
        fast = model(x)["x_hat"]
        model.set_attention_impl("reference")
        try:
            reference = model(x)["x_hat"]
        finally:
            model.set_attention_impl("sdpa")
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)


def test_sizes_must_be_multiples_of_64(model: TIC) -> None:
    with pytest.raises(UsageError, match="multiples of 64"):
        model.analysis(torch.rand(1, 3, 64, 96))


@pytest.mark.parametrize("names", ["legacy", "compressai"])
def test_loads_a_transtic_style_checkpoint(model: TIC, names: str) -> None:
    state = {f"module.{key}": value.clone() for key, value in model.state_dict().items()}
    state["module.g_a1.residual_group.blocks.1.attn_mask"] = torch.zeros(256, 64, 64)
    state["module.entropy_bottleneck._quantized_cdf"] = torch.ones(model.config.N, 30, dtype=torch.int32)
    state["module.gaussian_conditional.scale_table"] = torch.linspace(0.11, 256, 64)
    if names == "legacy":  # TransTIC's vendored compressai 1.2.0: _matrix0, _bias0, _factor0, ...
        state = to_legacy_names(state)
        assert "module.entropy_bottleneck._matrix3" in state
    fresh = TIC(get_config("tiny"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy names alone: the hint about optimizer states
        fresh.load_state_dict(state)
    assert fresh.entropy_bottleneck._quantized_cdf.shape == (model.config.N, 30)
    assert fresh.gaussian_conditional.scale_table.shape == (64,)
    assert torch.equal(fresh.entropy_bottleneck.matrices[3], model.entropy_bottleneck.matrices[3])
    assert torch.equal(fresh.entropy_bottleneck.factors[0], model.entropy_bottleneck.factors[0])
    assert torch.equal(fresh.g_s7.weight, model.g_s7.weight)


def test_is_a_compressai_compression_model(model: TIC) -> None:
    assert isinstance(model, CompressionModel)
    assert torch.equal(model.aux_loss(), model.entropy_bottleneck.loss())
    fresh = TIC(get_config("tiny"))
    fresh.load_state_dict(model.state_dict())
    assert fresh.update(force=True)  # CompressAI's own CDFs: they never reach a weights file
    assert fresh.gaussian_conditional.scale_table.numel() == 64
    written = codec_file_tensors(fresh)
    assert list(written) == list(codec_file_tensors(model))
    assert "entropy_bottleneck._matrix0" in written and not any("matrices" in key for key in written)


def test_loading_stays_strict(model: TIC) -> None:
    state = dict(model.state_dict())
    state["g_a9.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="g_a9.weight"):
        TIC(get_config("tiny")).load_state_dict(state)
    state.pop("g_a9.weight")
    state.pop("h_s3.bias")
    with pytest.raises(RuntimeError, match="h_s3.bias"):
        TIC(get_config("tiny")).load_state_dict(state)


def test_from_transtic_state_dict_keeps_plain_keys() -> None:
    state = {"g_a0.weight": torch.zeros(1), "g_a1.residual_group.blocks.1.attn_mask": torch.zeros(1)}
    assert list(from_transtic_state_dict(state)) == ["g_a0.weight"]
