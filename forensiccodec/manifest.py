"""The weights manifest without torch: entries, names, fingerprints, and retired weights' lookup.

``weights/manifest.json`` names each weights file with its sha256. Reading it needs neither torch
nor the entropy coder, so ``fcc info`` (`info.py`) can say which installed weights decode a file
without importing either. Loading and exporting weights is `zoo` (which re-exports these names);
keeping replaced weights is `retired` (which re-exports `find_retired` and the retired kinds).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .files import atomic_write_bytes

MANIFEST_NAME = "manifest.json"
FINGERPRINT_BYTES = 8
FINETUNED_VARIANT = "ft"  # model name suffix in .fcc headers: tic-small-ft

RETIRED_KIND = "retired-adapters"
RETIRED_CODEC_KIND = "retired-codec"
RETIRED_FINETUNED_KIND = "retired-finetuned-codec"
# what each kind of registered weights becomes when retired (`retired.retire`)
RETIRED_KINDS = {"adapters": RETIRED_KIND, "codec": RETIRED_CODEC_KIND, "finetuned-codec": RETIRED_FINETUNED_KIND}
RETIRED_FROM_KEY = "retired_from"  # the active entry's name, e.g. sfma-small-q1-paper


def default_weights_dir() -> Path:
    """``$FCC_WEIGHTS_DIR`` if set, else the repository's ``weights/`` beside the package."""
    env = os.environ.get("FCC_WEIGHTS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "weights"


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_from_sha256(sha256_hex: str) -> bytes:
    """The short weights identity stored in every .fcc header: the first bytes of the file's sha256."""
    return bytes.fromhex(sha256_hex)[:FINGERPRINT_BYTES]


@dataclass
class WeightsEntry:
    """One manifest entry."""

    name: str
    file: str
    sha256: str
    kind: str  # "codec", "finetuned-codec", "adapters", "detector"
    config_name: str
    quality: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> WeightsEntry:
        try:
            known = {k: data[k] for k in ("file", "sha256", "kind", "config_name")}
        except KeyError as missing:
            raise WeightsError(f"manifest entry {name!r} lacks the field {missing}") from None
        extra = {k: v for k, v in data.items() if k not in known and k != "quality"}
        return cls(name=name, quality=data.get("quality"), extra=extra, **known)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": self.file,
            "sha256": self.sha256,
            "kind": self.kind,
            "config_name": self.config_name,
        }
        if self.quality is not None:
            data["quality"] = self.quality
        data.update(self.extra)
        return data


@dataclass
class Manifest:
    directory: Path
    entries: dict[str, WeightsEntry]

    @classmethod
    def load(cls, directory: Path | None = None) -> Manifest:
        directory = Path(directory) if directory is not None else default_weights_dir()
        path = directory / MANIFEST_NAME
        if not path.exists():
            return cls(directory, {})
        try:
            data = json.loads(path.read_text())
            raw = data["weights"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise WeightsError(f"{path} is not a valid weights manifest ({error})") from None
        return cls(directory, {name: WeightsEntry.from_json(name, e) for name, e in raw.items()})

    def save(self) -> None:
        data = {"format": 1, "weights": {n: e.to_json() for n, e in sorted(self.entries.items())}}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(self.directory / MANIFEST_NAME, text.encode(), overwrite=True)

    def codec_entry(self, config_name: str, quality: int) -> WeightsEntry:
        for entry in self.entries.values():
            if entry.kind == "codec" and entry.config_name == config_name and entry.quality == quality:
                return entry
        available = sorted(f"{e.config_name} q{e.quality}" for e in self.entries.values() if e.kind == "codec")
        raise WeightsError(
            f"no {config_name} codec weights for quality {quality} in {self.directory}"
            f" (available: {', '.join(available) or 'none'}); train them with `fcc train-codec`"
            " or import them with `fcc import-weights`"
        )


# ---- the names of every kind of weights (the one place that builds them) -------------------

SHA256_DIGITS_IN_NAME = 16  # of a retired entry's name: tic-small-q4@<16 hex digits>


def codec_entry_name(config_name: str, quality: int) -> str:
    """The manifest name of a base codec, e.g. ``tic-small-q1``."""
    return f"tic-{config_name}-q{quality}"


def finetuned_entry_name(config_name: str, quality: int) -> str:
    """The manifest name of the fully fine-tuned codec, e.g. ``tic-small-ft-q1``."""
    return f"tic-{config_name}-{FINETUNED_VARIANT}-q{quality}"


def adapter_entry_name(config_name: str, quality: int, placement: str) -> str:
    """The manifest name of an adapter set, e.g. ``sfma-small-q1-paper``."""
    return f"sfma-{config_name}-q{quality}-{placement}"


def detector_entry_name(config_name: str) -> str:
    """The manifest name of a configuration's detector, e.g. ``detector-small``."""
    return f"detector-{config_name}"


def retired_entry_name(active_name: str, sha256: str) -> str:
    """The name replaced weights are kept under, e.g. ``sfma-small-q1-paper@509ecf81b9fadfba``."""
    return f"{active_name}@{sha256[:SHA256_DIGITS_IN_NAME]}"


@dataclass(frozen=True)
class EntryName:
    """What a manifest name says: the kind of weights, configuration, rate point, placement, and
    for retired weights the sha256 prefix."""

    kind: str  # "codec", "finetuned-codec", "adapters", "detector"
    config_name: str
    quality: int | None = None
    placement: str | None = None
    retired_sha256_prefix: str | None = None


_NAME_PATTERNS = (
    ("finetuned-codec", re.compile(rf"^tic-(?P<config>[\w.]+)-{FINETUNED_VARIANT}-q(?P<quality>\d+)$")),
    ("codec", re.compile(r"^tic-(?P<config>[\w.]+)-q(?P<quality>\d+)$")),
    ("adapters", re.compile(r"^sfma-(?P<config>[\w.]+)-q(?P<quality>\d+)-(?P<placement>\w+)$")),
    ("detector", re.compile(r"^detector-(?P<config>[\w.]+)$")),
)


def parse_entry_name(name: str) -> EntryName | None:
    """The parts of a manifest name built by the functions above (None for any other name)."""
    active, _, retired = name.partition("@")
    for kind, pattern in _NAME_PATTERNS:
        match = pattern.match(active)
        if match is not None:
            parts = match.groupdict()
            return EntryName(
                kind=kind, config_name=parts["config"],
                quality=int(parts["quality"]) if parts.get("quality") else None,
                placement=parts.get("placement"), retired_sha256_prefix=retired or None,
            )
    return None


def find_retired(manifest: Manifest, active_name: str, fingerprint: bytes) -> WeightsEntry | None:
    """The retired weights of ``active_name`` whose fingerprint is ``fingerprint``, if kept."""
    for entry in manifest.entries.values():
        if (
            entry.kind in RETIRED_KINDS.values()
            and entry.extra.get(RETIRED_FROM_KEY) == active_name
            and fingerprint_from_sha256(entry.sha256) == fingerprint
        ):
            return entry
    return None
