"""Shared fixtures: a throw-away `tiny` weights registry, image writers and a CLI runner.

The end-to-end tests never touch the shipped weights: they export the `tiny` TIC (seeded, untrained)
for qualities 1..4 into a session temporary folder and point the CLI at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_QUALITIES = (1, 2, 3, 4)


SHARD_VARIABLES = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP",
                   "JOB_COMPLETION_INDEX", "FCC_SHARD_COUNT", "RANK", "WORLD_SIZE")


@pytest.fixture(autouse=True)
def _no_shard_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in a Slurm array, an Indexed Job or under torchrun still see every input (sharding)."""
    for name in SHARD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def export_tiny_codecs(weights_dir: Path, seed_offset: int = 0, qualities: Sequence[int] = TINY_QUALITIES) -> Path:
    """Export the untrained `tiny` TIC, seeded by quality (+ offset), into weights_dir."""
    from forensiccodec.codec.config import get_config
    from forensiccodec.codec.tic import TIC
    from forensiccodec.zoo import export_codec

    for quality in qualities:
        torch.manual_seed(quality + seed_offset)
        model = TIC(get_config("tiny"))
        export_codec(model, config_name="tiny", quality=quality, weights_dir=weights_dir, overwrite=True)
    return weights_dir


@pytest.fixture(scope="session")
def tiny_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder holding `tic-tiny-q1..4` and its manifest (never modify it in a test)."""
    return export_tiny_codecs(tmp_path_factory.mktemp("tiny-weights"))


@pytest.fixture(scope="session")
def other_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose `tic-tiny-q1` has other weights than tiny_weights_dir's (a fingerprint mismatch)."""
    return export_tiny_codecs(tmp_path_factory.mktemp("other-weights"), seed_offset=100, qualities=(1,))


def write_image(path: Path, width: int, height: int, mode: str = "RGB", seed: int = 0) -> Path:
    """A smooth-plus-noise test image of the given Pillow mode: RGB, L, RGBA or I;16 (16-bit gray)."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.linspace(0, 1, height), np.linspace(0, 1, width)) / 2
    noise = rng.random((height, width))
    base = 0.7 * ramp + 0.3 * noise
    if mode == "I;16":
        samples = (base * 65535).astype(np.uint16)
        Image.fromarray(samples).save(path)  # Pillow writes uint16 2-D arrays as 16-bit gray
        return path
    if mode == "L":
        Image.fromarray((base * 255).astype(np.uint8), mode="L").save(path)
        return path
    channels = [np.roll(base, k, axis=1) for k in range(3)]
    if mode == "RGBA":
        channels.append(rng.random((height, width)))
    elif mode != "RGB":
        raise ValueError(f"write_image: unsupported mode {mode}")
    samples = (np.stack(channels, axis=-1) * 255).astype(np.uint8)
    Image.fromarray(samples).save(path)
    return path


@pytest.fixture(scope="session")
def make_image() -> Callable[..., Path]:
    return write_image


@pytest.fixture
def fcc(tiny_weights_dir: Path) -> Callable[..., Result]:
    """Run the `fcc` CLI in-process with $FCC_WEIGHTS_DIR set to the tiny registry."""
    from forensiccodec.cli import main

    runner = CliRunner()

    def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        environment = {"FCC_WEIGHTS_DIR": str(tiny_weights_dir), "COLUMNS": "200", **(env or {})}
        return runner.invoke(main, [str(a) for a in args], env=environment)

    return invoke


def run_fcc_process(*args: str | Path, weights_dir: Path | None = None, cwd: Path | None = None,
                    timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m forensiccodec ARGS` in a fresh process (for exit codes and stderr end to end)."""
    environment = dict(os.environ)
    environment.pop("FCC_WEIGHTS_DIR", None)
    if weights_dir is not None:
        environment["FCC_WEIGHTS_DIR"] = str(weights_dir)
    environment["OMP_NUM_THREADS"] = "2"
    return subprocess.run(
        [sys.executable, "-m", "forensiccodec", *[str(a) for a in args]],
        check=False, capture_output=True, text=True, cwd=cwd or REPO_ROOT, env=environment, timeout=timeout,
    )


@pytest.fixture
def fcc_process() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_fcc_process
