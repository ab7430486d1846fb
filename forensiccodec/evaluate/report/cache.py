"""Where a report keeps what it computed, so that an interrupted run resumes where it stopped.

::

    OUT/cache/<setting>/q<rate>/<real|synthetic>/<stem>.<fcc|jpg|webp>   the encoded file
                                                   <stem>.png             its decoded image
                                                   <stem>.json            measurements (bpp, times, PSNR, scores)
                                                   <stem>.<extractor>.npy Fréchet features
    OUT/cache/uncompressed/<real|synthetic>/<stem>.json, .npy            (the original is not copied)

A decoded PNG is reused when its encoded file exists too and the record names the same weight
files (sha256) as the run's, so retrained weights are never reported with stale pictures; every
file is written atomically (:mod:`forensiccodec.files`), so a file that exists is complete.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forensiccodec.data.layout import CLASSES
from forensiccodec.files import atomic_write_bytes

ENCODED_SUFFIX = {"jpeg": ".jpg", "webp": ".webp"}  # every learned setting writes .fcc


@dataclass(frozen=True)
class CacheEntry:
    """The cached files of one image under one setting and rate point."""

    directory: Path
    stem: str
    encoded_suffix: str | None  # None: nothing is encoded (the uncompressed setting)

    @property
    def encoded(self) -> Path | None:
        return None if self.encoded_suffix is None else self.directory / f"{self.stem}{self.encoded_suffix}"

    @property
    def decoded(self) -> Path:
        return self.directory / f"{self.stem}.png"

    @property
    def record_path(self) -> Path:
        return self.directory / f"{self.stem}.json"

    def features_path(self, extractor: str) -> Path:
        return self.directory / f"{self.stem}.{extractor}.npy"

    def has_decoded(self) -> bool:
        return self.encoded is not None and self.encoded.is_file() and self.decoded.is_file()

    def read_record(self) -> dict[str, Any]:
        try:
            return json.loads(self.record_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_record(self, record: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        atomic_write_bytes(self.record_path, text.encode(), overwrite=True)

    def clear_features(self) -> None:
        """Delete every extractor's features (they belong to a decoded image being replaced)."""
        for path in self.directory.glob(f"{self.stem}.*.npy"):
            path.unlink(missing_ok=True)

    def read_features(self, extractor: str) -> np.ndarray | None:
        path = self.features_path(extractor)
        try:
            return np.load(path) if path.is_file() else None
        except (OSError, ValueError):
            return None

    def write_features(self, extractor: str, features: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, features.astype(np.float32))
        atomic_write_bytes(self.features_path(extractor), buffer.getvalue(), overwrite=True)


def cache_entry(cache_dir: Path, setting: str, kind_suffix: str | None, rate: int | None,
                image: Path, label: int) -> CacheEntry:
    """The entry of ``image`` (of class ``label``) under ``setting`` at quality ``rate``."""
    directory = cache_dir / setting
    if rate is not None:
        directory = directory / f"q{rate}"
    return CacheEntry(directory / CLASSES[label], image.stem, kind_suffix)


def encoded_suffix(setting_name: str, has_rates: bool) -> str | None:
    if not has_rates:
        return None
    return ENCODED_SUFFIX.get(setting_name, ".fcc")
