"""Replaced weights kept so that the files they wrote still decode: base codecs, fully fine-tuned
codecs and paper adapters.

A `.fcc` file records the fingerprint of the base codec that wrote it (and, when written with
encoder adapters, of the paper adapters). Retraining a rate point's base codec or paper adapters
would strand every such file, so the weights being replaced are kept: the file is copied to
``retired/`` in the weights folder and registered under ``<name>@<first 16 hex digits of its
sha256>``, with kind ``retired-codec``, ``retired-finetuned-codec`` or ``retired-adapters``.
Retired weights are never used to encode afresh and never offered to ``--init-from`` by name;
decoding picks one only for a file whose recorded fingerprint is theirs, and adapters trained on
a since-replaced base codec run on that retired base (`adapters.load_adapted_codec`), never on
another.

Decoder-placement adapter sets are not retired: their files are base bitstreams that record no
adapters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .codec.tic import TIC
from .files import atomic_write_bytes
from .manifest import (
    FINETUNED_VARIANT,
    RETIRED_CODEC_KIND,
    RETIRED_FINETUNED_KIND,
    RETIRED_FROM_KEY,
    RETIRED_KIND,  # noqa: F401 (re-exported: `manifest` needs no torch)
    RETIRED_KINDS,
    SHA256_DIGITS_IN_NAME,
    find_retired,
    finetuned_entry_name,
    retired_entry_name,
)
from .zoo import (
    LoadedCodec,
    Manifest,
    WeightsEntry,
    codec_entry_name,
    export_codec,
    fingerprint_from_sha256,
    load_codec_entry,
    verified_weights_file,
)

# the manifest fields each kind of registered weights keeps when retired (`manifest.RETIRED_KINDS`)
_KEPT_FIELDS = {
    "adapters": ("placement", "base", "base_sha256", "lambda"),
    "codec": ("config", "lambda", "training", "metrics"),
    "finetuned-codec": ("config", "lambda", "training", "metrics", "base", "base_sha256"),
}
RETIRED_FOLDER = "retired"


def retire(manifest: Manifest, active: WeightsEntry) -> WeightsEntry:
    """Keep the registered weights ``active`` (a base or fully fine-tuned codec, or a paper adapter
    set) as retired ones (the file sha256-checked, then copied).

    The caller saves the manifest once the replacement is registered too. Retiring the same file
    twice changes nothing.
    """
    if active.kind not in RETIRED_KINDS:
        raise ValueError(f"{active.name}: weights of kind {active.kind!r} are not retired")
    path, sha256 = verified_weights_file(manifest, active)
    name = retired_entry_name(active.name, sha256)
    if name in manifest.entries:
        return manifest.entries[name]
    folder = manifest.directory / RETIRED_FOLDER
    folder.mkdir(exist_ok=True)
    file_name = f"{RETIRED_FOLDER}/{active.name}-{sha256[:SHA256_DIGITS_IN_NAME]}.safetensors"
    atomic_write_bytes(manifest.directory / file_name, path.read_bytes(), overwrite=True)
    kept = {key: active.extra[key] for key in _KEPT_FIELDS[active.kind] if key in active.extra}
    entry = WeightsEntry(
        name=name,
        file=file_name,
        sha256=sha256,
        kind=RETIRED_KINDS[active.kind],
        config_name=active.config_name,
        quality=active.quality,
        extra={**kept, RETIRED_FROM_KEY: active.name},
    )
    manifest.entries[name] = entry
    return entry


def find_retired_by_sha256(manifest: Manifest, active_name: str, sha256: str) -> WeightsEntry | None:
    """The retired weights of ``active_name`` with exactly this sha256 (what adapters record of
    their base codec), if kept."""
    entry = find_retired(manifest, active_name, fingerprint_from_sha256(sha256))
    return entry if entry is not None and entry.sha256 == sha256 else None


def export_codec_keeping_replaced(model: TIC, *, config_name: str, quality: int, weights_dir: Path | None = None,
                                  kind: str = "codec", **options: Any) -> WeightsEntry:
    """`zoo.export_codec` for a base codec (or, with ``kind="finetuned-codec"``, a fully fine-tuned
    one), keeping the one it replaces as retired weights so that the files written with it still
    decode (and the adapters trained on a base codec still run on it)."""
    name = finetuned_entry_name(config_name, quality) if kind == "finetuned-codec" else codec_entry_name(config_name, quality)
    manifest = Manifest.load(weights_dir)
    active = manifest.entries.get(name)
    kept = None
    if active is not None and active.kind == kind and retired_entry_name(name, active.sha256) not in manifest.entries:
        kept = retire(manifest, active)
        manifest.save()
    entry = export_codec(model, config_name=config_name, quality=quality, weights_dir=weights_dir, name=name,
                         kind=kind, **options)
    if kept is not None and kept.sha256 == entry.sha256:  # the same weights again: nothing was replaced
        manifest = Manifest.load(weights_dir)
        if manifest.entries.pop(kept.name, None) is not None:
            (manifest.directory / kept.file).unlink(missing_ok=True)
            manifest.save()
    return entry


def load_codec_for_fingerprint(config_name: str, quality: int, fingerprint: bytes,
                               weights_dir: Path | None = None, *, finetuned: bool = False) -> LoadedCodec | None:
    """The retired base codec of a rate point (or with ``finetuned``, the retired fully fine-tuned
    codec) with this fingerprint, what a file written before the codec was retrained records; None
    if none is kept."""
    manifest = Manifest.load(weights_dir)
    if finetuned:
        entry = find_retired(manifest, finetuned_entry_name(config_name, quality), fingerprint)
        wanted, variant = RETIRED_FINETUNED_KIND, FINETUNED_VARIANT
    else:
        entry = find_retired(manifest, codec_entry_name(config_name, quality), fingerprint)
        wanted, variant = RETIRED_CODEC_KIND, None
    if entry is None or entry.kind != wanted:
        return None
    return load_codec_entry(manifest, entry, variant=variant)
