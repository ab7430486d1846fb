"""Probability models of the latents, used for the rate term in training.

`FactorizedPrior` is Ballé's non-parametric factorized density (compressai's
`EntropyBottleneck`) and `GaussianConditional` the conditional Gaussian of y. Their
state-dict names are those of TransTIC's vendored compressai 1.2.0 (`_matrix0`, ...),
so TransTIC checkpoints load as they are. The CDF buffers (`_offset`, `_quantized_cdf`,
`_cdf_length`, `scale_table`) exist only for key parity: actual coding uses the integer
tables of `codec.entropy_coding`. They load with whatever shape a checkpoint has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LIKELIHOOD_BOUND = 1e-9
SCALE_BOUND = 0.11

# Buffers whose shape depends on whether compressai's update() ran before saving.
_TABLE_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length")


class _LowerBoundFunction(torch.autograd.Function):
    """max(x, bound) whose gradient still flows where it pushes x back above the bound."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound.to(x.dtype))

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad_output < 0)
        return pass_through * grad_output, None


class LowerBound(nn.Module):
    """Holds the bound as buffer `bound` (a name checkpoints rely on)."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: Tensor) -> Tensor:
        return _LowerBoundFunction.apply(x, self.bound)


class _ResizableTables(nn.Module):
    """Loads the listed buffers with the checkpoint's shape instead of failing on [0]."""

    _resizable: tuple[str, ...] = _TABLE_BUFFERS

    def _register_tables(self) -> None:
        for name in _TABLE_BUFFERS:
            self.register_buffer(name, torch.empty(0, dtype=torch.int32))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]
        for name in self._resizable:
            incoming = state_dict.get(prefix + name)
            if incoming is not None and incoming.shape != self._buffers[name].shape:
                self._buffers[name] = torch.empty_like(incoming, dtype=self._buffers[name].dtype,
                                                       device=self._buffers[name].device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


def _round_around(x: Tensor, centers: Tensor) -> Tensor:
    """round(x - centers) + centers: the quantiser whose offsets the decoder knows."""
    return torch.round(x - centers) + centers


def _uniform_noise(x: Tensor) -> Tensor:
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


class FactorizedPrior(_ResizableTables):
    """Per-channel learned density of z (compressai `EntropyBottleneck`, legacy names)."""

    def __init__(self, channels: int, init_scale: float = 10.0, filters: Sequence[int] = (3, 3, 3, 3)) -> None:
        super().__init__()
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.init_scale = float(init_scale)
        widths = (1,) + self.filters + (1,)
        scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
        for i in range(len(self.filters) + 1):
            # Initial softplus(matrix) makes the cumulative logits span about ±init_scale.
            init = math.log(math.expm1(1.0 / scale / widths[i + 1]))
            self.register_parameter(f"_matrix{i}", nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.register_parameter(f"_bias{i}", nn.Parameter(torch.empty(channels, widths[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(self.filters):
                self.register_parameter(f"_factor{i}", nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))
        quantiles = torch.tensor([-self.init_scale, 0.0, self.init_scale]).repeat(channels, 1, 1)
        self.quantiles = nn.Parameter(quantiles)
        self.likelihood_lower_bound = LowerBound(LIKELIHOOD_BOUND)
        self._register_tables()
        target = math.log(2.0 / LIKELIHOOD_BOUND - 1.0)
        self.register_buffer("target", torch.tensor([-target, 0.0, target]))

    def _logits_cumulative(self, x: Tensor, stop_gradient: bool) -> Tensor:
        """Logit of the CDF at x, shape (C, 1, K); parameters follow x's dtype."""
        logits = x
        for i in range(len(self.filters) + 1):
            matrix = getattr(self, f"_matrix{i}")
            bias = getattr(self, f"_bias{i}")
            if stop_gradient:
                matrix, bias = matrix.detach(), bias.detach()
            logits = torch.matmul(F.softplus(matrix.to(x.dtype)), logits) + bias.to(x.dtype)
            if i < len(self.filters):
                factor = getattr(self, f"_factor{i}")
                if stop_gradient:
                    factor = factor.detach()
                logits = logits + torch.tanh(factor.to(x.dtype)) * torch.tanh(logits)
        return logits

    def medians(self) -> Tensor:
        """The per-channel median of the density, shape (C,)."""
        return self.quantiles[:, 0, 1]

    def cdf(self, x: Tensor) -> Tensor:
        """The density's CDF at points x of shape (C, K), computed in x's dtype."""
        return torch.sigmoid(self._logits_cumulative(x.unsqueeze(1), stop_gradient=True)).squeeze(1)

    def _likelihood(self, values: Tensor) -> Tensor:
        lower = self._logits_cumulative(values - 0.5, stop_gradient=False)
        upper = self._logits_cumulative(values + 0.5, stop_gradient=False)
        # Evaluate on the side of the median where sigmoid differences keep precision.
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def forward(self, z: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        """(z_hat, likelihoods) for z of shape (B, C, ...): noise in training, rounding otherwise."""
        if training is None:
            training = self.training
        values = z.transpose(0, 1)  # C, B, ...
        shape = values.shape
        values = values.reshape(self.channels, 1, -1)
        if training:
            z_hat = _uniform_noise(values)
        else:
            z_hat = _round_around(values, self.quantiles[:, :, 1:2])
        likelihood = self.likelihood_lower_bound(self._likelihood(z_hat))
        unflatten = lambda t: t.reshape(shape).transpose(0, 1)
        return unflatten(z_hat), unflatten(likelihood)

    def aux_loss(self) -> Tensor:
        """Moves `quantiles` to the tail_mass/2, 0.5 and 1 - tail_mass/2 points of the CDF."""
        logits = self._logits_cumulative(self.quantiles, stop_gradient=True)
        return torch.abs(logits - self.target).sum()


class GaussianConditional(_ResizableTables):
    """Likelihood of y under N(means, scales²) integrated over unit bins."""

    _resizable = _TABLE_BUFFERS + ("scale_table",)

    def __init__(self) -> None:
        super().__init__()
        self.likelihood_lower_bound = LowerBound(LIKELIHOOD_BOUND)
        self._register_tables()
        self.register_buffer("scale_table", torch.empty(0))
        self.register_buffer("scale_bound", torch.tensor([SCALE_BOUND]))
        self.lower_bound_scale = LowerBound(SCALE_BOUND)

    @staticmethod
    def _standard_cdf(x: Tensor) -> Tensor:
        return 0.5 * torch.erfc(-(2**-0.5) * x)

    def likelihood(self, y_hat: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """P(bin of y_hat); uses the symmetric form that is precise in the tails."""
        scales = self.lower_bound_scale(scales)
        values = torch.abs(y_hat - means)
        upper = self._standard_cdf((0.5 - values) / scales)
        lower = self._standard_cdf((-0.5 - values) / scales)
        return self.likelihood_lower_bound(upper - lower)

    def forward(self, y: Tensor, scales: Tensor, means: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        """(y_hat, likelihoods): noise in training, round(y - means) + means otherwise."""
        if training is None:
            training = self.training
        y_hat = _uniform_noise(y) if training else _round_around(y, means)
        return y_hat, self.likelihood(y_hat, scales, means)


def rename_compressai_entropy_keys(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map compressai >= 1.2.7 names (`matrices.0`, `biases.0`, `factors.0`) to the legacy ones."""
    legacy = {"matrices": "_matrix", "biases": "_bias", "factors": "_factor"}
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[-2] in legacy and parts[-1].isdigit():
            key = ".".join(parts[:-2] + [legacy[parts[-2]] + parts[-1]])
        out[key] = value
    return out


__all__ = ["FactorizedPrior", "GaussianConditional", "LowerBound", "rename_compressai_entropy_keys"]
