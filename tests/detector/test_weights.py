"""Detector weights: safetensors export, manifest registration, sha256 refusal, official import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from forensiccodec.detector import PatchDetector, build_backbone
from forensiccodec.detector.weights import (
    detector_from_file,
    export_detector,
    import_official,
    load_detector,
    read_detector_file,
    update_detector_record,
)
from forensiccodec.errors import WeightsError
from forensiccodec.zoo import Manifest, sha256_of_file

torch.set_num_threads(2)


def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_backbone("tiny").eval()


def test_export_registers_and_load_gives_the_same_scores(tmp_path: Path) -> None:
    backbone = _tiny()
    entry = export_detector(backbone, config_name="tiny", weights_dir=tmp_path, n_patches=40, top_m=30,
                            extra={"training": {"steps": 3}})
    manifest = json.loads((tmp_path / "manifest.json").read_text())["weights"]["detector-tiny"]
    assert manifest["kind"] == "detector" and manifest["config_name"] == "tiny"
    assert manifest["sha256"] == sha256_of_file(tmp_path / entry.file) == entry.sha256
    assert manifest["training"] == {"steps": 3} and manifest["n_patches"] == 40

    _, metadata = read_detector_file(tmp_path / entry.file)
    assert metadata["kind"] == "detector" and metadata["top_m"] == "30"
    detector = load_detector("tiny", tmp_path)
    assert (detector.n_patches, detector.top_m) == (40, 30) and not detector.training
    image = torch.rand(3, 110, 130)
    expected = PatchDetector(backbone, n_patches=40, top_m=30).score_image(image).score
    assert detector.score_image(image).score == pytest.approx(expected, abs=1e-6)
    assert load_detector("tiny", tmp_path, n_patches=10, seed=3).n_patches == 10
    # --patches alone: the weights' own share of them (30 of 40), as `fcc detect` and `fcc eval` do
    assert load_detector("tiny", tmp_path, n_patches=10).top_m == 8
    assert load_detector("tiny", tmp_path, n_patches=10, top_m=4).top_m == 4
    assert detector.config_name == "tiny"


def test_export_keeps_metrics_of_the_same_weights_only_and_refuses_silent_replacement(tmp_path: Path) -> None:
    export_detector(_tiny(), config_name="tiny", weights_dir=tmp_path)
    update_detector_record("tiny", tmp_path, metrics={"test": {"accuracy": 0.5}}, note="kept")
    with pytest.raises(WeightsError, match="--force"):
        export_detector(_tiny(1), config_name="tiny", weights_dir=tmp_path)
    export_detector(_tiny(), config_name="tiny", weights_dir=tmp_path, overwrite=True)  # the same file again
    assert Manifest.load(tmp_path).entries["detector-tiny"].extra["metrics"] == {"test": {"accuracy": 0.5}}
    export_detector(_tiny(1), config_name="tiny", weights_dir=tmp_path, overwrite=True)  # other weights
    extra = Manifest.load(tmp_path).entries["detector-tiny"].extra
    assert "metrics" not in extra and extra["note"] == "kept"


def test_sha_mismatch_and_missing_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no small detector"):
        load_detector("small", tmp_path)
    entry = export_detector(_tiny(), config_name="tiny", weights_dir=tmp_path)
    path = tmp_path / entry.file
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_detector("tiny", tmp_path)
    path.unlink()
    with pytest.raises(WeightsError, match="missing"):
        load_detector("tiny", tmp_path)


def test_foreign_files_are_not_detectors(tmp_path: Path) -> None:
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="not a readable"):
        detector_from_file(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "codec.safetensors"), metadata={"kind": "codec"})
    with pytest.raises(WeightsError, match="not a forensiccodec detector"):
        detector_from_file(tmp_path / "codec.safetensors")


def test_import_official_registers_a_paper_detector(tmp_path: Path) -> None:
    torch.manual_seed(0)
    official = build_backbone("paper").eval()
    state = {"module." + key: value for key, value in official.state_dict().items()}
    torch.save({"net": state, "epoch": 3}, tmp_path / "synth_vs_real.pth")
    entry = import_official(tmp_path / "synth_vs_real.pth", tmp_path / "weights")
    assert entry.config_name == "paper" and "synth_vs_real.pth" in entry.extra["source"]
    detector = load_detector("paper", tmp_path / "weights")
    loaded = detector.backbone.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in official.state_dict().items())
    torch.save({"net": {"classifier.weight": torch.zeros(2, 8)}}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="not the public"):
        import_official(tmp_path / "other.pth", tmp_path / "weights2")
