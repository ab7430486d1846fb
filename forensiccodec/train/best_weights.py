"""Keep the trainable weights of the best validation (early stopping for small data sets).

On a few hundred images, adapters memorise the training set long before the paper's 50 epochs
end, and the validation accuracy falls while the training accuracy reaches 1. Wrapping the
validation callable with :class:`BestValidatedWeights` remembers the trainable tensors at the
best validation so far, on disk next to the checkpoints so that a resumed run still knows
them, and puts them back into the model after training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

BEST_FILE = "best_validated.pt"


class BestValidatedWeights:
    """``validate`` wrapped: each call returns its metrics unchanged, and stores the named
    tensors of ``module`` when the metrics beat every earlier call's, compared as the tuple of
    ``keys`` (the earliest among equals is kept)."""

    def __init__(
        self,
        validate: Callable[[int], dict[str, float]],
        module: nn.Module,
        names: Sequence[str],
        folder: str | os.PathLike[str],
        *,
        keys: Sequence[str] = ("accuracy", "auc"),
        resume: bool = False,
    ) -> None:
        self.validate = validate
        self.module = module
        self.names = list(names)
        self.keys = tuple(keys)
        self.path = Path(folder) / BEST_FILE
        self.record: dict[str, Any] | None = None
        if resume and self.path.exists():
            self.record = torch.load(self.path, map_location="cpu", weights_only=True)
            # a record written before the entropy models came from CompressAI names them the old way
            from forensiccodec.codec.entropy_models import to_compressai_names

            self.record["tensors"] = to_compressai_names(self.record["tensors"])
        elif self.path.exists():
            self.path.unlink()  # a fresh run must not inherit another run's best

    def __call__(self, step: int) -> dict[str, float]:
        metrics = self.validate(step)
        score = [float(metrics[key]) for key in self.keys]
        if self.record is None or score > self.record["score"]:
            state = self.module.state_dict()
            tensors = {name: state[name].detach().cpu().clone() for name in self.names}
            self.record = {"step": step, "score": score, "metrics": dict(metrics), "tensors": tensors}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            torch.save(self.record, partial)
            partial.replace(self.path)
        return metrics

    def restore(self) -> dict[str, Any] | None:
        """Load the best tensors back into the module; returns ``{"step", **metrics}`` of that
        validation, or None when nothing was validated."""
        if self.record is None:
            return None
        missing = set(self.names) - set(self.record["tensors"])
        if missing:
            raise ValueError(f"{self.path} lacks {len(missing)} trainable tensors (first: {min(missing)})")
        with torch.no_grad():
            state = self.module.state_dict()
            for name in self.names:
                state[name].copy_(self.record["tensors"][name])
        return {"step": self.record["step"], **self.record["metrics"]}


__all__ = ["BEST_FILE", "BestValidatedWeights"]
