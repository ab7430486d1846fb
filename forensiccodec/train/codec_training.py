"""`fcc train-codec`: train the base codec with the rate-distortion loss.

Training needs only torch (``python -m forensiccodec train-codec --no-export`` runs under
``torchrun`` and on machines without the entropy coder installed); the integer tables are fixed,
and the weights registered, by ``--export`` at the end (rank 0 only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from ..codec.config import get_config
from ..codec.tic import TIC
from ..data.crops import RandomCropDataset, images_at_least, list_images
from ..errors import UsageError, WeightsError
from ..manifest import codec_entry_name
from ..rate_points import rate_point_for_quality
from ..state_dicts import check_fit
from .holdout_validation import HoldoutRateDistortion
from .loop import TrainConfig, train_codec
from .rate_distortion import RateDistortionLoss
from .scaffold import may_replace, run_summary, training_processes

# A warm start ramps its learning rate up over this many steps: Adam's first updates, with empty
# moment estimates, move every weight by about lr at once and undo much of a trained codec
# (docs/experiments/codec-campaign.md).
WARM_START_WARMUP_STEPS = 500
ITEMS_PER_EPOCH = 1024  # random crops per "epoch" of the crop dataset; only sets the sampler's period


def training_folder(data: Path) -> Path:
    """DIR/train when the folder has the {train,val,...} layout, else DIR itself."""
    return data / "train" if (data / "train").is_dir() else data


def load_initial_weights(model: TIC, path: Path) -> None:
    """Start from a codec file (or a raw state file): everything but the entropy tables."""
    try:
        tensors = load_file(str(path))
    except Exception as error:  # noqa: BLE001 (safetensors raises several types for a bad file)
        raise WeightsError(f"{path}: not a safetensors weights file ({error})") from None
    state = {k: v for k, v in tensors.items() if not k.startswith("tables.")}
    check_fit(model, state, f"{path}: does not fit the model", partial=True)
    model.load_state_dict({**model.state_dict(), **state}, strict=True)


def save_state(model: TIC, path: Path, metadata: dict[str, str]) -> None:
    """A plain safetensors state file (no tables): what a GPU run brings back for export here."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if v.numel() > 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(model.config.to_dict()), **metadata})


def resolve_initial_weights(init_from: str | Path, weights_dir: Path | None) -> Path:
    """A warm start: a weights file, or the name of a registered codec (``tic-small-q3``)."""
    path = Path(init_from)
    if path.is_file():
        return path
    from ..zoo import (  # needs the entropy coder (constriction)
        Manifest,
        verified_weights_file,
    )

    manifest = Manifest.load(weights_dir)
    entry = manifest.entries.get(str(init_from))
    if entry is None or entry.kind not in ("codec", "finetuned-codec"):
        raise UsageError(f"--init-from {init_from}: neither a weights file nor a registered codec in {manifest.directory}")
    return verified_weights_file(manifest, entry)[0]


def holdout_folder(data: Path) -> Path | None:
    """DIR/holdout (what `fcc collect-photos` keeps apart) or DIR/val, if the folder has one."""
    for name in ("holdout", "val"):
        if (data / name).is_dir():
            return data / name
    return None


def training_photographs(folders: Sequence[Path], crop_size: int) -> tuple[list[Path], int]:
    """The photographs of ``folders`` at least ``crop_size`` on their shorter side, and how many
    were left out: a smaller one would be upscaled, blurred content the codec would learn to spend
    its bits on."""
    files, too_small = images_at_least([path for folder in folders for path in list_images(folder)], crop_size)
    if not files:
        raise UsageError(f"no training photograph is at least {crop_size} pixels on its shorter side; use a smaller --crop-size")
    return files, len(too_small)


def train_codec_command(
    *,
    data: Path | Sequence[Path],
    quality: int,
    config_name: str = "small",
    steps: int = 20000,
    batch_size: int = 8,
    crop_size: int = 256,
    lr: float = 3e-4,
    init_from: str | Path | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    seed: int = 0,
    export: bool = True,
    force: bool = False,
    weights_dir: Path | None = None,
    max_seconds: float | None = None,
    save_state_to: Path | None = None,
    progress: bool = True,
    precision: str = "auto",
    compile_model: bool = False,
    validate_every: int | None = None,
    augment: bool = True,
) -> dict[str, Any]:
    """Train the base codec on the photographs of one or more folders (each one's train/
    sub-folder if present); the first folder's holdout/ gives the validation."""
    point = rate_point_for_quality(quality)
    config = get_config(config_name)
    checkpoint_dir = Path(checkpoint_dir or f"runs/codec-{config_name}-q{quality}")
    if export:
        force = may_replace(codec_entry_name(config_name, quality), weights_dir, force=force, resume=resume,
                            checkpoint_dir=checkpoint_dir)
    data_folders = [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]
    folders = [training_folder(folder) for folder in data_folders]
    validation_folder = holdout_folder(data_folders[0]) if validate_every is not None else None
    if validate_every is not None and validation_folder is None:
        raise UsageError(f"--validate-every: {data_folders[0]} has no holdout/ or val/ folder of photographs")
    initial = resolve_initial_weights(init_from, weights_dir) if init_from is not None else None
    files, left_out = training_photographs(folders, crop_size)
    data_record: str | list[str] = str(folders[0]) if len(folders) == 1 else [str(f) for f in folders]
    init_record = str(init_from) if init_from is not None else None
    train_config = TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, crop_size=crop_size, resume=resume, seed=seed,
        checkpoint_dir=str(checkpoint_dir), device=device or "auto",
        max_seconds=max_seconds, progress=progress, precision=precision, compile=compile_model,
        validate_every=validate_every, validate_at_start=validate_every is not None,
        warmup_steps=WARM_START_WARMUP_STEPS if init_from is not None else 0,
        extra={"quality": quality, "config_name": config_name, "data": data_record,
               "codec_lambda": point.codec_lambda, "augment": augment, "init_from": init_record},
    )
    with training_processes(device) as context:
        model = TIC(config)
        if initial is not None and not resume:
            load_initial_weights(model, initial)
        dataset = RandomCropDataset(
            files, crop_size, epoch_length=max(ITEMS_PER_EPOCH, batch_size * context.world_size), seed=seed,
            augment=augment,
        )
        validate = (HoldoutRateDistortion(model, validation_folder, point.codec_lambda)
                    if validation_folder is not None and context.is_main else None)
        result = train_codec(model, dataset, RateDistortionLoss(point.codec_lambda), train_config, context=context,
                             validate=validate)
        summary = {**run_summary(result, context), "photographs": len(files),
                   "photographs_left_out_smaller_than_the_crop": left_out}
        if result.validations:
            summary["last_validation"] = result.validations[-1]
        if context.is_main:
            model = model.cpu().eval()
            if save_state_to is not None:
                save_state(model, Path(save_state_to), {"quality": str(quality), "summary": json.dumps(summary)})
            if export:
                record = {"data": data_record, "lambda_mse": point.codec_lambda, "batch_size": batch_size,
                          "crop_size": crop_size, "lr": lr, "augment": augment, "init_from": init_record, **summary}
                summary["exported"] = _export(model, config_name, quality, weights_dir, record, force)
        return summary


def _export(model: TIC, config_name: str, quality: int, weights_dir: Path | None, record: dict[str, Any],
            force: bool) -> str:
    """Register the trained codec, keeping the one it replaces for the files that one wrote."""
    # imported here: it needs the entropy coder (constriction), which training does not
    from ..retired import export_codec_keeping_replaced

    entry = export_codec_keeping_replaced(model, config_name=config_name, quality=quality, weights_dir=weights_dir,
                                          extra={"training": record}, overwrite=force)
    return entry.file
