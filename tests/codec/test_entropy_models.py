"""The entropy models are CompressAI's, with the project's numerics where CompressAI 1.2.8 differs."""

import pytest
import torch
from compressai.entropy_models import EntropyBottleneck as CompressaiBottleneck
from compressai.entropy_models import GaussianConditional as CompressaiGaussian
from compressai.ops import LowerBound as CompressaiLowerBound

from forensiccodec.codec.entropy_models import (
    LIKELIHOOD_BOUND,
    EntropyBottleneck,
    GaussianConditional,
    LowerBound,
    to_compressai_names,
    to_legacy_names,
)

torch.set_num_threads(2)

LEGACY_PARAMETERS = [
    *(f"_{kind}{i}" for i in range(4) for kind in ("matrix", "bias", "factor")),
    "_matrix4",
    "_bias4",
]


def _trained_looking_pair(channels: int = 6) -> tuple[EntropyBottleneck, CompressaiBottleneck]:
    """A CompressAI EntropyBottleneck with perturbed weights, and ours loaded from it."""
    torch.manual_seed(1)
    theirs = CompressaiBottleneck(channels)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    ours = EntropyBottleneck(channels)
    ours.load_state_dict(theirs.state_dict())
    return ours.eval(), theirs.eval()


def test_the_modules_are_compressais() -> None:
    assert isinstance(EntropyBottleneck(3), CompressaiBottleneck)
    assert isinstance(GaussianConditional(), CompressaiGaussian)
    assert isinstance(EntropyBottleneck(3).likelihood_lower_bound, CompressaiLowerBound)


def test_state_dicts_have_compressais_names_shapes_and_values() -> None:
    torch.manual_seed(4)
    ours = EntropyBottleneck(5).state_dict()
    torch.manual_seed(4)
    theirs = CompressaiBottleneck(5).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key
    assert ours["matrices.0"].shape == (5, 3, 1) and ours["matrices.4"].shape == (5, 1, 3)
    assert torch.equal(ours["likelihood_lower_bound.bound"], torch.tensor([1e-9]))
    gaussian, their_gaussian = GaussianConditional().state_dict(), CompressaiGaussian(None).state_dict()
    assert list(gaussian) == list(their_gaussian)
    assert torch.equal(gaussian["scale_bound"], torch.tensor([0.11]))
    assert torch.equal(gaussian["lower_bound_scale.bound"], torch.tensor([0.11]))
    assert gaussian["scale_table"].shape == (0,)


def test_legacy_names_load_and_win_over_defaults() -> None:
    _, theirs = _trained_looking_pair()
    legacy = to_legacy_names(theirs.state_dict())
    assert set(LEGACY_PARAMETERS) <= set(legacy)
    fresh = EntropyBottleneck(6)
    with pytest.warns(UserWarning, match="legacy_checkpoints"):
        fresh.load_state_dict(legacy)
    assert torch.equal(fresh.matrices[3], theirs.matrices[3])
    # legacy weights completed with a fresh model's defaults (a warm start's pattern): the legacy ones load
    completed = {**EntropyBottleneck(6).state_dict(), **legacy}
    fresh = EntropyBottleneck(6)
    fresh.load_state_dict(completed)
    assert torch.equal(fresh.biases[2], theirs.biases[2])
    assert set(to_compressai_names(completed)) == set(theirs.state_dict())
    assert torch.equal(to_compressai_names(completed)["factors.1"], theirs.factors[1])


def test_name_mappings() -> None:
    current = {"entropy_bottleneck.matrices.0": 1, "entropy_bottleneck.biases.4": 2,
               "entropy_bottleneck.factors.3": 3, "g_a0.weight": 4, "matrices.1": 5}
    legacy = to_legacy_names(current)
    assert list(legacy) == ["entropy_bottleneck._matrix0", "entropy_bottleneck._bias4",
                            "entropy_bottleneck._factor3", "g_a0.weight", "_matrix1"]
    assert to_compressai_names(legacy) == current
    assert to_compressai_names({"a._matrix_x": 1, "a._matrix": 2}) == {"a._matrix_x": 1, "a._matrix": 2}


def test_quantisation_medians_and_aux_loss_are_compressais_bit_for_bit() -> None:
    ours, theirs = _trained_looking_pair()
    z = torch.randn(2, 6, 5, 7) * 3
    with torch.no_grad():
        z_hat, _ = ours(z, training=False)
        their_hat, _ = theirs(z, training=False)
    assert torch.equal(z_hat, their_hat)
    assert torch.equal(ours.loss(), theirs.loss())
    assert torch.equal(ours.medians(), theirs.quantiles[:, 0, 1])
    torch.manual_seed(9)
    noisy, _ = ours(z, training=True)
    torch.manual_seed(9)
    their_noisy, _ = theirs(z, training=True)
    assert torch.equal(noisy, their_noisy)


def test_factorized_likelihood_is_taken_on_the_precise_side_of_the_median() -> None:
    """compressai <= 1.2.6's form (TransTIC's 1.2.0), which the shipped weights were trained with;
    1.2.8 takes sigmoid(upper) - sigmoid(lower) everywhere, equal to float rounding."""
    ours, theirs = _trained_looking_pair()
    z = torch.randn(2, 6, 5, 7) * 6
    with torch.no_grad():
        _, likelihoods = ours(z, training=False)
        _, their_likelihoods = theirs(z, training=False)
        values = (torch.round(z - ours.medians().view(1, -1, 1, 1)) + ours.medians().view(1, -1, 1, 1))
        values = values.transpose(0, 1).reshape(6, 1, -1)
        lower = theirs._logits_cumulative(values - 0.5, stop_gradient=True)
        upper = theirs._logits_cumulative(values + 0.5, stop_gradient=True)
        sign = -torch.sign(lower + upper)
        expected = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).clamp_min(1e-9)
    assert torch.equal(likelihoods, expected.reshape(6, 2, 5, 7).transpose(0, 1))
    assert not torch.equal(likelihoods, their_likelihoods)  # the difference is real, and small:
    torch.testing.assert_close(likelihoods, their_likelihoods, rtol=1e-4, atol=1e-9)


def test_training_adds_bounded_noise_and_has_gradients() -> None:
    prior = EntropyBottleneck(4).train()
    z = torch.zeros(2, 4, 8, 8, requires_grad=True)
    z_hat, likelihoods = prior(z, training=True)
    assert 0 < (z_hat - z).abs().max() <= 0.5
    assert likelihoods.min() >= LIKELIHOOD_BOUND
    (-torch.log2(likelihoods).sum()).backward()
    assert z.grad is not None and prior.matrices[0].grad is not None


def test_cdf_is_the_integral_of_the_likelihoods_in_float64() -> None:
    ours, theirs = _trained_looking_pair()
    points = torch.linspace(-6, 6, 25, dtype=torch.float64).repeat(6, 1)
    cdf = ours.cdf(points)
    assert cdf.dtype == torch.float64 and cdf.shape == (6, 25)
    assert torch.all(cdf[:, 1:] >= cdf[:, :-1])
    with pytest.raises(RuntimeError):  # why `_logits_cumulative` is overridden: CompressAI's stays float32
        theirs._logits_cumulative(points.unsqueeze(1), stop_gradient=True)
    with torch.no_grad():
        logits = theirs._logits_cumulative(points.float().unsqueeze(1), stop_gradient=True).squeeze(1)
    assert torch.equal(ours.cdf(points.float()), torch.sigmoid(logits))
    torch.testing.assert_close(cdf.float(), torch.sigmoid(logits), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        z = points.float().T.reshape(-1, 6, 1, 1).contiguous()  # each point as a batch item
        z_hat, likelihoods = ours(z, training=False)
    z_hat = z_hat.reshape(-1, 6).T.double()
    mass = ours.cdf(z_hat + 0.5) - ours.cdf(z_hat - 0.5)
    torch.testing.assert_close(likelihoods.reshape(-1, 6).T.double(), mass.clamp_min(1e-9), rtol=1e-4, atol=1e-7)


def test_lower_bound_passes_gradients_that_push_up() -> None:
    bound = EntropyBottleneck(1).likelihood_lower_bound
    x = torch.tensor([1e-12, 0.5], requires_grad=True)
    bounded = bound(x)
    assert torch.equal(bounded.detach(), torch.tensor([1e-9, 0.5]))
    (-bounded).sum().backward()  # gradient -1 pushes x up: passes through even below the bound
    assert torch.equal(x.grad, torch.tensor([-1.0, -1.0]))
    x.grad = None
    bound(x).sum().backward()  # pushing down below the bound is blocked
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_lower_bound_compares_in_the_inputs_dtype(dtype: torch.dtype) -> None:
    x = torch.tensor([1e-12, 0.05, 0.5], dtype=dtype, requires_grad=True)
    ours, theirs = LowerBound(0.11), CompressaiLowerBound(0.11)
    bounded = ours(x)
    assert bounded.dtype == dtype
    assert torch.equal(bounded, torch.max(x, torch.tensor([0.11]).to(dtype)))
    if dtype != torch.bfloat16:  # the same as CompressAI's; it promotes half precision to float32
        assert torch.equal(bounded, theirs(x))
    else:
        assert theirs(x).dtype == torch.float32


def test_gaussian_likelihoods_are_compressais_bit_for_bit() -> None:
    torch.manual_seed(2)
    y = torch.randn(2, 5, 6, 6) * 4
    scales = torch.rand(2, 5, 6, 6) * 5
    scales[0, 0] = 0.01  # below the 0.11 bound
    means = torch.randn(2, 5, 6, 6)
    ours = GaussianConditional()
    theirs = CompressaiGaussian(None)
    y_hat, likelihoods = ours(y, scales, means, training=False)
    their_hat, their_likelihoods = theirs(y, scales, means=means, training=False)
    assert torch.equal(y_hat, torch.round(y - means) + means)
    assert torch.equal(y_hat, their_hat) and torch.equal(likelihoods, their_likelihoods)
    assert torch.equal(ours.likelihood(y_hat, scales, means), likelihoods)


def test_gaussian_training_noise() -> None:
    y = torch.zeros(1, 2, 4, 4)
    y_hat, likelihoods = GaussianConditional()(y, torch.ones_like(y), torch.zeros_like(y), training=True)
    assert 0 < y_hat.abs().max() <= 0.5
    assert likelihoods.min() >= LIKELIHOOD_BOUND


@pytest.mark.parametrize("module", [EntropyBottleneck(3), GaussianConditional()], ids=["factorized", "gaussian"])
def test_filled_cdf_tables_load(module: torch.nn.Module) -> None:
    state = module.state_dict()
    state["_offset"] = torch.arange(3, dtype=torch.int32)
    state["_quantized_cdf"] = torch.ones(3, 40, dtype=torch.int32)
    state["_cdf_length"] = torch.full((3,), 40, dtype=torch.int32)
    if "scale_table" in state:
        state["scale_table"] = torch.linspace(0.11, 256, 64)
    module.load_state_dict(state)
    assert module._quantized_cdf.shape == (3, 40) and module._quantized_cdf.dtype == torch.int32
    assert torch.equal(module._offset, torch.arange(3, dtype=torch.int32))


def test_compressais_update_runs() -> None:
    """CompressAI's own CDFs (not used by fcc's coder) build from the overridden likelihood."""
    ours, _ = _trained_looking_pair()
    assert ours.update(force=True)
    assert ours._quantized_cdf.shape[0] == 6 and ours._offset.shape == (6,)
