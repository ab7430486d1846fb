"""Patch sampling, extraction and aggregation of the detector, checked by hand."""

import pytest
import torch

from forensiccodec.detector import patches as P
from forensiccodec.errors import ImageError


def test_positions_are_deterministic_for_a_seed_and_differ_across_seeds():
    first = P.sample_positions(300, 400, 800, generator=P.make_generator(0))
    again = P.sample_positions(300, 400, 800, generator=P.make_generator(0))
    other = P.sample_positions(300, 400, 800, generator=P.make_generator(1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_positions_stay_inside_the_image_and_reach_both_edges():
    positions = P.sample_positions(120, 200, 5000, patch_size=96, generator=P.make_generator(0))
    assert positions.shape == (5000, 2)
    assert positions[:, 0].min() == 0 and positions[:, 0].max() == 120 - 96
    assert positions[:, 1].min() == 0 and positions[:, 1].max() == 200 - 96


def test_batched_positions_have_a_batch_dimension():
    positions = P.sample_positions(256, 256, 7, generator=P.make_generator(0), batch=3)
    assert positions.shape == (3, 7, 2)


def test_extracted_patches_match_slicing():
    image = torch.rand(3, 130, 170)
    positions = torch.tensor([[0, 0], [34, 74], [10, 33]])
    patches = P.extract_patches(image, positions, patch_size=96)
    assert patches.shape == (3, 3, 96, 96)
    for patch, (top, left) in zip(patches, positions.tolist()):
        assert torch.equal(patch, image[:, top:top + 96, left:left + 96])


def test_batched_extraction_matches_slicing_and_passes_gradients():
    images = torch.rand(2, 3, 100, 110, requires_grad=True)
    positions = torch.tensor([[[0, 0], [4, 14]], [[2, 3], [1, 0]]])
    patches = P.extract_patches(images, positions, patch_size=96)
    assert patches.shape == (2, 2, 3, 96, 96)
    assert torch.equal(patches[1, 0], images[1, :, 2:98, 3:99])
    patches.sum().backward()
    assert images.grad is not None and images.grad.sum() > 0


def test_short_side_is_upsampled_to_256_keeping_the_aspect_ratio():
    assert P.analysed_size(128, 200) == (256, 400)
    assert P.analysed_size(300, 100) == (768, 256)
    assert P.analysed_size(256, 999) == (256, 999)  # large enough: untouched
    prepared = P.prepare_image(torch.rand(1, 3, 128, 200))
    assert prepared.shape == (1, 3, 256, 400)


def test_large_images_are_not_resampled():
    image = torch.rand(1, 3, 300, 260)
    assert P.prepare_image(image) is image


def test_degenerate_images_are_refused_with_an_image_error():
    with pytest.raises(ImageError):
        P.analysed_size(1, 100_000_000)
    with pytest.raises(ImageError):
        P.sample_positions(50, 300, 10, patch_size=96)


def test_top_m_mean_on_a_hand_built_example():
    scores = torch.tensor([-3.0, 5.0, 1.0, -1.0, 2.0, 0.5, -0.5, 4.0])
    score, used = P.aggregate_top_mean(scores, top_m=6)
    # Top six: 5, 4, 2, 1, 0.5, -0.5 -> 12 / 6
    assert used == 6
    assert score == pytest.approx(2.0)
    assert P.aggregate_top_mean(scores, top_m=100) == (pytest.approx(1.0), 8)


def test_label_follows_the_sign_of_the_score():
    assert P.label_for(0.1) == "synthetic"
    assert P.label_for(-0.1) == "real"
    assert P.label_for(0.0) == "real"


def test_normalize_uses_imagenet_statistics():
    pixels = torch.tensor(P.IMAGENET_MEAN)[:, None, None].expand(3, 2, 2)
    assert torch.allclose(P.normalize(pixels), torch.zeros(3, 2, 2), atol=1e-7)
