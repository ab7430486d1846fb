"""`fcc register-weights` and scripts/record_forensic_metrics.py: weights trained elsewhere are
registered only if they match their manifest and this folder's base codec and detector, and
measured metrics attach only to the file they were measured on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from adapter_weights import adapted_tiny_model
from click.testing import CliRunner
from maintainer_scripts import load_script
from PIL import Image

from forensiccodec.adapters import export_adapters
from forensiccodec.cli import main
from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.detector import build_backbone
from forensiccodec.detector.weights import export_detector
from forensiccodec.rate_points import rate_point_for_quality
from forensiccodec.retired import RETIRED_KIND
from forensiccodec.train.forensic_training import train_forensic
from forensiccodec.zoo import Manifest, export_codec, sha256_of_file

ENTRY = "sfma-tiny-q1-decoder"



def register(*args: str | Path, exit_code: int = 0) -> str:
    result = CliRunner().invoke(main, ["register-weights", *map(str, args)], env={"COLUMNS": "300"})
    assert result.exit_code == exit_code, result.output
    return result.output


def base_registry(directory: Path, codec_seed: int = 1) -> Path:
    torch.manual_seed(codec_seed)
    export_codec(TIC(get_config("tiny")).eval(), config_name="tiny", quality=1, weights_dir=directory)
    torch.manual_seed(2)
    export_detector(build_backbone("tiny").eval(), config_name="tiny", weights_dir=directory, n_patches=8, top_m=6)
    return directory


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as the GPU recipe packs it: one exported adapter file and its manifest."""
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("real", "synthetic"):
            (root / "data" / split / label).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "data" / split / label / "a.png")
    weights = base_registry(root / "weights")
    shutil.copytree(weights, root / "clean")  # what a target registry holds (exports are not byte-reproducible)
    torch.set_num_threads(1)
    train_forensic(data=root / "data", rate_point=rate_point_for_quality(1), placement="decoder", config_name="tiny",
                   detector_config="tiny", steps=1, batch_size=2, crop_size=64, k_patches=2, device="cpu",
                   checkpoint_dir=root / "checkpoints", weights_dir=weights, progress=False)
    packed = root / "packed"
    packed.mkdir()
    entry = Manifest.load(weights).entries[ENTRY]
    shutil.copy(weights / entry.file, packed / entry.file)
    shutil.copy(weights / "manifest.json", packed / "manifest.json")
    return packed


def clean_registry(trained_run: Path, directory: Path) -> Path:
    """The base codec and detector the run was trained against, and nothing else."""
    return Path(shutil.copytree(trained_run.parent / "clean", directory))


def test_register_copies_a_matching_run(trained_run: Path, tmp_path: Path) -> None:
    target = clean_registry(trained_run, tmp_path / "weights")
    output = register(trained_run, "--weights-dir", target)
    assert f"registered {ENTRY} from" in output
    entry = Manifest.load(target).entries[ENTRY]
    assert sha256_of_file(target / entry.file) == entry.sha256
    assert entry.extra["training"]["detector"] == "tiny"


def test_register_refuses_a_changed_file_or_another_base(trained_run: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(trained_run, tampered)
    weights_file = next(tampered.glob("*.safetensors"))
    weights_file.write_bytes(weights_file.read_bytes()[:-1] + b"\0")
    target = clean_registry(trained_run, tmp_path / "a")
    assert "sha256" in register(trained_run, tampered, "--weights-dir", target, exit_code=4)
    # The good run before the bad one was not copied in either: nothing is half-registered.
    assert ENTRY not in Manifest.load(target).entries and not list(target.glob("sfma-*"))
    assert "base codec" in register(trained_run, "--weights-dir", base_registry(tmp_path / "b", codec_seed=5), exit_code=4)
    assert ENTRY not in Manifest.load(tmp_path / "b").entries


def test_metrics_attach_only_to_the_file_they_were_measured_on(trained_run: Path, tmp_path: Path) -> None:
    target = clean_registry(trained_run, tmp_path / "weights")
    register(trained_run, "--weights-dir", target)
    sha = Manifest.load(target).entries[ENTRY].sha256
    point = {"rate": 1, "accuracy": 0.75, "auc": 0.8, "real_accuracy": 0.5, "synthetic_accuracy": 1.0,
             "accuracy_ci": [0.5, 1.0], "bpp_mean": 0.1, "psnr_mean": 25.0, "n_real": 2, "n_synthetic": 2,
             "frechet": 3.5, "weights": {ENTRY: sha}}
    report = {"data": "d", "split": "test", "data_sha256": "c" * 64, "detector": {"sha256": "x", "n_patches": 8, "top_m": 6},
              "frechet": {"name": "fd-detector-tiny-p8", "is_fid": False},
              "settings": [{"name": "adapters-decoder", "points": [point]}]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    script = load_script("record_forensic_metrics")
    assert script.main([str(path), "--weights-dir", str(target)]) == 0
    recorded = Manifest.load(target).entries[ENTRY].extra["metrics"]["demo-test"]
    assert recorded["accuracy"] == 0.75 and recorded["accuracy_ci"] == [0.5, 1.0]
    assert recorded["frechet"] == {"value": 3.5, "name": "fd-detector-tiny-p8", "is_fid": False}
    assert "auc_ci" not in recorded  # absent from the report, not invented
    assert recorded["data_sha256"] == "c" * 64  # which images the numbers come from

    point["weights"] = {ENTRY: "0" * 64}
    point["accuracy"] = 0.5
    path.write_text(json.dumps(report))
    assert script.main([str(path), "--weights-dir", str(target), "--key", "other"]) == 1
    assert "other" not in Manifest.load(target).entries[ENTRY].extra["metrics"]
    with pytest.raises(SystemExit, match="^error: "):
        script.main([str(tmp_path / "missing.json"), "--weights-dir", str(target)])


def paper_run(clean: Path, directory: Path, scale: float) -> Path:
    """A packed run of paper adapters trained against ``clean``'s base codec and detector."""
    weights = Path(shutil.copytree(clean, directory / "weights"))
    model = adapted_tiny_model()
    with torch.no_grad():
        for sfma in (*model.encoder_sfmas, *model.decoder_sfmas):
            sfma.s_up.weight.mul_(scale)
    detector_sha256 = Manifest.load(weights).entries["detector-tiny"].sha256
    entry = export_adapters(model, config_name="tiny", quality=1, placement="paper", weights_dir=weights,
                            extra={"training": {"detector": "tiny", "detector_sha256": detector_sha256}})
    packed = directory / "packed"
    packed.mkdir()
    shutil.copy(weights / entry.file, packed / entry.file)
    shutil.copy(weights / "manifest.json", packed / "manifest.json")
    return packed


def test_register_keeps_replaced_paper_adapters_as_a_retired_set(trained_run: Path, tmp_path: Path) -> None:
    clean = trained_run.parent / "clean"
    first, second = paper_run(clean, tmp_path / "a", 1.0), paper_run(clean, tmp_path / "b", 1.5)
    target = clean_registry(trained_run, tmp_path / "weights")
    register(first, "--weights-dir", target)
    first_sha = Manifest.load(target).entries["sfma-tiny-q1-paper"].sha256
    assert "--force" in register(second, "--weights-dir", target, exit_code=4)
    for _ in range(2):  # registering the same run twice retires nothing more
        register(second, "--weights-dir", target, "--force")
    manifest = Manifest.load(target)
    assert manifest.entries["sfma-tiny-q1-paper"].sha256 not in (first_sha, None)
    retired = [e for e in manifest.entries.values() if e.kind == RETIRED_KIND]
    assert [(e.name, e.sha256) for e in retired] == [(f"sfma-tiny-q1-paper@{first_sha[:16]}", first_sha)]
    assert sha256_of_file(target / retired[0].file) == first_sha


def test_register_a_retrained_base_codec_keeps_the_replaced_one(trained_run: Path, tmp_path: Path) -> None:
    """A campaign's codec replaces the shipped one; the adapters trained on the old codec keep it."""
    target = clean_registry(trained_run, tmp_path / "weights")
    register(trained_run, "--weights-dir", target)
    old_sha = Manifest.load(target).entries["tic-tiny-q1"].sha256
    campaign = base_registry(tmp_path / "campaign", codec_seed=7)
    output = register(campaign, "--name", "tic-tiny-q1", "--weights-dir", target, "--force")
    manifest = Manifest.load(target)
    assert f"kept as tic-tiny-q1@{old_sha[:16]}" in output
    assert manifest.entries["tic-tiny-q1"].sha256 == sha256_of_file(campaign / "tic-tiny-q1.safetensors")
    assert manifest.entries[f"tic-tiny-q1@{old_sha[:16]}"].kind == "retired-codec"
    # the adapters trained on the replaced codec may still be registered again: their base is kept
    register(trained_run, "--weights-dir", target)
    assert "no weights named" in register(campaign, "--name", "tic-tiny-q9", "--weights-dir", target, exit_code=4)
