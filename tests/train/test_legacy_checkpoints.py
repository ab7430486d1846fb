"""--resume of a checkpoint written before the entropy models came from CompressAI."""

from __future__ import annotations

import copy

import torch
from torch import nn

from forensiccodec.codec.entropy_models import EntropyBottleneck, to_legacy_names
from forensiccodec.train.legacy_checkpoints import (
    legacy_parameter_runs,
    upgrade_checkpoint,
)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.entropy_bottleneck = EntropyBottleneck(4)


def _trained_checkpoint() -> tuple[Tiny, dict]:
    torch.manual_seed(0)
    model = Tiny()
    parameters = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    y = model.conv(torch.rand(2, 3, 8, 8))
    _, likelihoods = model.entropy_bottleneck(y)
    (-likelihoods.log2().sum()).backward()
    optimizer.step()
    return model, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "weight_average": {"averages": [p.detach().clone() for p in parameters]}}


def _as_written_before(checkpoint: dict) -> dict:
    """The same checkpoint as the old interleaved module wrote it: legacy names, and the
    bottleneck's optimiser entries and averages in the legacy registration order."""
    old = copy.deepcopy(checkpoint)
    old["model"] = to_legacy_names(checkpoint["model"])
    names = [n for n in checkpoint["model"] if "entropy_bottleneck" in n and n.split(".")[-2] in ("matrices", "biases", "factors")]
    legacy = list(legacy_parameter_runs(old["model"])["entropy_bottleneck."])  # legacy order as the dict holds it
    current = list(to_legacy_names(dict.fromkeys(names)))  # compressai order, legacy spelling
    interleaved = sorted(current, key=lambda k: (int("".join(c for c in k if c.isdigit())), "mbf".index(k.split("._")[1][0])))
    assert sorted(interleaved) == sorted(legacy)
    old["model"] = {k: old["model"][k] for k in old["model"] if k not in legacy} | {k: old["model"][k] for k in interleaved}
    start = 2  # conv weight and bias come first
    permutation = [current.index(k) for k in interleaved]
    indices = [i for g in checkpoint["optimizer"]["param_groups"] for i in g["params"]]
    entries = [checkpoint["optimizer"]["state"][i] for i in indices]
    block = entries[start:start + len(permutation)]
    old["optimizer"]["state"] = dict(zip(indices, entries[:start] + [block[i] for i in permutation] + entries[start + len(permutation):]))
    averages = checkpoint["weight_average"]["averages"]
    old["weight_average"]["averages"] = averages[:start] + [averages[start + i] for i in permutation] + averages[start + len(permutation):]
    return old


def test_an_old_checkpoint_is_put_back_in_order() -> None:
    _model, checkpoint = _trained_checkpoint()
    old = _as_written_before(checkpoint)
    assert old["optimizer"]["state"][3]["exp_avg"].shape != checkpoint["optimizer"]["state"][3]["exp_avg"].shape
    assert upgrade_checkpoint(old) is True
    assert list(old["model"]) and set(old["model"]) == set(checkpoint["model"])
    for index, entry in checkpoint["optimizer"]["state"].items():
        assert torch.equal(old["optimizer"]["state"][index]["exp_avg"], entry["exp_avg"])
    for ours, theirs in zip(old["weight_average"]["averages"], checkpoint["weight_average"]["averages"]):
        assert torch.equal(ours, theirs)
    fresh = Tiny()
    fresh.load_state_dict(old["model"])
    optimizer = torch.optim.Adam([p for n, p in fresh.named_parameters() if not n.endswith("quantiles")], lr=1e-3)
    optimizer.load_state_dict(old["optimizer"])


def test_a_current_checkpoint_is_left_alone() -> None:
    _, checkpoint = _trained_checkpoint()
    before = copy.deepcopy(checkpoint)
    assert upgrade_checkpoint(checkpoint) is False
    assert checkpoint["model"].keys() == before["model"].keys()
