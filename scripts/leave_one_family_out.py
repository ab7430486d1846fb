"""Leave-one-family-out: how a detector does on a generator family it was never shown.

For every generator family of a demo set built with ``fcc demo-data --families ...``, a detector
is trained (``fcc train-detector``) on the train split without that family's synthetic tiles
(and, in a paired set, without their real twins, so the classes stay matched), then scored on
the test split's real tiles and that family's synthetic tiles. One more detector, trained on
every family, gives the in-family numbers. Every accuracy and AUC comes with its 95 % bootstrap
interval over images.

    python scripts/leave_one_family_out.py --data datasets/demo-families --out runs/lofo \
        --steps 600 --patches 32 --top 24

Each run's weights and test scores are kept under OUT/<run>/, so an interrupted study resumes
where it stopped; OUT/lofo.json and OUT/lofo.md hold the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from forensiccodec.data.layout import CLASSES
from forensiccodec.detector.evaluation import evaluate_files, summarise

ALL_FAMILIES_RUN = "all-families"


def _families(manifest: dict) -> dict[str, list[str]]:
    if "families" not in manifest:
        sys.exit("error: this demo set has one generator family; build it with `fcc demo-data --families all`")
    return {family: record["generators"] for family, record in manifest["families"].items()}


def _twin_key(image: dict) -> tuple:
    return image["split"], image["source_photo"], tuple(image["box"])


def _link_view(data: Path, manifest: dict, left_out: set[str], view: Path) -> None:
    """DATA's train and val images without the left-out generators' tiles (hard links)."""
    dropped = {_twin_key(i) for i in manifest["images"] if i["generator"] in left_out}
    paired = manifest["settings"].get("paired", False)
    for split in ("train", "val"):
        for label in CLASSES:
            (view / split / label).mkdir(parents=True, exist_ok=True)
    for image in manifest["images"]:
        if image["split"] not in ("train", "val"):
            continue
        if image["generator"] in left_out or (paired and image["label"] == "real" and _twin_key(image) in dropped):
            continue
        target = view / image["file"]
        if not target.exists():
            os.link(data / image["file"], target)


def _train(view: Path, run_dir: Path, args: argparse.Namespace) -> Path:
    weights = run_dir / "weights" / f"detector-{args.config}.safetensors"
    if weights.is_file():
        return weights
    command = [
        sys.executable, "-m", "forensiccodec", "train-detector", "--data", str(view), "--config", args.config,
        "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
        "--seed", str(args.seed), "--checkpoint-dir", str(run_dir / "checkpoints"),
        "--weights-dir", str(run_dir / "weights"), "--force",
        # the closing validation scores every val image: as few patches as the test uses
        "--val-patches", str(args.patches), "--val-top", str(args.top),
    ]
    if args.recipe is not None:
        command += ["--recipe", str(args.recipe)]
    if (run_dir / "checkpoints" / "last.pt").is_file():
        command.append("--resume")
    subprocess.run(command, check=True)
    return weights


def _scores(weights: Path, data: Path, images: list[dict], run_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    """Test score of every image (cached in RUN/scores.json)."""
    from forensiccodec.detector.weights import detector_from_file

    cache = run_dir / "scores.json"
    scores: dict[str, float] = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [i for i in images if i["file"] not in scores]
    if missing:
        detector = detector_from_file(weights)
        samples = [(data / i["file"], int(i["label"] == "synthetic")) for i in missing]
        evaluation = evaluate_files(detector, samples, n_patches=args.patches, top_m=args.top)
        files = evaluation.real_files + evaluation.synthetic_files
        for path, score in zip(files, evaluation.real_scores + evaluation.synthetic_scores):
            scores[str(Path(path).relative_to(data))] = score
        cache.write_text(json.dumps(scores, indent=0))
    return scores


def _row(run: str, family: str, held_out: bool, real: list[float], synthetic: list[float]) -> dict:
    evaluation = summarise(real, synthetic)
    return {
        "run": run, "family": family, "held_out": held_out,
        **{key: value for key, value in evaluation.summary().items() if key not in ("transform", "n_patches", "top_m", "seconds")},
    }


def _markdown(rows: list[dict], args: argparse.Namespace) -> str:
    def show(row: dict, key: str) -> str:
        low, high = row[f"{key}_ci"]
        return f"{row[key]:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{row[key]:.3f}"

    lines = [
        f"Detector `{args.config}`, {args.steps} steps; test scores on {args.patches} patches (top {args.top}).",
        "",
        "| synthetic family | detector trained on | AUC [95 % CI] | accuracy | real acc. | synthetic acc. | real / synthetic |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        trained = "all but this family (held out)" if row["held_out"] else "all families"
        lines.append(f"| {row['family']} | {trained} | {show(row, 'auc')} | {show(row, 'accuracy')} | "
                     f"{show(row, 'real_accuracy')} | {show(row, 'synthetic_accuracy')} | {row['n_real']} / {row['n_synthetic']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a demo set built with --families")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--families", default=None, help="comma-separated families to hold out (default: every one)")
    parser.add_argument("--config", default="small")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patches", type=int, default=32, help="patches per test image")
    parser.add_argument("--top", type=int, default=24)
    parser.add_argument("--recipe", type=Path, default=None, help="a training recipe for fcc train-detector (docs/training.md)")
    args = parser.parse_args()

    manifest = json.loads((args.data / "manifest.json").read_text())
    families = _families(manifest)
    held_out = list(families) if args.families is None else args.families.split(",")
    test = [i for i in manifest["images"] if i["split"] == "test"]
    real_test = [i for i in test if i["label"] == "real"]
    rows = []
    for run, left_out in [(ALL_FAMILIES_RUN, None), *((f"without-{f}", f) for f in held_out)]:
        run_dir = args.out / run
        view = run_dir / "data"
        _link_view(args.data, manifest, set(families[left_out]) if left_out else set(), view)
        weights = _train(view, run_dir, args)
        wanted = test if left_out is None else real_test + [i for i in test if i["generator"] in families[left_out]]
        scores = _scores(weights, args.data, wanted, run_dir, args)
        real = [scores[i["file"]] for i in real_test]
        for family, generators in families.items():
            if left_out is not None and family != left_out:
                continue
            synthetic = [scores[i["file"]] for i in test if i["generator"] in generators]
            rows.append(_row(run, family, left_out is not None, real, synthetic))
        (args.out / "lofo.json").write_text(json.dumps({"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                                                        "rows": rows}, indent=1) + "\n")
        (args.out / "lofo.md").write_text(_markdown(rows, args))
        print(_markdown(rows, args), flush=True)


if __name__ == "__main__":
    main()
