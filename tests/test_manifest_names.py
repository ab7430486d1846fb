"""Every kind of weights is named in one place (`manifest`), and each name parses back."""

import pytest

from forensiccodec import manifest
from forensiccodec.manifest import EntryName, parse_entry_name


@pytest.mark.parametrize(("name", "parsed"), [
    (manifest.codec_entry_name("small", 3), EntryName("codec", "small", 3)),
    (manifest.finetuned_entry_name("small", 1), EntryName("finetuned-codec", "small", 1)),
    (manifest.adapter_entry_name("paper", 2, "decoder"), EntryName("adapters", "paper", 2, "decoder")),
    (manifest.detector_entry_name("small"), EntryName("detector", "small")),
    (manifest.retired_entry_name("tic-small-q4", "0123456789abcdef" * 4),
     EntryName("codec", "small", 4, retired_sha256_prefix="0123456789abcdef")),
    (manifest.retired_entry_name("sfma-small-q1-paper", "f" * 64),
     EntryName("adapters", "small", 1, "paper", "f" * 16)),
])
def test_names_parse_back(name, parsed):
    assert parse_entry_name(name) == parsed


def test_other_names_are_not_weights_names():
    for name in ("", "tic-small", "sfma-small-paper", "weights", "tic-small-qx"):
        assert parse_entry_name(name) is None


def test_the_shipped_manifest_names_all_parse():
    shipped = manifest.Manifest.load()
    for name, entry in shipped.entries.items():
        parsed = parse_entry_name(name)
        assert parsed is not None, name
        assert parsed.config_name == entry.config_name
        assert entry.kind == parsed.kind or entry.kind.startswith("retired-")
