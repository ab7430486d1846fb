"""Training a patch classifier on a real-vs-synthetic folder (``fcc train-detector``).

``DIR/train/{real,synthetic}`` gives the training images, ``DIR/val`` the validation images,
scored at the end (and every ``validate_every`` steps if asked) the way ``fcc detect`` scores
them (top-M mean of random patches, fewer patches for speed). Training
uses the shared loop (:mod:`forensiccodec.train.loop`: Adam, resumable checkpoints, DDP under
torchrun, rich progress) with cross-entropy on single 96x96 patches, label 0 real / 1 synthetic.

Augmentation must not destroy the traces the detector reads, which sit at the highest
frequencies: patches are never resized, only flipped. JPEG is the exception worth making:
real photographs have usually been saved as JPEG at least once, and a detector that has only
seen pristine PNGs can take JPEG's block traces for synthetic ones. So a fraction of patches of
*both* classes is re-saved as JPEG at a high quality (85..100 by default). Applying it to both
classes with the same probability keeps it label-neutral: "JPEG" must not come to mean "real",
which would bias every later experiment on compressed images.

Run under torchrun: ``torchrun --nproc-per-node 2 -m forensiccodec train-detector --data DIR``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch.utils.data import Dataset

from forensiccodec.detector import patches as P
from forensiccodec.detector.backbone import build_backbone, resolve_config
from forensiccodec.detector.evaluation import Evaluation, evaluate_files, labelled_files
from forensiccodec.detector.model import PatchDetector
from forensiccodec.images import load_image, to_uint8
from forensiccodec.train.loop import (
    TrainConfig,
    TrainingError,
    TrainResult,
    train_codec,
)
from forensiccodec.train.scaffold import (
    may_replace,
    run_summary,
    training_processes,
)

JPEG_GRID = 8  # JPEG's block size: patches are cut at a random phase of its grid
VALIDATION_METRICS = ("accuracy", "auc", "real_accuracy", "synthetic_accuracy", "seconds")


# Gaussian blur's standard deviation in pixels, drawn uniformly, when blur augmentation is on.
BLUR_SIGMA = (0.1, 2.0)


class RandomPatchDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random ``patch_size`` patches of labelled images: ``(patch, label)`` with the patch
    ImageNet-normalised [3,p,p] float32 (what the classifier takes) and the label int64.

    Images are decoded once into memory as uint8, upsampled first if their shorter side is
    under 256 pixels (exactly as the detector does before scoring). Item ``i`` is a patch of
    image ``i // patches_per_image``; its position, flips and JPEG re-save are drawn from a
    generator seeded with ``(seed, epoch, i)``, so an index always gives the same patch
    within an epoch and a resumed run sees the same data. :meth:`set_epoch` draws new ones.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | Path, int]],
        patches_per_image: int = 8,
        *,
        patch_size: int = P.PATCH_SIZE,
        jpeg_probability: float = 0.0,
        jpeg_quality: tuple[int, int] = (85, 100),
        blur_probability: float = 0.0,
        blur_sigma: tuple[float, float] = BLUR_SIGMA,
        seed: int = 0,
    ) -> None:
        if not samples:
            raise TrainingError("no training images")
        if not 0.0 <= jpeg_probability <= 1.0:
            raise TrainingError(f"JPEG probability must be in [0, 1], got {jpeg_probability}")
        self.patch_size = patch_size
        self.patches_per_image = patches_per_image
        if not 0.0 <= blur_probability <= 1.0:
            raise TrainingError(f"blur probability must be in [0, 1], got {blur_probability}")
        self.jpeg_probability = jpeg_probability
        self.jpeg_quality = jpeg_quality
        self.blur_probability = blur_probability
        self.blur_sigma = blur_sigma
        self.seed = seed
        self.epoch = 0
        self.labels = [int(label) for _, label in samples]
        self.images = [_analysed_pixels(Path(path), patch_size) for path, _ in samples]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image_index = index // self.patches_per_image
        pixels = self.images[image_index]
        use_jpeg = rng.random() < self.jpeg_probability
        patch = self._jpeg_patch(pixels, rng) if use_jpeg else _random_crop(pixels, self.patch_size, rng)
        # drawn only when blurring is on, so that runs without it see the data they always saw
        if self.blur_probability > 0 and rng.random() < self.blur_probability:
            patch = _blurred(patch, float(rng.uniform(*self.blur_sigma)))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        if rng.random() < 0.5:
            patch = patch[::-1, :]
        tensor = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float() / 255.0
        return P.normalize(tensor), torch.tensor(self.labels[image_index], dtype=torch.int64)

    def _jpeg_patch(self, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A patch of the region around it re-saved as JPEG, cut at a random phase of the 8x8
        grid (as a patch of a whole JPEG image would be)."""
        margin = min(JPEG_GRID - 1, pixels.shape[0] - self.patch_size, pixels.shape[1] - self.patch_size)
        region = _random_crop(pixels, self.patch_size + margin, rng)
        quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(region)).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        decoded = np.asarray(Image.open(buffer).convert("RGB"))
        top, left = (int(v) for v in rng.integers(0, margin + 1, size=2))
        return decoded[top:top + self.patch_size, left:left + self.patch_size]


def _blurred(patch: np.ndarray, sigma: float) -> np.ndarray:
    """The patch under a Gaussian blur of standard deviation ``sigma`` pixels (edges extended):
    applied to both classes, it keeps the detector from reading real or synthetic from sharpness
    or from the finest traces alone (Wang et al., CVPR 2020, blur and JPEG augmentation)."""
    image = Image.fromarray(np.ascontiguousarray(patch))
    return np.array(image.filter(ImageFilter.GaussianBlur(radius=sigma)))  # writable, for torch


def _analysed_pixels(path: Path, patch_size: int) -> np.ndarray:
    """The image as the detector analyses it, (H, W, 3) uint8."""
    pixels = load_image(path).pixels
    prepared = P.prepare_image(pixels, patch_size=patch_size)
    return to_uint8(prepared)


def _random_crop(pixels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = pixels.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return pixels[top:top + size, left:left + size]


def patch_classification_loss(logits: torch.Tensor, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy of the patch logits against the labels, and the batch accuracy."""
    labels = batch[1]
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
    return {"loss": loss, "accuracy": accuracy}


def train_detector(
    data_dir: str | Path,
    config_name: str = "small",
    *,
    steps: int = 600,
    batch_size: int = 32,
    patches_per_image: int = 8,
    lr: float = 1e-3,
    jpeg_probability: float = 0.3,
    blur_probability: float = 0.0,
    init_from: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    seed: int = 0,
    max_seconds: float | None = None,
    validate: bool = True,
    validate_every: int | None = None,
    val_patches: int = 100,
    val_top: int = 75,
    export: bool = True,
    overwrite: bool = False,
    weights_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``config_name`` on ``data_dir/train``, validate on ``data_dir/val``, optionally
    register the weights; returns a summary (steps, seconds, final training metrics,
    validation accuracy/AUC, exported file).

    Validation scores each image with ``val_patches`` patches averaging the top ``val_top``
    (fewer than ``fcc detect``'s 800/600, for speed; the summary says which), at the end and,
    with ``validate_every``, every that many steps; the history (with the steps before a
    resume) and the best record by AUC go into the summary, hence into the exported weights'
    training record. ``init_from`` (a detector safetensors file) starts from trained weights
    instead of random ones.
    """
    checkpoint_dir = Path(checkpoint_dir or f"runs/detector-{config_name}")
    overwrite = _check_options(config_name, validate, validate_every, export, overwrite, weights_dir, resume,
                               checkpoint_dir)
    data_dir = Path(data_dir)
    train_samples = labelled_files(data_dir, "train")
    val_samples = labelled_files(data_dir, "val") if validate else []  # a missing split fails now, not at the end
    with training_processes(device) as context:
        backbone = _initial_backbone(config_name, seed, None if resume else init_from)
        dataset = RandomPatchDataset(train_samples, patches_per_image, jpeg_probability=jpeg_probability,
                                     blur_probability=blur_probability, seed=seed)
        config = TrainConfig(
            steps=steps, batch_size=batch_size, lr=lr, crop_size=P.PATCH_SIZE,
            checkpoint_dir=str(checkpoint_dir), resume=resume, seed=seed, device=device,
            max_seconds=max_seconds, progress=progress, checkpoint_every=100,
            validate_every=validate_every, validation_metric="auc", validation_higher_is_better=True,
            extra={"config_name": config_name, "data": str(data_dir), "jpeg_probability": jpeg_probability},
        )
        validation = ValSplitValidation(backbone, val_samples, val_patches, val_top) if validate else None
        result = train_codec(backbone, dataset, patch_classification_loss, config, context=context,
                             validate=validation)
        summary: dict[str, Any] = {
            "data": str(data_dir), "train_images": len(train_samples), **run_summary(result, context),
            "batch_size": batch_size, "lr": lr, "patches_per_image_per_epoch": patches_per_image,
            "jpeg_augmentation": {"probability": jpeg_probability, "quality": [85, 100], "classes": "both"},
            **({"blur_augmentation": {"probability": blur_probability, "sigma": list(BLUR_SIGMA), "classes": "both"}}
               if blur_probability > 0 else {}),
            "init_from": str(init_from) if init_from is not None else None,
        }
        if not context.is_main:
            return summary
        if validation is not None:
            summary.update(_validation_record(validation, result, validate_every))
        if export:
            summary["exported"] = _export(backbone.cpu().eval(), config_name, weights_dir, summary, overwrite)
        return summary


def _check_options(config_name: str, validate: bool, validate_every: int | None, export: bool, overwrite: bool,
                   weights_dir: Path | None, resume: bool, checkpoint_dir: Path) -> bool:
    """Refuse, before any data is read, settings that cannot make a run; returns whether the
    export may replace a registered detector (the --force rule)."""
    resolve_config(config_name)
    if validate_every is not None and not validate:
        raise TrainingError("validate_every needs validation switched on")
    if not export:
        return overwrite
    from forensiccodec.detector.weights import detector_entry_name

    return may_replace(detector_entry_name(config_name), weights_dir, force=overwrite, resume=resume,
                       checkpoint_dir=checkpoint_dir)


def _initial_backbone(config_name: str, seed: int, init_from: str | Path | None) -> torch.nn.Module:
    """A fresh backbone, the same on every process, with ``init_from``'s trained weights if given."""
    torch.manual_seed(seed)  # the same initial weights on every process
    backbone = build_backbone(config_name)
    if init_from is not None:
        backbone.load_state_dict(_initial_weights(Path(init_from), config_name).state_dict())
    return backbone


def _validation_record(validation: ValSplitValidation, result: TrainResult, validate_every: int | None) -> dict[str, Any]:
    """The summary's validation fields: the last one in full, the history and the best by AUC."""
    return {
        "validation": validation.final(result.steps),
        "validate_every": validate_every,
        "validation_history": result.validations,
        "best_validation": result.best_validation,
    }


def _export(backbone: torch.nn.Module, config_name: str, weights_dir: Path | None, summary: dict[str, Any],
            overwrite: bool) -> str:
    """Register the trained detector, its summary as the training record; returns the file's name."""
    from forensiccodec.detector.weights import export_detector

    entry = export_detector(backbone, config_name=config_name, weights_dir=weights_dir,
                            extra={"training": summary}, overwrite=overwrite)
    return entry.file


class ValSplitValidation:
    """The loop's ``validate`` callable: the validation split scored the way ``fcc detect``
    scores images, with ``n_patches`` patches (top ``top_m``), on the backbone being trained."""

    def __init__(self, backbone: torch.nn.Module, samples: Sequence[tuple[Path, int]], n_patches: int, top_m: int) -> None:
        self.backbone = backbone
        self.samples = list(samples)
        self.n_patches = n_patches
        self.top_m = top_m
        self.last_step: int | None = None
        self.last_summary: dict[str, Any] | None = None

    def __call__(self, step: int) -> dict[str, float]:
        detector = PatchDetector(self.backbone)  # score_image switches to eval mode and back
        evaluation = evaluate_files(detector, self.samples, n_patches=self.n_patches, top_m=self.top_m)
        self.last_step, self.last_summary = step, validation_summary(evaluation)
        return {key: float(self.last_summary[key]) for key in VALIDATION_METRICS}

    def final(self, step: int) -> dict[str, Any]:
        """The full summary at ``step``: the loop's last call, or a fresh evaluation when the
        loop had nothing to run (a resume of a finished run)."""
        if self.last_step != step or self.last_summary is None:
            self(step)
        assert self.last_summary is not None
        return self.last_summary


def _initial_weights(path: Path, config_name: str) -> torch.nn.Module:
    from forensiccodec.detector.weights import detector_from_file, read_detector_file

    _, metadata = read_detector_file(path)
    if metadata["config_name"] != config_name:
        raise TrainingError(f"{path} holds {metadata['config_name']} weights, not {config_name}")
    return detector_from_file(path).backbone


def validation_summary(evaluation: Evaluation) -> dict[str, Any]:
    """The numbers of an evaluation, rounded for a manifest or a log."""
    return {key: round(value, 5) if isinstance(value, float) else value for key, value in evaluation.summary().items()}
