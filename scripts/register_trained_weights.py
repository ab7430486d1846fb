"""Register weights trained elsewhere (scripts/train_forensic_gpu.sh) in this weights folder.

Each RUN_DIR holds one exported ``.safetensors`` file and the ``manifest.json`` of the private
weights folder it was exported into. The file is checked against its manifest entry (sha256)
and against this folder (same base codec and detector), then copied in and its entry
registered, replacing any entry of the same name.

Usage:  python scripts/register_trained_weights.py RUN_DIR [RUN_DIR ...] [--weights-dir weights]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

from forensiccodec.zoo import Manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(run_dir: Path, target: Manifest) -> str:
    """Copy the run's exported file into ``target`` and register it; returns the entry name."""
    files = sorted(run_dir.glob("*.safetensors"))
    if len(files) != 1:
        raise SystemExit(f"{run_dir}: expected one exported .safetensors file, found {len(files)}")
    source = Manifest.load(run_dir)
    matches = [entry for entry in source.entries.values() if entry.file == files[0].name]
    if len(matches) != 1:
        raise SystemExit(f"{run_dir}: {files[0].name} is not in its manifest.json")
    entry = matches[0]
    if sha256_of(files[0]) != entry.sha256:
        raise SystemExit(f"{run_dir}: {files[0].name} does not match its manifest's sha256")
    training = entry.extra.get("training", {})
    checks = (
        ("base codec", target.entries.get(entry.extra.get("base", "")), entry.extra.get("base_sha256")),
        ("detector", target.entries.get(f"detector-{training.get('detector', 'small')}"), training.get("detector_sha256")),
    )
    for what, registered, trained_against in checks:
        if registered is None or registered.sha256 != trained_against:
            raise SystemExit(f"{run_dir}: trained against a {what} that is not the one registered here")
    shutil.copyfile(files[0], target.directory / entry.file)
    target.entries[entry.name] = entry
    return entry.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    args = parser.parse_args(argv)
    target = Manifest.load(args.weights_dir)
    names = [register(run_dir, target) for run_dir in args.run_dirs]
    target.save()
    print(f"registered {', '.join(names)} in {args.weights_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
