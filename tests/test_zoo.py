"""The weights registry: export/load, sha256 and manifest checks, importing TransTIC checkpoints."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from PIL import Image

from forensiccodec import zoo
from forensiccodec.codec.config import get_config
from forensiccodec.codec.entropy_models import to_legacy_names
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import WeightsError


@pytest.fixture
def weights_copy(tmp_path, tiny_weights_dir) -> Path:
    """A private copy of the tiny registry that a test may damage."""
    return Path(shutil.copytree(tiny_weights_dir, tmp_path / "weights"))


# ------------------------------------------------------------------------------- manifest and loading


def test_export_registers_every_quality_with_its_sha256(tiny_weights_dir):
    manifest = zoo.Manifest.load(tiny_weights_dir)
    assert sorted(manifest.entries) == [f"tic-tiny-q{q}" for q in (1, 2, 3, 4)]
    for quality in (1, 2, 3, 4):
        entry = manifest.codec_entry("tiny", quality)
        assert entry.file == f"tic-tiny-q{quality}.safetensors"
        assert entry.sha256 == zoo.sha256_of_file(tiny_weights_dir / entry.file)
        assert entry.extra["config"] == get_config("tiny").to_dict()
        assert entry.extra["lambda"] == {1: 0.02, 2: 0.03, 3: 0.045, 4: 0.07}[quality]
    raw = json.loads((tiny_weights_dir / zoo.MANIFEST_NAME).read_text())
    assert raw["format"] == 1 and set(raw["weights"]) == set(manifest.entries)


def test_load_codec_gives_the_exported_model(tiny_weights_dir):
    codec = zoo.load_codec("tiny", 2, tiny_weights_dir)
    torch.manual_seed(2)  # the conftest export seeds each quality with its number
    reference = TIC(get_config("tiny")).eval()
    assert not codec.model.training
    for key, value in reference.state_dict().items():
        if value.numel():
            torch.testing.assert_close(codec.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    assert codec.model_name == "tic-tiny" and codec.rate_point.quality == 2
    assert codec.fingerprint == bytes.fromhex(codec.sha256)[:8]
    assert codec.sha256 == zoo.Manifest.load(tiny_weights_dir).codec_entry("tiny", 2).sha256


def test_the_environment_variable_names_the_default_folder(tiny_weights_dir, monkeypatch):
    monkeypatch.setenv("FCC_WEIGHTS_DIR", str(tiny_weights_dir))
    assert zoo.default_weights_dir() == tiny_weights_dir
    assert zoo.load_codec("tiny", 1).sha256 == zoo.load_codec("tiny", 1, tiny_weights_dir).sha256
    monkeypatch.delenv("FCC_WEIGHTS_DIR")
    assert zoo.default_weights_dir() == Path(zoo.__file__).resolve().parent.parent / "weights"


def test_weights_whose_sha256_differs_are_refused(weights_copy):
    target = weights_copy / "tic-tiny-q1.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01  # one bit of one float
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the manifest"):
        zoo.load_codec("tiny", 1, weights_copy)
    zoo.load_codec("tiny", 2, weights_copy)  # the untouched ones still load


def test_missing_weights_file_is_refused(weights_copy):
    (weights_copy / "tic-tiny-q4.safetensors").unlink()
    with pytest.raises(WeightsError, match="named in the manifest is missing"):
        zoo.load_codec("tiny", 4, weights_copy)


def test_unregistered_quality_lists_what_is_available(tmp_path, weights_copy):
    with pytest.raises(WeightsError, match=r"available: tiny q1, tiny q2, tiny q3, tiny q4"):
        zoo.load_codec("small", 3, weights_copy)
    with pytest.raises(WeightsError, match="available: none"):
        zoo.load_codec("tiny", 1, tmp_path / "empty")


def test_malformed_manifest_is_refused(weights_copy):
    (weights_copy / zoo.MANIFEST_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid weights manifest"):
        zoo.load_codec("tiny", 1, weights_copy)
    (weights_copy / zoo.MANIFEST_NAME).write_text(json.dumps({"weights": {"x": {"file": "x"}}}))
    with pytest.raises(WeightsError, match="lacks the field"):
        zoo.Manifest.load(weights_copy)


def test_a_registered_file_that_is_not_a_codec_is_refused(weights_copy):
    """Manifest and hash agree, but the file is not safetensors: still a clean WeightsError."""
    target = weights_copy / "tic-tiny-q1.safetensors"
    target.write_bytes(b"not safetensors at all")
    manifest = zoo.Manifest.load(weights_copy)
    manifest.entries["tic-tiny-q1"].sha256 = zoo.sha256_of_file(target)
    manifest.save()
    with pytest.raises(WeightsError, match="not a readable safetensors weights file"):
        zoo.load_codec("tiny", 1, weights_copy)


def test_reexport_keeps_recorded_extras(tmp_path):
    torch.manual_seed(0)
    model = TIC(get_config("tiny"))
    zoo.export_codec(model, config_name="tiny", quality=1, weights_dir=tmp_path, extra={"metrics": {"psnr": 30.0}})
    entry = zoo.export_codec(model, config_name="tiny", quality=1, weights_dir=tmp_path, extra={"training": "x"})
    assert entry.extra["metrics"] == {"psnr": 30.0} and entry.extra["training"] == "x"
    assert zoo.Manifest.load(tmp_path).entries["tic-tiny-q1"].extra["metrics"] == {"psnr": 30.0}


def test_retrained_weights_drop_the_old_files_measurements(tmp_path):
    from forensiccodec.adapters import export_adapters

    torch.manual_seed(0)
    model = TIC(get_config("tiny"), adapters=True)
    zoo.export_codec(TIC(get_config("tiny")).eval(), config_name="tiny", quality=1, weights_dir=tmp_path)
    base_state = zoo.load_codec("tiny", 1, tmp_path).model.state_dict()
    model.load_state_dict({**model.state_dict(), **base_state})
    common = {"config_name": "tiny", "quality": 1, "placement": "decoder", "weights_dir": tmp_path, "overwrite": True}
    export_adapters(model, extra={"metrics": {"accuracy": 0.6}, "note": "kept"}, **common)
    with torch.no_grad():
        model.decoder_sfmas[0].s_up.weight.add_(0.1)  # retrained: another file under the same name
    entry = export_adapters(model, extra={"training": "new"}, **common)
    assert "metrics" not in entry.extra and entry.extra["note"] == "kept" and entry.extra["training"] == "new"
    assert "metrics" not in zoo.Manifest.load(tmp_path).entries["sfma-tiny-q1-decoder"].extra


def test_a_variant_registers_beside_the_base_codec_without_replacing_it(tmp_path):
    torch.manual_seed(0)
    base = zoo.export_codec(TIC(get_config("tiny")), config_name="tiny", quality=1, weights_dir=tmp_path)
    torch.manual_seed(1)
    variant = zoo.export_codec(TIC(get_config("tiny")), config_name="tiny", quality=1, weights_dir=tmp_path,
                               name="tic-tiny-ft-q1", kind="finetuned-codec")
    manifest = zoo.Manifest.load(tmp_path)
    assert (variant.name, variant.file, variant.kind) == ("tic-tiny-ft-q1", "tic-tiny-ft-q1.safetensors", "finetuned-codec")
    assert manifest.codec_entry("tiny", 1).sha256 == base.sha256 != variant.sha256
    loaded = zoo.load_codec_entry(manifest, manifest.entries["tic-tiny-ft-q1"], variant="ft")
    assert loaded.sha256 == variant.sha256 and loaded.model_name == "tic-tiny-ft"
    assert zoo.load_codec("tiny", 1, tmp_path).model_name == "tic-tiny"


# ------------------------------------------------------------------------------- import-weights


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_import_weights_refuses_a_text_file(tmp_path, fcc):
    text = tmp_path / "base_codec_1.pth.tar"
    text.write_text("this is not a checkpoint\n")
    result = fcc("import-weights", text, "-q", "1", "--weights-dir", tmp_path / "w")
    assert result.exit_code == 4 and isinstance(result.exception, SystemExit)
    (line,) = _error_lines(result)
    assert "not a PyTorch checkpoint" in line and "base_codec_1.pth.tar" in line
    assert not (tmp_path / "w" / zoo.MANIFEST_NAME).exists()


@pytest.mark.parametrize("content", [[1, 2, 3], {"epoch": 3, "lr": 0.1}, torch.zeros(4), {"state_dict": 7}])
def test_import_weights_refuses_a_torch_file_that_is_not_a_state_dict(tmp_path, fcc, content):
    path = tmp_path / "thing.pth.tar"
    torch.save(content, path)
    result = fcc("import-weights", path, "-q", "2", "--weights-dir", tmp_path / "w")
    assert result.exit_code == 4 and isinstance(result.exception, SystemExit)
    (line,) = _error_lines(result)
    assert "not a TransTIC checkpoint" in line


def test_import_weights_refuses_another_models_state_dict(tmp_path, fcc):
    path = tmp_path / "tiny.pth.tar"
    torch.save({"state_dict": TIC(get_config("tiny")).state_dict()}, path)
    result = fcc("import-weights", path, "-q", "1", "--weights-dir", tmp_path / "w")
    assert result.exit_code == 4 and isinstance(result.exception, SystemExit)
    (line,) = _error_lines(result)
    assert "do not match TIC_hp" in line


def test_import_weights_refuses_an_unknown_quality(tmp_path, fcc):
    path = tmp_path / "x.pth.tar"
    torch.save({}, path)
    result = fcc("import-weights", path, "-q", "9", "--weights-dir", tmp_path / "w")
    assert result.exit_code == 2 and "unknown quality 9" in result.stderr


@pytest.fixture(scope="module")
def fake_transtic_checkpoint(tmp_path_factory) -> Path:
    """A TransTIC-style `base_codec_1.pth.tar`: {'state_dict': {'module.' + key: tensor}} (~30 MB),
    with the entropy bottleneck's legacy names (`_matrix0`, TransTIC's vendored compressai 1.2.0)."""
    torch.manual_seed(11)
    state = to_legacy_names(TIC(get_config("paper")).state_dict())
    path = tmp_path_factory.mktemp("transtic") / "base_codec_1.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 99}, path)
    return path


def test_import_of_a_transtic_checkpoint_registers_a_working_codec(tmp_path, fcc, fake_transtic_checkpoint):
    weights = tmp_path / "w"
    result = fcc("import-weights", fake_transtic_checkpoint, "-q", "1", "--weights-dir", weights)
    assert result.exit_code == 0, result.output
    assert "tic-paper-q1" in result.stdout
    entry = zoo.Manifest.load(weights).entries["tic-paper-q1"]
    assert (entry.kind, entry.config_name, entry.quality) == ("codec", "paper", 1)
    assert entry.sha256 == zoo.sha256_of_file(weights / entry.file)
    assert "base_codec_1.pth.tar" in entry.extra["source"]

    # the weights are the checkpoint's, unchanged (read from the file: building the model takes seconds);
    # the file keeps TransTIC's names, read_codec_file hands out the model's (CompressAI 1.2.8's)
    from safetensors import safe_open

    with safe_open(str(weights / entry.file), framework="pt") as handle:
        stored = list(handle.keys())
    assert "entropy_bottleneck._matrix0" in stored
    loaded = to_legacy_names(zoo.read_codec_file(weights / entry.file)[0])
    assert "entropy_bottleneck.matrices.0" in zoo.read_codec_file(weights / entry.file)[0]
    original = torch.load(fake_transtic_checkpoint, weights_only=True)["state_dict"]
    compared = [k for k, v in loaded.items() if v.numel() and "module." + k in original]
    assert "g_a0.weight" in compared and "entropy_bottleneck._matrix0" in compared
    assert len(compared) > 0.9 * len(loaded)
    for key in compared:
        torch.testing.assert_close(loaded[key], original["module." + key], rtol=0, atol=0, msg=key)

    # a second import does not replace registered weights without --force
    again = fcc("import-weights", fake_transtic_checkpoint, "-q", "1", "--weights-dir", weights)
    assert again.exit_code == 4 and "already registered" in again.stderr
    assert zoo.sha256_of_file(weights / entry.file) == entry.sha256

    # and the imported codec encodes and decodes
    rng = torch.Generator().manual_seed(0)
    pixels = (torch.rand(64, 64, 3, generator=rng) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(tmp_path / "img.png")
    encoded = fcc("encode", tmp_path / "img.png", "--config", "paper", "-q", "1", "--weights-dir", weights)
    assert encoded.exit_code == 0, encoded.output
    decoded = fcc("decode", tmp_path / "img.fcc", "--weights-dir", weights)
    assert decoded.exit_code == 0, decoded.output
    header = (tmp_path / "img.decoded.png").read_bytes()[16:24]
    assert struct.unpack(">II", header) == (64, 64)


def test_the_same_weights_export_to_the_same_bytes(tmp_path):
    from safetensors import safe_open

    torch.manual_seed(0)
    model = TIC(get_config("tiny"))
    shas = {zoo.export_codec(model, config_name="tiny", quality=1, weights_dir=tmp_path).sha256 for _ in range(4)}
    assert len(shas) == 1  # safetensors alone writes its metadata in a different order each time
    with safe_open(str(tmp_path / "tic-tiny-q1.safetensors"), framework="pt") as handle:  # still a valid file
        assert handle.metadata()["name"] == "tic-tiny-q1" and len(list(handle.keys())) > 10
