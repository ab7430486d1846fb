"""Forensic runs on the accuracy–fidelity plane, and the choice among them by the selection rule.

Reads each run's checkpoint folder: its `train_log.jsonl` (the `{"step", "validation"}` records
of `fcc train-adapter --validate-every N`) and its `base_validation.json` (the base codec without
adapters on the same val tiles and patches). Draws val accuracy against val PSNR, one line per run
through its validations in step order, the base codec as a star and the PSNR bound (the base's
PSNR minus `--psnr-bound` dB) as a dashed line.

    python scripts/plot_accuracy_fidelity.py "paper, F=1=runs/forensic-v2/q1-paper-f1" \
        "paper, F=0=runs/forensic-v2/q1-paper-f0" -o docs/experiments/q1-accuracy-fidelity.png --json runs/q1-af.json

The choice follows the rule of docs/experiments/2026-12-forensic-weights-v2.md: each run offers
the validation that `--keep-best` exports (the highest accuracy, then AUC; the earliest among
equals); of the runs whose offer keeps its PSNR within the bound, the highest accuracy, then AUC,
wins; if none does, the highest accuracy, flagged as missing the bound.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def run_validations(folder: Path) -> list[dict[str, float]]:
    """The val-split records of one run, in step order (a resumed run's stints together)."""
    points: dict[int, dict[str, float]] = {}
    for line in (folder / "train_log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "validation" in record:
            points[int(record["step"])] = {"step": int(record["step"]), **record["validation"]}
    return [points[step] for step in sorted(points)]


def base_scores(folder: Path) -> dict[str, float] | None:
    """The base codec's scores recorded in a run's folder, if it has them."""
    path = folder / "base_validation.json"
    return json.loads(path.read_text())["metrics"] if path.exists() else None


# The estimated bpp sums −log2 of float32 likelihoods, some near the entropy model's lower bound,
# over every val tile: runs of one base on one split differ in its fourth digit (measured: 2.6e-4),
# while the detector's scores and the PSNR agree to the last.
TOLERANCES = {"est_bpp": 1e-3}


def same_scores(first: dict[str, float], second: dict[str, float]) -> bool:
    """Whether two base records are one measurement (equal up to float noise: thread counts may
    differ between runs)."""
    return first.keys() == second.keys() and all(
        math.isclose(first[k], second[k], rel_tol=TOLERANCES.get(k, 1e-4)) for k in first)


def kept(points: list[dict[str, float]]) -> dict[str, float]:
    """The validation --keep-best exports: highest (accuracy, AUC), the earliest among equals."""
    best = points[0]
    for point in points[1:]:
        if (point["accuracy"], point["auc"]) > (best["accuracy"], best["auc"]):
            best = point
    return best


def choose(offers: dict[str, dict[str, float]], psnr_floor: float) -> dict[str, Any]:
    """The selection rule over the runs' kept validations."""
    within = {name: point for name, point in offers.items() if point["psnr"] >= psnr_floor}
    pool = within or offers
    name = max(pool, key=lambda n: (pool[n]["accuracy"], pool[n]["auc"]))
    return {"run": name, "step": pool[name]["step"], "within_psnr_bound": bool(within), "validation": pool[name]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="checkpoint folders, each optionally as LABEL=FOLDER")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--psnr-bound", type=float, default=3.0, help="dB under the base codec's val PSNR")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {}
    base = None
    for spec in args.runs:
        label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        folder = Path(path)
        points = run_validations(folder)
        if not points:
            parser.error(f"{folder} has no validation records (train with --validate-every)")
        runs[label or folder.name] = points
        scores = base_scores(folder)
        if base is not None and scores is not None and not same_scores(scores, base):
            parser.error(f"{folder} was validated against another base codec or val split than the runs before it")
        base = base or scores
    if base is None:
        parser.error("no run folder holds base_validation.json (the base codec's val scores)")
    floor = base["psnr"] - args.psnr_bound
    offers = {name: kept(points) for name, points in runs.items()}
    choice = choose(offers, floor)

    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for name, points in runs.items():
        axis.plot([p["psnr"] for p in points], [p["accuracy"] for p in points], marker="o", label=name)
        axis.annotate(f"{points[-1]['step']}", (points[-1]["psnr"], points[-1]["accuracy"]), fontsize=7,
                      xytext=(3, 3), textcoords="offset points")
    axis.scatter([base["psnr"]], [base["accuracy"]], marker="*", s=160, color="black", zorder=3,
                 label="base codec, no adapters")
    axis.axvline(floor, linestyle="--", color="grey", label=f"PSNR bound (base − {args.psnr_bound:g} dB)")
    axis.set(xlabel="val PSNR (dB)", ylabel="val accuracy", title="accuracy against fidelity, val split")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=110)
    if args.json is not None:
        args.json.write_text(json.dumps({"base": base, "psnr_floor": floor, "runs": runs, "kept": offers,
                                         "choice": choice}, indent=1) + "\n")
    print(f"base codec: accuracy {base['accuracy']:.3f}, AUC {base['auc']:.3f}, {base['psnr']:.2f} dB "
          f"(PSNR bound {floor:.2f} dB)")
    for name, point in offers.items():
        print(f"{name}: kept step {point['step']}: accuracy {point['accuracy']:.3f}, AUC {point['auc']:.3f}, "
              f"{point['psnr']:.2f} dB")
    bound = "" if choice["within_psnr_bound"] else " (no run keeps the PSNR bound)"
    print(f"chosen by the rule: {choice['run']}, step {choice['step']}{bound}")


if __name__ == "__main__":
    main()
