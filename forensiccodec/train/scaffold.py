"""What every `fcc train-*` command does around the loop (`train.loop`): refuse, before any training,
to replace registered weights without --force (or a resume of the run that exported them); run in
torchrun's processes or in one; and report the same run fields in every summary. The commands
differ only in the model, the data, the loss and what they register (`codec_training`,
`forensic_training`, `detector_training`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from forensiccodec.errors import UsageError
from forensiccodec.manifest import Manifest
from forensiccodec.train.distributed import (
    DistributedContext,
    cleanup_distributed,
    setup_distributed,
)
from forensiccodec.train.loop import CHECKPOINT_NAME, TrainResult

# CPU threads per GPU process. Several GPU processes each spawning one CPU thread per core starved
# the GPU (measured: 0.7 steps/s with the default threads, 4.6 steps/s with 4 per process, H200).
CUDA_CPU_THREADS = 4


def may_replace(name: str, weights_dir: Path | None, *, force: bool, resume: bool = False,
                checkpoint_dir: str | Path | None = None) -> bool:
    """Whether exporting may replace the registered weights ``name``; says no before training,
    not after hours of it (the --force rule of every training command).

    Besides --force, a resumed run may replace the set its own last stint exported: a
    --time-budget stop registers what it has, and the next stint's export supersedes it.
    ``checkpoint_dir`` holds the checkpoint a --resume continues."""
    manifest = Manifest.load(weights_dir)
    entry = manifest.entries.get(name)
    if force or entry is None:
        return force
    if resume and checkpoint_dir is not None \
            and _exported_by_last_stint(entry.extra.get("training"), Path(checkpoint_dir) / CHECKPOINT_NAME):
        return True
    raise UsageError(
        f"{name} is already registered in {manifest.directory}; use --force to replace it,"
        " or --no-export to train without registering"
    )


# a run's record rounds its training seconds to 0.1 s and is taken just after the checkpoint
SAME_STINT_SECONDS = 1.0


def _exported_by_last_stint(record: Any, checkpoint: Path) -> bool:
    """Whether a training record is that of the stint that wrote ``checkpoint`` and stopped early:
    the same step and the same training time."""
    if not isinstance(record, dict) or not record.get("stopped_early") or not checkpoint.is_file():
        return False
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        step, seconds = int(state["step"]), float(state.get("total_seconds") or 0.0)
    except Exception:  # an unreadable checkpoint: the resume itself reports it
        return False
    recorded_seconds = record.get("total_seconds")
    return record.get("steps") == step and isinstance(recorded_seconds, (int, float)) \
        and abs(recorded_seconds - seconds) <= SAME_STINT_SECONDS


@contextlib.contextmanager
def training_processes(device: str | None) -> Iterator[DistributedContext]:
    """The process group of this run (torchrun's environment, or one process), torn down after."""
    context = setup_distributed(device or "auto")
    if context.device.type == "cuda" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(CUDA_CPU_THREADS)
    try:
        yield context
    finally:
        cleanup_distributed()


def run_summary(result: TrainResult, context: DistributedContext) -> dict[str, Any]:
    """The fields every training summary (and so every training record) starts with."""
    return {
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "total_seconds": round(result.total_seconds, 1),
        "stopped_early": result.stopped_early,
        "precision": result.precision,
        "final_metrics": {k: round(float(v), 5) for k, v in result.metrics.items()},
        "world_size": context.world_size,
        "device": str(context.device),
    }
