"""Tiled against whole-image coding on photographs small enough to code whole.

Each photograph is encoded and decoded twice with the registered codec, as real `.fcc` files:
whole (no tiles) and in tiles small enough to cut it (default 256-pixel tiles with 128 pixels of
context, the overlap `fcc` uses). Reported per photograph: bpp of both files, PSNR of both decoded
PNGs against the original, and the largest difference between the two decoded images, overall
and within 8 pixels of a tile border. Writes a Markdown table, JSON, and a zoomed crop across a
tile corner (whole | tiled | difference x 64).

    python scripts/tiling_parity.py --images datasets/photos/holdout --quality 3 \
        --json runs/tiling-parity.json --crop docs/tiling_border.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from forensiccodec import api
from forensiccodec.codec.tiling import LATENT_STRIDE, Tiling
from forensiccodec.data.crops import list_images
from forensiccodec.images import load_image, psnr, to_uint8

BORDER = 8  # pixels on each side of a tile border that count as "along the border"


def code(codec, store, image: Path, folder: Path, name: str, tiling: Tiling | None) -> tuple[float, np.ndarray]:
    encoded, decoded = folder / f"{name}.fcc", folder / f"{name}.png"
    report = api.encode_file(codec, image, encoded, tiling=tiling, overwrite=True)
    api.decode_file(store, encoded, decoded, overwrite=True)
    return report.bpp, np.asarray(Image.open(decoded).convert("RGB"))


def border_mask(height: int, width: int, tile_pixels: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for edge in range(tile_pixels, height, tile_pixels):
        mask[max(0, edge - BORDER) : edge + BORDER, :] = True
    for edge in range(tile_pixels, width, tile_pixels):
        mask[:, max(0, edge - BORDER) : edge + BORDER] = True
    return mask


def corner_crop(whole: np.ndarray, tiled: np.ndarray, tile_pixels: int, size: int = 48, zoom: int = 6) -> Image.Image:
    """whole | tiled | |difference| x 64 around the first tile corner, each zoomed ``zoom`` times."""
    top, left = tile_pixels - size // 2, tile_pixels - size // 2
    parts = [whole[top : top + size, left : left + size], tiled[top : top + size, left : left + size]]
    difference = np.abs(parts[0].astype(np.int16) - parts[1].astype(np.int16)) * 64
    parts.append(np.clip(difference, 0, 255).astype(np.uint8))
    strip = np.concatenate([np.pad(p, ((0, 0), (0, 4), (0, 0)), constant_values=255) for p in parts], axis=1)
    return Image.fromarray(strip).resize((strip.shape[1] * zoom, strip.shape[0] * zoom), Image.NEAREST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--tile", type=int, default=16, help="tile size in latents (16 pixels each)")
    parser.add_argument("--overlap", type=int, default=8, help="context in latents")
    parser.add_argument("--weights-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--crop", type=Path, default=None, help="write a zoomed crop across a tile corner here")
    args = parser.parse_args()
    tiling = Tiling(args.tile, args.overlap)
    tile_pixels = args.tile * LATENT_STRIDE
    store = api.CodecStore(args.weights_dir)
    codec = store.get(args.config, args.quality)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for image in list_images(args.images):
            original = load_image(image).pixels
            whole_bpp, whole = code(codec, store, image, Path(folder), "whole", None)
            tiled_bpp, tiled = code(codec, store, image, Path(folder), "tiled", tiling)
            difference = np.abs(whole.astype(np.int16) - tiled.astype(np.int16)).max(axis=2)
            mask = border_mask(*difference.shape, tile_pixels)
            to_tensor = lambda a: __import__("torch").from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255
            rows.append({
                "image": image.name, "size": f"{whole.shape[1]}x{whole.shape[0]}",
                "whole_bpp": whole_bpp, "tiled_bpp": tiled_bpp,
                "whole_psnr": psnr(original, to_tensor(whole)), "tiled_psnr": psnr(original, to_tensor(tiled)),
                "max_difference": int(difference.max()), "max_difference_at_borders": int(difference[mask].max()),
                "pixels_differing": int((difference > 0).sum()), "pixels": int(difference.size),
            })
            if args.crop is not None and len(rows) == 1:
                args.crop.parent.mkdir(parents=True, exist_ok=True)
                corner_crop(to_uint8(to_tensor(whole)), tiled, tile_pixels).save(args.crop)
    print(f"{args.config} q{args.quality}, tiles of {tile_pixels} px with {args.overlap * LATENT_STRIDE} px of context\n")
    print("| photograph | size | bpp whole | bpp tiled | Δ bpp | PSNR whole | PSNR tiled | Δ PSNR | max |Δ| | at borders | pixels differing |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['image']} | {r['size']} | {r['whole_bpp']:.4f} | {r['tiled_bpp']:.4f} | "
              f"{100 * (r['tiled_bpp'] / r['whole_bpp'] - 1):+.2f} % | {r['whole_psnr']:.3f} | {r['tiled_psnr']:.3f} | "
              f"{r['tiled_psnr'] - r['whole_psnr']:+.3f} | {r['max_difference']} | {r['max_difference_at_borders']} | "
              f"{r['pixels_differing']} of {r['pixels']} |")
    bpp_change = statistics.mean(r["tiled_bpp"] / r["whole_bpp"] - 1 for r in rows)
    psnr_change = statistics.mean(r["tiled_psnr"] - r["whole_psnr"] for r in rows)
    print(f"\nmean Δ bpp {100 * bpp_change:+.3f} %, mean Δ PSNR {psnr_change:+.4f} dB")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tiling": [args.tile, args.overlap], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
