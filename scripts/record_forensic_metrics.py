"""Record what `fcc eval` measured for the forensic weights in their manifest entries.

For every point of the adapter and fine-tuned settings in REPORT_JSON, the entry of the
adapters (or of the fine-tuned codec) gets ``metrics[KEY]``: the file bpp, accuracy, AUC,
per-class accuracy and PSNR, with the split, the detector and the patch counts. A point is
recorded only if the sha256 of the weights it was coded with (``weights`` in the report) is the
registered file's, so numbers never attach to weights they were not measured on.

Usage:  python scripts/record_forensic_metrics.py docs/results/q1/report.json [--key demo-test] [--weights-dir weights]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from forensiccodec.errors import FccError
from forensiccodec.zoo import Manifest

FORENSIC_SETTINGS = ("adapters-paper", "adapters-decoder", "finetuned")
COPIED = ("accuracy", "auc", "real_accuracy", "synthetic_accuracy", "bpp_mean", "psnr_mean", "n_real", "n_synthetic")
# reports written before fcc eval gave intervals lack these; they are copied where present
INTERVALS = ("accuracy_ci", "auc_ci", "real_accuracy_ci", "synthetic_accuracy_ci")


def recorded_metrics(report: dict, point: dict) -> dict:
    detector = report["detector"]
    metrics = {
        **{key: point[key] for key in COPIED},
        **{key: point[key] for key in INTERVALS if key in point},
        "data": report["data"], "split": report["split"],
        # which images: a rebuilt set with the same names can hold other pixels
        **({"data_sha256": report["data_sha256"]} if report.get("data_sha256") else {}),
        "detector_sha256": detector["sha256"], "n_patches": detector["n_patches"], "top_m": detector["top_m"],
        "measured_with": "fcc eval (bpp from the .fcc files)",
    }
    frechet = report.get("frechet")
    if frechet is not None and point.get("frechet") is not None:
        # the distance means nothing without its features: FID or the detector's own
        metrics["frechet"] = {"value": point["frechet"], "name": frechet["name"], "is_fid": frechet["is_fid"]}
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--key", default="demo-test", help="name of the measurement in each entry's metrics")
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
        manifest = Manifest.load(args.weights_dir)
    except (OSError, json.JSONDecodeError, FccError) as error:
        raise SystemExit(f"error: {args.report}: {error}") from None
    recorded, refused = [], []
    for setting in report["settings"]:
        if setting["name"] not in FORENSIC_SETTINGS:
            continue
        for point in setting["points"]:
            for name, sha256 in (point.get("weights") or {}).items():
                entry = manifest.entries.get(name)
                if entry is None or entry.kind not in ("adapters", "finetuned-codec"):
                    continue  # the base codec under the adapters has its own measurements
                if entry.sha256 != sha256:
                    refused.append(name)
                    continue
                entry.extra.setdefault("metrics", {})[args.key] = recorded_metrics(report, point)
                recorded.append(name)
    manifest.save()
    print(f"recorded {args.key} for {len(recorded)} entries: {', '.join(recorded) or 'none'}")
    if refused:
        print(f"not recorded (the report was made with other weights): {', '.join(refused)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
