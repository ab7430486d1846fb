"""Time and peak memory of `fcc encode` / `fcc decode` on large photographs, coded in tiles.

Each measurement runs in a fresh process through the same API calls as the command line
(`api.encode_file`, then the decoder pasting tiles into a `SampleCanvas` and writing the PNG) and
reports seconds, seconds per megapixel and the peak resident memory above the process once the
model is loaded (`ru_maxrss` after minus before; the input image and everything kept whole count).
The test images are a held-out photograph resized (bicubic) to each size. `paper` runs with random
weights (`torch.manual_seed(0)`): only its time and memory mean anything.

    python scripts/benchmark_large_images.py --megapixels 1,12,48 --configs small --json runs/large.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SOURCE = Path("datasets/photos/holdout/mate-Dune.png")


def test_image(megapixels: float, folder: Path) -> Path:
    from PIL import Image

    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    path = folder / f"{width}x{height}.png"
    if not path.exists():
        with Image.open(SOURCE) as source:
            source.convert("RGB").resize((width, height), Image.BICUBIC).save(path)
    return path


def load_codec(config: str):  # type: ignore[no-untyped-def]
    from forensiccodec import api

    if config == "small":
        return api.CodecStore().get("small", 3)
    import torch

    from forensiccodec.codec.config import get_config
    from forensiccodec.codec.entropy_coding import EntropyTables
    from forensiccodec.codec.tic import TIC
    from forensiccodec.rate_points import rate_point_for_quality
    from forensiccodec.zoo import LoadedCodec

    torch.manual_seed(0)
    model = TIC(get_config(config)).eval()
    return LoadedCodec(model, EntropyTables.from_model(model), config, rate_point_for_quality(3), "cd" * 32)


def worker(operation: str, config: str, source: Path, target: Path) -> dict[str, float]:
    """One operation in this process: seconds and peak bytes above the loaded model."""
    from forensiccodec import api
    from forensiccodec.codec import pipeline
    from forensiccodec.images import ColorMode, SampleCanvas

    codec = load_codec(config)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if operation == "encode":
        api.encode_file(codec, source, target, overwrite=True)
    else:
        fcc, _ = api.read_fcc_file(source)
        header = fcc.header
        canvas = SampleCanvas(header.height, header.width, mode=ColorMode(header.color_mode), bit_depth=header.bit_depth)
        pipeline.decompress_fcc(codec.model, codec.tables, fcc, canvas=canvas)
        canvas.save(target, overwrite=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"seconds": seconds, "peak_bytes": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", default="1,12,48")
    parser.add_argument("--configs", default="small")
    parser.add_argument("--work", type=Path, default=Path("runs/large-images"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        operation, config, source, target = args.worker
        print(json.dumps(worker(operation, config, Path(source), Path(target))))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for config in args.configs.split(","):
        for megapixels in (float(m) for m in args.megapixels.split(",")):
            image = test_image(megapixels, args.work)
            encoded, decoded = image.with_suffix(f".{config}.fcc"), image.with_suffix(f".{config}.decoded.png")
            row = {"config": config, "image": image.name, "megapixels": megapixels}
            for operation, source, target in (("encode", image, encoded), ("decode", encoded, decoded)):
                done = subprocess.run([sys.executable, __file__, "--worker", operation, config, str(source), str(target)],
                                      capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                row[operation] = {**result, "seconds_per_megapixel": result["seconds"] / megapixels}
            rows.append(row)
            print(f"{config} {image.name}: encode {row['encode']['seconds']:.1f} s "
                  f"({row['encode']['seconds_per_megapixel']:.2f} s/MP, {row['encode']['peak_bytes'] / 2**20:.0f} MiB), "
                  f"decode {row['decode']['seconds']:.1f} s ({row['decode']['seconds_per_megapixel']:.2f} s/MP, "
                  f"{row['decode']['peak_bytes'] / 2**20:.0f} MiB)", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
