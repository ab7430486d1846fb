"""Debian packages as a source of photographs: fetch and unpack one (``apt-get download``,
``dpkg -x``) and find each file's licence in its machine-readable debian/copyright (DEP-5)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

from forensiccodec.data.photo_source import Notify

NO_LICENCE = "see debian/copyright"  # what licence_for gives a file that no stanza names


def has_debian_tools() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg") is not None


def download_and_extract(package: str, work_dir: Path, note: Notify) -> Path | None:
    """The package unpacked under ``work_dir``, or None (with a note) when it cannot be fetched."""
    download_dir = work_dir / "debs"
    download_dir.mkdir(exist_ok=True)
    result = subprocess.run(
        ["apt-get", "download", package], check=False, cwd=download_dir, capture_output=True, text=True, timeout=600
    )
    debs = sorted(download_dir.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        reason = (result.stderr.strip().splitlines() or ["no .deb file"])[-1]
        note(f"apt-get download {package} failed ({reason}): skipped")
        return None
    tree = work_dir / package
    result = subprocess.run(["dpkg", "-x", str(debs[-1]), str(tree)], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        note(f"dpkg -x {debs[-1].name} failed: skipped")
        return None
    debs[-1].unlink()  # the extracted tree is all we need; keeps the temp folder small
    return tree


def copyright_stanzas(tree: Path, package: str) -> list[dict[str, str]]:
    """The extracted package's debian/copyright, parsed (empty when it ships none)."""
    copyright_file = tree / "usr/share/doc" / package / "copyright"
    if not copyright_file.is_file():
        return []
    return parse_debian_copyright(copyright_file.read_text(encoding="utf-8", errors="replace"))


def parse_debian_copyright(text: str) -> list[dict[str, str]]:
    """Parse a machine-readable debian/copyright file (DEP-5) into its stanzas; continuation
    lines are joined with newlines."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key is not None:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def licence_for(relative_path: str, stanzas: list[dict[str, str]], anchored: bool = False) -> tuple[str, str]:
    """(licence, copyright holder) of one file. The last matching Files: stanza wins (DEP-5).
    Patterns are often relative to the upstream tree, so they are matched against the end of the
    installed path too, unless ``anchored`` (the path given is already the upstream one)."""
    licence, holder = NO_LICENCE, ""
    for stanza in stanzas:
        patterns = stanza.get("Files", "").split()
        matches = (
            (fnmatch.fnmatch(relative_path, p) for p in patterns) if anchored
            else (_path_matches(relative_path, p) for p in patterns)
        )
        if any(matches):
            licence = stanza.get("License", licence).split("\n")[0]
            holder = stanza.get("Copyright", holder).replace("\n", "; ")
    return licence, holder


def _path_matches(relative_path: str, pattern: str) -> bool:
    if fnmatch.fnmatch(relative_path, pattern) or fnmatch.fnmatch(relative_path, "*/" + pattern):
        return True
    # "16.04/x.jpg" upstream is installed as "usr/share/backgrounds/x.jpg"
    return "*" not in pattern and Path(relative_path).name == Path(pattern).name
