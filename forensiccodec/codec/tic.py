"""TIC: the Swin-based hyperprior codec of TransTIC (`TIC_hp`), for any size multiple of 64.

Module names and registration order are upstream's (g_a, h_a, h_s, entropy_bottleneck,
gaussian_conditional, g_s), so `state_dict()` lists TransTIC's keys in TransTIC's order, minus
the `attn_mask` buffers that `swin.py` replaces with per-size cached masks; inside the entropy
bottleneck, names and order are CompressAI 1.2.8's (`matrices.0`, ... where TransTIC's vendored
compressai 1.2.0 has `_matrix0`, ...; loading takes both). `TIC` is a CompressAI `CompressionModel`:
`aux_loss()` and `update()` are CompressAI's, and so are both entropy models
(`entropy_models.py`).

With `adapters=True` it is Adapt-ICMH's `TIC_SFMA`: six SFMA adapters (`sfma.py`), registered
first as upstream does, three in g_a after g_a1, g_a3, g_a5 and three in g_s after g_s1,
g_s3, g_s5 (in reverse index order: decoder_sfmas[2] runs first). `set_adapters` switches
them on and off; off, the model computes exactly the base codec.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from forensiccodec.codec.config import TICConfig
from forensiccodec.codec.entropy_models import (
    CompressionModel,
    EntropyBottleneck,
    GaussianConditional,
    to_compressai_names,
    warn_if_legacy_only,
)
from forensiccodec.codec.sfma import SFMA
from forensiccodec.codec.swin import RSTB, set_attention_impl, set_shifted_window_mask
from forensiccodec.errors import UsageError

# The input size upstream builds its Swin blocks for; it fixes every block's window and shift.
NOMINAL_INPUT_SIZE = 256
# Total downsampling of the hyperprior path: inputs must be multiples of this.
SIZE_MULTIPLE = 64
# Upstream's stochastic-depth rates run linearly from 0 to this over the 6 stages.
DROP_PATH_RATE = 0.1
# Which adapter runs after which layer (Adapt-ICMH's TIC_SFMA; the decoder's order is reversed).
ENCODER_ADAPTER_AFTER = {1: 0, 3: 1, 5: 2}  # g_a1 -> encoder_sfmas[0], ...
DECODER_ADAPTER_AFTER = {1: 2, 3: 1, 5: 0}  # g_s1 -> decoder_sfmas[2], ...


def conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """Stride-2 convolution that halves the size."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int) -> nn.ConvTranspose2d:
    """Stride-2 transposed convolution that doubles the size."""
    return nn.ConvTranspose2d(
        in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2, output_padding=1
    )


def from_transtic_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A TransTIC `TIC_hp` state dict in this model's naming.

    Strips a leading `module.` (DataParallel checkpoints), drops the `attn_mask` buffers
    (masks depend on the feature-map size and are computed at run time here) and maps
    the legacy entropy-bottleneck names (compressai <= 1.2.6, `_matrix0`) to CompressAI's.
    """
    keys = list(state_dict)
    strip = len("module.") if keys and all(k.startswith("module.") for k in keys) else 0
    kept = {k[strip:]: v for k, v in state_dict.items() if not k.endswith(".attn_mask")}
    return to_compressai_names(kept)


def _run_in_dtype(module: nn.Module, x: Tensor, dtype: torch.dtype) -> Tensor:
    """module(x) with its floating parameters and buffers cast to dtype, module left as is."""
    tensors = {name: p.to(dtype) for name, p in module.named_parameters()}
    tensors.update(
        {name: b.to(dtype) if b.is_floating_point() else b for name, b in module.named_buffers()}
    )
    return torch.func.functional_call(module, tensors, (x.to(dtype),))


def at_least_float32(x: Tensor) -> Tensor:
    """x in float32 if it is a half-precision tensor (autocast output), else unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class TIC(CompressionModel):
    """g_a/g_s analysis-synthesis transforms with an h_a/h_s hyperprior, built from a TICConfig.

    `adapters=True` adds the SFMA adapters (`encoder_sfmas`, `decoder_sfmas`), switched on;
    without them the state_dict is TransTIC's `TIC_hp` (minus `attn_mask`, with CompressAI
    1.2.8's entropy-bottleneck names).

    `shifted_window_mask=False` keeps every shifted block's cyclic roll but drops Swin's 0/-100
    mask between wrapped-around regions (padding stays masked). Adapt-ICMH's `TIC_SFMA`
    computes this way, because its `layers.py` removes the mask, so its public adapter
    checkpoints, trained without it, are only reproduced faithfully with False. Our own
    models and TransTIC's base checkpoints use the mask (True, the default).
    """

    def __init__(
        self,
        config: TICConfig,
        attention_impl: str = "sdpa",
        adapters: bool = False,
        shifted_window_mask: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        N, M = config.N, config.M
        self.encoder_adapters_enabled = self.decoder_adapters_enabled = adapters
        if adapters:
            # Registered before g_a0, as upstream: the adapters lead the state_dict.
            self.encoder_sfmas = nn.ModuleList(SFMA(N) for _ in ENCODER_ADAPTER_AFTER)
            self.decoder_sfmas = nn.ModuleList(SFMA(N) for _ in DECODER_ADAPTER_AFTER)
        ws, hws = config.window_size, config.hyper_window_size
        depths, heads = config.depths, config.num_heads
        rates = torch.linspace(0, DROP_PATH_RATE, sum(depths)).tolist()

        def stage(index: int, dim: int, window: int, downsampling: int, reverse: bool = False) -> RSTB:
            d, h = (depths[::-1], heads[::-1]) if reverse else (depths, heads)
            start = sum(d[:index])
            return RSTB(
                dim, d[index], h[index], window, NOMINAL_INPUT_SIZE // downsampling,
                config.mlp_ratio, rates[start:start + d[index]], attention_impl,
            )  # fmt: skip

        self.g_a0 = conv(3, N, 5)
        self.g_a1 = stage(0, N, ws, 2)
        self.g_a2 = conv(N, N, 3)
        self.g_a3 = stage(1, N, ws, 4)
        self.g_a4 = conv(N, N, 3)
        self.g_a5 = stage(2, N, ws, 8)
        self.g_a6 = conv(N, M, 3)
        self.g_a7 = stage(3, M, ws, 16)

        self.h_a0 = conv(M, N, 3)
        self.h_a1 = stage(4, N, hws, 32)
        self.h_a2 = conv(N, N, 3)
        self.h_a3 = stage(5, N, hws, 64)

        self.h_s0 = stage(0, N, hws, 64, reverse=True)
        self.h_s1 = deconv(N, N, 3)
        self.h_s2 = stage(1, N, hws, 32, reverse=True)
        self.h_s3 = deconv(N, 2 * M, 3)

        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

        self.g_s0 = stage(2, M, ws, 16, reverse=True)
        self.g_s1 = deconv(M, N, 3)
        self.g_s2 = stage(3, N, ws, 8, reverse=True)
        self.g_s3 = deconv(N, N, 3)
        self.g_s4 = stage(4, N, ws, 4, reverse=True)
        self.g_s5 = deconv(N, N, 3)
        self.g_s6 = stage(5, N, ws, 2, reverse=True)
        self.g_s7 = deconv(N, 3, 5)
        self.shifted_window_mask = shifted_window_mask
        set_shifted_window_mask(self, shifted_window_mask)

    @property
    def has_adapters(self) -> bool:
        """Whether this model was built with SFMA adapters."""
        return hasattr(self, "encoder_sfmas")

    def set_adapters(self, encoder: bool, decoder: bool) -> None:
        """Switch the encoder (g_a) and decoder (g_s) adapters on or off; off is the base codec."""
        if (encoder or decoder) and not self.has_adapters:
            raise UsageError("this codec has no adapters to switch on")
        self.encoder_adapters_enabled, self.decoder_adapters_enabled = bool(encoder), bool(decoder)

    def set_shifted_window_mask(self, enabled: bool) -> None:
        """Use (True) or drop (False, Adapt-ICMH) Swin's shifted-window mask; see the class docstring."""
        self.shifted_window_mask = enabled
        set_shifted_window_mask(self, enabled)

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The parameters of all six adapters (empty without adapters)."""
        if not self.has_adapters:
            return []
        return [*self.encoder_sfmas.parameters(), *self.decoder_sfmas.parameters()]

    def _layers(self, prefix: str, count: int) -> list[nn.Module]:
        return [getattr(self, f"{prefix}{i}") for i in range(count)]

    def analysis(self, x: Tensor) -> Tensor:
        """g_a: image (B, 3, H, W), H and W multiples of 64 -> y (B, M, H/16, W/16)."""
        height, width = x.shape[-2:]
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise UsageError(f"TIC needs sizes that are multiples of {SIZE_MULTIPLE}, got {height}x{width}")
        for index, layer in enumerate(self._layers("g_a", 8)):
            x = layer(x)
            if self.encoder_adapters_enabled and index in ENCODER_ADAPTER_AFTER:
                x = self.encoder_sfmas[ENCODER_ADAPTER_AFTER[index]](x)
        return x.contiguous()  # the layers hand channels_last tensors along

    def hyper_analysis(self, y: Tensor) -> Tensor:
        """h_a: y -> z (B, N, H/64, W/64)."""
        for layer in self._layers("h_a", 4):
            y = layer(y)
        return y.contiguous()

    def hyper_synthesis(self, z_hat: Tensor, dtype: torch.dtype | None = torch.float64) -> tuple[Tensor, Tensor]:
        """h_s: z_hat -> (scales, means), each (B, M, H/16, W/16), computed in `dtype`.

        float64 (the default) makes the scales, and so the entropy coder's scale indices,
        reproducible across machines; the module's own weights are not converted.
        None runs in the model's own precision (training).
        """
        params = z_hat
        for layer in self._layers("h_s", 4):
            params = layer(params) if dtype is None else _run_in_dtype(layer, params, dtype)
        scales, means = params.contiguous().chunk(2, dim=1)
        return scales, means

    def synthesis(self, y_hat: Tensor) -> Tensor:
        """g_s: y_hat -> x_hat (B, 3, H, W), not clamped."""
        for index, layer in enumerate(self._layers("g_s", 8)):
            y_hat = layer(y_hat)
            if self.decoder_adapters_enabled and index in DECODER_ADAPTER_AFTER:
                y_hat = self.decoder_sfmas[DECODER_ADAPTER_AFTER[index]](y_hat)
        return y_hat.contiguous()

    def forward(self, x: Tensor) -> dict[str, Tensor | dict[str, Tensor]]:
        """Training/evaluation pass: noisy latents in training mode, rounded ones in eval."""
        y = self.analysis(x)
        z = self.hyper_analysis(y)
        # Under autocast (bf16 training) the entropy models stay in float32: bf16 likelihoods
        # would bias the rate term, and the noise added to the latents would be rounded away.
        with torch.autocast(x.device.type, enabled=False):
            z_hat, z_likelihoods = self.entropy_bottleneck(at_least_float32(z), training=self.training)
        scales, means = self.hyper_synthesis(z_hat, dtype=None)
        with torch.autocast(x.device.type, enabled=False):
            y_hat, y_likelihoods = self.gaussian_conditional(
                at_least_float32(y), at_least_float32(scales), at_least_float32(means), training=self.training
            )
        return {"x_hat": self.synthesis(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def set_attention_impl(self, impl: str) -> None:
        """Use "sdpa" (fast) or "reference" window attention everywhere."""
        set_attention_impl(self, impl)

    @staticmethod
    def loadable_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The state dict as `load_state_dict` loads it (`from_transtic_state_dict`), for `state_dicts.check_fit`."""
        return from_transtic_state_dict(state_dict)

    def load_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True, assign: bool = False):  # type: ignore[override]
        """Strict loading that also takes TransTIC checkpoints (see `from_transtic_state_dict`).

        nn.Module's loading, not CompressionModel's: the entropy models resize their CDF buffers
        themselves, also for a state dict without them (CompressAI's loader needs them present).
        """
        warn_if_legacy_only(state_dict)
        return nn.Module.load_state_dict(self, from_transtic_state_dict(state_dict), strict=strict, assign=assign)
