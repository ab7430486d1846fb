"""The codec campaign's learning curve: held-out PSNR and bpp against CPU-hours of training.

Reads the `train_log.jsonl` of each rate point's run (the `{"step", "validation", "train_seconds"}`
records that `fcc train-codec --validate-every N` writes; `train_seconds` adds up every stint of a
resumed run) and draws PSNR and bpp against training hours, one line per rate point, with the
shipped codec's held-out point (step 0 of a run warm-started from it) as the start.

    python scripts/plot_learning_curve.py runs/campaign/q*/train_log.jsonl -o weights/learning_curve.png \
        --json weights/learning_curve.json

A run warm-started from another rate point (`--init-from`) can name that run's log with
`--offset q3=runs/campaign/q4/train_log.jsonl`, so that its hours start where its source's ended.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def validations(log: Path) -> list[dict[str, float]]:
    """The validation records of a training log, in order, with hours of training."""
    points = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "validation" in record and "train_seconds" in record:
            points.append({"step": record["step"], "hours": record["train_seconds"] / 3600, **record["validation"]})
    return points


def rate_point_of(log: Path) -> str:
    match = re.search(r"q([1-4])", str(log.parent.name)) or re.search(r"q([1-4])", str(log))
    return f"q{match.group(1)}" if match else log.parent.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", help="train_log.jsonl files, each optionally as LABEL=LOG")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--offset", action="append", default=[], help="Q=LOG: start Q's hours where LOG's run ended")
    args = parser.parse_args()
    curves: dict[str, list[dict[str, Any]]] = {}
    for spec in args.logs:
        label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        curves[label or rate_point_of(Path(path))] = validations(Path(path))
    for spec in args.offset:
        name, _, source = spec.partition("=")
        start = validations(Path(source))[-1]["hours"] if validations(Path(source)) else 0.0
        for point in curves.get(name, []):
            point["hours"] += start
    figure, (psnr_axis, bpp_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in sorted(curves.items()):
        hours = [p["hours"] for p in points]
        psnr_axis.plot(hours, [p["psnr"] for p in points], marker="o", label=name)
        bpp_axis.plot(hours, [p["bpp"] for p in points], marker="o", label=name)
    psnr_axis.set(xlabel="hours of training (wall clock, a 2-core CPU)", ylabel="held-out PSNR (dB)", title="distortion")
    bpp_axis.set(xlabel="hours of training (wall clock, a 2-core CPU)", ylabel="held-out bpp (model estimate)", title="rate")
    for axis in (psnr_axis, bpp_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=110)
    if args.json is not None:
        args.json.write_text(json.dumps(curves, indent=1) + "\n")
    for name, points in sorted(curves.items()):
        last = points[-1]
        print(f"{name}: {len(points)} points, last at step {last['step']} after {last['hours']:.2f} h: "
              f"{last['psnr']:.2f} dB at {last['bpp']:.4f} bpp")


if __name__ == "__main__":
    main()
