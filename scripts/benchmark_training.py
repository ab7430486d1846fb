"""Training throughput of `fcc train-codec`'s loop, engine paths side by side in one process.

Each path runs the real loop (`train.loop.train_codec`: data, forward, loss, backward, both
optimisers, logging) on the same random crops of a photograph folder. Rounds alternate the
paths, so a slower or busier machine moment hits every path alike; a path's figure is the
median of its timed windows (steps after warm-up, compilation excluded), and ratios are
against the first path, the engine as it was before bf16, compilation and the fused
optimiser (fp32, eager, Adam's per-parameter loop).

    python scripts/benchmark_training.py --data datasets/photos --json runs/bench-training.json

Prints a Markdown table and writes the JSON. Not a test: a timing depends on the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.data.crops import RandomCropDataset
from forensiccodec.train import loop
from forensiccodec.train.codec_training import training_folder
from forensiccodec.train.loop import TrainConfig, train_codec
from forensiccodec.train.precision import cpu_supports_bf16
from forensiccodec.train.rate_distortion import RateDistortionLoss

# name -> (precision, compile, fused Adam)
PATHS: dict[str, tuple[str, bool, bool]] = {
    "before: fp32, eager, Adam loop": ("fp32", False, False),
    "fp32, eager, fused Adam": ("fp32", False, True),
    "bf16 autocast, eager, fused Adam": ("bf16", False, True),
    "bf16 autocast, compiled, fused Adam": ("bf16", True, True),
}


def unfused_adam(parameters: list[torch.nn.Parameter], lr: float, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=lr, foreach=False)


def run_path(name: str, model: TIC, dataset: RandomCropDataset, args: argparse.Namespace, steps: int) -> list[float]:
    """Seconds per step of each timed window of one run of the loop on ``model``."""
    precision, compiled, fused = PATHS[name]
    original = loop._adam
    if not fused:
        loop._adam = unfused_adam
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = TrainConfig(
                steps=steps, batch_size=args.batch_size, crop_size=args.crop_size, checkpoint_dir=folder,
                checkpoint_every=10**9, log_every=args.window, device="cpu", progress=False,
                precision=precision, compile=compiled, seed=0,
            )
            train_codec(model, dataset, RateDistortionLoss(0.0067), config)
            records = [json.loads(line) for line in (Path(folder) / loop.LOG_NAME).read_text().splitlines()]
    finally:
        loop._adam = original
    windows = [r for r in records if "images_per_second" in r][args.warmup_windows:]
    return [args.batch_size / r["images_per_second"] for r in windows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="photographs (DIR/train if present)")
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--window", type=int, default=10, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=3, help="timed windows per path and round")
    parser.add_argument("--warmup-windows", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--paths", default=",".join(str(i) for i in range(len(PATHS))),
                        help="indices of the paths to run, comma-separated (0 is the baseline)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [list(PATHS)[int(i)] for i in args.paths.split(",")]
    if not cpu_supports_bf16():
        names = [n for n in names if PATHS[n][0] != "bf16"]
        print("this CPU has no native bf16: bf16 paths skipped")
    dataset = RandomCropDataset(training_folder(args.data), args.crop_size, epoch_length=1024, seed=0, augment=True)
    steps = args.window * (args.windows + args.warmup_windows)
    torch.manual_seed(0)
    models = {name: TIC(get_config(args.config)) for name in names}  # one per path: compiled code stays warm
    timings: dict[str, list[float]] = {name: [] for name in names}
    started: dict[str, float] = {}
    for round_index in range(args.rounds):
        for name in names:
            began = time.monotonic()
            timings[name] += run_path(name, models[name], dataset, args, steps)
            started.setdefault(name, time.monotonic() - began)
            print(f"round {round_index + 1} {name}: {statistics.median(timings[name]):.3f} s/step", flush=True)
    baseline = statistics.median(timings[names[0]])
    pixels = args.batch_size * args.crop_size**2
    rows: list[dict[str, Any]] = []
    for name in names:
        seconds = statistics.median(timings[name])
        rows.append({
            "path": name, "seconds_per_step": seconds, "images_per_second": args.batch_size / seconds,
            "megapixels_per_second": pixels / seconds / 1e6, "speedup": baseline / seconds,
            "first_run_seconds": started[name], "windows": len(timings[name]),
        })
    print(f"\n{args.config}, batch {args.batch_size}, {args.crop_size}² crops, {args.threads} threads, "
          f"median of {args.windows * args.rounds} windows of {args.window} steps per path\n")
    print("| path | s/step | images/s | Mpixel/s | vs before |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['path']} | {row['seconds_per_step']:.3f} | {row['images_per_second']:.2f} | "
              f"{row['megapixels_per_second']:.3f} | {row['speedup']:.2f}× |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {"processor": platform.processor(), "torch": torch.__version__, "threads": args.threads,
                   "bf16": cpu_supports_bf16()}
        args.json.write_text(json.dumps({"machine": machine, "settings": vars(args) | {"data": str(args.data),
                                         "json": str(args.json)}, "paths": rows}, indent=2))


if __name__ == "__main__":
    main()
