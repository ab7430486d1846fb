"""Detector training: the random-patch dataset, the loss, and tiny end-to-end runs with resume
and periodic validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from forensiccodec.detector import patches as P
from forensiccodec.train.detector_training import (
    RandomPatchDataset,
    patch_classification_loss,
    train_detector,
)
from forensiccodec.detector.weights import find_detector_entry, load_detector
from forensiccodec.errors import UsageError
from forensiccodec.train.loop import LOG_NAME, TrainingError
from forensiccodec.zoo import Manifest

torch.set_num_threads(2)


def _image(path: Path, height: int, width: int, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _layout(root: Path) -> Path:
    for split, count in (("train", 3), ("val", 1)):
        for label in ("real", "synthetic"):
            for index in range(count):
                _image(root / split / label / f"{index}.png", 96, 112, hash((split, label, index)) % 1000)
    return root


def _denormalise(patch: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(P.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(P.IMAGENET_STD)[:, None, None]
    return patch * std + mean


def test_patches_come_from_the_image_flipped_at_most(tmp_path: Path) -> None:
    path = _image(tmp_path / "a.png", 300, 280, 1)
    dataset = RandomPatchDataset([(path, 1)], patches_per_image=5)
    assert len(dataset) == 5
    source = torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float() / 255
    for index in range(5):
        patch, label = dataset[index]
        assert patch.shape == (3, 96, 96) and label.item() == 1 and label.dtype == torch.int64
        pixels = _denormalise(patch)
        variants = [pixels, pixels.flip(1), pixels.flip(2), pixels.flip(1).flip(2)]
        assert any(_is_window_of(source, v) for v in variants), "a patch must be an unresized (maybe flipped) window"


def _is_window_of(source: torch.Tensor, patch: torch.Tensor) -> bool:
    # Noise pixels are (almost) unique: look for the corner pixel, then compare the window.
    corner = (source - patch[:, :1, :1]).abs().amax(0) < 1e-5
    for top, left in corner.nonzero().tolist():
        window = source[:, top:top + 96, left:left + 96]
        if window.shape == patch.shape and torch.allclose(window, patch, atol=1e-5):
            return True
    return False


def test_patches_are_deterministic_per_epoch(tmp_path: Path) -> None:
    path = _image(tmp_path / "a.png", 200, 200, 2)
    dataset = RandomPatchDataset([(path, 0)], patches_per_image=2, seed=5)
    first = dataset[1][0]
    assert torch.equal(first, dataset[1][0])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[1][0])


def test_small_images_are_upsampled_like_the_detector_does(tmp_path: Path) -> None:
    path = _image(tmp_path / "small.png", 100, 150, 3)
    dataset = RandomPatchDataset([(path, 0)])
    assert dataset.images[0].shape == (*P.analysed_size(100, 150), 3)


def test_jpeg_augmentation_changes_pixels_of_both_classes(tmp_path: Path) -> None:
    path = _image(tmp_path / "a.png", 256, 256, 4)
    plain = RandomPatchDataset([(path, 0), (path, 1)], patches_per_image=1)
    jpeg = RandomPatchDataset([(path, 0), (path, 1)], patches_per_image=1, jpeg_probability=1.0)
    for index in range(2):
        patch, label = jpeg[index]
        assert patch.shape == (3, 96, 96) and label.item() == index
        # JPEG of noise at q85-100 is far from lossless; an unprocessed crop would match exactly
        assert not torch.allclose(patch, plain[index][0])
    with pytest.raises(TrainingError):
        RandomPatchDataset([(path, 0)], jpeg_probability=1.5)


def test_blur_augmentation_smooths_both_classes_and_leaves_runs_without_it_unchanged(tmp_path: Path) -> None:
    path = _image(tmp_path / "a.png", 256, 256, 5)
    samples = [(path, 0), (path, 1)]
    plain = RandomPatchDataset(samples, patches_per_image=4, jpeg_probability=0.3, seed=2)
    off = RandomPatchDataset(samples, patches_per_image=4, jpeg_probability=0.3, blur_probability=0.0, seed=2)
    assert all(torch.equal(plain[i][0], off[i][0]) for i in range(8))  # the same data as before blur existed
    blurred = RandomPatchDataset(samples, patches_per_image=1, blur_probability=1.0, blur_sigma=(1.5, 1.5))
    unblurred = RandomPatchDataset(samples, patches_per_image=1)

    def step(patch: torch.Tensor) -> torch.Tensor:
        return (patch[:, :, 1:] - patch[:, :, :-1]).abs().mean()

    for index in range(2):
        patch, label = blurred[index]
        assert label.item() == index
        assert step(patch) < 0.5 * step(unblurred[index][0])  # a blur of noise smooths it
    with pytest.raises(TrainingError):
        RandomPatchDataset(samples, blur_probability=-0.1)


def test_loss_is_cross_entropy_with_accuracy() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]], requires_grad=True)
    labels = torch.tensor([0, 0])
    out = patch_classification_loss(logits, (torch.zeros(2), labels))
    assert out["accuracy"].item() == 0.5
    assert out["loss"].item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item())


def test_train_validate_export_and_resume(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    options = {"config_name": "tiny", "batch_size": 4, "patches_per_image": 2, "checkpoint_dir": tmp_path / "run",
               "weights_dir": tmp_path / "weights", "val_patches": 4, "val_top": 3, "progress": False,
               "device": "cpu"}
    summary = train_detector(data, steps=2, **options)
    assert summary["steps"] == 2 and summary["exported"] == "detector-tiny.safetensors"
    assert summary["validation"]["n_real"] == 1 and summary["validation"]["n_patches"] == 4
    assert 0.0 <= summary["validation"]["accuracy"] <= 1.0
    assert "loss" in summary["final_metrics"] and "accuracy" in summary["final_metrics"]
    first = load_detector("tiny", tmp_path / "weights")
    resumed = train_detector(data, steps=3, resume=True, overwrite=True, **options)
    assert resumed["steps"] == 3
    second = load_detector("tiny", tmp_path / "weights")
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_resume_replaces_its_last_stints_export_without_force(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    options = {"config_name": "tiny", "batch_size": 4, "patches_per_image": 2, "checkpoint_dir": tmp_path / "run",
               "weights_dir": tmp_path / "weights", "val_patches": 4, "val_top": 3, "progress": False,
               "device": "cpu"}
    stint = train_detector(data, steps=10_000, max_seconds=0.5, **options)  # the budget stops it, registered
    assert stint["stopped_early"] and _training_record(tmp_path / "weights")["steps"] == stint["steps"]
    with pytest.raises(UsageError, match="already registered"):  # a new run may not replace it
        train_detector(data, steps=1, **{**options, "checkpoint_dir": tmp_path / "other"})
    resumed = train_detector(data, steps=stint["steps"] + 1, resume=True, **options)
    assert not resumed["stopped_early"] and _training_record(tmp_path / "weights")["steps"] == stint["steps"] + 1
    with pytest.raises(UsageError, match="already registered"):  # a finished run's set needs --force
        train_detector(data, steps=stint["steps"] + 2, resume=True, **options)


def test_init_from_trained_weights_checks_the_configuration(tmp_path: Path) -> None:
    from forensiccodec.detector import build_backbone
    from forensiccodec.detector.weights import export_detector

    data = _layout(tmp_path / "data")
    torch.manual_seed(3)
    start = build_backbone("tiny")
    entry = export_detector(start, config_name="tiny", weights_dir=tmp_path / "init")
    summary = train_detector(data, "tiny", steps=1, batch_size=4, init_from=tmp_path / "init" / entry.file,
                             lr=1e-12, validate=False, export=False, checkpoint_dir=tmp_path / "run",
                             progress=False, device="cpu")
    assert summary["init_from"].endswith(entry.file)
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    # a vanishing learning rate leaves the convolution weights where the initial file put them
    assert torch.allclose(trained["classifier.weight"], start.state_dict()["classifier.weight"], atol=1e-6)
    with pytest.raises(TrainingError, match="not small"):
        train_detector(data, "small", steps=1, init_from=tmp_path / "init" / entry.file, export=False,
                       checkpoint_dir=tmp_path / "run2", progress=False, device="cpu")


def _training_record(weights_dir: Path) -> dict:
    return find_detector_entry(Manifest.load(weights_dir), "tiny").extra["training"]


def test_validation_every_n_steps_survives_a_resume_and_is_exported(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    options = {"config_name": "tiny", "batch_size": 4, "patches_per_image": 2, "checkpoint_dir": tmp_path / "run",
               "weights_dir": tmp_path / "weights", "val_patches": 4, "val_top": 3, "progress": False,
               "device": "cpu", "validate_every": 2, "overwrite": True}
    first = train_detector(data, steps=3, **options)
    assert [record["step"] for record in first["validation_history"]] == [2, 3]  # every 2, and the end
    assert _training_record(tmp_path / "weights")["validation_history"] == first["validation_history"]
    resumed = train_detector(data, steps=4, resume=True, **options)
    history = resumed["validation_history"]
    assert [record["step"] for record in history] == [2, 3, 4]
    assert set(history[-1]) == {"step", "accuracy", "auc", "real_accuracy", "synthetic_accuracy", "seconds"}
    final = resumed["validation"]  # the end-of-run evaluation is the last of the history
    assert final["n_patches"] == 4 and final["top_m"] == 3 and final["n_real"] == 1
    assert history[-1]["accuracy"] == final["accuracy"] and history[-1]["auc"] == final["auc"]
    best = resumed["best_validation"]
    assert best in history and best["auc"] == max(record["auc"] for record in history)
    record = _training_record(tmp_path / "weights")
    assert record["validation_history"] == history and record["validate_every"] == 2
    logged = [json.loads(line) for line in (tmp_path / "run" / LOG_NAME).read_text().splitlines()]
    assert [line["step"] for line in logged if "validation" in line] == [2, 3, 4]
    # resuming a finished run validates nothing new but still reports the final weights
    again = train_detector(data, steps=4, resume=True, **options)
    assert [r["step"] for r in again["validation_history"]] == [2, 3, 4]
    assert again["validation"]["accuracy"] == final["accuracy"]


def test_validate_every_needs_validation(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    with pytest.raises(TrainingError, match="validate_every"):
        train_detector(data, "tiny", steps=1, validate=False, validate_every=1, export=False, device="cpu")


def test_validate_every_on_the_command_line(tmp_path: Path) -> None:
    from forensiccodec.cli import main

    data = _layout(tmp_path / "data")
    common = ["train-detector", "--data", str(data), "--config", "tiny", "--steps", "2", "--batch-size", "4",
              "--device", "cpu", "--val-patches", "4", "--val-top", "3", "--validate-every", "1"]
    result = CliRunner().invoke(main, [*common, "--checkpoint-dir", str(tmp_path / "a"),
                                       "--weights-dir", str(tmp_path / "weights")])
    assert result.exit_code == 0, result.output
    assert "best validation at step" in result.output and "(2 validations)" in result.output
    assert len(_training_record(tmp_path / "weights")["validation_history"]) == 2
    result = CliRunner().invoke(main, [*common, "--no-export", "--checkpoint-dir", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "registered" not in result.output
    log = [json.loads(line) for line in (tmp_path / "b" / LOG_NAME).read_text().splitlines()]
    assert [line["step"] for line in log if "validation" in line] == [1, 2]
    result = CliRunner().invoke(main, [*common[:-1], "0", "--checkpoint-dir", str(tmp_path / "c")])
    assert result.exit_code == 2 and "--validate-every" in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1


def test_validating_does_not_change_the_trained_weights(tmp_path: Path) -> None:
    data = _layout(tmp_path / "data")
    options = {"config_name": "tiny", "steps": 2, "batch_size": 4, "patches_per_image": 2, "val_patches": 4,
               "val_top": 3, "progress": False, "device": "cpu", "export": False}
    train_detector(data, checkpoint_dir=tmp_path / "plain", validate=False, **options)
    train_detector(data, checkpoint_dir=tmp_path / "validated", validate_every=1, **options)
    plain = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["model"]
    validated = torch.load(tmp_path / "validated" / "last.pt", weights_only=True)["model"]
    for name, value in plain.items():
        assert torch.equal(value, validated[name]), name
