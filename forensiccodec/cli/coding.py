"""``fcc encode``, ``fcc decode``, ``fcc info``, ``fcc roundtrip``: coding files through `api`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import (
    FCC_EXTENSIONS,
    IMAGE_EXTENSIONS,
    escape,
    expand,
    json_option,
    main,
    output_for,
    rate_options,
    run_batch,
    shard_options,
    stderr,
    stdout,
    take_shard,
    weights_dir_option,
)

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

ENCODER_ADAPTERS_INFO = {
    True: "yes (forensic encoder adapters; decode with --adapters forensic)",
    False: "no (the base codec's latent)",
}
ADAPTER_FINGERPRINT_MISSING_INFO = {  # by the encoder-adapters flag
    True: "not recorded (written before bitstream 1.1: the adapter weights cannot be checked)",
    False: "none (no encoder adapters)",
}


def _print_notes(reports: list[Any]) -> None:
    for r in reports:
        for note in r.notes:
            stderr.print(f"[yellow]note:[/yellow] {escape(r.input)}: {escape(note)}", highlight=False, soft_wrap=True)


@main.command(help=ENCODE_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="output file, or folder for several inputs")
@rate_options
@click.option("--adapters", type=click.Choice(["none", "forensic"]), default="none", show_default=True, help="apply the encoder-side (paper placement) adapters")
@click.option("--codec", "codec_name", type=click.Choice(["base", "finetuned"]), default="base", show_default=True, help="the base codec or the fully fine-tuned baseline")
@click.option("--force", is_flag=True, help="overwrite existing outputs")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@shard_options
@json_option
@weights_dir_option
def encode(inputs, output, lmbda, quality, config_name, adapters, codec_name, force, recursive, shard_spec, shard_count,
           as_json, weights_dir) -> None:
    from rich.table import Table

    from ..api import CodecStore, encode_file
    from ..codec.config import get_config
    from ..rate_points import resolve_rate_point

    get_config(config_name)
    point = resolve_rate_point(lmbda, quality)
    files, problems = expand(inputs, IMAGE_EXTENSIONS, recursive)
    many = len(files) + len(problems) > 1
    if output is not None and many:
        output.mkdir(parents=True, exist_ok=True)
    files, problems = take_shard(shard_spec, shard_count, inputs, files, problems, as_json=as_json)
    codec = CodecStore(weights_dir).for_encoding(config_name, point.quality, codec=codec_name, adapters=adapters)

    def render(reports: list[Any]) -> None:
        table = Table("input", "output", "size", "bytes", "bpp", "est. bpp", "seconds")
        for r in reports:
            table.add_row(escape(r.input), escape(r.output), f"{r.width}x{r.height}", str(r.file_bytes), f"{r.bpp:.4f}", f"{r.estimated_bpp:.4f}", f"{r.seconds:.2f}")
        _print_notes(reports)
        stdout.print(table)

    run_batch(
        files, problems,
        lambda path, on_tile: encode_file(codec, path, output_for(path, output, many, None, ".fcc"), overwrite=force,
                                          adapters=adapters, progress=on_tile),
        as_json=as_json, describe="encoding", render=render, tiles=True,
    )


@main.command(help=DECODE_HELP)
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="output PNG, or folder for several inputs")
@click.option("--adapters", type=click.Choice(["none", "forensic"]), default="none", show_default=True)
@click.option("--force", is_flag=True, help="overwrite existing outputs")
@click.option("--recursive", "-r", is_flag=True, help="descend into sub-folders")
@shard_options
@json_option
@weights_dir_option
def decode(inputs, output, adapters, force, recursive, shard_spec, shard_count, as_json, weights_dir) -> None:
    from rich.table import Table

    from ..api import CodecStore, decode_file

    files, problems = expand(inputs, FCC_EXTENSIONS, recursive)
    many = len(files) + len(problems) > 1
    if output is not None and many:
        output.mkdir(parents=True, exist_ok=True)
    files, problems = take_shard(shard_spec, shard_count, inputs, files, problems, as_json=as_json)
    store = CodecStore(weights_dir)
    tag = "forensic" if adapters == "forensic" else "decoded"

    def render(reports: list[Any]) -> None:
        table = Table("input", "output", "size", "bpp", "adapters", "weights", "seconds")
        for r in reports:
            table.add_row(escape(r.input), escape(r.output), f"{r.width}x{r.height}", f"{r.bpp:.4f}", r.adapters, escape(r.weights), f"{r.seconds:.2f}")
        _print_notes(reports)
        stdout.print(table)

    run_batch(
        files, problems,
        lambda path, on_tile: decode_file(store, path, output_for(path, output, many, tag, ".png"), overwrite=force,
                                          adapters=adapters, progress=on_tile),
        as_json=as_json, describe="decoding", render=render, tiles=True,
    )


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@json_option
@weights_dir_option
def info(inputs, as_json, weights_dir) -> None:
    """Show the header fields, stream sizes and bpp of .fcc files, and the installed weights that decode them."""
    from functools import partial

    from rich.table import Table

    from ..info import file_info  # reads headers and the manifest only: no torch

    files, problems = expand(inputs, FCC_EXTENSIONS, False)

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

    run_batch(files, problems, partial(file_info, weights_dir=weights_dir), as_json=as_json, describe="reading",
              render=render)


@main.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("fcc-roundtrip"), show_default=True)
@rate_options
@click.option("--all-rates", is_flag=True, help="run every rate point")
@json_option
@weights_dir_option
def roundtrip(image, out_dir, lmbda, quality, config_name, all_rates, as_json, weights_dir) -> None:
    """Encode and decode one image; print sizes, bpp, PSNR and times (the quick-start job)."""
    from rich.table import Table

    from ..api import CodecStore, round_trip
    from ..rate_points import RATE_POINTS, resolve_rate_point

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
