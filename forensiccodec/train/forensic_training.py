"""`fcc train-adapter` (every placement, `full` included): the paper's training.

Both train with ``L = R + λ·(L_C + L_P)`` (`forensic_objective`) on a real/synthetic folder,
starting from the registered base codec and the registered detector, which stay frozen. They
differ only in what is trainable:

- ``paper``: the six SFMA adapters (encoder and decoder), as in the paper;
- ``decoder``: the three decoder adapters, on the base codec's own latents (one bitstream,
  two reconstructions);
- ``full``: every codec parameter (the fully fine-tuned baseline; its own entropy tables).

The frozen weights are checked bit for bit against the registered files after training, and
the trainable set is checked against the placement before it: only adapters move.

Both run under ``torchrun`` too: ``torchrun --nproc-per-node 4 -m forensiccodec train-adapter ...``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.data.labelled_crops import LabelledCropDataset
from forensiccodec.data.layout import scan_split
from forensiccodec.detector.model import PatchDetector
from forensiccodec.errors import UsageError, WeightsError
from forensiccodec.manifest import detector_entry_name
from forensiccodec.rate_points import RatePoint
from forensiccodec.train.best_weights import BestValidatedWeights
from forensiccodec.train.forensic_objective import (
    TRAINING_PATCHES,
    ForensicCodecPass,
    ForensicLoss,
)
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
from forensiccodec.train.split_validation import SplitValidation, base_codec_validation
from forensiccodec.train.time_budget import remaining_budget

if TYPE_CHECKING:
    from forensiccodec.adapters import InitialAdapters

OBJECTIVES = ("paper", "decoder", "full")
TRAINABLE_PREFIXES = {
    "paper": ("encoder_sfmas.", "decoder_sfmas."),
    "decoder": ("decoder_sfmas.",),
    "full": ("",),
}


def build_trainable_codec(base: TIC, placement: str) -> tuple[TIC, list[nn.Parameter]]:
    """A copy of ``base`` ready for ``placement``, and the parameters to train.

    For the adapter placements, the copy gains adapters (their zero-initialised up projections
    make each one the identity at the start, so training starts from the base codec exactly),
    and everything but the placement's adapters is frozen.
    """
    if placement not in OBJECTIVES:
        raise UsageError(f"unknown placement {placement!r}; valid: {', '.join(OBJECTIVES)}")
    adapters = placement != "full"
    codec = TIC(base.config, adapters=adapters, shifted_window_mask=base.shifted_window_mask)
    state = dict(codec.state_dict())
    state.update({k: v.clone() for k, v in base.state_dict().items()})
    codec.load_state_dict(state, strict=True)
    codec.eval()  # as at inference: no stochastic depth in the frozen blocks
    if adapters:
        codec.set_adapters(encoder=placement == "paper", decoder=True)
    prefixes = TRAINABLE_PREFIXES[placement]
    trainable: list[nn.Parameter] = []
    for name, parameter in codec.named_parameters():
        parameter.requires_grad_(name.startswith(prefixes))
        if parameter.requires_grad:
            trainable.append(parameter)
    check_trainable(codec, placement)
    return codec, trainable


def start_from_adapters(codec: TIC, source: str, placement: str, base_sha256: str,
                        weights_dir: Path | None) -> InitialAdapters:
    """Load trained adapters (``--init-from``) into the trainable copy, in place, so the
    optimiser's parameters stay the same objects. On a resume the checkpoint then overwrites
    them, but the mask setting below must still be applied: it is not in the state dict."""
    from forensiccodec.adapters import drop_transform_shift_masks, initial_adapters

    initial = initial_adapters(source, placement, base_sha256, codec, weights_dir)
    with torch.no_grad():
        state = codec.state_dict()
        for key, value in initial.tensors.items():
            state[key].copy_(value)
    if not initial.shifted_window_mask:
        # Adapt-ICMH adapters act without Swin's mask in g_a/g_s (adapters.py); h_a/h_s keep it,
        # so the rate term is still the base entropy model's. The flag goes into the export.
        drop_transform_shift_masks(codec)
        codec.shifted_window_mask = False
    return initial


def check_trainable(codec: TIC, placement: str) -> None:
    """Refuse to train anything outside the placement (the base codec must stay frozen)."""
    prefixes = TRAINABLE_PREFIXES[placement]
    wrong = [name for name, p in codec.named_parameters() if p.requires_grad and not name.startswith(prefixes)]
    if wrong:
        raise TrainingError(f"{len(wrong)} parameters outside the {placement} adapters would train (first: {wrong[0]})")


def frozen_weights_changed(before: dict[str, torch.Tensor], module: nn.Module, skip_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Names whose tensors in ``module`` differ (bit for bit) from ``before``."""
    now = module.state_dict()
    return [
        name for name, value in before.items()
        if not name.startswith(skip_prefixes) and not torch.equal(now[name].detach().cpu(), value)
    ]


def entry_name(config_name: str, quality: int, placement: str) -> str:
    from forensiccodec.adapters import adapter_entry_name, finetuned_entry_name

    if placement == "full":
        return finetuned_entry_name(config_name, quality)
    return adapter_entry_name(config_name, quality, placement)


def train_forensic(
    *,
    data: Path,
    rate_point: RatePoint,
    placement: str = "paper",
    config_name: str = "small",
    detector_config: str = "small",
    epochs: int | None = 50,
    steps: int | None = None,
    batch_size: int = 8,
    crop_size: int = 256,
    k_patches: int = TRAINING_PATCHES,
    patch_aggregate: str = "mean",
    lr: float = 1e-3,
    warmup_steps: int = 0,
    ema_decay: float | None = None,
    lmbda: float | None = None,
    lambda_scale: float = 1.0,
    fidelity: float = 0.0,
    workers: int = 0,
    keep_best: bool = False,
    init_from: str | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    seed: int = 0,
    validate_every: int | None = None,
    val_patches: int = 100,
    val_top: int = 75,
    max_seconds: float | None = None,
    precision: str = "fp32",
    export: bool = True,
    force: bool = False,
    weights_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one placement at one rate point; returns a JSON-able summary (and registers the
    result when ``export``)."""
    command_started = time.monotonic()
    _check_options(placement, config_name, lambda_scale, fidelity, workers, ema_decay, validate_every, keep_best,
                   init_from)
    quality = rate_point.quality
    lmbda = rate_point.lmbda if lmbda is None else lmbda
    name = entry_name(config_name, quality, placement)
    checkpoint_dir = Path(checkpoint_dir or f"runs/{name}")
    if export:
        force = may_replace(name, weights_dir, force=force, resume=resume, checkpoint_dir=checkpoint_dir)
    train_samples, val_samples = _labelled_splits(Path(data), validate_every)
    record = {"placement": placement, "quality": quality, "lambda": lmbda, "lambda_scale": lambda_scale,
              "fidelity": fidelity}
    config = TrainConfig(
        steps=steps, epochs=None if steps is not None else epochs, batch_size=batch_size, lr=lr,
        warmup_steps=warmup_steps, ema_decay=ema_decay, lr_milestones=(0.6,), lr_gamma=0.5, crop_size=crop_size,
        checkpoint_dir=str(checkpoint_dir), resume=resume, seed=seed, device=device or "auto",
        max_seconds=max_seconds, progress=progress, num_workers=workers, validate_every=validate_every,
        precision=precision,
        validation_metric="accuracy", validation_higher_is_better=True,
        # a fine-tune's starting adapters compete with its later steps for --keep-best
        validate_at_start=init_from is not None and validate_every is not None,
        extra={"objective": "forensic", **record, "init_from": init_from,
               "config_name": config_name, "detector": detector_config, "k_patches": k_patches,
               "patch_aggregate": patch_aggregate, "data": str(data)},
    )
    with training_processes(device) as context:
        models = _ForensicModels.load(config_name, quality, detector_config, placement, init_from, weights_dir,
                                     k_patches=k_patches, patch_aggregate=patch_aggregate)
        dataset = LabelledCropDataset(train_samples, crop_size, seed=seed)
        validation = SplitValidation(models.model, val_samples, val_patches, val_top) if val_samples else None
        base_validation, validation_seconds = None, None
        if validation is not None and context.is_main:
            scoring_started = time.monotonic()
            base_validation = base_codec_validation(
                models.base, models.detector, val_samples, n_patches=val_patches, top_m=val_top,
                identity={"base_sha256": models.base_sha256,
                          "detector_sha256": _registered_sha(detector_entry_name(detector_config), weights_dir)},
                folder=checkpoint_dir, device=context.device)
            # scoring the base codec costs about what a validation of the adapted codec costs
            validation_seconds = time.monotonic() - scoring_started
        best = _best_weights(validation, models.codec, models.trainable, checkpoint_dir, resume) if keep_best else None
        # the budget bounds the whole command: scoring the base codec came out of it
        config = dataclasses.replace(config, max_seconds=remaining_budget(max_seconds, command_started))
        started = time.monotonic()
        result = train_codec(models.model, dataset, ForensicLoss(lmbda * lambda_scale, fidelity, rate_point.codec_lambda), config,
                             trainable_parameters=models.trainable, context=context, validate=best or validation,
                             validation_seconds=validation_seconds)
        kept = best.restore() if best is not None and context.is_main else None
        models.check_frozen(placement)
        summary: dict[str, Any] = {
            **record, **run_summary(result, context),
            "epochs": round(result.steps * batch_size * context.world_size / len(dataset), 2),
            "batch_size": batch_size, "crop_size": crop_size,
            "k_patches": k_patches, "patch_aggregate": patch_aggregate, "lr": lr, "ema_decay": ema_decay,
            **models.summary(result, kept, weights_dir),
            "base_validation": base_validation,  # the base codec without adapters, same val split and patches
            "wall_seconds": round(time.monotonic() - started, 1), "data": str(data),
        }
        if context.is_main and export:
            summary["exported"] = _export(models.codec.eval(), placement, config_name, quality, weights_dir, summary, force)
        return summary


@dataclass
class _ForensicModels:
    """What one forensic run trains and what must stay as it was: the trainable copy of the
    registered base codec, the registered detector, and their weights before training."""

    codec: TIC
    trainable: list[nn.Parameter]
    base: TIC
    detector: PatchDetector
    detector_config: str
    model: ForensicCodecPass
    base_sha256: str
    base_state: dict[str, torch.Tensor]
    detector_state: dict[str, torch.Tensor]
    initial: InitialAdapters | None

    @classmethod
    def load(cls, config_name: str, quality: int, detector_config: str, placement: str, init_from: str | None,
             weights_dir: Path | None, *, k_patches: int, patch_aggregate: str) -> _ForensicModels:
        """The registered base codec and detector, the placement's trainable copy (started from
        ``init_from``'s adapters if given), and copies of the weights that must not change."""
        from forensiccodec.detector.weights import load_detector
        from forensiccodec.zoo import load_codec

        base = load_codec(config_name, quality, weights_dir)
        detector: PatchDetector = load_detector(detector_config, weights_dir)
        codec, trainable = build_trainable_codec(base.model, placement)
        initial = start_from_adapters(codec, init_from, placement, base.sha256, weights_dir) if init_from else None
        return cls(
            codec=codec, trainable=trainable, base=base.model, detector=detector, detector_config=detector_config,
            model=ForensicCodecPass(codec, detector, k_patches, patch_aggregate), base_sha256=base.sha256,
            base_state={k: v.clone() for k, v in base.model.state_dict().items()},
            detector_state={k: v.clone() for k, v in detector.state_dict().items()}, initial=initial,
        )

    def check_frozen(self, placement: str) -> None:
        """Back on the CPU, refuse to go on if the detector (or, for adapters, the base codec)
        changed in training, bit for bit."""
        self.model.cpu()
        changed = frozen_weights_changed(self.detector_state, self.detector)
        if placement != "full":
            changed += frozen_weights_changed(self.base_state, self.codec)
        if changed:
            raise TrainingError(f"frozen weights changed in training (first: {changed[0]}); refusing to export")

    def summary(self, result: TrainResult, kept: dict[str, Any] | None, weights_dir: Path | None) -> dict[str, Any]:
        """The summary's fields about the trained and frozen models."""
        return {
            "seconds_per_step": round(result.seconds / max(self.model.passes, 1), 3),  # this run's steps only
            "trainable_parameters": sum(p.numel() for p in self.trainable),
            "validation": result.validations[-1] if result.validations else None,
            "kept_validation": kept,  # --keep-best: the validation whose weights are exported
            "init_from": self.initial.record if self.initial is not None else None,
            "base_sha256": self.base_sha256, "detector": self.detector_config,
            "detector_sha256": _registered_sha(detector_entry_name(self.detector_config), weights_dir),
        }


def _labelled_splits(data: Path, validate_every: int | None) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """The train split's labelled images and the val split's (none without a val/ folder)."""
    train_samples = scan_split(data, "train")
    val_samples = scan_split(data, "val") if (data / "val").is_dir() else []
    if validate_every is not None and not val_samples:
        raise UsageError(f"--validate-every needs a val/ split in {data}")
    return train_samples, val_samples


def _best_weights(validation: SplitValidation | None, codec: TIC, trainable: list[nn.Parameter], checkpoint_dir: Path,
                  resume: bool) -> BestValidatedWeights | None:
    """--keep-best: the trainable tensors of the best validation, kept on disk (None without a val split)."""
    if validation is None:
        return None
    trainable_ids = {id(p) for p in trainable}
    names = [n for n, p in codec.named_parameters() if id(p) in trainable_ids]
    return BestValidatedWeights(validation, codec, names, checkpoint_dir, resume=resume)


def _check_options(placement: str, config_name: str, lambda_scale: float, fidelity: float, workers: int,
                   ema_decay: float | None, validate_every: int | None, keep_best: bool, init_from: str | None) -> None:
    """Refuse, before anything loads, settings that cannot make a run."""
    if placement not in OBJECTIVES:
        raise UsageError(f"unknown placement {placement!r}; valid: {', '.join(OBJECTIVES)}")
    get_config(config_name)
    if lambda_scale <= 0:
        raise UsageError(f"--lambda-scale must be positive, got {lambda_scale:g}")
    if fidelity < 0:
        raise UsageError(f"--fidelity must be 0 or more, got {fidelity:g}")
    if workers < 0:
        raise UsageError(f"--workers must be 0 or more, got {workers}")
    if ema_decay is not None and not 0.0 < ema_decay < 1.0:
        raise UsageError(f"--ema-decay must be between 0 and 1, got {ema_decay:g}")
    if keep_best and validate_every is None:
        raise UsageError("--keep-best needs --validate-every (it keeps the weights of the best validation)")
    if init_from is not None and placement == "full":
        raise UsageError("--init-from starts adapters; full fine-tuning starts from the registered base codec")


def _registered_sha(name: str, weights_dir: Path | None) -> str:
    from forensiccodec.zoo import Manifest

    entry = Manifest.load(weights_dir).entries.get(name)
    if entry is None:
        raise WeightsError(f"{name} is not registered")
    return entry.sha256


def _export(codec: TIC, placement: str, config_name: str, quality: int, weights_dir: Path | None,
            summary: dict[str, Any], force: bool) -> str:
    from forensiccodec.adapters import export_adapters, export_finetuned_codec

    record = {"training": summary}
    if placement == "full":
        entry = export_finetuned_codec(codec, config_name=config_name, quality=quality, weights_dir=weights_dir,
                                       extra=record, overwrite=force)
    else:
        entry = export_adapters(codec, config_name=config_name, quality=quality, placement=placement,
                                weights_dir=weights_dir, extra=record, overwrite=force)
    return entry.file
