"""``fcc import-weights``: public checkpoints into the project's safetensors weights."""

from __future__ import annotations

from pathlib import Path

import click

from .common import UsageError, escape, main, stdout, weights_dir_option


@main.command("import-weights")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--quality", "-q", type=int, default=None, help="the base codec's quality, 1..4 (base_codec_Q.pth.tar)")
@click.option("--detector", is_flag=True, help="CHECKPOINT is the public detector (synth_vs_real.pth), not a codec")
@click.option("--adapters", "adapters", is_flag=True, help="CHECKPOINT is an Adapt-ICMH TIC_SFMA checkpoint (adapters)")
@click.option("--force", is_flag=True, help="replace weights already registered")
@weights_dir_option
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
        from ..adapters import import_adapt_icmh

        entry = import_adapt_icmh(checkpoint, quality, weights_dir, overwrite=force)
    elif detector:
        if quality is not None:
            raise UsageError("--quality is for codec checkpoints; a detector has no rate point")
        from ..detector.weights import import_official

        entry = import_official(checkpoint, weights_dir, overwrite=force)
    else:
        if quality is None:
            raise UsageError("give --quality 1..4 for a TransTIC codec checkpoint (or --detector for the detector)")
        from ..rate_points import rate_point_for_quality
        from ..zoo import import_transtic

        rate_point_for_quality(quality)
        entry = import_transtic(checkpoint, quality, weights_dir, overwrite=force)
    stdout.print(f"imported {escape(str(checkpoint))} as {entry.name} ({entry.file}, sha256 {entry.sha256[:16]}…)", highlight=False)


@main.command("register-weights")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--name", "names", multiple=True, help="register only these entries (repeatable; default: every entry whose file SOURCE holds)")
@click.option("--force", is_flag=True, help="replace weights registered under the same name")
@weights_dir_option
def register_weights(sources, names, force, weights_dir) -> None:
    """Register weights trained in other weights folders (SOURCE...) in this one.

    Each file is checked against its own manifest, must load, and forensic weights must have been
    trained against this folder's base codec and detector; nothing is copied unless every check
    passes. A replaced base or fine-tuned codec or paper adapter set is kept under retired/, so
    the files it wrote still decode.

    \b
    fcc register-weights runs/campaign-weights --name tic-small-q4 --force
    """
    from ..registration import register_weights as register

    for registration in register(list(sources), list(names) or None, weights_dir, force=force):
        kept = f" (the weights it replaced are kept as {registration.replaced})" if registration.replaced not in (None, "replaced") else ""
        stdout.print(f"registered {escape(registration.name)} from {escape(str(registration.source))}{kept}", highlight=False)
