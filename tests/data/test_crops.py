import numpy as np
import pytest
import torch
from PIL import Image

from forensiccodec.data.crops import DatasetError, RandomCropDataset, list_images


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8), mode="L").save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_list_images_is_sorted_and_filters_by_suffix(folder):
    assert [p.name for p in list_images(folder)] == ["a.png", "b.jpg", "c.png"]


def test_list_images_errors(tmp_path):
    with pytest.raises(DatasetError):
        list_images(tmp_path / "missing")
    with pytest.raises(DatasetError):
        list_images(tmp_path)


def test_crops_have_shape_range_and_are_deterministic(folder):
    dataset = RandomCropDataset(folder, crop_size=24, epoch_length=12, seed=3)
    assert len(dataset) == 12
    crops = [dataset[i] for i in range(12)]
    for crop in crops:
        assert crop.shape == (3, 24, 24) and crop.dtype == torch.float32
        assert 0.0 <= crop.min() and crop.max() <= 1.0
    again = RandomCropDataset(folder, crop_size=24, epoch_length=12, seed=3)
    assert all(torch.equal(crops[i], again[i]) for i in range(12))
    # Different indices (what DDP ranks get) and different seeds give different crops.
    assert not torch.equal(crops[0], crops[3])
    other_seed = RandomCropDataset(folder, crop_size=24, epoch_length=12, seed=4)
    assert any(not torch.equal(crops[i], other_seed[i]) for i in range(12))


def test_set_epoch_draws_new_crops(folder):
    dataset = RandomCropDataset(folder, crop_size=16, epoch_length=6, seed=0)
    first = [dataset[i] for i in range(6)]
    dataset.set_epoch(1)
    assert any(not torch.equal(a, dataset[i]) for i, a in enumerate(first))


def test_crops_come_from_the_image_pixels(tmp_path):
    # A horizontal ramp: every crop row is a contiguous (possibly mirrored) run of the ramp.
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    dataset = RandomCropDataset(tmp_path, crop_size=8, epoch_length=40, seed=1)
    flips = set()
    for i in range(40):
        row = (dataset[i][0, 0] * 255).round().to(torch.int64)
        steps = set((row[1:] - row[:-1]).tolist())
        assert steps in ({1}, {-1})
        flips.add(steps.pop())
    assert flips == {1, -1}  # both orientations occur


def test_small_images_are_upscaled_to_the_crop(folder):
    dataset = RandomCropDataset(folder, crop_size=32)  # b.jpg is 30x20, c.png 30x30
    assert len(dataset) == 3
    assert min(image.shape[0] for image in dataset.images) >= 32
    assert min(image.shape[1] for image in dataset.images) >= 32
    assert dataset[1].shape == (3, 32, 32)


def test_file_list_input_and_bad_files(folder, tmp_path):
    dataset = RandomCropDataset([folder / "a.png"], crop_size=16, seed=0)
    assert len(dataset) == 1
    with pytest.raises(IndexError):
        dataset[1]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError):
        RandomCropDataset([bad], crop_size=16)
    with pytest.raises(DatasetError):
        RandomCropDataset([], crop_size=16)


def test_augmented_crops_rotate_flip_and_downscale_deterministically(tmp_path):
    # A horizontal ramp: a crop's rows ramp (by one level per pixel unless downscaled) or are
    # constant (a 90° rotation turned the ramp vertical).
    ramp = np.tile(np.arange(128, dtype=np.uint8)[None, :, None] * 2, (128, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    dataset = RandomCropDataset(tmp_path, crop_size=16, epoch_length=60, seed=2, augment=True)
    again = RandomCropDataset(tmp_path, crop_size=16, epoch_length=60, seed=2, augment=True)
    orientations, gradients = set(), set()
    for i in range(60):
        crop = dataset[i]
        assert crop.shape == (3, 16, 16) and torch.equal(crop, again[i])
        levels = crop[0] * 255
        along_rows = (levels[:, 1:] - levels[:, :-1]).mean().item()
        along_columns = (levels[1:, :] - levels[:-1, :]).mean().item()
        vertical = abs(along_columns) > abs(along_rows)
        orientations.add((vertical, (along_columns if vertical else along_rows) > 0))
        gradients.add(round(abs(along_columns if vertical else along_rows), 1))
    assert len(orientations) == 4  # the ramp turned every way
    assert 2.0 in gradients and max(gradients) > 2.5  # full scale, and downscaled (steeper) crops
    assert max(gradients) <= 4.0 + 1e-6  # never below half size
