import numpy as np
import pytest
import torch

from forensiccodec.data.generators import (
    UPSAMPLING_DESIGNS,
    GeneratorConfig,
    TrainingConfig,
    UpsamplingAutoencoder,
    reconstruct,
    reconstruction_loss,
    sample_crops,
    train_autoencoder,
    train_generator,
)
from forensiccodec.errors import UsageError

TINY = GeneratorConfig(width=4, latent_channels=4, stages=2)


@pytest.mark.parametrize("design", list(UPSAMPLING_DESIGNS))
@pytest.mark.parametrize("stages", [2, 3])
def test_every_design_keeps_the_input_size(design, stages):
    model = UpsamplingAutoencoder(design, GeneratorConfig(width=4, latent_channels=4, stages=stages))
    x = torch.rand(2, 3, 48, 32)
    assert model(x).shape == x.shape


def test_designs_differ_in_their_upsampling_layers():
    kinds = {d: {type(m).__name__ for m in UpsamplingAutoencoder(d, TINY).decoder.modules()} for d in UPSAMPLING_DESIGNS}
    assert "ConvTranspose2d" in kinds["transposed"]
    assert "PixelShuffle" in kinds["pixelshuffle"]
    modes = {d: {m.mode for m in UpsamplingAutoencoder(d, TINY).modules() if isinstance(m, torch.nn.Upsample)}
             for d in ("nearest", "bilinear")}
    assert modes == {"nearest": {"nearest"}, "bilinear": {"bilinear"}}
    assert all("ConvTranspose2d" not in kinds[d] for d in ("nearest", "bilinear", "pixelshuffle"))


def test_bad_design_and_bad_size_are_usage_errors():
    with pytest.raises(UsageError, match="unknown upsampling design"):
        UpsamplingAutoencoder("wavelet", TINY)
    with pytest.raises(UsageError, match="multiples of 4"):
        UpsamplingAutoencoder("nearest", TINY)(torch.rand(1, 3, 30, 32))


@pytest.mark.parametrize("design", list(UPSAMPLING_DESIGNS))
def test_loss_decreases_on_a_fixed_batch(design):
    torch.manual_seed(0)
    model = UpsamplingAutoencoder(design, TINY)
    # Bright smooth gradients: far from the mid-grey start, so a working model must move.
    ramp = torch.linspace(0, 1, 16)
    batch = 0.75 + 0.2 * torch.stack([ramp[None, :] * ramp[:, None], ramp[None, :].expand(16, 16), ramp[:, None].expand(16, 16)])
    batch = torch.stack([batch, batch.flip(-1)])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = reconstruction_loss(model(batch), batch, 0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40, 36, 3), dtype=np.uint8), rng.integers(0, 256, (33, 50, 3), dtype=np.uint8)]


def test_training_is_deterministic_and_reports_progress():
    config = TrainingConfig(steps=3, batch_size=2, crop_sizes=(16, 32, 64))  # 64 does not fit
    weights, steps = [], []
    for _ in range(2):
        torch.manual_seed(3)
        model = UpsamplingAutoencoder("bilinear", TINY)
        report = train_autoencoder(model, _images(), config, seed=5, on_step=lambda s, loss: steps.append(s))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    assert steps == [0, 1, 2, 0, 1, 2]
    assert report.steps == 3 and report.design == "bilinear" and report.parameters == weights[0].numel()
    assert not model.training


def test_training_refuses_crops_that_fit_no_image():
    with pytest.raises(UsageError, match="no crop size"):
        train_autoencoder(UpsamplingAutoencoder("nearest", TINY), _images(), TrainingConfig(crop_sizes=(64,)), seed=0)


def test_training_takes_each_crop_size_from_the_images_that_fit_it():
    rng = np.random.default_rng(0)
    small, large = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8), rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    seen = []
    model = UpsamplingAutoencoder("nearest", TINY)
    report = train_generator(model, [small, large], TrainingConfig(steps=3, batch_size=2, crop_sizes=(32,)), seed=0,
                             factor=4, name="n", loss=lambda batch: (seen.append(batch.shape), model(batch).mean())[1])
    assert report.steps == 3 and all(shape[-1] == 32 for shape in seen)


def test_sample_crops_and_reconstruct_shapes():
    crops = sample_crops(_images(), np.random.default_rng(1), 3, 16)
    assert crops.shape == (3, 3, 16, 16) and 0 <= float(crops.min()) and float(crops.max()) <= 1
    output = reconstruct(UpsamplingAutoencoder("pixelshuffle", TINY).eval(), _images()[0][:32, :36])
    assert output.shape == (32, 36, 3) and output.dtype == np.uint8
