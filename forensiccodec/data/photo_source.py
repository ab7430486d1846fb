"""One photograph found inside a package, as every photo source hands it to `fcc collect-photos`,
and the callback through which a source reports what it skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Notify = Callable[[str], None]


@dataclass(frozen=True)
class PhotoSource:
    """One photograph found inside a package, before conversion."""

    name: str  # output stem, unique across sources
    package: str
    original_name: str
    path: Path
    licence: str
    attribution: str
    is_wallpaper: bool  # heavily JPEG-compressed: always downscaled at least 2x
    group: str  # photographs of one scene (a stereo pair) share a split
