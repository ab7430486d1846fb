"""The tiny split and the shipped weights that the `fcc eval` tests run on (module-scoped fixtures
``data_dir`` and ``weights_dir``: ``from eval_split import data_dir_fixture, weights_dir_fixture``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHIPPED = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module", name="weights_dir")
def weights_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped small detector and base codec q1 only, so no adapter weights are ever found."""
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    kept = {name: entry for name, entry in manifest["weights"].items() if name in ("detector-small", "tic-small-q1")}
    if len(kept) != 2:
        pytest.skip("shipped weights not installed")
    directory = tmp_path_factory.mktemp("weights")
    for entry in kept.values():
        os.symlink(SHIPPED / entry["file"], directory / entry["file"])
    (directory / "manifest.json").write_text(json.dumps({"format": 1, "weights": kept}))
    return directory


@pytest.fixture(scope="module", name="data_dir")
def data_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two smooth 'real' and two noisy 'synthetic' 64x64 PNGs in DIR/test/{real,synthetic}."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 64)
    for index in range(2):
        smooth = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (64, 1)), np.full((64, 64), 90.0 + 40 * index)], -1)
        noisy = rng.integers(0, 256, (64, 64, 3))
        for label, pixels in (("real", smooth), ("synthetic", noisy)):
            (root / "test" / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(root / "test" / label / f"img{index}.png")
    return root
