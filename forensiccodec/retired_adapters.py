"""Paper adapters that were replaced, kept so that the files they wrote still decode.

A file written with encoder adapters (the ``paper`` placement) records their fingerprint, and
its forensic reconstruction needs the decoder adapters trained with those encoder adapters.
Retraining a rate point's paper adapters would strand every such file, so the set being replaced
is kept: its file is copied to ``retired/`` in the weights folder and registered under
``<name>@<first 16 hex digits of its sha256>`` with kind ``retired-adapters``. Retired sets are
never used to encode and never offered to ``--init-from``; decoding picks one only for a file
whose recorded fingerprint is theirs.

Decoder-placement sets are not retired: their files are base bitstreams that record no adapters.
"""

from __future__ import annotations

from .files import atomic_write_bytes
from .zoo import Manifest, WeightsEntry, fingerprint_from_sha256, verified_weights_file

RETIRED_KIND = "retired-adapters"
RETIRED_FOLDER = "retired"
RETIRED_FROM_KEY = "retired_from"  # the active entry's name, e.g. sfma-small-q1-paper
SHA256_DIGITS_IN_NAME = 16


def retired_entry_name(active_name: str, sha256: str) -> str:
    """E.g. ``sfma-small-q1-paper@509ecf81b9fadfba``."""
    return f"{active_name}@{sha256[:SHA256_DIGITS_IN_NAME]}"


def retire(manifest: Manifest, active: WeightsEntry) -> WeightsEntry:
    """Keep the registered set ``active`` as a retired one (its file sha256-checked, then copied).

    The caller saves the manifest once the replacement is registered too. Retiring the same file
    twice changes nothing.
    """
    path, sha256 = verified_weights_file(manifest, active)
    name = retired_entry_name(active.name, sha256)
    if name in manifest.entries:
        return manifest.entries[name]
    folder = manifest.directory / RETIRED_FOLDER
    folder.mkdir(exist_ok=True)
    file_name = f"{RETIRED_FOLDER}/{active.name}-{sha256[:SHA256_DIGITS_IN_NAME]}.safetensors"
    atomic_write_bytes(manifest.directory / file_name, path.read_bytes(), overwrite=True)
    kept = {key: active.extra[key] for key in ("placement", "base", "base_sha256", "lambda") if key in active.extra}
    entry = WeightsEntry(
        name=name,
        file=file_name,
        sha256=sha256,
        kind=RETIRED_KIND,
        config_name=active.config_name,
        quality=active.quality,
        extra={**kept, RETIRED_FROM_KEY: active.name},
    )
    manifest.entries[name] = entry
    return entry


def find_retired(manifest: Manifest, active_name: str, fingerprint: bytes) -> WeightsEntry | None:
    """The retired set of ``active_name`` whose fingerprint is ``fingerprint``, if one is kept."""
    for entry in manifest.entries.values():
        if (
            entry.kind == RETIRED_KIND
            and entry.extra.get(RETIRED_FROM_KEY) == active_name
            and fingerprint_from_sha256(entry.sha256) == fingerprint
        ):
            return entry
    return None
