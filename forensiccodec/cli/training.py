"""``fcc train-codec``, ``fcc train-adapter``, ``fcc train-detector``: the three trainings
(``train-adapter --placement full`` is the paper's fully fine-tuned codec).

Each also runs under torchrun (DistributedDataParallel), through ``python -m forensiccodec``:
``torchrun --nproc-per-node 2 -m forensiccodec train-codec ...``. Only torch is needed to train:
`train-codec --no-export` imports neither the weights registry nor the entropy coder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import (
    Duration,
    LibraryChoice,
    UsageError,
    escape,
    main,
    progress_option,
    recipe_option,
    stdout,
    weights_dir_option,
)

# Spelled out so that defining the commands imports no torch; tests keep them equal to the
# library's (`detector.model.PATCH_AGGREGATES`, `train.forensic_objective.TRAINING_PATCHES`).
PATCH_AGGREGATES = ("mean", "top")
TRAINING_PATCHES = 50
PRECISION_CHOICE = LibraryChoice("forensiccodec.train.precision", "PRECISIONS")


@main.command("train-codec")
@recipe_option
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True, multiple=True,
              help="folder of training photographs (its train/ sub-folder if present; repeat for several, the first one's holdout/ validates)")
@click.option("--quality", "-q", type=int, required=True, help="1..4: sets the TransTIC λ {0.0018, 0.0035, 0.0067, 0.013}")
@click.option("--objective", hidden=True, type=click.Choice(["rd", "forensic"]), default="rd",
              help="the fully fine-tuned baseline is `fcc train-adapter --placement full`; forensic says so")
@click.option("--config", "config_name", default="small", show_default=True)
@click.option("--steps", type=int, default=20000, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--crop-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=3e-4, show_default=True)
@click.option("--init-from", "--init", "init_from", default=None, help="start from these weights, a file or a registered codec (e.g. tic-small-q3: the rate ladder)")
@click.option("--validate-every", type=int, default=None, help="held-out bpp and PSNR every N steps (the learning curve)")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="default: runs/codec-<config>-q<Q>")
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in --checkpoint-dir")
@click.option("--device", default=None, help="cpu, cuda (default: cuda if available)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-budget", type=Duration(), default=None, help="stop cleanly, checkpointed for --resume, before this long (2h, 90m, 45s)")
@click.option("--max-seconds", type=float, default=None, hidden=True)
@click.option("--precision", type=PRECISION_CHOICE, default="auto", show_default=True, help="auto = bf16 autocast where the hardware has it natively, else fp32")
@click.option("--compile/--no-compile", "compile_model", default=False, show_default=True, help="torch.compile the model (minutes to compile; on this project's CPU measurements no faster than bf16 eager)")
@click.option("--save-state", "save_state_to", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="also write the trained model as a plain state file (no entropy tables; needs no entropy coder), "
                   "which scripts/export_states.py registers")
@progress_option
@click.option("--export/--no-export", default=True, show_default=True, help="register the result under the weights folder")
@click.option("--force", is_flag=True, help="replace weights already registered (a --resume replaces what its own last stint registered without it)")
@weights_dir_option
def train_codec(objective: str, time_budget: float | None, max_seconds: float | None, **options: Any) -> None:
    """Train the base codec: λ·255²·MSE + bpp.

    Runs under torchrun too (DistributedDataParallel): torchrun --nproc-per-node 2 -m forensiccodec train-codec ...
    """
    from ..train.codec_training import train_codec_command
    from ..train.time_budget import budget_seconds

    if objective == "forensic":
        raise UsageError("the fully fine-tuned baseline is trained by `fcc train-adapter --placement full`")
    summary = train_codec_command(max_seconds=budget_seconds(time_budget, max_seconds), **options)
    click.echo(json.dumps(summary))


@main.command("train-adapter")
@recipe_option
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="a DIR/{train,val}/{real,synthetic} folder (fcc demo-data writes one)")
@click.option("--lambda", "lmbda", type=float, default=None, help="rate point: 0.02, 0.03, 0.045 or 0.07 (or -q)")
@click.option("--quality", "-q", type=int, default=None, help="rate point by base quality 1..4")
@click.option("--placement", type=click.Choice(["paper", "decoder", "full"]), default="paper", show_default=True,
              help="paper: encoder+decoder adapters; decoder: decoder adapters only (base bitstream); full: "
                   "fine-tune every parameter of the base codec instead (the paper's fully fine-tuned baseline)")
@click.option("--config", "config_name", default="small", show_default=True, help="base codec configuration")
@click.option("--detector", "detector_config", default="small", show_default=True, help="registered detector to keep working")
@click.option("--epochs", type=int, default=50, show_default=True, help="lr halves after 60% of them")
@click.option("--steps", type=int, default=None, help="train this many steps instead of --epochs")
@click.option("--batch-size", type=int, default=8, show_default=True, help="per process")
@click.option("--crop-size", type=int, default=256, show_default=True)
@click.option("--patches", "k_patches", type=int, default=TRAINING_PATCHES, show_default=True, help="detector patches per image")
@click.option("--patch-aggregate", hidden=True, type=click.Choice(PATCH_AGGREGATES), default="mean", show_default=True,
              help="image logits in the loss: mean of all patches (the paper), or top: mean of the most "
                   "synthetic-looking share, as the detector decides at inference (200/150 → 12 of 16)")
@click.option("--lr", type=float, default=None, help="default: 1e-3 (adapters), 1e-4 (full)")
@click.option("--warmup-steps", hidden=True, type=click.IntRange(min=0), default=0, show_default=True,
              help="raise the learning rate linearly over the first N steps (for fine-tunes with --init-from)")
@click.option("--ema-decay", hidden=True, type=float, default=None,
              help="validate and export a moving average of the adapter weights (e.g. 0.99: about the last "
                   "100 steps) instead of the last step's; smooths the noise of small batches")
@click.option("--lambda-scale", hidden=True, type=float, default=1.0, show_default=True,
              help="multiply λ in the loss (the rate point and its base codec stay); for detectors whose "
                   "loss terms are much smaller than the paper's, where the rate term would dominate")
@click.option("--fidelity", hidden=True, type=float, default=0.0, show_default=True,
              help="add fidelity·λ_q·255²·MSE, the base codec's distortion term at this rate point, to the loss "
                   "(0: the paper's eq. 1; 1: fidelity costs the adapters what it cost the base codec)")
@click.option("--workers", type=int, default=0, show_default=True, help="data-loading processes per training process")
@click.option("--keep-best", is_flag=True,
              help="export the weights of the best validation (accuracy, then AUC), not the last; with "
                   "--init-from the starting adapters (step 0) are a candidate too")
@click.option("--init-from", default=None, metavar="NAME|FILE",
              help="start from trained adapters (a registered set, e.g. sfma-small-q1-paper, or an adapter "
                   "file) instead of the identity: fine-tune shipped or public adapters on your own data")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="default: runs/<entry name>")
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in --checkpoint-dir")
@click.option("--device", default=None, help="cpu, cuda (default: cuda if available)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--validate-every", type=int, default=None, help="score the val split every N steps (and at the end)")
@click.option("--val-patches", hidden=True, type=int, default=100, show_default=True)
@click.option("--val-top", hidden=True, type=int, default=75, show_default=True)
@click.option("--time-budget", type=Duration(), default=None, help="stop cleanly, checkpointed for --resume, before this long (2h, 90m, 45s)")
@click.option("--max-seconds", type=float, default=None, hidden=True)
@click.option("--precision", type=PRECISION_CHOICE, default="fp32", show_default=True,
              help="bf16: autocast (auto: where the hardware has it natively); rounding and entropy models stay fp32. "
                   "On CPUs slower than fp32 here: autocast casts the frozen weights again at every step (docs/benchmarks.md)")
@click.option("--export/--no-export", default=True, show_default=True, help="register the result under the weights folder")
@click.option("--force", is_flag=True, help="replace weights already registered (a --resume replaces what its own last stint registered without it)")
@weights_dir_option
@progress_option
def train_adapter(lmbda: float | None, quality: int | None, lr: float | None, time_budget: float | None,
                  max_seconds: float | None, **options: Any) -> None:
    """Train forensic adapters in the frozen base codec, or fine-tune all of it: L = R + λ·(L_C + L_P).

    Runs under torchrun too: torchrun --nproc-per-node 4 -m forensiccodec train-adapter ...
    """
    from ..rate_points import resolve_rate_point
    from ..train.forensic_training import train_forensic

    if lmbda is None and quality is None:
        raise UsageError("give the rate point: --lambda 0.02|0.03|0.045|0.07 or -q 1..4")
    from ..train.time_budget import budget_seconds

    if lr is None:
        lr = 1e-4 if options["placement"] == "full" else 1e-3
    summary = train_forensic(rate_point=resolve_rate_point(lmbda, quality), lr=lr,
                             max_seconds=budget_seconds(time_budget, max_seconds), **options)
    click.echo(json.dumps(summary))


@main.command("train-detector")
@recipe_option
@click.option("--data", "data_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="folder with train/ and val/, each holding real/ and synthetic/")
@click.option("--config", "config_name", default="small", show_default=True, help="small, paper, tiny")
@click.option("--steps", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="patches per step per process")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--jpeg-prob", "jpeg_probability", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="fraction of patches (both classes) re-saved as JPEG q85-100")
@click.option("--blur-prob", "blur_probability", hidden=True, type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="fraction of patches (both classes) under a Gaussian blur of σ 0.1-2 px (an experiment's knob: recipes)")
@click.option("--init", "init_from", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="start from these detector weights (a .safetensors file) instead of random ones")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="default: runs/detector-<config>")
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in --checkpoint-dir")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--time-budget", type=Duration(), default=None, help="stop cleanly, checkpointed for --resume, before this long (2h, 90m, 45s)")
@click.option("--max-seconds", type=float, default=None, hidden=True)
@click.option("--validate-every", type=click.IntRange(min=1), default=None,
              help="also validate on DIR/val every N steps (the history goes into the weights' training record)")
@click.option("--val-patches", type=click.IntRange(min=1), default=100, show_default=True, help="patches per validation image")
@click.option("--val-top", type=click.IntRange(min=1), default=75, show_default=True)
@click.option("--export/--no-export", default=True, show_default=True, help="register the result under the weights folder")
@click.option("--force", "overwrite", is_flag=True, help="replace a detector already registered (a --resume replaces what its own last stint registered without it)")
@weights_dir_option
def train_detector(time_budget: float | None, max_seconds: float | None, **options: Any) -> None:
    """Train a detector on DIR/train (random 96x96 patches, cross-entropy), validate on DIR/val.

    Runs under torchrun too: torchrun --nproc-per-node 2 -m forensiccodec train-detector --data DIR
    """
    from ..train.detector_training import train_detector as train
    from ..train.time_budget import budget_seconds

    summary = train(max_seconds=budget_seconds(time_budget, max_seconds), **options)
    validation = summary.get("validation")
    stdout.print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s", highlight=False)
    if validation:
        stdout.print(
            f"validation ({validation['n_real']} real, {validation['n_synthetic']} synthetic; "
            f"{validation['n_patches']} patches, top {validation['top_m']}): "
            f"accuracy {validation['accuracy']:.4f}, AUC {validation['auc']:.4f}", highlight=False,
        )
    best = summary.get("best_validation")
    if best and len(summary.get("validation_history", [])) > 1:
        stdout.print(
            f"best validation at step {best['step']}: accuracy {best['accuracy']:.4f}, AUC {best['auc']:.4f} "
            f"({len(summary['validation_history'])} validations)", highlight=False,
        )
    if "exported" in summary:
        stdout.print(f"registered {escape(summary['exported'])}", highlight=False)
