"""PatchDetector: deterministic image scores, the training interface, the heatmap."""

import pytest
import torch

from forensiccodec.detector import DetectionResult, PatchDetector
from forensiccodec.detector import patches as P
from forensiccodec.detector.model import top_for, top_patch_count
from forensiccodec.errors import ImageError


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    return PatchDetector("tiny", n_patches=40, top_m=30, chunk_size=16).eval()


def test_same_image_same_score_and_consistent_aggregation(detector):
    image = torch.rand(3, 260, 300)
    first = detector.score_image(image)
    second = detector.score_image(image[None])
    assert isinstance(first, DetectionResult)
    assert first.score == second.score
    assert first.patch_scores.shape == (40,) and first.positions.shape == (40, 2)
    assert first.patches_used == 30
    assert first.score == pytest.approx(torch.topk(first.patch_scores, 30).values.mean().item(), abs=1e-6)
    assert first.label == ("synthetic" if first.score > 0 else "real")


def test_patch_scores_are_the_synthetic_logit_of_each_patch(detector):
    image = torch.rand(3, 256, 256)
    result = detector.score_image(image)
    patches = P.normalize(P.extract_patches(image, result.positions[:3]))
    with torch.no_grad():
        logits = detector.backbone(patches)
    assert torch.allclose(result.patch_scores[:3], logits[:, 1], atol=1e-5)


def test_chunking_does_not_change_the_scores(detector):
    image = torch.rand(3, 256, 280)
    whole = PatchDetector(detector.backbone, n_patches=40, top_m=30, chunk_size=40).score_image(image)
    chunked = detector.score_image(image)
    assert torch.allclose(whole.patch_scores, chunked.patch_scores, atol=1e-5)


def test_small_images_are_analysed_at_256(detector):
    result = detector.score_image(torch.rand(3, 100, 150))
    assert result.analysed_size == (256, 384)
    assert result.positions[:, 0].max() <= 256 - 96
    assert result.positions[:, 1].max() <= 384 - 96


def test_non_rgb_input_is_refused(detector):
    with pytest.raises(ImageError):
        detector.score_image(torch.rand(256, 256))


def test_score_batch_gives_gradients_to_pixels_and_features_per_patch(detector):
    images = torch.rand(2, 3, 256, 256, requires_grad=True)
    generator = P.make_generator(3)
    logits, features = detector.score_batch(images, k_patches=5, generator=generator)
    assert logits.shape == (2, 2)
    assert all(f.shape[0] == 10 for f in features)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_score_batch_at_shared_positions_compares_the_same_patches(detector):
    images = torch.rand(2, 3, 256, 256)
    positions = detector.sample_batch_positions(images, 4, P.make_generator(0))
    _, original = detector.score_batch(images, positions=positions)
    _, again = detector.score_batch(images.clone(), positions=positions)
    assert all(torch.allclose(a, b) for a, b in zip(original, again))
    first_logits, _ = detector.score_batch(images, positions=positions)
    # Image logits are the mean of that image's patch logits.
    patches = P.normalize(P.extract_patches(images[0], positions[0]))
    with torch.no_grad():
        expected = detector.backbone(patches).mean(dim=0)
    assert torch.allclose(first_logits[0].detach(), expected, atol=1e-5)


def test_heatmap_paints_synthetic_red_and_real_blue():
    image = torch.full((3, 200, 200), 0.5)
    result = DetectionResult(
        score=0.0, label="real", patch_scores=torch.tensor([2.0, -2.0]),
        positions=torch.tensor([[0, 0], [160, 160]]), patches_used=2, analysed_size=(256, 256),
    )
    picture = PatchDetector("tiny").heatmap(image, result)
    assert picture.size == (200, 200)
    red, _, blue = picture.getpixel((5, 5))
    assert red > 200 and blue < 100
    red, _, blue = picture.getpixel((195, 195))
    assert blue > 200 and red < 100
    assert picture.getpixel((100, 5)) == (128, 128, 128)  # covered by no patch


def test_top_aggregate_averages_the_most_synthetic_patches(detector):
    images = torch.rand(2, 3, 256, 256, requires_grad=True)
    positions = detector.sample_batch_positions(images, 16, P.make_generator(1))
    logits, _ = detector.score_batch(images, positions=positions, aggregate="top")
    patches = P.normalize(P.extract_patches(images[1].detach(), positions[1]))
    with torch.no_grad():
        patch_logits = detector.backbone(patches)
    assert top_patch_count(16) == 12  # the share of inference: 600 of 800
    chosen = torch.topk(patch_logits[:, 1], 12).indices
    assert torch.allclose(logits[1].detach(), patch_logits[chosen].mean(dim=0), atol=1e-5)
    assert logits[1, 1] > patch_logits[:, 1].mean()  # unless all patches tie, dropping the lowest raises the score
    logits[:, 1].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_unknown_aggregate_is_refused(detector):
    with pytest.raises(ValueError, match="aggregate"):
        detector.score_batch(torch.rand(1, 3, 256, 256), k_patches=2, aggregate="max")
    assert top_patch_count(1) == 1


def test_one_top_rule_keeps_the_share_of_the_defaults(detector):
    assert [top_for(n) for n in (800, 200, 100, 8, 2, 1, 2000)] == [600, 150, 75, 6, 2, 1, 1500]
    assert top_for(10, n_default=40, top_default=40) == 10  # never more than the patches drawn
    assert all(top_patch_count(k) == top_for(k) for k in range(1, 100))
    assert detector.top_for(8) == 6 and detector.top_for(40) == 30  # the detector's own 30 of 40
    assert detector.config_name == "tiny" and PatchDetector(detector.backbone).config_name == "tiny"
    with pytest.raises(ValueError):
        top_for(0)
