"""Replaced paper adapters are kept as retired sets, found by fingerprint, never used to encode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from adapter_weights import QUALITY, adapted_tiny_model, export_adapted_registry

from forensiccodec import adapters, zoo
from forensiccodec.errors import UsageError, WeightsError
from forensiccodec.retired import (
    RETIRED_KIND,
    find_retired,
    retire,
    retired_entry_name,
)

PAPER, DECODER = "sfma-tiny-q1-paper", "sfma-tiny-q1-decoder"


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return export_adapted_registry(tmp_path_factory.mktemp("adapted-weights"), finetuned=False)


@pytest.fixture
def registry_copy(tmp_path, registry) -> Path:
    return Path(shutil.copytree(registry, tmp_path / "weights"))


def retrained_model(scale: float = 1.5):
    model = adapted_tiny_model()
    with torch.no_grad():
        for sfma in (*model.encoder_sfmas, *model.decoder_sfmas):
            sfma.s_up.weight.mul_(scale)
    return model


def test_retire_copies_the_file_and_registers_it_under_its_sha256(registry_copy):
    manifest = zoo.Manifest.load(registry_copy)
    active = manifest.entries[PAPER]
    entry = retire(manifest, active)
    assert entry.name == f"{PAPER}@{active.sha256[:16]}" == retired_entry_name(PAPER, active.sha256)
    assert entry.kind == RETIRED_KIND and entry.quality == QUALITY and entry.config_name == "tiny"
    assert entry.file == f"retired/{PAPER}-{active.sha256[:16]}.safetensors"
    assert zoo.sha256_of_file(registry_copy / entry.file) == entry.sha256 == active.sha256
    assert entry.extra["retired_from"] == PAPER and entry.extra["placement"] == "paper"
    assert entry.extra["base_sha256"] == active.extra["base_sha256"]
    assert retire(manifest, active) is entry  # the same file twice: nothing new


def test_retire_refuses_a_file_that_is_not_the_registered_one(registry_copy):
    path = registry_copy / f"{PAPER}.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    manifest = zoo.Manifest.load(registry_copy)
    with pytest.raises(WeightsError, match="does not match the manifest"):
        retire(manifest, manifest.entries[PAPER])
    assert not (registry_copy / "retired").exists() or not list((registry_copy / "retired").iterdir())


def test_find_retired_matches_the_active_name_and_the_fingerprint(registry_copy):
    manifest = zoo.Manifest.load(registry_copy)
    entry = retire(manifest, manifest.entries[PAPER])
    fingerprint = zoo.fingerprint_from_sha256(entry.sha256)
    assert find_retired(manifest, PAPER, fingerprint) is entry
    assert find_retired(manifest, "sfma-tiny-q2-paper", fingerprint) is None
    assert find_retired(manifest, PAPER, b"\0" * 8) is None


def test_replacing_paper_adapters_retires_the_previous_set(registry_copy):
    before = zoo.Manifest.load(registry_copy).entries[PAPER]
    adapters.export_adapters(retrained_model(), config_name="tiny", quality=QUALITY, placement="paper",
                             weights_dir=registry_copy, overwrite=True)
    manifest = zoo.Manifest.load(registry_copy)
    assert manifest.entries[PAPER].sha256 != before.sha256
    retired = [e for e in manifest.entries.values() if e.kind == RETIRED_KIND]
    assert [e.sha256 for e in retired] == [before.sha256]
    assert zoo.sha256_of_file(registry_copy / retired[0].file) == before.sha256


def test_exporting_the_same_file_again_or_decoder_adapters_retires_nothing(registry_copy):
    model = adapted_tiny_model()
    for placement in ("paper", "decoder"):
        adapters.export_adapters(model, config_name="tiny", quality=QUALITY, placement=placement,
                                 weights_dir=registry_copy, overwrite=True)
    adapters.export_adapters(retrained_model(), config_name="tiny", quality=QUALITY, placement="decoder",
                             weights_dir=registry_copy, overwrite=True)
    manifest = zoo.Manifest.load(registry_copy)
    assert not [e for e in manifest.entries.values() if e.kind == RETIRED_KIND]
    assert not (registry_copy / "retired").exists()


def test_a_fingerprint_loads_the_retired_set_and_only_for_paper_adapters(registry_copy):
    old = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy)
    adapters.export_adapters(retrained_model(), config_name="tiny", quality=QUALITY, placement="paper",
                             weights_dir=registry_copy, overwrite=True)
    old_fingerprint = zoo.fingerprint_from_sha256(old.adapters_sha256)

    current = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy)
    assert current.adapters_entry == PAPER and not current.adapters_retired
    assert current.adapters_sha256 != old.adapters_sha256

    found = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy, fingerprint=old_fingerprint)
    assert found.adapters_retired and found.adapters_entry == f"{PAPER}@{old.adapters_sha256[:16]}"
    assert found.adapters_sha256 == old.adapters_sha256 and found.fingerprint == old.fingerprint
    old_state, found_state = old.model.state_dict(), found.model.state_dict()
    assert all(torch.equal(old_state[key], found_state[key]) for key in old_state)

    unknown = adapters.load_adapted_codec("tiny", QUALITY, "paper", registry_copy, fingerprint=b"\1" * 8)
    assert unknown.adapters_entry == PAPER  # no match: the registered set, which the caller refuses
    decoder = adapters.load_adapted_codec("tiny", QUALITY, "decoder", registry_copy, fingerprint=old_fingerprint)
    assert decoder.adapters_entry == DECODER


def test_retired_sets_are_not_offered_to_init_from(registry_copy):
    adapters.export_adapters(retrained_model(), config_name="tiny", quality=QUALITY, placement="paper",
                             weights_dir=registry_copy, overwrite=True)
    manifest = zoo.Manifest.load(registry_copy)
    retired = next(e for e in manifest.entries.values() if e.kind == RETIRED_KIND)
    base = manifest.entries["tic-tiny-q1"]
    with pytest.raises(UsageError, match="neither an adapter file nor an adapter set registered") as error:
        adapters.initial_adapters(retired.name, "paper", base.sha256, adapted_tiny_model(), registry_copy)
    assert str(error.value).endswith(f"(registered: {DECODER}, {PAPER})")
