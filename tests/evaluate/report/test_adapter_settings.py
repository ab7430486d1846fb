"""The learned-adapter settings plug in: with adapters and a fine-tuned codec registered, every
learned setting runs, writes its own .fcc files and gets measured."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from forensiccodec.cli.evaluation import eval_command

adapter_weights = pytest.importorskip("adapter_weights")  # tests/adapter_weights.py, shared with test_adapters
SHIPPED = Path(__file__).resolve().parents[3] / "weights"


def test_adapter_and_finetuned_settings_run(tmp_path: Path) -> None:
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    detector = manifest["weights"].get("detector-small")
    if detector is None:
        pytest.skip("shipped detector not installed")
    weights = adapter_weights.export_adapted_registry(tmp_path / "weights")
    os.symlink(SHIPPED / detector["file"], weights / detector["file"])
    registry = json.loads((weights / "manifest.json").read_text())
    registry["weights"]["detector-small"] = detector
    (weights / "manifest.json").write_text(json.dumps(registry))
    for label in ("real", "synthetic"):
        (tmp_path / "data" / "test" / label).mkdir(parents=True)
        pixels = np.random.default_rng(len(label)).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "data" / "test" / label / "a.png")
    report = run_eval(tmp_path, weights)
    assert report["skipped"] == []
    decoded = {}
    for setting in report["settings"]:
        image = setting["points"][0]["images"][0]
        assert "error" not in image and (tmp_path / "out" / image["encoded"]).suffix == ".fcc"
        decoded[setting["name"]] = load(tmp_path / "out" / image["decoded"])
    # The adapters change the reconstruction; the decoder placement reads the base bitstream.
    assert not np.array_equal(decoded["base"], decoded["adapters-decoder"])
    assert not np.array_equal(decoded["base"], decoded["adapters-paper"])

    # Retrained decoder adapters: their setting is coded again, every other one comes from the cache.
    from forensiccodec.adapters import export_adapters
    from forensiccodec.zoo import Manifest

    model = adapter_weights.adapted_tiny_model()
    with torch.no_grad():
        for sfma in model.decoder_sfmas:
            sfma.s_up.weight.mul_(-1.0)
    export_adapters(model, config_name="tiny", quality=1, placement="decoder", weights_dir=weights, overwrite=True)
    again = run_eval(tmp_path, weights)
    reused = {s["name"]: s["points"][0]["reused_from_cache"] for s in again["settings"]}
    assert reused == {"base": 2, "adapters-paper": 2, "adapters-decoder": 0, "finetuned": 2}
    retrained = next(s for s in again["settings"] if s["name"] == "adapters-decoder")["points"][0]
    assert retrained["weights"]["sfma-tiny-q1-decoder"] == Manifest.load(weights).entries["sfma-tiny-q1-decoder"].sha256
    image = retrained["images"][0]
    assert not np.array_equal(load(tmp_path / "out" / image["decoded"]), decoded["adapters-decoder"])
    assert "## Weights" in (tmp_path / "out" / "report.md").read_text()


def run_eval(tmp_path: Path, weights: Path) -> dict:
    torch.set_num_threads(1)
    result = CliRunner().invoke(eval_command, [
        "--data", str(tmp_path / "data"), "-o", str(tmp_path / "out"), "--config", "tiny", "--rates", "1",
        "--settings", "base,adapters-paper,adapters-decoder,finetuned", "--patches", "4", "--top", "3",
        "--fd-patches", "4", "--weights-dir", str(weights),
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "out" / "report.json").read_text())


def load(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
