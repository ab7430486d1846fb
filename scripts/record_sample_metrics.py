"""Record, in weights/manifest.json, what the shipped codecs give on the shipped sample photograph.

    python scripts/record_sample_metrics.py [--config small] [--image samples/astronaut.png]

For every registered quality: the .fcc file's bytes and bpp and the decoded PNG's PSNR, stored
under ``metrics.sample`` of the manifest entry. `tests/test_shipped_weights.py` checks that a
fresh encode → decode reproduces them, so the manifest can never drift from the weights.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from forensiccodec.api import CodecStore, round_trip
from forensiccodec.rate_points import RATE_POINTS
from forensiccodec.zoo import Manifest, codec_entry_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--image", type=Path, default=Path("samples/astronaut.png"))
    parser.add_argument("--weights-dir", type=Path, default=None)
    args = parser.parse_args()
    store = CodecStore(args.weights_dir)
    manifest = Manifest.load(args.weights_dir)
    with tempfile.TemporaryDirectory() as work:
        for point in RATE_POINTS:
            name = codec_entry_name(args.config, point.quality)
            if name not in manifest.entries:
                continue
            report = round_trip(store.get(args.config, point.quality), store, args.image, Path(work))
            metrics = manifest.entries[name].extra.setdefault("metrics", {})
            metrics["sample"] = {
                "image": args.image.as_posix(),
                "file_bytes": report.encode.file_bytes,
                "bpp": round(report.encode.bpp, 6),
                "psnr": round(report.psnr, 4),
                "command": "python scripts/record_sample_metrics.py",
            }
            print(f"{name}: {report.encode.file_bytes} bytes, {report.encode.bpp:.4f} bpp, {report.psnr:.2f} dB")
    manifest.save()


if __name__ == "__main__":
    main()
