import math

import pytest
import torch

from forensiccodec.train.rate_distortion import (
    QUALITY_LAMBDAS,
    RateDistortionLoss,
    bits_per_pixel,
    psnr_from_mse,
)


def test_bpp_counts_all_latents_over_image_pixels():
    # 2 images of 8x4 pixels; y and z likelihoods of 1/2 and 1/4 -> 1 and 2 bits each.
    likelihoods = {"y": torch.full((2, 3, 2, 1), 0.5), "z": torch.full((2, 1, 1, 1), 0.25)}
    bpp = bits_per_pixel(likelihoods, num_pixels=2 * 8 * 4)
    assert bpp.item() == pytest.approx((12 * 1 + 2 * 2) / 64)


def test_loss_is_lambda_scaled_mse_plus_bpp():
    target = torch.zeros(1, 3, 4, 4)
    x_hat = torch.full((1, 3, 4, 4), 0.1)
    output = {"x_hat": x_hat, "likelihoods": {"y": torch.full((1, 2, 1, 1), 0.5), "z": torch.ones(1, 1, 1, 1)}}
    result = RateDistortionLoss(QUALITY_LAMBDAS[3])(output, target)
    assert result["mse"].item() == pytest.approx(0.01)
    assert result["bpp"].item() == pytest.approx(2 / 16)
    assert result["loss"].item() == pytest.approx(0.0067 * 255**2 * 0.01 + 2 / 16, rel=1e-5)
    assert result["psnr"].item() == pytest.approx(20.0, rel=1e-5)


def test_loss_has_gradients_towards_the_target():
    x_hat = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    output = {"x_hat": x_hat, "likelihoods": {"y": torch.full((1, 1, 1, 1), 0.5)}}
    RateDistortionLoss(0.01)(output, torch.zeros(1, 3, 4, 4))["loss"].backward()
    assert (x_hat.grad > 0).all()


def test_quality_lambdas_increase_and_psnr_edge_cases():
    values = [QUALITY_LAMBDAS[q] for q in sorted(QUALITY_LAMBDAS)]
    assert values == sorted(values) and len(values) == 4
    assert psnr_from_mse(0.0) == math.inf
    with pytest.raises(ValueError):
        RateDistortionLoss(0.0)
