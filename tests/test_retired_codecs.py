"""A retrained base or fully fine-tuned codec keeps the one it replaces: old files decode to the
same pixels with a note, `fcc info` names the retired codec, and adapters keep running on the
base they were trained on (never on another)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from adapter_weights import QUALITY, export_adapted_registry
from click.testing import CliRunner
from PIL import Image

from forensiccodec import api, zoo
from forensiccodec.cli import main
from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import WeightsError
from forensiccodec.adapters import export_finetuned_codec
from forensiccodec.retired import (
    RETIRED_CODEC_KIND,
    RETIRED_FINETUNED_KIND,
    export_codec_keeping_replaced,
    load_codec_for_fingerprint,
    retired_entry_name,
)

BASE = "tic-tiny-q1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return export_adapted_registry(tmp_path_factory.mktemp("weights-before"), finetuned=False)


@pytest.fixture
def weights(tmp_path, registry) -> Path:
    return Path(shutil.copytree(registry, tmp_path / "weights"))


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(coarse).resize((96, 72), Image.BILINEAR).save(path)
    return path


def retrain(weights: Path) -> zoo.WeightsEntry:
    torch.manual_seed(99)
    return export_codec_keeping_replaced(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=weights)


def encode_decode(weights: Path, photo: Path, name: str, adapters: str = "none") -> tuple[Path, api.DecodeReport]:
    store = api.CodecStore(weights)
    encoded = photo.with_name(f"{name}.fcc")
    api.encode_file(store.for_encoding("tiny", QUALITY, adapters=adapters), photo, encoded)
    decoded = photo.with_name(f"{name}.png")
    return encoded, api.decode_file(store, encoded, decoded, adapters=adapters)


def test_a_replaced_codec_is_retired_and_old_files_decode_to_the_same_pixels(weights, photo):
    old_sha = zoo.Manifest.load(weights).entries[BASE].sha256
    encoded, before = encode_decode(weights, photo, "old")
    pixels_before = Image.open(photo.with_name("old.png")).tobytes()

    entry = retrain(weights)
    manifest = zoo.Manifest.load(weights)
    retired = manifest.entries[retired_entry_name(BASE, old_sha)]
    assert entry.sha256 != old_sha and retired.kind == RETIRED_CODEC_KIND and retired.sha256 == old_sha
    assert zoo.sha256_of_file(weights / retired.file) == old_sha

    again = api.decode_file(api.CodecStore(weights), encoded, photo.with_name("old-again.png"))
    assert Image.open(photo.with_name("old-again.png")).tobytes() == pixels_before
    assert any(retired.name in note and "retrained" in note for note in again.notes)
    assert not before.notes
    # new files use the new codec, without a note
    _, fresh = encode_decode(weights, photo, "new")
    assert not fresh.notes

    info = api.file_info(encoded, weights)
    assert info["decoded_with"].startswith(retired.name) and "retired" in info["decoded_with"]
    assert api.file_info(photo.with_name("new.fcc"), weights)["decoded_with"] == BASE


def test_the_same_weights_again_retire_nothing(weights):
    manifest = zoo.Manifest.load(weights)
    active = manifest.entries[BASE]
    model = zoo.load_codec_entry(manifest, active).model
    entry = export_codec_keeping_replaced(model, config_name="tiny", quality=QUALITY, weights_dir=weights)
    assert entry.sha256 == active.sha256
    after = zoo.Manifest.load(weights)
    assert not [e for e in after.entries.values() if e.kind == RETIRED_CODEC_KIND]
    assert not (weights / "retired").exists() or not list((weights / "retired").glob("tic-*"))


def test_a_file_of_a_codec_neither_installed_nor_retired_is_refused(weights, photo, tmp_path):
    encoded, _ = encode_decode(weights, photo, "old")
    torch.manual_seed(5)
    zoo.export_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=weights, overwrite=True)
    with pytest.raises(WeightsError, match="installed weights are"):
        api.decode_file(api.CodecStore(weights), encoded, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    assert load_codec_for_fingerprint("tiny", QUALITY, b"\0" * 8, weights) is None
    assert api.file_info(encoded, weights)["decoded_with"].startswith("not installed")


def test_adapters_keep_running_on_the_base_they_were_trained_on(weights, photo):
    paper_file, paper_before = encode_decode(weights, photo, "paper", adapters="forensic")
    forensic_before = Image.open(photo.with_name("paper.png")).tobytes()
    base_file, _ = encode_decode(weights, photo, "base")
    decoder_before = api.decode_file(api.CodecStore(weights), base_file, photo.with_name("base-forensic.png"),
                                     adapters="forensic")
    decoder_pixels = Image.open(photo.with_name("base-forensic.png")).tobytes()
    retrain(weights)
    store = api.CodecStore(weights)

    # files written before: both forensic reconstructions unchanged, through the retired base
    again = api.decode_file(store, paper_file, photo.with_name("paper-again.png"), adapters="forensic")
    assert Image.open(photo.with_name("paper-again.png")).tobytes() == forensic_before
    assert any("retired codec" in note for note in again.notes) and not paper_before.notes
    api.decode_file(store, base_file, photo.with_name("base-forensic-again.png"), adapters="forensic")
    assert Image.open(photo.with_name("base-forensic-again.png")).tobytes() == decoder_pixels
    assert not decoder_before.notes

    # encoding with the paper adapters still uses the base they were trained on
    paper_codec = store.for_encoding("tiny", QUALITY, adapters="forensic")
    assert paper_codec.retired_entry.startswith(BASE + "@")

    # a new base bitstream: the decoder adapters (trained on the retired base) are refused, clearly
    new_file, _ = encode_decode(weights, photo, "new")
    with pytest.raises(WeightsError, match="retrain the adapters"):
        api.decode_file(store, new_file, photo.with_name("new-forensic.png"), adapters="forensic")
    assert not photo.with_name("new-forensic.png").exists()


def test_fcc_info_and_decode_say_when_a_retired_codec_was_used(weights, photo):
    encoded, _ = encode_decode(weights, photo, "old")
    retrain(weights)
    runner = CliRunner()
    info = runner.invoke(main, ["info", str(encoded), "--weights-dir", str(weights)])
    assert info.exit_code == 0 and "retired" in info.output
    decoded = runner.invoke(main, ["decode", str(encoded), "-o", str(photo.with_name("cli.png")),
                                   "--weights-dir", str(weights)])
    assert decoded.exit_code == 0, decoded.output
    assert "retrained" in decoded.output


def test_fcc_eval_codes_each_adapter_set_with_the_base_it_was_trained_on(weights, photo, tmp_path):
    from forensiccodec.evaluate.report.cache import cache_entry, encoded_suffix
    from forensiccodec.evaluate.report.produce import Producer
    from forensiccodec.evaluate.report.settings import setting_by_name

    retrain(weights)
    producer = Producer("tiny", weights)
    for name in ("adapters-decoder", "adapters-paper"):
        setting = setting_by_name(name)
        used = producer.weights_used(setting, QUALITY)
        assert BASE not in used and any(key.startswith(BASE + "@") for key in used), used
        entry = cache_entry(tmp_path / "cache", name, encoded_suffix(name, True), QUALITY, photo, 0)
        produced = producer.produce(setting, QUALITY, photo, entry)  # a refused decode would raise here
        assert produced.decoded.is_file() and produced.bpp > 0
    # the base setting codes with the installed codec
    assert BASE in producer.weights_used(setting_by_name("base"), QUALITY)


FINETUNED = "tic-tiny-ft-q1"


def finetune(weights: Path, seed: int) -> zoo.WeightsEntry:
    torch.manual_seed(seed)
    return export_finetuned_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=weights,
                                  overwrite=True)


def encode_decode_finetuned(weights: Path, photo: Path, name: str) -> tuple[Path, api.DecodeReport]:
    store = api.CodecStore(weights)
    encoded = photo.with_name(f"{name}.fcc")
    api.encode_file(store.for_encoding("tiny", QUALITY, codec="finetuned"), photo, encoded)
    return encoded, api.decode_file(store, encoded, photo.with_name(f"{name}.png"))


def test_a_retrained_finetuned_codec_is_retired_and_its_files_decode_to_the_same_pixels(weights, photo):
    old = finetune(weights, seed=77)
    encoded, before = encode_decode_finetuned(weights, photo, "ft-old")
    pixels_before = Image.open(photo.with_name("ft-old.png")).tobytes()

    new = finetune(weights, seed=78)
    retired = zoo.Manifest.load(weights).entries[retired_entry_name(FINETUNED, old.sha256)]
    assert new.sha256 != old.sha256 and retired.kind == RETIRED_FINETUNED_KIND
    assert retired.extra["base_sha256"] == old.extra["base_sha256"]

    again = api.decode_file(api.CodecStore(weights), encoded, photo.with_name("ft-again.png"))
    assert Image.open(photo.with_name("ft-again.png")).tobytes() == pixels_before
    assert any(retired.name in note and "retrained" in note for note in again.notes) and not before.notes
    assert api.file_info(encoded, weights)["decoded_with"].startswith(retired.name)
    # the retired codec only decodes: new files are written with the new one
    _, fresh = encode_decode_finetuned(weights, photo, "ft-new")
    assert not fresh.notes
    assert api.file_info(photo.with_name("ft-new.fcc"), weights)["decoded_with"] == FINETUNED


def test_registering_another_finetuned_codec_retires_the_installed_one(weights, photo, tmp_path):
    from forensiccodec.registration import register_weights

    finetune(weights, seed=77)
    encoded, _ = encode_decode_finetuned(weights, photo, "ft-old")
    pixels_before = Image.open(photo.with_name("ft-old.png")).tobytes()
    other = Path(shutil.copytree(weights, tmp_path / "other"))
    finetune(other, seed=78)

    register_weights([other], names=[FINETUNED], target_dir=weights, force=True)
    api.decode_file(api.CodecStore(weights), encoded, photo.with_name("ft-again.png"))
    assert Image.open(photo.with_name("ft-again.png")).tobytes() == pixels_before
