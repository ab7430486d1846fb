"""Register weights trained elsewhere (scripts/train_forensic_gpu.sh) in this weights folder.

Each RUN_DIR holds one exported ``.safetensors`` file and the ``manifest.json`` of the private
weights folder it was exported into. The file is checked against its manifest entry (sha256)
and against this folder (same base codec and detector); only when every RUN_DIR passes are the
files copied in (atomically) and their entries registered, replacing entries of the same name,
so a bad run never leaves a registered name pointing at another file. Paper adapters that are
replaced are kept as retired sets, so that the files they wrote still decode.

Usage:  python scripts/register_trained_weights.py RUN_DIR [RUN_DIR ...] [--weights-dir weights]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forensiccodec.adapters import retire_replaced_paper_adapters
from forensiccodec.errors import FccError
from forensiccodec.files import atomic_write_bytes
from forensiccodec.zoo import Manifest, WeightsEntry, sha256_of_file


def checked_run(run_dir: Path, target: Manifest) -> tuple[Path, WeightsEntry]:
    """The run's exported file and its manifest entry, after every check against ``target``."""
    files = sorted(run_dir.glob("*.safetensors"))
    if len(files) != 1:
        raise SystemExit(f"{run_dir}: expected one exported .safetensors file, found {len(files)}")
    source = Manifest.load(run_dir)
    matches = [entry for entry in source.entries.values() if entry.file == files[0].name]
    if len(matches) != 1:
        raise SystemExit(f"{run_dir}: {files[0].name} is not in its manifest.json")
    entry = matches[0]
    if sha256_of_file(files[0]) != entry.sha256:
        raise SystemExit(f"{run_dir}: {files[0].name} does not match its manifest's sha256")
    training = entry.extra.get("training", {})
    checks = (
        ("base codec", target.entries.get(entry.extra.get("base", "")), entry.extra.get("base_sha256")),
        ("detector", target.entries.get(f"detector-{training.get('detector', 'small')}"), training.get("detector_sha256")),
    )
    for what, registered, trained_against in checks:
        if registered is None or registered.sha256 != trained_against:
            raise SystemExit(f"{run_dir}: trained against a {what} that is not the one registered here")
    return files[0], entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    args = parser.parse_args(argv)
    try:
        target = Manifest.load(args.weights_dir)
        runs = [checked_run(run_dir, target) for run_dir in args.run_dirs]
        for path, entry in runs:
            retire_replaced_paper_adapters(target, entry.name, entry.sha256)  # before its file is written over
            atomic_write_bytes(target.directory / entry.file, path.read_bytes(), overwrite=True)
            target.entries[entry.name] = entry
        target.save()
    except (FccError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"registered {', '.join(entry.name for _, entry in runs)} in {args.weights_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
