"""Mixed precision for training: bf16 autocast where the hardware runs it natively.

On a CPU, bf16 pays only with native bf16 instructions (AVX512-BF16 or AMX); elsewhere oneDNN
emulates it and it is slower than float32, so ``auto`` falls back to float32. On CUDA, ``auto``
takes bf16 where the GPU supports it. The codec keeps its entropy models and the loss in
float32 under autocast (``TIC.forward``, ``RateDistortionLoss``): bf16 likelihoods would bias
the rate term.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal

from forensiccodec.errors import UsageError

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX tiles)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def device_supports_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast runs natively on ``device``."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_supports_bf16()
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """``bf16`` or ``fp32`` for a run on ``device``: ``auto`` picks bf16 where it is native;
    an explicit ``bf16`` on hardware without it is refused rather than silently emulated."""
    if requested not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}; choose one of: {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return "fp32"
    supported = device_supports_bf16(device)
    if requested == "bf16" and not supported:
        raise UsageError(f"--precision bf16: {device.type} here has no native bf16; use auto or fp32")
    return "bf16" if supported else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
