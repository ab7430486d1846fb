"""An open-set score beside the detector: how far an image lies from real photographs.

A classifier trained on some generator families can read an unseen family as *more real than
real*. This script tests whether such images still stand apart from real photographs in the
detector's own feature space. For each leave-one-family-out detector of
``scripts/leave_one_family_out.py`` it

1. scores every tile with the detector (top-M mean of patch scores, as ``fcc eval``) and keeps
   the tile's mean patch feature (the pooled head activation the classifier reads);
2. fits a Gaussian (Ledoit-Wolf shrinkage) to the features of the run's real training tiles;
3. turns the classifier score and the Mahalanobis distance into tail probabilities against the
   run's real validation tiles, u = (1 + #{real val >= s}) / (n + 1), and combines them as
   -log min(u_classifier, u_distance), shifted so that 0 is the threshold min(u) = 0.025;
4. reports AUC and accuracy with 95 % bootstrap intervals for the classifier, the distance and
   the combination, on the test split (the held-out family for a ``without-*`` run).

    python scripts/real_photo_model.py --data datasets/demo-families --lofo runs/lofo-2000 \
        --runs all-families,without-vae,without-diffusion --out runs/real-photo-model

Features are cached per run in OUT/<run>/features.npz, so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from forensiccodec.detector import patches as P
from forensiccodec.detector.evaluation import summarise
from forensiccodec.detector.model import SYNTHETIC_CLASS, PatchDetector
from forensiccodec.detector.weights import detector_from_file
from forensiccodec.images import load_image

SCORES = ("classifier", "distance", "combined")


@torch.inference_mode()
def score_and_feature(detector: PatchDetector, path: Path, n_patches: int, top_m: int) -> tuple[float, np.ndarray]:
    """The detector's image score and the mean pooled head feature over the same patches."""
    image = load_image(path).pixels.float()  # [1,3,H,W]
    prepared = P.prepare_image(image, patch_size=detector.patch_size)[0]
    height, width = prepared.shape[-2:]
    positions = P.sample_positions(height, width, n_patches, detector.patch_size, P.make_generator(detector.seed))
    patches = P.normalize(P.extract_patches(prepared, positions, detector.patch_size))
    features = detector.backbone.forward_features(patches.contiguous(memory_format=torch.channels_last))
    logits = detector.backbone.logits_from_features(features)[:, SYNTHETIC_CLASS].float()
    score, _ = P.aggregate_top_mean(logits, top_m)
    return score, features[-1].mean(dim=(2, 3)).mean(dim=0).double().numpy()


def ledoit_wolf(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and shrunk covariance (Ledoit & Wolf 2004, shrinkage towards a scaled identity)."""
    n, d = features.shape
    mean = features.mean(axis=0)
    centred = features - mean
    sample = centred.T @ centred / n
    target = np.trace(sample) / d
    distance = np.sum((sample - target * np.eye(d)) ** 2)
    spread = sum(np.sum((np.outer(x, x) - sample) ** 2) for x in centred) / n**2
    shrinkage = 0.0 if distance == 0 else min(1.0, spread / distance)
    return mean, (1 - shrinkage) * sample + shrinkage * target * np.eye(d)


def mahalanobis(features: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    centred = features - mean
    return np.einsum("ij,ij->i", centred @ np.linalg.inv(covariance), centred)


def tail_probability(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """u = (1 + #{reference >= s}) / (n + 1): small when s is higher than real photographs get."""
    ordered = np.sort(reference)
    at_least = ordered.size - np.searchsorted(ordered, scores, side="left")
    return (1 + at_least) / (ordered.size + 1)


def run_features(detector_file: Path, data: Path, view: Path, test_files: list[str], cache: Path,
                 n_patches: int, top_m: int) -> dict[str, dict[str, np.ndarray]]:
    """{group: {"files", "scores", "features"}} for the run's real train and val tiles and the test files."""
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        return {g: {k: stored[f"{g}.{k}"] for k in ("files", "scores", "features")} for g in ("train", "val", "test")}
    detector = detector_from_file(detector_file)
    groups = {
        "train": sorted(str(p) for p in (view / "train" / "real").iterdir()),
        "val": sorted(str(p) for p in (view / "val" / "real").iterdir()),
        "test": [str(data / f) for f in test_files],
    }
    result = {}
    for group, files in groups.items():
        rows = [score_and_feature(detector, Path(f), n_patches, top_m) for f in files]
        result[group] = {"files": np.array(files), "scores": np.array([r[0] for r in rows]),
                         "features": np.stack([r[1] for r in rows])}
        print(f"{cache.parent.name}: {group} {len(files)} tiles", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"{g}.{k}": v for g, d in result.items() for k, v in d.items()})
    return result


def open_set_scores(groups: dict[str, dict[str, np.ndarray]], alpha: float) -> dict[str, np.ndarray]:
    """Test scores of the classifier, the distance and their combination (0 = threshold)."""
    mean, covariance = ledoit_wolf(groups["train"]["features"])
    val_distance = mahalanobis(groups["val"]["features"], mean, covariance)
    test_distance = mahalanobis(groups["test"]["features"], mean, covariance)
    u_classifier = tail_probability(groups["test"]["scores"], groups["val"]["scores"])
    u_distance = tail_probability(test_distance, val_distance)
    combined = -np.log(np.minimum(u_classifier, u_distance)) + math.log(alpha)
    # the distance alone, centred on its own alpha-tail of real val tiles, so 0 is its threshold too
    distance = -np.log(u_distance) + math.log(alpha)
    return {"classifier": groups["test"]["scores"], "distance": distance, "combined": combined}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the demo set the LOFO study used")
    parser.add_argument("--lofo", type=Path, required=True, help="a scripts/leave_one_family_out.py output folder")
    parser.add_argument("--runs", default="all-families", help="comma-separated runs of that study")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--patches", type=int, default=32)
    parser.add_argument("--top", type=int, default=24)
    parser.add_argument("--alpha", type=float, default=0.025, help="tail probability at the combined threshold")
    args = parser.parse_args()

    manifest = json.loads((args.data / "manifest.json").read_text())
    families = {family: set(record["generators"]) for family, record in manifest["families"].items()}
    test = [i for i in manifest["images"] if i["split"] == "test"]
    rows = []
    for run in args.runs.split(","):
        left_out = run.removeprefix("without-") if run.startswith("without-") else None
        wanted = [i for i in test if i["label"] == "real" or left_out is None or i["generator"] in families[left_out]]
        groups = run_features(args.lofo / run / "weights" / "detector-small.safetensors", args.data,
                              args.lofo / run / "data", [i["file"] for i in wanted],
                              args.out / run / "features.npz", args.patches, args.top)
        scores = open_set_scores(groups, args.alpha)
        is_real = np.array([i["label"] == "real" for i in wanted])
        for family in ([left_out] if left_out else families):
            of_family = np.array([i["generator"] in families[family] for i in wanted])
            for name in SCORES:
                evaluation = summarise(scores[name][is_real], scores[name][of_family]).summary()
                rows.append({"run": run, "family": family, "held_out": left_out is not None, "score": name,
                             **{k: evaluation[k] for k in ("auc", "auc_ci", "accuracy", "real_accuracy",
                                                          "synthetic_accuracy", "n_real", "n_synthetic")}})
                print(f"{run:22s} {family:17s} {name:10s} AUC {evaluation['auc']:.3f} {evaluation['auc_ci']} "
                      f"real acc {evaluation['real_accuracy']:.3f} synthetic acc {evaluation['synthetic_accuracy']:.3f}",
                      flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "open_set.json").write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
