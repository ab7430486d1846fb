"""scripts/leave_one_family_out.py on a tiny families set: one detector per held-out family,
trained without that family's images (and their real twins), scored on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from forensiccodec.data.demo import DemoSettings, build_demo_data
from forensiccodec.data.generators import GeneratorConfig, TrainingConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "leave_one_family_out.py"
TINY_TRAINING = TrainingConfig(steps=1, batch_size=1, crop_sizes=(16,))


def make_photos(folder: Path) -> Path:
    """Seven smooth 50x34 photographs of two packages, one of them holdout."""
    rng = np.random.default_rng(0)
    records = []
    for index, split in enumerate(["train"] * 6 + ["holdout"]):
        name = f"{'ab'[index % 2]}-{index}"
        (folder / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)).resize((50, 34), Image.BILINEAR).save(
            folder / split / f"{name}.png")
        records.append({"file": f"{split}/{name}.png", "name": name, "source_package": "ab"[index % 2], "split": split})
    (folder / "photos.json").write_text(json.dumps({"photos": records}))
    return folder


def test_each_family_is_held_out_of_its_own_detector(tmp_path: Path) -> None:
    photos = make_photos(tmp_path / "photos")
    data = tmp_path / "set"
    settings = DemoSettings(tile_size=16, val_fraction=0.3, context=8, paired=True, designs=("nearest",),
                            generator=GeneratorConfig(width=4, latent_channels=4, stages=2), training=TINY_TRAINING,
                            families=("upsampling", "vae"), family_training=TINY_TRAINING)
    build_demo_data(data, photos_dir=photos, seed=1, progress=False, settings=settings)
    out = tmp_path / "lofo"
    subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), "--config", "tiny",
                    "--steps", "1", "--batch-size", "2", "--patches", "2", "--top", "1"], check=True,
                   capture_output=True)
    rows = json.loads((out / "lofo.json").read_text())["rows"]
    assert [(r["run"], r["family"], r["held_out"]) for r in rows] == [
        ("all-families", "upsampling", False), ("all-families", "vae", False),
        ("without-upsampling", "upsampling", True), ("without-vae", "vae", True)]
    manifest = json.loads((data / "manifest.json").read_text())
    vae_train = [i for i in manifest["images"] if i["split"] == "train" and i["generator"] == "vae"]
    view = out / "without-vae" / "data" / "train"
    assert vae_train and not any((view / "synthetic" / Path(i["file"]).name).exists() for i in vae_train)
    # paired set: the real twins of the left-out tiles leave too, so the classes stay balanced
    assert len(list((view / "real").iterdir())) == len(list((view / "synthetic").iterdir()))
    for row in rows:
        low, high = row["auc_ci"]
        assert low <= row["auc"] <= high
    assert "held out" in (out / "lofo.md").read_text()
