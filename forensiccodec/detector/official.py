"""Reading the public PoliMi detector checkpoint (``synth_vs_real.pth``) into the ``paper`` model.

The public file is a ``torch.save`` of a dict whose ``net`` entry is the state dict of the
EfficientNet-B4 patch classifier (keys ``efficientnet._conv_stem.weight`` ...
``classifier.bias``), possibly saved from a ``DataParallel`` wrapper (``module.`` prefix). It is
read with ``weights_only=True``, so it cannot run code; everything else is refused with a
:class:`WeightsError`.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import torch

from forensiccodec.detector.backbone import build_backbone
from forensiccodec.errors import WeightsError
from forensiccodec.state_dicts import check_fit

DATA_PARALLEL_PREFIX = "module."


def load_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside a public detector checkpoint, ``module.`` prefixes stripped.

    Accepts the published layout (a dict with a ``net`` state dict) and a bare state dict.
    Raises :class:`WeightsError` for a missing file, a file ``torch.load`` cannot read safely,
    or one that holds no state dict. Key names are checked by :func:`check_official_keys`.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"detector checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # foreign pickles warn before failing; the error says enough
            warnings.simplefilter("ignore")
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (torch.load raises many unrelated types for foreign files)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({reason[:120]})") from None
    state = content.get("net", content) if isinstance(content, dict) else None
    if not isinstance(state, dict) or not state or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise WeightsError(f"{path} holds no detector state dict (expected a dict with a 'net' entry)")
    return {_strip_prefix(key): value for key, value in state.items()}


def check_official_keys(state_dict: dict[str, torch.Tensor]) -> None:
    """Raise :class:`WeightsError` unless ``state_dict`` has the ``paper`` model's keys and shapes
    (the public detector's EfficientNet-B4 with a [2, 1792] classifier), as `state_dicts.check_fit`
    judges them."""
    check_fit(_paper_shapes(), state_dict, "not the public EfficientNet-B4 detector")


@lru_cache(maxsize=1)
def _paper_shapes() -> dict[str, tuple[int, ...]]:
    model = build_backbone("paper")
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _strip_prefix(key: str) -> str:
    return key.removeprefix(DATA_PARALLEL_PREFIX)
