"""What every `fcc train-*` command does around the loop (`train.loop`): refuse, before any training,
to replace registered weights without --force; run in torchrun's processes or in one; and report
the same run fields in every summary. The commands differ only in the model, the data, the loss
and what they register (`codec_training`, `forensic_training`, `detector.training`)."""

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
from forensiccodec.train.loop import TrainResult

# CPU threads per GPU process. Several GPU processes each spawning one CPU thread per core starved
# the GPU (measured: 0.7 steps/s with the default threads, 4.6 steps/s with 4 per process, H200).
CUDA_CPU_THREADS = 4


def refuse_to_replace(name: str, weights_dir: Path | None) -> None:
    """Say so before training, not after hours of it, when exporting would replace the registered
    weights ``name`` (the --force rule of every training command)."""
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries:
        raise UsageError(
            f"{name} is already registered in {manifest.directory}; use --force to replace it,"
            " or --no-export to train without registering"
        )


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
