"""Make a training checkpoint written before fcc took its entropy models from CompressAI resumable.

    python scripts/upgrade_training_checkpoint.py runs/campaign/q4/last.pt [--dry-run]

The entropy bottleneck is CompressAI's `EntropyBottleneck` now (forensiccodec/codec/entropy_models.py):
its parameters are named `matrices.0`, `biases.0`, `factors.0`, ... and come in CompressAI's order
(all matrices, then all biases, then all factors), where the old module had `_matrix0`, `_bias0`,
`_factor0`, `_matrix1`, ... interleaved. The model weights load under either name, but the
optimiser's state (and a weight average's) lists parameters by position, so a checkpoint of a run
that trains the entropy bottleneck (`fcc train-codec`, `train-codec --objective forensic`) must
have those entries put in the new order before `--resume`; otherwise Adam's first step fails on
mismatched shapes. Adapter runs never train the bottleneck and need nothing.

The script renames the model's keys, permutes the bottleneck's run of optimiser state (found by
its shapes, and required to be found exactly once), permutes the weight average likewise, renames
the tensors of a `best_validated.pt` beside the checkpoint, and keeps the original files as
`*.before-compressai`. A checkpoint already in the new naming is left alone.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import torch

from forensiccodec.codec.entropy_models import (
    EntropyBottleneck,
    to_compressai_names,
    to_legacy_names,
)

LEGACY_PARAMETER = re.compile(r"(.*\.)?_(matrix|bias|factor)(\d+)$")
BEST_FILE = "best_validated.pt"


def legacy_parameter_runs(model_state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Per bottleneck (key prefix), its legacy parameter names in the old registration order."""
    runs: dict[str, list[str]] = {}
    for key in model_state:
        match = LEGACY_PARAMETER.match(key)
        if match:
            runs.setdefault(match.group(1) or "", []).append(key)
    return runs


def new_order(prefix: str, old_keys: list[str]) -> list[str]:
    """The same parameters (legacy names) in the order CompressAI's module registers them."""
    factors = sum(1 for key in old_keys if LEGACY_PARAMETER.match(key).group(2) == "factor")
    names = [name for name, _ in EntropyBottleneck(1, filters=(3,) * factors).named_parameters() if name != "quantiles"]
    order = [prefix + name for name in to_legacy_names(dict.fromkeys(names))]
    if sorted(order) != sorted(old_keys):
        raise SystemExit(f"unexpected entropy-bottleneck parameters under {prefix!r}: {old_keys}")
    return order


def find_run(shapes: list[tuple[int, ...] | None], run: list[tuple[int, ...]]) -> int | None:
    """Where the run of shapes starts in `shapes`: None if nowhere (not trained); refuses several places."""
    starts = [s for s in range(len(shapes) - len(run) + 1) if shapes[s : s + len(run)] == run]
    if len(starts) > 1:
        raise SystemExit(f"found the entropy bottleneck's optimiser state {len(starts)} times, not once; not converting")
    return starts[0] if starts else None


def permute(items: list, start: int, permutation: list[int]) -> list:
    block = items[start : start + len(permutation)]
    return items[:start] + [block[i] for i in permutation] + items[start + len(permutation) :]


def upgrade_optimizer(state: dict, start: int, permutation: list[int]) -> None:
    group_params = [index for group in state["param_groups"] for index in group["params"]]
    entries = [state["state"].get(index) for index in group_params]
    entries = permute(entries, start, permutation)
    state["state"] = {index: entry for index, entry in zip(group_params, entries) if entry is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    args = parser.parse_args()
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    runs = legacy_parameter_runs(checkpoint["model"])
    if not runs:
        print(f"{args.checkpoint}: already in CompressAI's naming; nothing to do")
        return
    optimizer = checkpoint.get("optimizer")
    for prefix, old_keys in runs.items():
        order = new_order(prefix, old_keys)
        permutation = [old_keys.index(key) for key in order]
        old_shapes = [tuple(checkpoint["model"][key].shape) for key in old_keys]
        start = None
        if optimizer is not None:
            group_params = [index for group in optimizer["param_groups"] for index in group["params"]]
            shapes = [tuple(optimizer["state"][i]["exp_avg"].shape) if i in optimizer["state"] else None
                      for i in group_params]
            start = find_run(shapes, old_shapes)
        if start is None:
            print(f"{prefix or '(model)'}: the optimiser does not train this bottleneck; its state is unchanged")
            continue
        print(f"{prefix or '(model)'}: optimiser entries {start}..{start + len(order) - 1} put in CompressAI's order")
        upgrade_optimizer(optimizer, start, permutation)
        average = checkpoint.get("weight_average")
        if average is not None:
            average["averages"] = permute(list(average["averages"]), start, permutation)
    checkpoint["model"] = to_compressai_names(checkpoint["model"])
    best = args.checkpoint.parent / BEST_FILE
    best_record = torch.load(best, map_location="cpu", weights_only=True) if best.is_file() else None
    if best_record is not None:
        best_record["tensors"] = to_compressai_names(best_record["tensors"])
    if args.dry_run:
        print("dry run: nothing written")
        return
    for path, content in ((args.checkpoint, checkpoint), (best, best_record)):
        if content is None:
            continue
        backup = path.with_name(path.name + ".before-compressai")
        if not backup.exists():
            shutil.copy2(path, backup)
        temporary = path.with_name(path.name + ".tmp")
        torch.save(content, temporary)
        temporary.replace(path)
        print(f"{path}: upgraded (original kept as {backup.name})")


if __name__ == "__main__":
    sys.exit(main())
