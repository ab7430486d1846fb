"""`fcc train-codec` end to end: trains, registers usable weights, refuses to replace them, runs under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from torchrun_helper import run_two_processes

from forensiccodec.cli import main
from forensiccodec.zoo import Manifest, load_codec


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos" / "train"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    return folder.parent


def train_args(photos: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "train-codec", "--data", str(photos), "--quality", "2", "--config", "tiny", "--steps", "2",
        "--batch-size", "2", "--crop-size", "64", "--device", "cpu",
        "--checkpoint-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights"), *extra,
    ]


def test_trains_registers_and_refuses_to_replace(photos: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, train_args(photos, tmp_path))
    assert first.exit_code == 0, first.output
    entry = Manifest.load(tmp_path / "weights").entries["tic-tiny-q2"]
    assert entry.extra["training"]["steps"] == 2
    codec = load_codec("tiny", 2, tmp_path / "weights")
    assert codec.rate_point.quality == 2

    again = runner.invoke(main, train_args(photos, tmp_path))
    assert again.exit_code == 2
    assert "already registered" in again.output and "Traceback" not in again.output

    resumed = runner.invoke(main, train_args(photos, tmp_path, "--resume", "--force", "--steps", "3"))
    assert resumed.exit_code == 0, resumed.output
    assert Manifest.load(tmp_path / "weights").entries["tic-tiny-q2"].extra["training"]["steps"] == 3


def test_runs_under_torchrun_with_two_processes(photos: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.safetensors"
    process = run_two_processes([
        "-m", "forensiccodec.train.codec_training", "--data", str(photos), "-q", "1", "--config", "tiny",
        "--steps", "2", "--batch-size", "1", "--crop-size", "64", "--device", "cpu", "--no-progress",
        "--checkpoint-dir", str(tmp_path / "ddp"), "--save-state", str(state),
    ], timeout=180)
    assert process.returncode == 0, process.stderr[-3000:]
    summaries = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    assert summaries and all(s["world_size"] == 2 and s["steps"] == 2 for s in summaries)
    assert state.is_file()
