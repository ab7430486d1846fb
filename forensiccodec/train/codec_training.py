"""`fcc train-codec`: train the base codec with the rate-distortion loss.

Also runnable as ``python -m forensiccodec.train.codec_training`` (for ``torchrun`` and for
machines without the entropy coder installed): training needs only torch; the integer tables are
fixed, and the weights registered, by ``--export`` at the end (rank 0 only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import torch
from safetensors.torch import load_file, save_file

from ..codec.config import get_config
from ..codec.tic import TIC
from ..data.crops import RandomCropDataset
from ..errors import UsageError, WeightsError
from ..rate_points import rate_point_for_quality
from .distributed import cleanup_distributed, setup_distributed
from .loop import TrainConfig, train_codec
from .rate_distortion import RateDistortionLoss

CUDA_CPU_THREADS = 4
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
    expected = model.state_dict()
    for key, value in expected.items():
        state.setdefault(key, value)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{path}: does not fit the model ({str(error).splitlines()[-1].strip()})") from None


def save_state(model: TIC, path: Path, metadata: dict[str, str]) -> None:
    """A plain safetensors state file (no tables): what a GPU run brings back for export here."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if v.numel() > 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(model.config.to_dict()), **metadata})


def refuse_to_replace_registered(config_name: str, quality: int, weights_dir: Path | None) -> None:
    """Say so before training, not after hours of it, when --export would replace registered weights."""
    # imported here: the zoo needs the entropy coder (constriction)
    from ..zoo import Manifest, codec_entry_name

    name = codec_entry_name(config_name, quality)
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries:
        raise UsageError(
            f"{name} is already registered in {manifest.directory}; use --force to replace it,"
            " or --no-export to train without registering"
        )


def train_codec_command(
    *,
    data: Path,
    quality: int,
    config_name: str = "small",
    steps: int = 20000,
    batch_size: int = 8,
    crop_size: int = 256,
    lr: float = 3e-4,
    init_from: Path | None = None,
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
) -> dict[str, Any]:
    point = rate_point_for_quality(quality)
    config = get_config(config_name)
    if export and not force:
        refuse_to_replace_registered(config_name, quality, weights_dir)
    folder = training_folder(Path(data))
    context = setup_distributed(device or "auto")
    if context.device.type == "cuda" and "OMP_NUM_THREADS" not in os.environ:
        # Several GPU processes each spawning one CPU thread per core starved the GPU (measured:
        # 0.7 steps/s with the default threads, 4.6 steps/s with 4 threads per process, H200).
        torch.set_num_threads(CUDA_CPU_THREADS)
    try:
        model = TIC(config)
        if init_from is not None and not resume:
            load_initial_weights(model, Path(init_from))
        dataset = RandomCropDataset(folder, crop_size, epoch_length=max(ITEMS_PER_EPOCH, batch_size * context.world_size), seed=seed)
        checkpoint_dir = Path(checkpoint_dir or f"runs/codec-{config_name}-q{quality}")
        train_config = TrainConfig(
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            crop_size=crop_size,
            checkpoint_dir=str(checkpoint_dir),
            resume=resume,
            seed=seed,
            device=device or "auto",
            max_seconds=max_seconds,
            progress=progress,
            extra={"quality": quality, "config_name": config_name, "data": str(folder), "codec_lambda": point.codec_lambda},
        )
        result = train_codec(model, dataset, RateDistortionLoss(point.codec_lambda), train_config, context=context)
        summary = {
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "final_metrics": {k: round(float(v), 5) for k, v in result.metrics.items()},
            "world_size": context.world_size,
            "device": str(context.device),
        }
        if context.is_main:
            model = model.cpu().eval()
            if save_state_to is not None:
                save_state(model, Path(save_state_to), {"quality": str(quality), "summary": json.dumps(summary)})
            if export:
                from ..zoo import export_codec  # needs the entropy coder (constriction)

                entry = export_codec(
                    model,
                    config_name=config_name,
                    quality=quality,
                    weights_dir=weights_dir,
                    extra={"training": {"data": str(folder), "lambda_mse": point.codec_lambda, "batch_size": batch_size,
                                        "crop_size": crop_size, "lr": lr, **summary}},
                    overwrite=force,
                )
                summary["exported"] = entry.file
        return summary
    finally:
        cleanup_distributed()


@click.command()
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--quality", "-q", type=int, required=True)
@click.option("--config", "config_name", default="small")
@click.option("--steps", type=int, default=20000)
@click.option("--batch-size", type=int, default=8)
@click.option("--crop-size", type=int, default=256)
@click.option("--lr", type=float, default=3e-4)
@click.option("--init", "init_from", type=click.Path(path_type=Path, exists=True), default=None)
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--resume", is_flag=True)
@click.option("--device", default=None)
@click.option("--seed", type=int, default=0)
@click.option("--export/--no-export", default=False)
@click.option("--force", is_flag=True)
@click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--max-seconds", type=float, default=None, help="stop cleanly after this long")
@click.option("--save-state", "save_state_to", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--progress/--no-progress", default=True)
def main(**options: Any) -> None:
    """Entry point for torchrun: python -m forensiccodec.train.codec_training --data DIR -q Q ..."""
    from ..errors import FccError

    try:
        summary = train_codec_command(**options)
    except FccError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    main()
