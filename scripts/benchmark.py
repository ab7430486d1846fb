"""Speed and memory benchmark of the TIC codec on CPU, and the memory scan behind codec/memory.py.

Every measurement runs in a fresh subprocess (this script with ``--worker SPEC``) so that its
peak resident memory belongs to that one operation: the worker imports torch, loads the model
and the input, records its resident set as the baseline, resets the kernel's high-water mark
(``/proc/self/clear_refs``), runs the operation ``repeats`` times and reports the new high-water
mark minus the baseline. Times are medians over the repeats, in seconds per megapixel of the
original image.

    python scripts/benchmark.py                               # small + paper, table and JSON
    python scripts/benchmark.py --configs small --repeats 5 --json out.json
    python scripts/benchmark.py --memory-scan --json scan.json  # peak RSS vs megapixels + fit

The ``paper`` configuration has no shipped weights: it runs with seeded random weights (tables
from ``EntropyTables.from_model``), so its bpp and PSNR mean nothing; only its speed and memory
count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOLDOUT = REPO / "datasets" / "photos" / "holdout"
DEFAULT_PHOTOS = (
    "lomiri-picosdeeuropa_by_Aitzol_Berasategi.png",
    "skimage-astronaut.png",
    "mate-Dune.png",
)
# The fixed-size image every configuration (and the attention comparison) runs on.
CROP_SOURCE = "skimage-retina.png"
CROP_SIZE = (768, 512)  # width, height
SCAN_SOURCE = "lomiri-picosdeeuropa_by_Aitzol_Berasategi.png"
RANDOM_WEIGHTS_SEED = 0
FINGERPRINT_OF_RANDOM_WEIGHTS = bytes(8)
CONSOLE_WIDTH = (
    160  # wide enough for the coding table, also when the output is piped into a file
)


# ---------------------------------------------------------------------------- worker side


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class PeakMemory:
    """Peak resident memory of what runs after `start()`, above the resident set at that moment."""

    def start(self) -> None:
        self.baseline = _proc_status_kib("VmRSS") * 1024
        try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.method = "VmHWM after clear_refs, minus VmRSS at start"
        except OSError:
            import resource

            # Without the reset the high-water mark may predate the start: an underestimate at worst.
            self.baseline = max(
                self.baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            )
            self.method = "ru_maxrss minus max(VmRSS, ru_maxrss) at start"

    def peak_bytes(self) -> int:
        return max(0, _proc_status_kib("VmHWM") * 1024 - self.baseline)


def load_benchmark_codec(config_name: str, quality: int) -> tuple[Any, Any, str, bytes]:
    """(model, tables, weights description, fingerprint): shipped weights if registered, else seeded random."""
    import torch

    from forensiccodec.codec.config import get_config
    from forensiccodec.codec.entropy_coding import EntropyTables
    from forensiccodec.codec.tic import TIC
    from forensiccodec.errors import WeightsError
    from forensiccodec.zoo import load_codec

    try:
        codec = load_codec(config_name, quality)
        return codec.model, codec.tables, f"shipped q{quality}", codec.fingerprint
    except WeightsError:
        torch.manual_seed(RANDOM_WEIGHTS_SEED)
        model = TIC(get_config(config_name)).eval()
        return (
            model,
            EntropyTables.from_model(model),
            f"random (seed {RANDOM_WEIGHTS_SEED})",
            FINGERPRINT_OF_RANDOM_WEIGHTS,
        )


def _encode_once(
    model: Any,
    tables: Any,
    pixels: Any,
    config_name: str,
    quality: int,
    fingerprint: bytes,
) -> tuple[bytes, float]:
    """The .fcc bytes of one image and the seconds spent entropy coding."""
    from forensiccodec.codec import pipeline
    from forensiccodec.codec.bitstream import FccFile, write_fcc
    from forensiccodec.rate_points import rate_point_for_quality

    compressed = pipeline.compress(model, tables, pixels)
    height, width = pixels.shape[-2:]
    fcc = FccFile.build(
        model_name=f"tic-{config_name}",
        quality=quality,
        lmbda=rate_point_for_quality(quality).lmbda,
        weights_fingerprint=fingerprint,
        encoder_adapters=False,
        width=width,
        height=height,
        color_mode=0,
        bit_depth=8,
        z_shape=compressed.z_shape,
        y_shape=compressed.y_shape,
        z_stream=compressed.z_stream,
        y_stream=compressed.y_stream,
    )
    return write_fcc(fcc), compressed.timings.entropy_coding


def _decode_once(model: Any, tables: Any, data: bytes) -> tuple[Any, float]:
    """Pixels decoded from .fcc bytes and the seconds spent entropy decoding."""
    from forensiccodec.codec import pipeline
    from forensiccodec.codec.bitstream import read_fcc

    decoded = pipeline.decompress_fcc(model, tables, read_fcc(data))
    return decoded.pixels, decoded.timings.entropy_coding


def _timed_repeats(
    repeats: int, operation: Any
) -> tuple[list[float], list[float], Any]:
    seconds, entropy_seconds, result = [], [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result, entropy = operation()
        seconds.append(time.perf_counter() - start)
        entropy_seconds.append(entropy)
    return seconds, entropy_seconds, result


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process; see the module docstring."""
    import torch

    torch.set_num_threads(spec["threads"])
    from forensiccodec.images import load_image, pad_to_multiple, psnr

    model, tables, weights, fingerprint = load_benchmark_codec(
        spec["config"], spec["quality"]
    )
    original = load_image(spec["image"]).pixels
    height, width = original.shape[-2:]
    result: dict[str, Any] = {"weights": weights, "width": width, "height": height}
    memory = PeakMemory()
    task = spec["task"]
    if task == "encode":
        memory.start()
        seconds, entropy, data = _timed_repeats(
            spec["repeats"],
            lambda: _encode_once(
                model, tables, original, spec["config"], spec["quality"], fingerprint
            ),
        )
        Path(spec["fcc_path"]).write_bytes(data)
        result.update(file_bytes=len(data), bpp=8 * len(data) / (width * height))
    elif task == "decode":
        data = Path(spec["fcc_path"]).read_bytes()
        memory.start()
        seconds, entropy, decoded = _timed_repeats(
            spec["repeats"], lambda: _decode_once(model, tables, data)
        )
        result.update(psnr=psnr(original, decoded))
    elif task == "attention":
        return _attention_worker(model, pad_to_multiple(original, 64), spec["repeats"])
    else:
        raise ValueError(f"unknown task {task!r}")
    result.update(
        seconds=seconds,
        entropy_seconds=entropy,
        peak_bytes=memory.peak_bytes(),
        baseline_bytes=memory.baseline,
        memory_method=memory.method,
    )
    return result


def _attention_worker(model: Any, x: Any, repeats: int) -> dict[str, Any]:
    """analysis + synthesis with each attention implementation, alternating so load noise hits both."""
    import torch

    seconds: dict[str, list[float]] = {"sdpa": [], "reference": []}
    outputs = {}
    with torch.inference_mode():
        for repeat in range(repeats):
            order = ("sdpa", "reference") if repeat % 2 == 0 else ("reference", "sdpa")
            for impl in order:
                model.set_attention_impl(impl)
                start = time.perf_counter()
                x_hat = model.synthesis(torch.round(model.analysis(x)))
                seconds[impl].append(time.perf_counter() - start)
                outputs.setdefault(impl, x_hat)
    difference = float((outputs["sdpa"] - outputs["reference"]).abs().max())
    return {
        "seconds": seconds,
        "max_abs_difference": difference,
        "width": x.shape[-1],
        "height": x.shape[-2],
    }


# ---------------------------------------------------------------------------- parent side


def run_in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one worker and return its JSON result (the last line it prints)."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(spec["threads"]),
        MKL_NUM_THREADS=str(spec["threads"]),
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            str(Path(__file__).resolve()),
            "--worker",
            json.dumps(spec),
        ],
        capture_output=True,
        check=False,  # a failure is reported below with the worker's stderr
        text=True,
        env=env,
        cwd=REPO,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"worker {spec['task']} {spec['config']} failed:\n{completed.stderr[-3000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


@dataclass
class BenchImage:
    name: str
    path: Path


def prepare_images(
    images_dir: Path | None, work: Path
) -> tuple[list[BenchImage], BenchImage]:
    """The benchmark's photos and the fixed 768x512 crop (written as PNG into `work`)."""
    from PIL import Image

    if images_dir is not None:
        paths = sorted(
            p
            for p in images_dir.iterdir()
            if p.suffix.lower()
            in {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
        )
    else:
        paths = [HOLDOUT / name for name in DEFAULT_PHOTOS]
    photos = [BenchImage(p.name, p) for p in paths]
    with Image.open(HOLDOUT / CROP_SOURCE) as source:
        width, height = CROP_SIZE
        left, top = (source.width - width) // 2, (source.height - height) // 2
        crop_path = work / f"crop-{width}x{height}.png"
        source.convert("RGB").crop((left, top, left + width, top + height)).save(
            crop_path
        )
    return photos, BenchImage(f"{CROP_SOURCE} crop {width}x{height}", crop_path)


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure_coding(
    config: str, image: BenchImage, repeats: int, quality: int, threads: int, work: Path
) -> dict[str, Any]:
    """Encode then decode one image in two fresh processes; per-megapixel medians and peaks."""
    fcc_path = work / f"{config}-{image.path.stem}.fcc"
    base = {
        "config": config,
        "image": str(image.path),
        "quality": quality,
        "threads": threads,
        "repeats": repeats,
        "fcc_path": str(fcc_path),
    }
    encode = run_in_subprocess({**base, "task": "encode"})
    decode = run_in_subprocess({**base, "task": "decode"})
    megapixels = encode["width"] * encode["height"] / 1e6
    return {
        "config": config,
        "weights": encode["weights"],
        "image": image.name,
        "width": encode["width"],
        "height": encode["height"],
        "megapixels": megapixels,
        "repeats": repeats,
        "encode_seconds": encode["seconds"],
        "decode_seconds": decode["seconds"],
        "encode_s_per_mp": median(encode["seconds"]) / megapixels,
        "decode_s_per_mp": median(decode["seconds"]) / megapixels,
        "encode_peak_bytes": encode["peak_bytes"],
        "decode_peak_bytes": decode["peak_bytes"],
        "baseline_bytes": encode["baseline_bytes"],
        "memory_method": encode["memory_method"],
        "file_bytes": encode["file_bytes"],
        "bpp": encode["bpp"],
        "psnr": decode["psnr"],
        "encode_entropy_share": median(encode["entropy_seconds"])
        / median(encode["seconds"]),
        "decode_entropy_share": median(decode["entropy_seconds"])
        / median(decode["seconds"]),
    }


def measure_attention(image: BenchImage, repeats: int, threads: int) -> dict[str, Any]:
    spec = {
        "task": "attention",
        "config": "paper",
        "image": str(image.path),
        "quality": 3,
        "threads": threads,
        "repeats": repeats,
    }
    result = run_in_subprocess(spec)
    sdpa, reference = (
        median(result["seconds"]["sdpa"]),
        median(result["seconds"]["reference"]),
    )
    return {
        "config": "paper",
        "image": image.name,
        "threads": threads,
        "repeats": repeats,
        "forward": "analysis + synthesis (round(y)), inference mode",
        "sdpa_seconds": result["seconds"]["sdpa"],
        "reference_seconds": result["seconds"]["reference"],
        "sdpa_median_seconds": sdpa,
        "reference_median_seconds": reference,
        "speedup": reference / sdpa,
        "max_abs_difference": result["max_abs_difference"],
    }


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    return slope, mean_y - slope * mean_x


def scan_image(megapixels: float, work: Path) -> BenchImage:
    """A photo resized to about `megapixels` (4:3, sides multiples of 64, so no padding)."""
    from PIL import Image

    height = max(64, round((megapixels * 1e6 * 3 / 4) ** 0.5 / 64) * 64)
    width = max(64, round(height * 4 / 3 / 64) * 64)
    path = work / f"scan-{width}x{height}.png"
    if not path.exists():
        with Image.open(HOLDOUT / SCAN_SOURCE) as source:
            source.convert("RGB").resize(
                (width, height), Image.Resampling.BICUBIC
            ).save(path)
    return BenchImage(f"{width}x{height}", path)


def memory_scan(
    configs: list[str], megapixels: list[float], quality: int, threads: int, work: Path
) -> dict[str, Any]:
    """Peak RSS of encode and decode per configuration and size, and a bytes-per-pixel + constant fit."""
    points: list[dict[str, Any]] = []
    fits: dict[str, dict[str, Any]] = {}
    for config in configs:
        for mp in megapixels:
            image = scan_image(mp, work)
            row = measure_coding(config, image, 1, quality, threads, work)
            points.append(row)
            print(
                f"  {config} {image.name}: encode {row['encode_peak_bytes'] / 2**20:.0f} MiB,"
                f" decode {row['decode_peak_bytes'] / 2**20:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
        for operation in ("encode", "decode"):
            rows = [p for p in points if p["config"] == config]
            pixels = [p["width"] * p["height"] for p in rows]
            peaks = [p[f"{operation}_peak_bytes"] for p in rows]
            slope, intercept = fit_line(pixels, peaks)
            residuals = [
                peak - (slope * px + intercept) for px, peak in zip(pixels, peaks)
            ]
            fits[f"{config}/{operation}"] = {
                "bytes_per_pixel": slope,
                "constant_bytes": intercept,
                "max_abs_residual_bytes": max(abs(r) for r in residuals),
            }
    return {"points": points, "fits": fits, "model": fit_peak_model(points)}


def fit_peak_model(points: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per operation, peak = constant + pixels * (bytes_per_pixel + bytes_per_pixel_per_channel * N).

    Least squares over every configuration's points (codec/memory.py holds the result); needs
    configurations of at least two widths N, else the per-channel term is left at 0.
    """
    import numpy as np

    from forensiccodec.codec.config import get_config

    model = {}
    widths = [get_config(p["config"]).N for p in points]
    pixels = np.array([p["width"] * p["height"] for p in points], dtype=np.float64)
    columns = [np.ones_like(pixels), pixels]
    if len(set(widths)) > 1:
        columns.append(pixels * np.array(widths, dtype=np.float64))
    design = np.stack(columns, axis=1)
    for operation in ("encode", "decode"):
        peaks = np.array(
            [p[f"{operation}_peak_bytes"] for p in points], dtype=np.float64
        )
        coefficients, *_ = np.linalg.lstsq(design, peaks, rcond=None)
        residuals = peaks - design @ coefficients
        model[operation] = {
            "constant": float(coefficients[0]),
            "bytes_per_pixel": float(coefficients[1]),
            "bytes_per_pixel_per_channel": float(coefficients[2])
            if len(coefficients) > 2
            else 0.0,
            "max_residual_above_fit_bytes": float(residuals.max()),
        }
    return model


# ---------------------------------------------------------------------------- output


def machine_description(threads: int) -> dict[str, Any]:
    import torch

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg()[0],
    }


def print_tables(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=CONSOLE_WIDTH)
    table = Table(
        title="TIC coding on CPU (medians; peaks above the post-load baseline)"
    )
    for column in (
        "config",
        "weights",
        "image",
        "size",
        "enc s/MP",
        "dec s/MP",
        "enc peak MiB",
        "dec peak MiB",
        "bpp",
        "PSNR dB",
        "EC enc",
        "EC dec",
    ):
        table.add_column(
            column,
            justify="left" if column in ("config", "weights", "image") else "right",
        )
    for row in results["coding"]:
        meaningless = row["weights"].startswith("random")
        table.add_row(
            row["config"],
            row["weights"],
            row["image"],
            f"{row['width']}x{row['height']}",
            f"{row['encode_s_per_mp']:.2f}",
            f"{row['decode_s_per_mp']:.2f}",
            f"{row['encode_peak_bytes'] / 2**20:.0f}",
            f"{row['decode_peak_bytes'] / 2**20:.0f}",
            f"({row['bpp']:.3f})" if meaningless else f"{row['bpp']:.3f}",
            f"({row['psnr']:.2f})" if meaningless else f"{row['psnr']:.2f}",
            f"{100 * row['encode_entropy_share']:.1f}%",
            f"{100 * row['decode_entropy_share']:.1f}%",
        )
    console.print(table)
    if any(row["weights"].startswith("random") for row in results["coding"]):
        console.print(
            "Values in parentheses come from randomly initialised weights: meaningless, only speed and memory count."
        )
    attention = results.get("attention")
    if attention:
        table = Table(
            title=f"Window attention, {attention['config']} config, {attention['image']}, {attention['threads']} threads"
        )
        for column in (
            "forward",
            "sdpa s",
            "reference s",
            "reference / sdpa",
            "max |diff|",
        ):
            table.add_column(column, justify="right")
        table.add_row(
            attention["forward"],
            f"{attention['sdpa_median_seconds']:.2f}",
            f"{attention['reference_median_seconds']:.2f}",
            f"{attention['speedup']:.2f}x",
            f"{attention['max_abs_difference']:.1e}",
        )
        console.print(table)


def print_scan(scan: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Peak RSS above baseline vs image size")
    for column in ("config", "size", "MP", "encode MiB", "decode MiB"):
        table.add_column(column, justify="right")
    for p in scan["points"]:
        table.add_row(
            p["config"],
            p["image"],
            f"{p['megapixels']:.2f}",
            f"{p['encode_peak_bytes'] / 2**20:.0f}",
            f"{p['decode_peak_bytes'] / 2**20:.0f}",
        )
    fit = Table(title="Fit: peak = bytes_per_pixel * pixels + constant")
    for column in (
        "config/operation",
        "bytes/pixel",
        "constant MiB",
        "max residual MiB",
    ):
        fit.add_column(column, justify="right")
    for key, value in scan["fits"].items():
        fit.add_row(
            key,
            f"{value['bytes_per_pixel']:.1f}",
            f"{value['constant_bytes'] / 2**20:.0f}",
            f"{value['max_abs_residual_bytes'] / 2**20:.0f}",
        )
    Console(width=CONSOLE_WIDTH).print(table, fit)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", default="small,paper", help="comma-separated configurations"
    )
    parser.add_argument(
        "--images",
        type=Path,
        default=None,
        help="folder of images (default: 3 held-out photos)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="repeats per measurement (shipped weights)",
    )
    parser.add_argument(
        "--random-weights-repeats",
        type=int,
        default=2,
        help="repeats for configurations without weights (slow)",
    )
    parser.add_argument(
        "--attention-repeats",
        type=int,
        default=3,
        help="repeats of the attention comparison (0 skips it)",
    )
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--json", type=Path, default=None, help="write all results here"
    )
    parser.add_argument(
        "--memory-scan",
        action="store_true",
        help="measure peak RSS vs megapixels and fit it",
    )
    parser.add_argument("--scan-megapixels", default="0.25,1,2,4")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def has_shipped_weights(config: str, quality: int) -> bool:
    from forensiccodec.errors import WeightsError
    from forensiccodec.zoo import Manifest

    try:
        Manifest.load().codec_entry(config, quality)
        return True
    except WeightsError:
        return False


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    results: dict[str, Any] = {
        "command": " ".join(
            [
                "python",
                "scripts/benchmark.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        )
    }
    results["machine"] = machine_description(args.threads)
    with tempfile.TemporaryDirectory(prefix="fcc-bench-") as tmp:
        work = Path(tmp)
        if args.memory_scan:
            megapixels = [float(m) for m in args.scan_megapixels.split(",")]
            results["memory_scan"] = memory_scan(
                configs, megapixels, args.quality, args.threads, work
            )
            print_scan(results["memory_scan"])
        else:
            photos, crop = prepare_images(args.images, work)
            results["coding"] = []
            for config in configs:
                shipped = has_shipped_weights(config, args.quality)
                # Random-weight configurations only count for speed: the crop alone, fewer repeats.
                images = [*photos, crop] if shipped else [crop]
                repeats = (
                    args.repeats
                    if shipped
                    else min(args.repeats, args.random_weights_repeats)
                )
                for image in images:
                    print(f"  {config} {image.name} ...", file=sys.stderr, flush=True)
                    results["coding"].append(
                        measure_coding(
                            config, image, repeats, args.quality, args.threads, work
                        )
                    )
            if args.attention_repeats > 0:
                print("  attention sdpa vs reference ...", file=sys.stderr, flush=True)
                results["attention"] = measure_attention(
                    crop, args.attention_repeats, args.threads
                )
            print_tables(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
