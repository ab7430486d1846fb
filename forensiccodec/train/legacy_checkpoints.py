"""Resuming checkpoints written before fcc took its entropy models from CompressAI.

The entropy bottleneck is CompressAI's ``EntropyBottleneck`` now: its parameters are named
``matrices.0``, ``biases.0``, ``factors.0``, ... and registered all matrices, then all biases,
then all factors, where the old module had ``_matrix0``, ``_bias0``, ``_factor0``, ``_matrix1``,
... interleaved. Model weights load under either name, but an optimiser's state (and a weight
average's) lists parameters by position, so a checkpoint of a run that trained the bottleneck
must have those entries put in the new order before its optimiser is restored. ``--resume`` does
that in memory (:func:`upgrade_checkpoint`); the file on disk is rewritten by the next save.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from forensiccodec.codec.entropy_models import (
    EntropyBottleneck,
    to_compressai_names,
    to_legacy_names,
)
from forensiccodec.errors import FccError

LEGACY_PARAMETER = re.compile(r"(.*\.)?_(matrix|bias|factor)(\d+)$")


class CheckpointUpgradeError(FccError):
    """An old checkpoint whose optimiser state cannot be put in the new order unambiguously."""


def legacy_parameter_runs(model_state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Per bottleneck (key prefix), its legacy parameter names in the old registration order."""
    runs: dict[str, list[str]] = {}
    for key in model_state:
        match = LEGACY_PARAMETER.match(key)
        if match:
            runs.setdefault(match.group(1) or "", []).append(key)
    return runs


def _new_order(prefix: str, old_keys: list[str]) -> list[str]:
    """The same parameters (legacy names) in the order CompressAI's module registers them."""
    factors = sum(1 for key in old_keys if LEGACY_PARAMETER.match(key).group(2) == "factor")
    names = [name for name, _ in EntropyBottleneck(1, filters=(3,) * factors).named_parameters() if name != "quantiles"]
    order = [prefix + name for name in to_legacy_names(dict.fromkeys(names))]
    if sorted(order) != sorted(old_keys):
        raise CheckpointUpgradeError(f"unexpected entropy-bottleneck parameters under {prefix!r}: {old_keys}")
    return order


def _find_run(shapes: list[tuple[int, ...] | None], run: list[tuple[int, ...]]) -> int | None:
    """Where the run of shapes starts in ``shapes``: None if nowhere (not trained); refuses several places."""
    starts = [s for s in range(len(shapes) - len(run) + 1) if shapes[s : s + len(run)] == run]
    if len(starts) > 1:
        raise CheckpointUpgradeError(
            f"found the entropy bottleneck's optimiser state {len(starts)} times, not once; cannot resume this checkpoint")
    return starts[0] if starts else None


def _permute(items: list, start: int, permutation: list[int]) -> list:
    block = items[start : start + len(permutation)]
    return items[:start] + [block[i] for i in permutation] + items[start + len(permutation) :]


def _optimizer_shapes(optimizer: dict[str, Any]) -> tuple[list[int], list[tuple[int, ...] | None]]:
    indices = [index for group in optimizer["param_groups"] for index in group["params"]]
    shapes = [tuple(optimizer["state"][i]["exp_avg"].shape) if i in optimizer["state"] else None for i in indices]
    return indices, shapes


def upgrade_checkpoint(state: dict[str, Any]) -> bool:
    """Put an old checkpoint (``model``, ``optimizer``, optional ``weight_average``) in
    CompressAI's naming and order, in place; False when it already was."""
    runs = legacy_parameter_runs(state["model"])
    if not runs:
        return False
    optimizer = state.get("optimizer")
    for prefix, old_keys in runs.items():
        order = _new_order(prefix, old_keys)
        permutation = [old_keys.index(key) for key in order]
        if optimizer is None:
            continue
        indices, shapes = _optimizer_shapes(optimizer)
        start = _find_run(shapes, [tuple(state["model"][key].shape) for key in old_keys])
        if start is None:
            continue  # this optimiser does not train the bottleneck
        entries = _permute([optimizer["state"].get(i) for i in indices], start, permutation)
        optimizer["state"] = {i: entry for i, entry in zip(indices, entries) if entry is not None}
        average = state.get("weight_average")
        if average is not None:
            average["averages"] = _permute(list(average["averages"]), start, permutation)
    state["model"] = to_compressai_names(state["model"])
    return True
