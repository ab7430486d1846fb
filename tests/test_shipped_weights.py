"""The shipped weights reproduce what weights/manifest.json states for them on the sample photograph."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensiccodec.adapters import load_adapted_codec
from forensiccodec.api import CodecStore, round_trip
from forensiccodec.retired import RETIRED_KIND
from forensiccodec.zoo import (
    Manifest,
    default_weights_dir,
    fingerprint_from_sha256,
    sha256_of_file,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "astronaut.png"


def shipped_codec_entries() -> list:
    manifest = Manifest.load(default_weights_dir())
    return [e for e in manifest.entries.values() if e.kind == "codec" and "sample" in e.extra.get("metrics", {})]


def test_every_manifest_file_matches_its_sha256() -> None:
    manifest = Manifest.load(default_weights_dir())
    assert manifest.entries, "no shipped weights registered"
    for entry in manifest.entries.values():
        assert sha256_of_file(manifest.directory / entry.file) == entry.sha256, entry.name


@pytest.mark.parametrize("entry", shipped_codec_entries(), ids=lambda e: e.name)
def test_round_trip_reproduces_the_manifest(entry, tmp_path: Path) -> None:
    expected = entry.extra["metrics"]["sample"]
    store = CodecStore()
    report = round_trip(store.get(entry.config_name, entry.quality), store, REPO / expected["image"], tmp_path)
    assert report.encode.file_bytes == expected["file_bytes"]
    assert report.encode.bpp == pytest.approx(expected["bpp"], abs=1e-6)
    assert report.psnr == pytest.approx(expected["psnr"], abs=0.01)


def test_payload_is_close_to_the_models_estimate(tmp_path: Path) -> None:
    """The entropy coder spends what the model says (0.5% + the coders' final words)."""
    entry = shipped_codec_entries()[0]
    store = CodecStore()
    report = round_trip(store.get(entry.config_name, entry.quality), store, SAMPLE, tmp_path).encode
    pixels = report.width * report.height
    payload_bits = report.payload_bpp * pixels
    estimate_bits = report.estimated_bpp * pixels
    assert abs(payload_bits - estimate_bits) <= 0.005 * estimate_bits + 8 * 16


def test_every_retired_adapter_set_loads_for_the_files_it_wrote() -> None:
    manifest = Manifest.load(default_weights_dir())
    retired = [e for e in manifest.entries.values() if e.kind == RETIRED_KIND]
    assert retired, "the shipped weights keep the paper adapter sets they replaced"
    for entry in retired:
        assert manifest.entries[entry.extra["retired_from"]].sha256 != entry.sha256, entry.name
        codec = load_adapted_codec(entry.config_name, entry.quality, "paper", fingerprint=fingerprint_from_sha256(entry.sha256))
        assert (codec.adapters_entry, codec.adapters_sha256, codec.adapters_retired) == (entry.name, entry.sha256, True)
