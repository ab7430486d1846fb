"""Register raw training state files (e.g. brought back from a GPU run) as shipped codec weights.

    python scripts/export_states.py runs/gpu3/tic-small-q{1,2,3,4}.safetensors --config small \
        --log runs/gpu3/t3-q{Q}.log --note "trained on one H200 ..."

Fixes the integer entropy tables from each model, writes weights/tic-<config>-q<Q>.safetensors and
its manifest entry (with the training summary the state file carries); a replaced codec is kept
under weights/retired/ so that the files it wrote still decode.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors import safe_open

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.retired import export_codec_keeping_replaced
from forensiccodec.train.codec_training import load_initial_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("states", nargs="+", type=Path)
    parser.add_argument("--config", default="small")
    parser.add_argument("--weights-dir", type=Path, default=None)
    parser.add_argument("--training", type=Path, default=None, help="JSON file with the training record to store")
    args = parser.parse_args()
    training = json.loads(args.training.read_text()) if args.training else {}
    for path in args.states:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        quality = int(metadata["quality"])
        model = TIC(get_config(args.config))
        load_initial_weights(model, path)
        summary = json.loads(metadata.get("summary", "{}"))
        entry = export_codec_keeping_replaced(
            model.eval(),
            config_name=args.config,
            quality=quality,
            weights_dir=args.weights_dir,
            extra={"training": {**training, "last_run": summary}},
            overwrite=True,
        )
        print(f"{path} -> {entry.file} (sha256 {entry.sha256[:16]}…)")


if __name__ == "__main__":
    main()
