"""SFMA: the Spatial-Frequency Modulation Adapter of Adapt-ICMH (Li et al., ECCV 2024).

A residual adapter placed between stages of the frozen codec: `x + (SMA(x) + FMA(x))`.

* Spatial branch (SMA): `s_up(relu(s_dw(s_down1(x)) * s_down2(x)))`, two 1x1 projections
  C -> C/2, one through a 5x5 depthwise convolution, multiplied, back to C with a 1x1.
* Frequency branch (FMA): `Y = rfft2(f_down(x))`; the amplitude `A = |Y|` is gated by
  `sigmoid(f_inter(relu(f_dw(A))))` (3x3 depthwise on the half spectrum, then 1x1), the
  phase is kept, `irfft2` returns to the map size, then ReLU and `f_up` (1x1 back to C).

Parameter names, shapes and registration order are Adapt-ICMH's (`SFMA(in_dim, middle_dim=
in_dim // 2, adapt_factor=1)`), so its public adapter checkpoints load unchanged.

Initialisation: `s_up` and `f_up` (weights and biases) start at zero, so a new adapter is
exactly the identity and adapter training starts from the base codec's own output; the
other layers keep PyTorch's default initialisation, so the gradients reach them as soon as
the two output projections move away from zero (as with LoRA's zero-initialised B).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from forensiccodec.errors import UsageError

# Types the FFT runs in; half-precision FFTs are restricted to power-of-two sizes on GPUs.
_FFT_DTYPES = (torch.float32, torch.float64)


class SFMA(nn.Module):
    """Residual spatial + frequency modulation adapter on (B, channels, H, W) maps."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise UsageError(f"an SFMA adapter needs an even channel count of at least 2, got {channels}")
        middle = channels // 2
        self.channels = channels
        # Registration order is Adapt-ICMH's: it fixes the state_dict and parameter order.
        self.s_down1 = nn.Conv2d(channels, middle, 1)
        self.s_down2 = nn.Conv2d(channels, middle, 1)
        self.s_dw = nn.Conv2d(middle, middle, 5, padding=2, groups=middle)
        self.s_up = nn.Conv2d(middle, channels, 1)
        self.f_down = nn.Conv2d(channels, middle, 1)
        self.f_up = nn.Conv2d(middle, channels, 1)
        self.f_dw = nn.Conv2d(middle, middle, 3, padding=1, groups=middle)
        self.f_inter = nn.Conv2d(middle, middle, 1)
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Zero both output projections: the adapter then returns its input unchanged."""
        for projection in (self.s_up, self.f_up):
            nn.init.zeros_(projection.weight)
            nn.init.zeros_(projection.bias)

    def spatial(self, x: Tensor) -> Tensor:
        """SMA(x): gated depthwise 5x5 features, projected back to `channels`."""
        layer = self._widened
        return layer(self.s_up, torch.relu(layer(self.s_dw, layer(self.s_down1, x)) * layer(self.s_down2, x)))

    def frequency(self, x: Tensor) -> Tensor:
        """FMA(x): amplitude-gated spectrum of a C/2 projection, projected back to `channels`."""
        h = self._widened(self.f_down, x)
        height, width = h.shape[-2:]
        compute_dtype = h.dtype if h.dtype in _FFT_DTYPES else torch.float32
        spectrum = torch.fft.rfft2(h.to(compute_dtype), norm="backward")
        amplitude, phase = spectrum.abs(), spectrum.angle()
        gate = torch.sigmoid(self._run(self.f_inter, torch.relu(self._run(self.f_dw, amplitude))))
        amplitude = amplitude * gate
        spectrum = torch.complex(amplitude * torch.cos(phase), amplitude * torch.sin(phase))
        h = torch.fft.irfft2(spectrum, s=(height, width), norm="backward").to(h.dtype)
        return self._widened(self.f_up, torch.relu(h))

    @staticmethod
    def _run(layer: nn.Conv2d, x: Tensor) -> Tensor:
        """A convolution in x's dtype: under autocast the spectrum stays in the FFT's dtype."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            if x.dtype == torch.float64:
                return SFMA._widened(layer, x)
            return layer(x.to(layer.weight.dtype)).to(x.dtype)

    @staticmethod
    def _widened(layer: nn.Conv2d, x: Tensor) -> Tensor:
        """``layer(x)``; on a float64 input (inference, see ``forward``) with its weights in float64."""
        if x.dtype != torch.float64 or layer.weight.dtype == torch.float64:
            return layer(x)
        bias = None if layer.bias is None else layer.bias.double()
        return F.conv2d(x, layer.weight.double(), bias, layer.stride, layer.padding, layer.dilation, layer.groups)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32 and not torch.is_grad_enabled():
            # Inference runs in float64 and returns float32: a float32 convolution rounds
            # differently with one thread or two, and through the adapters that moved a few
            # decoded pixels by one level; in float64 the difference falls below float32's last bit.
            with torch.autocast(device_type=x.device.type, enabled=False):
                wide = x.double()
                return (wide + (self.spatial(wide) + self.frequency(wide))).to(x.dtype)
        return x + (self.spatial(x) + self.frequency(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
