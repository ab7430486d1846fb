"""Adapter weights in the registry (both placements) and the fully fine-tuned codec, on the tiny TIC."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from adapter_weights import QUALITY, adapted_tiny_model, export_adapted_registry
from safetensors import safe_open

from forensiccodec import adapters, zoo
from forensiccodec.codec import pipeline
from forensiccodec.codec.config import get_config
from forensiccodec.codec.swin import SwinBlock
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import UsageError, WeightsError


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """Never modified by a test; copy it (`registry_copy`) to change it."""
    return export_adapted_registry(tmp_path_factory.mktemp("adapted-weights"))


@pytest.fixture
def registry_copy(tmp_path, registry) -> Path:
    return Path(shutil.copytree(registry, tmp_path / "weights"))


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    torch.manual_seed(5)
    return torch.rand(1, 3, 40, 70)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_entry_names():
    assert adapters.adapter_entry_name("small", 1, "paper") == "sfma-small-q1-paper"
    assert adapters.adapter_entry_name("small", 4, "decoder") == "sfma-small-q4-decoder"
    assert adapters.finetuned_entry_name("small", 2) == "tic-small-ft-q2"
    with pytest.raises(UsageError, match="placement"):
        adapters.adapter_entry_name("small", 1, "both")


@pytest.mark.parametrize(
    ("placement", "prefixes"),
    [("paper", ("encoder_sfmas.", "decoder_sfmas.")), ("decoder", ("decoder_sfmas.",))],
)
def test_exported_file_holds_only_the_placement_adapters(registry, placement, prefixes):
    manifest = zoo.Manifest.load(registry)
    entry = manifest.entries[f"sfma-tiny-q1-{placement}"]
    base = manifest.codec_entry("tiny", QUALITY)
    assert (entry.kind, entry.config_name, entry.quality) == ("adapters", "tiny", QUALITY)
    assert entry.extra["placement"] == placement and entry.extra["base_sha256"] == base.sha256
    assert entry.sha256 == zoo.sha256_of_file(registry / entry.file)
    with safe_open(str(registry / entry.file), framework="pt") as handle:
        keys, metadata = list(handle.keys()), handle.metadata()
    model_keys = {k for k in adapted_tiny_model().state_dict() if k.startswith(prefixes)}
    assert set(keys) == model_keys and all(k.startswith(prefixes) for k in keys)
    assert entry.extra["parameters"] > 0
    assert metadata["kind"] == "adapters" and metadata["placement"] == placement
    assert metadata["base_sha256"] == base.sha256 and metadata["quality"] == str(QUALITY)
    assert metadata["shifted_window_mask"] == "true"


def test_export_refuses_to_replace_a_registered_entry_without_overwrite(registry_copy):
    model = adapted_tiny_model()
    with pytest.raises(WeightsError, match="already registered") as error:
        adapters.export_adapters(model, config_name="tiny", quality=QUALITY, placement="paper", weights_dir=registry_copy)
    one_line(error)
    entry = adapters.export_adapters(
        model, config_name="tiny", quality=QUALITY, placement="paper", weights_dir=registry_copy,
        extra={"accuracy": 0.9}, overwrite=True,
    )
    assert zoo.Manifest.load(registry_copy).entries[entry.name].extra["accuracy"] == 0.9


def test_export_refuses_adapters_of_another_base_codec(registry_copy):
    model = adapted_tiny_model()
    with torch.no_grad():
        model.g_a0.bias.add_(1e-3)  # the base was not frozen
    with pytest.raises(WeightsError, match="differ from the registered tic-tiny-q1") as error:
        adapters.export_adapters(model, config_name="tiny", quality=QUALITY, placement="decoder",
                                 weights_dir=registry_copy, overwrite=True)
    one_line(error)


def test_export_refuses_a_model_without_adapters(registry_copy):
    with pytest.raises(UsageError, match="no adapters"):
        adapters.export_adapters(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, placement="paper",
                                 weights_dir=registry_copy, overwrite=True)


@pytest.mark.parametrize(("placement", "encoder_on"), [("paper", True), ("decoder", False)])
def test_loaded_adapters_are_switched_as_the_placement_says(registry, placement, encoder_on):
    codec = adapters.load_adapted_codec("tiny", QUALITY, placement, registry)
    base = zoo.load_codec("tiny", QUALITY, registry)
    assert (codec.model.encoder_adapters_enabled, codec.model.decoder_adapters_enabled) == (encoder_on, True)
    assert codec.encoder_adapters == encoder_on and not codec.model.training
    assert codec.sha256 == base.sha256 and codec.fingerprint == base.fingerprint
    assert codec.model_name == "tic-tiny" and codec.placement == placement
    assert codec.adapters_entry == f"sfma-tiny-q1-{placement}"
    assert codec.tables.to_tensors().keys() == base.tables.to_tensors().keys()
    assert all(torch.equal(a, b) for a, b in zip(codec.tables.to_tensors().values(), base.tables.to_tensors().values()))
    trained = adapted_tiny_model().state_dict()
    loaded = codec.model.state_dict()
    assert all(torch.equal(loaded[k], trained[k]) for k in trained if k.startswith("decoder_sfmas."))


def test_adapters_off_are_the_base_codec_bit_for_bit(registry, pixels):
    codec = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry)
    base = zoo.load_codec("tiny", QUALITY, registry)
    codec.model.set_adapters(False, False)
    try:
        ours = pipeline.compress(codec.model, codec.tables, pixels)
        theirs = pipeline.compress(base.model, base.tables, pixels)
        assert (ours.z_stream, ours.y_stream) == (theirs.z_stream, theirs.y_stream)
        args = (theirs.z_stream, theirs.y_stream, theirs.z_shape, theirs.y_shape, 40, 70)
        assert torch.equal(
            pipeline.decompress(codec.model, codec.tables, *args).pixels,
            pipeline.decompress(base.model, base.tables, *args).pixels,
        )
    finally:
        codec.model.set_adapters(True, True)


def test_adapters_on_change_latent_and_reconstruction(registry, pixels):
    paper = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry)
    decoder = adapters.load_adapted_codec("tiny", QUALITY, "decoder", registry)
    base = zoo.load_codec("tiny", QUALITY, registry)
    base_streams = pipeline.compress(base.model, base.tables, pixels)
    assert pipeline.compress(decoder.model, decoder.tables, pixels).y_stream == base_streams.y_stream
    assert pipeline.compress(paper.model, paper.tables, pixels).y_stream != base_streams.y_stream
    args = (base_streams.z_stream, base_streams.y_stream, base_streams.z_shape, base_streams.y_shape, 40, 70)
    forensic = pipeline.decompress(decoder.model, decoder.tables, *args).pixels
    plain = pipeline.decompress(base.model, base.tables, *args).pixels
    assert not torch.equal(forensic, plain)
    assert torch.equal(forensic, pipeline.decompress(decoder.model, decoder.tables, *args).pixels)  # deterministic


def test_missing_adapters_name_the_training_command(tmp_path):
    export_adapted_registry(tmp_path, finetuned=False)
    manifest = zoo.Manifest.load(tmp_path)
    del manifest.entries["sfma-tiny-q1-decoder"]
    manifest.save()
    with pytest.raises(WeightsError, match="fcc train-adapter .*--placement decoder") as error:
        adapters.load_adapted_codec("tiny", QUALITY, "decoder", tmp_path)
    assert error.value.exit_code == 4 and "no decoder forensic adapters for tiny q1" in one_line(error)


def test_adapters_of_another_base_codec_are_refused(registry_copy):
    torch.manual_seed(99)
    zoo.export_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=registry_copy, overwrite=True)
    with pytest.raises(WeightsError, match="was trained on base codec .* but the installed tic-tiny-q1") as error:
        adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy)
    assert "fcc train-adapter" in one_line(error)


def test_a_modified_adapter_file_is_refused(registry_copy):
    path = registry_copy / "sfma-tiny-q1-paper.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsError, match="does not match the manifest"):
        adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy)


def shift_masks(module: torch.nn.Module) -> set[bool]:
    return {block.shift_mask for block in module.modules() if isinstance(block, SwinBlock)}


def test_adapt_icmh_style_adapters_drop_the_shifted_window_mask_in_the_transforms_only(registry_copy):
    model = adapted_tiny_model()
    model.set_shifted_window_mask(False)
    entry = adapters.export_adapters(model, config_name="tiny", quality=QUALITY, placement="paper",
                                     weights_dir=registry_copy, overwrite=True)
    assert entry.extra["shifted_window_mask"] is False
    unmasked = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy).model
    assert shift_masks(unmasked.g_a1) == shift_masks(unmasked.g_s6) == {False}
    assert shift_masks(unmasked.h_a1) == shift_masks(unmasked.h_s0) == {True}  # the base entropy model
    assert shift_masks(adapters.load_adapted_codec("tiny", QUALITY, "decoder", registry_copy).model) == {True}


@pytest.fixture
def adapt_icmh_checkpoint(tmp_path) -> Path:
    """An Adapt-ICMH-style TIC_SFMA checkpoint: DataParallel names, base keys plus adapters, attn_mask buffers."""
    state = {f"module.{k}": v for k, v in adapted_tiny_model().state_dict().items()}
    state["module.g_a1.blocks.1.attn_mask"] = torch.zeros(4, 64, 64)
    path = tmp_path / "TIC_SFMA_q1.pth.tar"
    torch.save({"state_dict": state}, path)
    return path


def test_import_of_an_adapt_icmh_checkpoint_registers_its_paper_adapters(registry_copy, adapt_icmh_checkpoint, pixels):
    entry = adapters.import_adapt_icmh(adapt_icmh_checkpoint, QUALITY, registry_copy, overwrite=True, config_name="tiny")
    assert entry.name == "sfma-tiny-q1-paper" and entry.extra["shifted_window_mask"] is False
    assert "Adapt-ICMH" in entry.extra["source"]
    codec = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy)
    trained = adapted_tiny_model().state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in codec.model.state_dict().items() if "sfmas." in k)
    base = zoo.load_codec("tiny", QUALITY, registry_copy)
    streams = pipeline.compress(codec.model, codec.tables, pixels)
    args = (streams.z_stream, streams.y_stream, streams.z_shape, streams.y_shape, 40, 70)
    # the hyperprior kept its mask: the entropy model is the base codec's, so the base decoder reads
    # these streams (encode forensic + decode none)
    z_hat = torch.randn(1, *streams.z_shape)
    for ours, theirs in zip(codec.model.hyper_synthesis(z_hat), base.model.hyper_synthesis(z_hat)):
        assert torch.equal(ours, theirs)
    plain = pipeline.decompress(base.model, base.tables, *args).pixels
    assert plain.shape == (1, 3, 40, 70) and torch.isfinite(plain).all()


def test_import_refuses_adapters_trained_on_another_base(registry_copy, tmp_path):
    state = adapted_tiny_model().state_dict()
    state["g_s7.bias"] = state["g_s7.bias"] + 1
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="base weights differ from the registered tic-tiny-q1") as error:
        adapters.import_adapt_icmh(tmp_path / "other.pth", QUALITY, registry_copy, overwrite=True, config_name="tiny")
    assert "fcc import-weights base_codec_1.pth.tar -q 1" in one_line(error)


def test_import_refuses_a_checkpoint_without_adapters(registry_copy, tmp_path):
    torch.save(TIC(get_config("tiny")).state_dict(), tmp_path / "base.pth")
    with pytest.raises(WeightsError, match="not an Adapt-ICMH TIC_SFMA checkpoint"):
        adapters.import_adapt_icmh(tmp_path / "base.pth", QUALITY, registry_copy, config_name="tiny")


def test_import_refuses_to_replace_registered_adapters_without_force(registry_copy, adapt_icmh_checkpoint):
    with pytest.raises(WeightsError, match="already registered"):
        adapters.import_adapt_icmh(adapt_icmh_checkpoint, QUALITY, registry_copy, config_name="tiny")


def test_finetuned_codec_is_a_complete_codec_of_its_own(registry, pixels):
    manifest = zoo.Manifest.load(registry)
    entry = manifest.entries["tic-tiny-ft-q1"]
    assert entry.kind == "finetuned-codec" and entry.extra["base"] == "tic-tiny-q1"
    assert manifest.codec_entry("tiny", QUALITY).name == "tic-tiny-q1"  # the base lookup ignores it
    finetuned = adapters.load_finetuned_codec("tiny", QUALITY, registry)
    base = zoo.load_codec("tiny", QUALITY, registry)
    assert finetuned.model_name == "tic-tiny-ft" and finetuned.sha256 == entry.sha256 != base.sha256
    assert finetuned.fingerprint != base.fingerprint and not finetuned.model.has_adapters
    streams = pipeline.compress(finetuned.model, finetuned.tables, pixels)
    decoded = pipeline.decompress(finetuned.model, finetuned.tables, streams.z_stream, streams.y_stream,
                                  streams.z_shape, streams.y_shape, 40, 70)
    assert decoded.pixels.shape == (1, 3, 40, 70)


def test_finetuned_export_refuses_an_adapter_model_and_a_silent_replacement(registry_copy):
    with pytest.raises(UsageError, match="no adapters"):
        adapters.export_finetuned_codec(adapted_tiny_model(), config_name="tiny", quality=QUALITY, weights_dir=registry_copy)
    with pytest.raises(WeightsError, match="already registered"):
        adapters.export_finetuned_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=registry_copy)


def test_missing_finetuned_codec_names_the_training_command(tmp_path):
    export_adapted_registry(tmp_path, finetuned=False)
    with pytest.raises(WeightsError, match="fcc train-adapter --placement full") as error:
        adapters.load_finetuned_codec("tiny", QUALITY, tmp_path)
    one_line(error)
