"""Probability models of the latents: CompressAI's modules, with the project's numerics.

`EntropyBottleneck` (Ballé's factorized density of z) and `GaussianConditional` (y given the
hyperprior) are `compressai.entropy_models`' classes, and their bounds `compressai.ops`'
`LowerBound`: parameters, buffers, quantize/dequantize, quantiles and medians, `loss()` (the
auxiliary quantile loss) and `update()` are CompressAI's. They give the rate term in training
and the model's own rate estimate. The `.fcc` streams are never coded with CompressAI's CDFs
(`update()`, `compress()`): `codec.entropy_coding` codes them with its own integer tables.

Where CompressAI 1.2.8 computes differently from the code the shipped weights were trained and
measured with, a thin override keeps the project's numerics (docs/architecture.md, "Entropy
models", says by how much they differ):

* `EntropyBottleneck._likelihood` takes the difference of sigmoids on the side of the median
  where it is precise, as compressai <= 1.2.6 (TransTIC's vendored 1.2.0) did; 1.2.8 takes
  sigmoid(upper) - sigmoid(lower) everywhere.
* `EntropyBottleneck._logits_cumulative` runs in the dtype of its points: the integer tables
  need the CDF in float64, which CompressAI's matmul of float32 parameters refuses.
* `LowerBound` compares in the dtype of its input; CompressAI's promotes a half-precision input
  to float32 (the bound is a float32 buffer). For float32 and float64 inputs they are the same.

The state-dict names are CompressAI 1.2.8's (`matrices.0`, `biases.0`, `factors.0`, ...).
Loading also takes the legacy names of compressai <= 1.2.6 and TransTIC (`_matrix0`, ...), which
the `.fcc` weights files keep (`to_legacy_names`), and CDF buffers (`_offset`, `_quantized_cdf`,
`_cdf_length`, `scale_table`) of whatever shape a checkpoint holds.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# CompressAI scripts some ops with torch.jit.script, which torch now deprecates with a
# FutureWarning at import: a user of fcc can do nothing about it, so it stays out of their output.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    from compressai.entropy_models import (
        EntropyBottleneck as _CompressaiEntropyBottleneck,
    )
    from compressai.entropy_models import (
        GaussianConditional as _CompressaiGaussianConditional,
    )
    from compressai.models import CompressionModel  # noqa: F401  (TIC's base class, imported from here)
    from compressai.ops import LowerBound as _CompressaiLowerBound
    from compressai.ops.bound_ops import LowerBoundFunction

LIKELIHOOD_BOUND = 1e-9  # CompressAI's default likelihood_bound
SCALE_BOUND = 0.11  # CompressAI's default scale_bound

# CompressAI's CDF buffers, filled by update(); fcc never codes with them.
CODING_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length")
GAUSSIAN_CODING_BUFFERS = CODING_BUFFERS + ("scale_table",)

# compressai >= 1.2.7 name -> compressai <= 1.2.6 (TransTIC) prefix of the bottleneck's parameters
_LEGACY_PREFIX = {"matrices": "_matrix", "biases": "_bias", "factors": "_factor"}
_CURRENT_NAME = {legacy: current for current, legacy in _LEGACY_PREFIX.items()}

UPGRADE_HINT = (
    "if an optimizer state comes with these weights (a training checkpoint written before fcc took its"
    " entropy models from CompressAI), it lists the entropy bottleneck's parameters in their old order:"
    " fcc's --resume puts them in the new order (forensiccodec/train/legacy_checkpoints.py)"
)


class LowerBound(_CompressaiLowerBound):
    """CompressAI's `LowerBound` (buffer `bound`, its autograd function), comparing in x's dtype."""

    @torch.jit.unused
    def lower_bound(self, x: Tensor) -> Tensor:
        return LowerBoundFunction.apply(x, self.bound.to(x.dtype))


def _bounds_in_input_dtype(module: nn.Module) -> None:
    """Replace the CompressAI `LowerBound`s directly inside `module` by `LowerBound`, same bound."""
    for name, child in list(module.named_children()):
        if type(child) is _CompressaiLowerBound:
            setattr(module, name, LowerBound(child.bound.item()))


class _LoadsAnyCodingBuffers(nn.Module):
    """Loads the CDF buffers with the checkpoint's shape instead of failing on the empty [0]."""

    _resizable: tuple[str, ...] = CODING_BUFFERS

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]
        for name in self._resizable:
            incoming = state_dict.get(prefix + name)
            buffer = self._buffers[name]
            if incoming is not None and buffer is not None and incoming.shape != buffer.shape:
                self._buffers[name] = torch.empty_like(incoming, dtype=buffer.dtype, device=buffer.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


class EntropyBottleneck(_LoadsAnyCodingBuffers, _CompressaiEntropyBottleneck):
    """CompressAI's `EntropyBottleneck`; see the module docstring for what it overrides."""

    def __init__(self, channels: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(channels, *args, **kwargs)
        _bounds_in_input_dtype(self)

    def _logits_cumulative(self, inputs: Tensor, stop_gradient: bool) -> Tensor:
        """CompressAI's cumulative logits, with the parameters in the dtype of `inputs`."""
        logits = inputs
        for i in range(len(self.filters) + 1):
            matrix = self.matrices[i]
            if stop_gradient:
                matrix = matrix.detach()
            logits = torch.matmul(F.softplus(matrix.to(inputs.dtype)), logits)

            bias = self.biases[i]
            if stop_gradient:
                bias = bias.detach()
            logits = logits + bias.to(inputs.dtype)

            if i < len(self.filters):
                factor = self.factors[i]
                if stop_gradient:
                    factor = factor.detach()
                logits = logits + torch.tanh(factor.to(inputs.dtype)) * torch.tanh(logits)
        return logits

    def _likelihood(self, inputs: Tensor, stop_gradient: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """(likelihood, lower, upper) as CompressAI's, the difference taken where it is precise."""
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient=stop_gradient)
        sign = -torch.sign(lower + upper).detach()
        likelihood = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return likelihood, lower, upper

    def medians(self) -> Tensor:
        """The per-channel median of the density, shape (C,)."""
        return self.quantiles[:, 0, 1]

    def cdf(self, x: Tensor) -> Tensor:
        """The density's CDF at points x of shape (C, K), computed in x's dtype."""
        return torch.sigmoid(self._logits_cumulative(x.unsqueeze(1), stop_gradient=True)).squeeze(1)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]
        # Legacy names (compressai <= 1.2.6, TransTIC, fcc's weights files) load into CompressAI's.
        # A state dict that has both takes the legacy tensor: that only happens when legacy
        # weights were completed with a current state dict's defaults.
        warn_if_legacy_only(state_dict)
        for key in [k for k in state_dict if k.startswith(prefix)]:
            current = _current_name(key[len(prefix):])
            if current is not None:
                state_dict[prefix + current] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


class GaussianConditional(_LoadsAnyCodingBuffers, _CompressaiGaussianConditional):
    """CompressAI's `GaussianConditional` (no scale table by default: fcc's tables are its own)."""

    _resizable = GAUSSIAN_CODING_BUFFERS

    def __init__(self, scale_table: list[float] | tuple[float, ...] | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(scale_table, *args, **kwargs)
        _bounds_in_input_dtype(self)

    def likelihood(self, inputs: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """P(bin of `inputs`) under N(means, scales²), bounded below as `forward` bounds it."""
        likelihood = self._likelihood(inputs, scales, means)
        return self.likelihood_lower_bound(likelihood) if self.use_likelihood_bound else likelihood


def warn_if_legacy_only(state_dict: Mapping[str, Any]) -> None:
    """Warn (`UPGRADE_HINT`) when a state dict names bottleneck parameters only by their legacy
    names: weights alone load fine, but an optimizer state saved beside them is in the old order."""
    for key in state_dict:
        head, _, name = key.rpartition(".")
        current = _current_name(name)
        if current is not None and (f"{head}.{current}" if head else current) not in state_dict:
            warnings.warn(f"{key}: a legacy entropy-bottleneck name; {UPGRADE_HINT}", stacklevel=3)
            return


def _current_name(name: str) -> str | None:
    """`matrices.0` for `_matrix0` (a name inside the bottleneck), None for any other name."""
    for legacy, current in _CURRENT_NAME.items():
        index = name.removeprefix(legacy)
        if index != name and index.isdigit():
            return f"{current}.{index}"
    return None


def to_compressai_names(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict with the entropy bottleneck's legacy names (`._matrix0`) in CompressAI's
    (`.matrices.0`). Where both names are present, the legacy tensor is kept (as when loading)."""
    out: dict[str, Any] = {}
    renamed: set[str] = set()
    for key, value in state_dict.items():
        head, _, name = key.rpartition(".")
        current = _current_name(name)
        if current is not None:
            key = f"{head}.{current}" if head else current
            renamed.add(key)
        elif key in renamed:
            continue
        out[key] = value
    return out


def to_legacy_names(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict with CompressAI's names (`.matrices.0`) in the legacy ones (`._matrix0`) that
    TransTIC checkpoints and fcc's weights files use."""
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[-2] in _LEGACY_PREFIX and parts[-1].isdigit():
            key = ".".join(parts[:-2] + [_LEGACY_PREFIX[parts[-2]] + parts[-1]])
        out[key] = value
    return out


__all__ = [
    "CODING_BUFFERS",
    "GAUSSIAN_CODING_BUFFERS",
    "LIKELIHOOD_BOUND",
    "SCALE_BOUND",
    "EntropyBottleneck",
    "GaussianConditional",
    "LowerBound",
    "to_compressai_names",
    "to_legacy_names",
    "warn_if_legacy_only",
]
