"""Time and peak memory of `fcc encode` / `fcc decode` on large photographs, coded in tiles.

Each measurement runs in a fresh process through the same API calls as the command line
(`api.encode_file`, then the decoder pasting tiles into a `SampleCanvas` and writing the PNG) and
reports seconds, seconds per megapixel and the peak resident memory above the process once the
model is loaded (`ru_maxrss` after minus before; the input image and everything kept whole count).
The test images are a held-out photograph resized (bicubic) to each size. `paper` runs with random
weights (`torch.manual_seed(0)`): only its time and memory mean anything. ``--decode-threads``
decodes each file once per torch thread count (a tiled file decodes that many tiles at once) and
checks that every count writes the same PNG bytes.

    python scripts/benchmark_large_images.py --megapixels 1,12,48 --configs small --json runs/large.json
    python scripts/benchmark_large_images.py --megapixels 12 --decode-threads 1,2
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


def test_image(megapixels: float, folder: Path, photograph: Path = SOURCE) -> Path:
    from PIL import Image

    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    path = folder / f"{photograph.stem}-{width}x{height}.png"
    if not path.exists():
        with Image.open(photograph) as source:
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


def worker(operation: str, config: str, source: Path, target: Path, threads: int) -> dict[str, float]:
    """One operation in this process (``threads``: torch's thread count, 0 for its default): seconds
    and peak bytes above the loaded model."""
    import torch

    from forensiccodec import api
    from forensiccodec.codec import pipeline
    from forensiccodec.images import ColorMode, SampleCanvas

    if threads:
        torch.set_num_threads(threads)
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
    parser.add_argument("--source", type=Path, default=SOURCE, help="the photograph resized to each size")
    parser.add_argument("--decode-threads", default="0", help="torch thread counts to decode with (0: its default)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        operation, config, source, target, threads = args.worker
        print(json.dumps(worker(operation, config, Path(source), Path(target), int(threads))))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    decode_threads = [int(t) for t in args.decode_threads.split(",")]
    rows = []
    for config in args.configs.split(","):
        for megapixels in (float(m) for m in args.megapixels.split(",")):
            image = test_image(megapixels, args.work, args.source)
            encoded = image.with_suffix(f".{config}.fcc")
            row = {"config": config, "image": image.name, "megapixels": megapixels}
            runs = [("encode", image, encoded, 0, "encode")]
            runs += [("decode", encoded, image.with_suffix(f".{config}.decoded-{t}.png"), t,
                      "decode" if len(decode_threads) == 1 else f"decode at {t} threads") for t in decode_threads]
            for operation, source, target, threads, key in runs:
                done = subprocess.run([sys.executable, __file__, "--worker", operation, config, str(source), str(target),
                                       str(threads)], capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                row[key] = {**result, "seconds_per_megapixel": result["seconds"] / megapixels}
                print(f"{config} {image.name}: {key} {result['seconds']:.1f} s "
                      f"({result['seconds'] / megapixels:.2f} s/MP, {result['peak_bytes'] / 2**20:.0f} MiB)", flush=True)
            decoded = {target.read_bytes() for operation, _, target, _, _ in runs if operation == "decode"}
            row["decodes_agree"] = len(decoded) == 1
            if len(decode_threads) > 1:
                print(f"{config} {image.name}: every thread count wrote the same PNG: {row['decodes_agree']}", flush=True)
            rows.append(row)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
