"""FactorizedPrior and GaussianConditional against compressai's own entropy models."""

import pytest
import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.entropy_models import GaussianConditional as CompressaiGaussian

from forensiccodec.codec.entropy_models import (
    LIKELIHOOD_BOUND,
    FactorizedPrior,
    GaussianConditional,
    rename_compressai_entropy_keys,
)

torch.set_num_threads(2)

LEGACY_KEYS = [
    *(f"_{kind}{i}" for i in range(4) for kind in ("matrix", "bias", "factor")),
    "_matrix4",
    "_bias4",
    "quantiles",
    "_offset",
    "_quantized_cdf",
    "_cdf_length",
    "target",
    "likelihood_lower_bound.bound",
]


def _trained_looking_pair(channels: int = 6) -> tuple[FactorizedPrior, EntropyBottleneck]:
    """A compressai EntropyBottleneck with perturbed weights, and ours loaded from it."""
    torch.manual_seed(1)
    theirs = EntropyBottleneck(channels)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    ours = FactorizedPrior(channels)
    ours.load_state_dict(rename_compressai_entropy_keys(theirs.state_dict()))
    return ours.eval(), theirs.eval()


def test_factorized_prior_keeps_legacy_names_and_shapes() -> None:
    state = FactorizedPrior(5).state_dict()
    assert list(state) == LEGACY_KEYS
    assert state["_matrix0"].shape == (5, 3, 1)
    assert state["_matrix4"].shape == (5, 1, 3)
    assert state["quantiles"].shape == (5, 1, 3)
    assert state["_offset"].dtype == torch.int32 and state["_offset"].shape == (0,)
    assert torch.equal(state["likelihood_lower_bound.bound"], torch.tensor([1e-9]))


def test_factorized_likelihoods_match_compressai() -> None:
    ours, theirs = _trained_looking_pair()
    z = torch.randn(2, 6, 5, 7) * 3
    with torch.no_grad():
        z_hat, likelihoods = ours(z, training=False)
        their_hat, their_likelihoods = theirs(z, training=False)
    torch.testing.assert_close(z_hat, their_hat, rtol=0, atol=1e-6)
    torch.testing.assert_close(likelihoods, their_likelihoods, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(ours.aux_loss(), theirs.loss(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.medians(), theirs.quantiles[:, 0, 1])


def test_factorized_rounds_around_the_medians() -> None:
    prior = FactorizedPrior(3).eval()
    with torch.no_grad():
        prior.quantiles[:, 0, 1] = torch.tensor([0.25, -0.4, 0.0])
    z = torch.randn(1, 3, 4, 4) * 4
    z_hat, _ = prior(z, training=False)
    medians = prior.medians().detach().view(1, 3, 1, 1)
    torch.testing.assert_close(z_hat, torch.round(z - medians) + medians)


def test_training_adds_bounded_noise_and_has_gradients() -> None:
    prior = FactorizedPrior(4).train()
    z = torch.zeros(2, 4, 8, 8, requires_grad=True)
    z_hat, likelihoods = prior(z, training=True)
    assert 0 < (z_hat - z).abs().max() <= 0.5
    assert likelihoods.min() >= LIKELIHOOD_BOUND
    (-torch.log2(likelihoods).sum()).backward()
    assert z.grad is not None and prior._matrix0.grad is not None


def test_cdf_is_the_integral_of_the_likelihoods_in_float64() -> None:
    ours, theirs = _trained_looking_pair()
    points = torch.linspace(-6, 6, 25, dtype=torch.float64).repeat(6, 1)
    cdf = ours.cdf(points)
    assert cdf.dtype == torch.float64 and cdf.shape == (6, 25)
    assert torch.all(cdf[:, 1:] >= cdf[:, :-1])
    with torch.no_grad():
        logits = theirs._logits_cumulative(points.float().unsqueeze(1), stop_gradient=True).squeeze(1)
    torch.testing.assert_close(cdf.float(), torch.sigmoid(logits), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        z = points.float().T.reshape(-1, 6, 1, 1).contiguous()  # each point as a batch item
        z_hat, likelihoods = ours(z, training=False)
    z_hat = z_hat.reshape(-1, 6).T.double()
    mass = ours.cdf(z_hat + 0.5) - ours.cdf(z_hat - 0.5)
    torch.testing.assert_close(likelihoods.reshape(-1, 6).T.double(), mass.clamp_min(1e-9), rtol=1e-4, atol=1e-7)


def test_lower_bound_passes_gradients_that_push_up() -> None:
    prior = FactorizedPrior(1)
    x = torch.tensor([1e-12, 0.5], requires_grad=True)
    bounded = prior.likelihood_lower_bound(x)
    assert torch.equal(bounded.detach(), torch.tensor([1e-9, 0.5]))
    (-bounded).sum().backward()  # gradient -1 pushes x up: passes through even below the bound
    assert torch.equal(x.grad, torch.tensor([-1.0, -1.0]))
    x.grad = None
    prior.likelihood_lower_bound(x).sum().backward()  # pushing down below the bound is blocked
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0]))


def test_gaussian_conditional_buffers() -> None:
    state = GaussianConditional().state_dict()
    assert list(state) == [
        "_offset",
        "_quantized_cdf",
        "_cdf_length",
        "scale_table",
        "scale_bound",
        "likelihood_lower_bound.bound",
        "lower_bound_scale.bound",
    ]
    assert torch.equal(state["scale_bound"], torch.tensor([0.11]))
    assert torch.equal(state["lower_bound_scale.bound"], torch.tensor([0.11]))
    assert state["scale_table"].shape == (0,)


def test_gaussian_likelihoods_match_compressai() -> None:
    torch.manual_seed(2)
    y = torch.randn(2, 5, 6, 6) * 4
    scales = torch.rand(2, 5, 6, 6) * 5
    scales[0, 0] = 0.01  # below the 0.11 bound
    means = torch.randn(2, 5, 6, 6)
    ours = GaussianConditional()
    theirs = CompressaiGaussian(None)
    y_hat, likelihoods = ours(y, scales, means, training=False)
    their_hat, their_likelihoods = theirs(y, scales, means=means, training=False)
    torch.testing.assert_close(y_hat, torch.round(y - means) + means)
    torch.testing.assert_close(y_hat, their_hat)
    torch.testing.assert_close(likelihoods, their_likelihoods, rtol=1e-5, atol=1e-9)


def test_gaussian_training_noise() -> None:
    y = torch.zeros(1, 2, 4, 4)
    y_hat, likelihoods = GaussianConditional()(y, torch.ones_like(y), torch.zeros_like(y), training=True)
    assert 0 < y_hat.abs().max() <= 0.5
    assert likelihoods.min() >= LIKELIHOOD_BOUND


@pytest.mark.parametrize("module", [FactorizedPrior(3), GaussianConditional()], ids=["factorized", "gaussian"])
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


def test_rename_maps_new_compressai_names_only() -> None:
    renamed = rename_compressai_entropy_keys(
        {"entropy_bottleneck.matrices.0": 1, "entropy_bottleneck.biases.4": 2, "entropy_bottleneck.factors.3": 3,
         "g_a0.weight": 4}
    )
    assert list(renamed) == ["entropy_bottleneck._matrix0", "entropy_bottleneck._bias4",
                             "entropy_bottleneck._factor3", "g_a0.weight"]
