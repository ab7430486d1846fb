"""`fcc train-codec` end to end: trains, registers usable weights, refuses to replace them, runs under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from torchrun_helper import run_two_processes

from forensiccodec.cli import main
from forensiccodec.train.holdout_validation import HoldoutRateDistortion
from forensiccodec.zoo import Manifest, load_codec


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("holdout", 2)):
        folder = tmp_path / "photos" / split
        folder.mkdir(parents=True)
        for index in range(count):
            Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    return tmp_path / "photos"


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
        "-m", "forensiccodec", "train-codec", "--data", str(photos), "-q", "1", "--config", "tiny",
        "--steps", "2", "--batch-size", "1", "--crop-size", "64", "--device", "cpu", "--no-progress", "--no-export",
        "--checkpoint-dir", str(tmp_path / "ddp"), "--save-state", str(state),
    ], timeout=180)
    assert process.returncode == 0, process.stderr[-3000:]
    summaries = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    assert summaries and all(s["world_size"] == 2 and s["steps"] == 2 for s in summaries)
    assert state.is_file()


def test_trains_without_the_entropy_coder(photos: Path, tmp_path: Path) -> None:
    """`python -m forensiccodec train-codec --no-export` needs only torch: what a GPU machine
    without constriction runs (its --save-state file is registered elsewhere)."""
    state = tmp_path / "state.safetensors"
    arguments = ["train-codec", "--data", str(photos), "-q", "1", "--config", "tiny", "--steps", "1",
                 "--batch-size", "1", "--crop-size", "64", "--device", "cpu", "--no-progress", "--no-export",
                 "--checkpoint-dir", str(tmp_path / "run"), "--save-state", str(state)]
    code = ("import runpy, sys; sys.modules['constriction'] = None; sys.argv = ['fcc', *sys.argv[1:]]; "
            "runpy.run_module('forensiccodec', run_name='__main__', alter_sys=True)")
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True,
                             timeout=300, check=False, env=environment)
    assert process.returncode == 0, process.stderr[-3000:]
    assert json.loads(process.stdout.strip().splitlines()[-1])["steps"] == 1
    assert state.is_file()
    exporting = [*arguments[:-2], "--export", "--weights-dir", str(tmp_path / "w")]
    refused = subprocess.run([sys.executable, "-c", code, *exporting], capture_output=True, text=True,
                             timeout=300, check=False, env=environment)
    assert refused.returncode != 0  # registering needs the entropy coder: it was really missing


def test_warm_start_from_a_registered_codec_validates_on_the_holdout(photos: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, train_args(photos, tmp_path)).exit_code == 0  # registers tic-tiny-q2
    warm = runner.invoke(main, [
        "train-codec", "--data", str(photos), "--quality", "3", "--config", "tiny", "--steps", "2",
        "--batch-size", "2", "--crop-size", "64", "--device", "cpu", "--init-from", "tic-tiny-q2",
        "--validate-every", "1", "--time-budget", "10m", "--precision", "fp32",
        "--checkpoint-dir", str(tmp_path / "warm"), "--weights-dir", str(tmp_path / "weights"),
    ])
    assert warm.exit_code == 0, warm.output
    summary = json.loads(warm.output.strip().splitlines()[-1])
    assert summary["precision"] == "fp32" and summary["steps"] == 2
    assert {"bpp", "psnr", "loss"} <= set(summary["last_validation"])
    log = [json.loads(line) for line in (tmp_path / "warm" / "train_log.jsonl").read_text().splitlines()]
    validated = [line["step"] for line in log if "validation" in line]
    assert validated == [0, 1, 2]  # the warm start itself is the first point of the learning curve
    entry = Manifest.load(tmp_path / "weights").entries["tic-tiny-q3"]
    assert entry.extra["training"]["init_from"] == "tic-tiny-q2"
    # the run started from q2's weights: its step-0 validation is q2's own
    q2 = HoldoutRateDistortion(load_codec("tiny", 2, tmp_path / "weights").model, photos / "holdout", 0.0067)(0)
    step0 = next(line["validation"] for line in log if line["step"] == 0 and "validation" in line)
    assert step0["psnr"] == pytest.approx(q2["psnr"], abs=1e-6) and step0["bpp"] == pytest.approx(q2["bpp"], rel=1e-6)


def test_bad_training_options_get_one_line_errors(photos: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_budget = runner.invoke(main, train_args(photos, tmp_path, "--time-budget", "two hours"))
    assert bad_budget.exit_code == 2 and "not a duration" in bad_budget.output
    unknown = runner.invoke(main, train_args(photos, tmp_path, "--init-from", "tic-nothing-q9"))
    assert unknown.exit_code == 2 and "neither a weights file nor a registered codec" in unknown.output
    no_holdout = tmp_path / "only-train"
    (no_holdout / "train").mkdir(parents=True)
    for path in (photos / "train").iterdir():
        (no_holdout / "train" / path.name).write_bytes(path.read_bytes())
    missing = runner.invoke(main, train_args(no_holdout, tmp_path, "--validate-every", "1"))
    assert missing.exit_code == 2 and "no holdout/ or val/" in missing.output
    for result in (bad_budget, unknown, missing):
        assert "Traceback" not in result.output
