"""Does a state dict fit a model? The one check every weights loader makes before
``load_state_dict``, so a file that does not fit is refused with one line naming the first
offending tensors rather than with torch's multi-line error (or, worse, loaded partly).

What ``load_state_dict`` itself accepts is accepted here too:

- tensors the model holds empty (the entropy models' table placeholders, `codec.entropy_models`)
  resize on loading: they may be absent from the state dict and may have any shape there;
- batch-norm ``num_batches_tracked`` counters may be absent (torch fills them in when loading a
  plain dict);
- a module that renames keys when loading (`codec.tic.TIC`: TransTIC's entropy-bottleneck names,
  ``module.`` prefixes) says so with a method ``loadable_state_dict(state) -> state``, and the
  state is checked as it will be loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from forensiccodec.errors import WeightsError

NAMED = 3  # offending keys named per kind of misfit
FILLED_IN_SUFFIX = ".num_batches_tracked"

Expected = nn.Module | Mapping[str, torch.Tensor | Sequence[int]]


def misfits(model: Expected, state: Mapping[str, torch.Tensor], *, partial: bool = False) -> list[str]:
    """What keeps ``state`` from fitting ``model`` (a module, or its tensors or shapes by name), one
    phrase per kind (missing, unexpected, wrong shape); empty when it fits. With ``partial`` the
    state may leave out any of the model's tensors (they keep their values)."""
    shapes = _shapes(model)
    rename = getattr(model, "loadable_state_dict", None)
    state = rename(state) if callable(rename) else state
    missing = [] if partial else [k for k, s in shapes.items() if k not in state and not _optional(k, s)]
    unexpected = [k for k in state if k not in shapes]
    wrong = [
        f"{k}: {_describe(v)}, the model's {list(shapes[k])}" for k, v in state.items()
        if k in shapes and (not isinstance(v, torch.Tensor) or math.prod(shapes[k]) > 0 and tuple(v.shape) != shapes[k])
    ]
    return [
        f"{len(keys)} {kind} ({', '.join(keys[:NAMED])}{', …' if len(keys) > NAMED else ''})"
        for kind, keys in (("missing", missing), ("unexpected", unexpected), ("with the wrong shape", wrong))
        if keys
    ]


def check_fit(model: Expected, state: Mapping[str, torch.Tensor], what: str, *, partial: bool = False) -> None:
    """Raise :class:`WeightsError` ``"<what>: 2 missing (a, b); 1 unexpected (c)"`` unless ``state``
    fits ``model`` (see :func:`misfits`): after this, ``model.load_state_dict(state)`` loads (with the
    placeholders that may be absent added first, for a strict load)."""
    problems = misfits(model, state, partial=partial)
    if problems:
        raise WeightsError(f"{what}: {'; '.join(problems)}")


def _shapes(model: Expected) -> dict[str, tuple[int, ...]]:
    items = model.state_dict().items() if isinstance(model, nn.Module) else model.items()
    return {k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v) for k, v in items}


def _optional(key: str, shape: tuple[int, ...]) -> bool:
    """Whether loading without ``key`` still works: an empty placeholder, or a counter torch fills in."""
    return math.prod(shape) == 0 or key.endswith(FILLED_IN_SUFFIX)


def _describe(value: object) -> str:
    return str(list(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__
