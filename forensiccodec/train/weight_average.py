"""An exponential moving average of the trainable weights (Polyak averaging).

With small batches (the adapters train on 4 images of 16 patches on a CPU), the weights at any
one step carry the noise of their last few updates, and a validation taken there scores that
noise as much as the run. The average over the last ~1/(1 - decay) steps is what gets
validated and exported instead, when ``TrainConfig.ema_decay`` is set.

The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so the average
follows the first updates closely instead of staying near the starting weights for
1/(1 - decay) steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn


class WeightAverage:
    """The moving average of ``parameters`` (float32 copies on their device)."""

    def __init__(self, parameters: Sequence[nn.Parameter], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay must be between 0 and 1, got {decay}")
        self.parameters = list(parameters)
        self.decay = decay
        self.updates = 0
        self.averages = [p.detach().clone().float() for p in self.parameters]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the parameters' current values in (after an optimiser step)."""
        decay = self.current_decay()
        for average, parameter in zip(self.averages, self.parameters):
            average.lerp_(parameter.detach().float(), 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to_parameters(self) -> None:
        """Overwrite the parameters with the averages (at the end of training)."""
        for average, parameter in zip(self.averages, self.parameters):
            parameter.copy_(average.to(parameter.dtype))

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averages in the parameters for the duration of the block, the trained values
        put back afterwards (bit for bit: the optimiser goes on from them)."""
        with torch.no_grad():
            trained = [p.detach().clone() for p in self.parameters]
            self.copy_to_parameters()
        try:
            yield
        finally:
            with torch.no_grad():
                for value, parameter in zip(trained, self.parameters):
                    parameter.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "averages": [a.clone() for a in self.averages]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        averages: list[Tensor] = list(state["averages"])
        if len(averages) != len(self.averages) or any(
            a.shape != b.shape for a, b in zip(averages, self.averages)
        ):
            raise ValueError("the saved weight average does not match the trainable parameters")
        self.updates = int(state["updates"])
        self.averages = [a.to(b.device, torch.float32).clone() for a, b in zip(averages, self.averages)]


__all__ = ["WeightAverage"]
