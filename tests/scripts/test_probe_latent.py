"""scripts/probe_latent.py: probes on the base (or fine-tuned) codec's ŷ read the class where ŷ keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from maintainer_scripts import load_script
from PIL import Image

probe = load_script("probe_latent")


def _split_folder(root: Path, tiles_per_class: int = 6) -> Path:
    """Real tiles are smooth gradients, synthetic ones noise: any ŷ keeps that difference."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    for split in ("train", "val", "test"):
        for label in ("real", "synthetic"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(tiles_per_class):
                if label == "real":
                    tile = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.full((64, 64), 40.0 * index)), -1)
                else:
                    tile = rng.integers(0, 256, (64, 64, 3))
                Image.fromarray(np.asarray(tile, dtype=np.uint8)).save(folder / f"{index}.png")
    return root


def test_probes_separate_what_the_latent_keeps(tmp_path: Path, tiny_weights_dir: Path) -> None:
    data, report = _split_folder(tmp_path / "data"), tmp_path / "probe.json"
    probe.main(["--data", str(data), "--config", "tiny", "--weights-dir", str(tiny_weights_dir),
                "--steps", "200", "--json", str(report)])
    results = json.loads(report.read_text())
    assert results["codec"] == "base" and results["tiles"] == {"train": 12, "val": 12, "test": 12}
    assert len(results["codec_sha256"]) == 64
    assert results["linear"]["test"]["auc"]["value"] > 0.9
    low, high = results["linear"]["test"]["accuracy"]["ci"]
    assert 0.0 <= low <= results["linear"]["test"]["accuracy"]["value"] <= high <= 1.0


def test_a_missing_codec_or_split_is_a_usage_error(tmp_path: Path, tiny_weights_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = _split_folder(tmp_path / "data", tiles_per_class=1)
    with pytest.raises(SystemExit) as stopped:  # the tiny registry has no fully fine-tuned codec
        probe.main(["--data", str(data), "--config", "tiny", "--weights-dir", str(tiny_weights_dir), "--codec", "finetuned"])
    assert stopped.value.code == 2 and "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        probe.main(["--data", str(tmp_path), "--config", "tiny", "--weights-dir", str(tiny_weights_dir)])
    assert stopped.value.code == 2 and "has no train/ folder" in capsys.readouterr().err
