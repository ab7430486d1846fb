"""Swin Transformer pieces of TIC: window attention, the Swin block and the RSTB.

State-dict names and numerics follow TransTIC's `layers.py` (itself SwinIR/Swin), with
two differences that let one model run on any feature-map size:

* Each block's window and shift are fixed at construction from a *nominal* feature-map
  size (what upstream computes for a 256x256 input), so h_a3/h_s0 keep shift 0 forever.
  At run time the map (after norm1) is padded to whole windows, padded keys are masked
  out (on top of Swin's 0/-100 shift mask) so they never influence real tokens, and the
  result is cropped back.
* The shifted-window masks are not buffers. Upstream registers an `attn_mask` buffer sized
  for its construction resolution, an artefact that is useless at other sizes; here masks
  are computed from the feature-map size, so `state_dict()` is the upstream one minus the
  `attn_mask` keys (`tic.from_transtic_state_dict` drops them when loading).

Two implementations compute the same function, chosen per module by `attention_impl`:

* "sdpa" (default, fast): a cached `WindowLayout` per (batch, size, device) turns
  pad + roll + partition into one gather and merge + roll + crop into one scatter, and
  orders windows so those without any mask (most of them) run fused
  `scaled_dot_product_attention` with the cached relative-position bias alone; only
  border windows get bias + mask. RSTBs keep tokens contiguous channel-last.
* "reference": upstream's exact sequence (strided tokens, pad, roll, partition,
  softmax(q k^T * scale + bias + mask) v, mask rebuilt on every call as upstream does at
  non-construction sizes). Bit-identical to TransTIC; kept for conformance and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forensiccodec.errors import UsageError

AttentionImpl = Literal["sdpa", "reference"]
ATTENTION_IMPLS: tuple[str, ...] = ("sdpa", "reference")

# Upstream's value between different regions of a shifted window.
SHIFT_MASK_VALUE = -100.0
# Far below any real logit, yet finite in float16 so fully padded windows give no NaN.
PAD_MASK_VALUE = -1.0e4


def check_attention_impl(impl: str) -> str:
    """Return `impl` if it names an attention implementation, else raise `UsageError`."""
    if impl not in ATTENTION_IMPLS:
        raise UsageError(f"unknown attention implementation {impl!r}; choose one of: {', '.join(ATTENTION_IMPLS)}")
    return impl


def nominal_window_and_shift(resolution: int, window_size: int, block_index: int) -> tuple[int, int]:
    """Window and shift of block `block_index` built for a `resolution`-sized square map.

    Swin's rule: a map no larger than the window is one window and never shifted;
    otherwise odd-indexed blocks shift by half a window.
    """
    if resolution <= window_size:
        return resolution, 0
    return window_size, (window_size // 2 if block_index % 2 else 0)


def relative_position_index(window_size: int) -> Tensor:
    """Swin's (ws², ws²) int64 table mapping a token pair to a row of the bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
    coords = coords.flatten(1)  # 2, ws²
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
    return relative[:, :, 0] * (2 * window_size - 1) + relative[:, :, 1]


def window_partition(x: Tensor, window_size: int) -> Tensor:
    """(B, H, W, C) -> (B * nW, ws², C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


def window_merge(windows: Tensor, window_size: int, height: int, width: int) -> Tensor:
    """Inverse of `window_partition`: (B * nW, ws², C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, height // window_size, width // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


def attention_mask(
    height: int,
    width: int,
    window_size: int,
    shift_size: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    shift_mask: bool = True,
) -> Tensor | None:
    """Additive (nW, ws², ws²) mask for a height x width map, or None when nothing is masked.

    The map is padded to whole windows, then rolled by -shift. Tokens of different shift
    regions get `SHIFT_MASK_VALUE` (Swin's mask, computed on the padded size) unless
    `shift_mask` is False (see `SwinBlock`), and padded keys get `PAD_MASK_VALUE` on top.
    """
    padded_h = -(-height // window_size) * window_size
    padded_w = -(-width // window_size) * window_size
    masks_shift = shift_size > 0 and shift_mask
    if not masks_shift and (padded_h, padded_w) == (height, width):
        return None
    mask = torch.zeros(padded_h * padded_w // window_size**2, window_size**2, window_size**2, dtype=dtype)
    if masks_shift:
        regions = torch.zeros(1, padded_h, padded_w, 1)
        bands = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
        for label, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
            regions[:, rows, cols, :] = label
        region_windows = window_partition(regions, window_size).squeeze(-1)  # nW, ws²
        different = region_windows.unsqueeze(1) != region_windows.unsqueeze(2)
        mask.masked_fill_(different, SHIFT_MASK_VALUE)
    if (padded_h, padded_w) != (height, width):
        valid = torch.zeros(1, padded_h, padded_w, 1)
        valid[:, :height, :width, :] = 1.0
        valid = torch.roll(valid, shifts=(-shift_size, -shift_size), dims=(1, 2))
        padded_keys = window_partition(valid, window_size).squeeze(-1) == 0  # nW, ws²
        mask = mask + padded_keys.unsqueeze(1).to(dtype) * PAD_MASK_VALUE
    return mask.to(device)


@dataclass
class WindowLayout:
    """Where each window token of a (batch, height, width) map comes from, for the fast path.

    One gather replaces pad + roll + partition and one scatter replaces merge + roll + crop.
    Windows are ordered clean first (no mask needed: attention with the bias alone),
    then the windows that need the shift/padding mask. Padded slots read token 0 of
    their image: they are masked as keys and their outputs are never scattered back.
    """

    gather: Tensor  # (windows * ws²,) index into the flattened (B * H * W) map
    scatter: Tensor  # (B * H * W,) slot of each real token in the gathered order
    clean_windows: int
    masked: Tensor  # (windows - clean_windows, ws², ws²) float32 additive mask
    _masked_by_dtype: dict = field(default_factory=dict)

    def mask(self, dtype: torch.dtype) -> Tensor:
        if dtype not in self._masked_by_dtype:
            self._masked_by_dtype[dtype] = self.masked.to(dtype)
        return self._masked_by_dtype[dtype]


def build_window_layout(
    batch: int,
    height: int,
    width: int,
    window_size: int,
    shift_size: int,
    device: torch.device | str | None = None,
    shift_mask: bool = True,
) -> WindowLayout:
    """The `WindowLayout` of a map; equivalent to pad, roll(-shift), partition."""
    ws = window_size
    padded_h, padded_w = -(-height // ws) * ws, -(-width // ws) * ws
    source = torch.zeros(padded_h, padded_w, dtype=torch.long)  # padded slots read token 0
    source[:height, :width] = torch.arange(height * width).view(height, width)
    real = torch.zeros(padded_h, padded_w, dtype=torch.bool)
    real[:height, :width] = True
    rolled = [torch.roll(t, shifts=(-shift_size, -shift_size), dims=(0, 1)) for t in (source, real)]
    slots, slot_is_real = (window_partition(t.view(1, padded_h, padded_w, 1), ws).squeeze(-1) for t in rolled)
    full_mask = attention_mask(height, width, ws, shift_size, shift_mask=shift_mask)
    needs_mask = torch.zeros(slots.shape[0], dtype=torch.bool)
    if full_mask is not None:
        needs_mask = full_mask.flatten(1).ne(0).any(1)
    clean, masked = (~needs_mask).nonzero().squeeze(1), needs_mask.nonzero().squeeze(1)
    image_offset = (torch.arange(batch) * height * width).view(batch, 1, 1)
    # Order: clean windows of every image, then masked windows of every image.
    gather = torch.cat([(slots[clean] + image_offset).flatten(), (slots[masked] + image_offset).flatten()])
    is_real = torch.cat([slot_is_real[clean].repeat(batch, 1).flatten(), slot_is_real[masked].repeat(batch, 1).flatten()])
    scatter = torch.empty(batch * height * width, dtype=torch.long)
    scatter[gather[is_real]] = torch.arange(gather.numel())[is_real]
    masked_mask = full_mask[masked].repeat(batch, 1, 1) if full_mask is not None else torch.zeros(0, ws * ws, ws * ws)
    return WindowLayout(gather.to(device), scatter.to(device), batch * clean.numel(), masked_mask.to(device))


# Layouts depend only on geometry, so blocks of the same size share them.
_LAYOUT_CACHE: dict[tuple, WindowLayout] = {}
_LAYOUT_CACHE_SIZE = 64


def cached_window_layout(
    batch: int, height: int, width: int, window_size: int, shift_size: int, device: torch.device, shift_mask: bool = True
) -> WindowLayout:
    """`build_window_layout`, built once per (geometry, device, inference mode)."""
    # Tensors made under inference_mode cannot be saved for backward later, hence the flag
    # (torch.compile cannot trace the query, and never runs under inference_mode).
    inference = not torch.compiler.is_compiling() and torch.is_inference_mode_enabled()
    key = (batch, height, width, window_size, shift_size, device, shift_mask, inference)
    layout = _LAYOUT_CACHE.get(key)
    if layout is None:
        if len(_LAYOUT_CACHE) >= _LAYOUT_CACHE_SIZE:
            _LAYOUT_CACHE.pop(next(iter(_LAYOUT_CACHE)))
        layout = _LAYOUT_CACHE[key] = build_window_layout(
            batch, height, width, window_size, shift_size, device, shift_mask
        )
    return layout


def drop_path(x: Tensor, rate: float, training: bool) -> Tensor:
    """Stochastic depth: drop the whole residual branch per sample."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * x.new_empty(shape).bernoulli_(keep) / keep


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias."""

    def __init__(
        self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True, attention_impl: str = "sdpa"
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise UsageError(f"{num_heads} attention heads do not divide a width of {dim}")
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.attention_impl = check_attention_impl(attention_impl)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        # (table object, its version, inference mode, bias): one entry, see relative_position_bias.
        self._bias_cache: tuple[Tensor, int, bool, Tensor] | None = None
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        for linear in (self.qkv, self.proj):
            nn.init.trunc_normal_(linear.weight, std=0.02)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)

    def relative_position_bias(self) -> Tensor:
        """(heads, ws², ws²) bias; cached on the fast path while no gradient flows to it.

        The cache holds the table object itself and its version counter, so in-place
        updates (optimiser steps, load_state_dict) and substituted tables (functional_call)
        both miss; `_apply` (device/dtype moves) clears it.
        """
        table = self.relative_position_bias_table
        tokens = self.window_size**2
        if torch.compiler.is_compiling():  # compiled code fuses the gather; a cache would break the graph
            return table[self.relative_position_index.view(-1)].view(tokens, tokens, -1).permute(2, 0, 1).contiguous()
        # Inference tensors (e.g. tables cast inside inference_mode) have no version counter.
        cacheable = (
            self.attention_impl == "sdpa"
            and not table.is_inference()
            and not (torch.is_grad_enabled() and table.requires_grad)
        )
        inference = torch.is_inference_mode_enabled()
        hit = self._bias_cache
        if cacheable and hit is not None and hit[0] is table and hit[1] == table._version and hit[2] == inference:
            return hit[3]
        bias = table[self.relative_position_index.view(-1)].view(tokens, tokens, -1).permute(2, 0, 1).contiguous()
        self._bias_cache = (table, table._version, inference, bias) if cacheable else None
        return bias

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._bias_cache = None
        return super()._apply(fn, *args, **kwargs)

    def attend_split(self, windows: Tensor, clean_windows: int, masked_mask: Tensor) -> Tensor:
        """Fast path: SDPA over windows (n, ws², C) of which the first `clean_windows` need
        the bias only and the others `masked_mask` (n - clean_windows, ws², ws²) on top.

        Returns the heads' output (n, ws², C) *before* `proj`, so the caller can drop
        padded tokens first.
        """
        count, tokens, channels = windows.shape
        heads = self.num_heads
        q, k, v = self.qkv(windows).view(count, tokens, 3, heads, channels // heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias()
        if torch.is_grad_enabled() and bias.requires_grad and q.dtype != torch.float32:
            return self._attend_training(q, k, v, bias, clean_windows, masked_mask)
        parts = []
        if clean_windows:
            # A stride-0 4-D mask keeps CPU SDPA on its fused kernel (3-D masks fall back).
            additive = bias.expand(clean_windows, heads, tokens, tokens)
            part = slice(0, clean_windows)
            parts.append(F.scaled_dot_product_attention(q[part], k[part], v[part], attn_mask=additive, scale=self.scale))
        if clean_windows < count:
            additive = bias.unsqueeze(0) + masked_mask.unsqueeze(1)
            part = slice(clean_windows, count)
            parts.append(F.scaled_dot_product_attention(q[part], k[part], v[part], attn_mask=additive, scale=self.scale))
        # CPU SDPA returns (n, heads, ws², d) views of (n, ws², heads, d) memory, so a single
        # part reshapes for free and two are joined in one pass.
        if len(parts) == 1:
            return parts[0].transpose(1, 2).reshape(count, tokens, channels)
        return torch.cat([part.transpose(1, 2) for part in parts]).view(count, tokens, channels)

    def _attend_training(
        self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, clean_windows: int, masked_mask: Tensor
    ) -> Tensor:
        """`attend_split` in bf16 while the bias trains. SDPA has no fused kernel for a mask that
        needs a gradient and falls back to a generic path that is slow in bf16, so the matmuls
        are written out in bf16, as autocast would run them (several times faster than float32
        on CPUs with native bf16; the softmax kernel accumulates in float32)."""
        count, heads, tokens, head_dim = q.shape
        logits = torch.matmul(q * self.scale, k.transpose(-2, -1)) + bias.to(q.dtype)
        if clean_windows < count:  # in place: the sum's backward does not need it
            logits[clean_windows:] += masked_mask.to(q.dtype).unsqueeze(1)
        out = torch.matmul(logits.softmax(dim=-1), v)
        return out.transpose(1, 2).reshape(count, tokens, heads * head_dim)

    def forward(self, windows: Tensor, mask: Tensor | None = None) -> Tensor:
        """Upstream's attention: windows (B * nW, ws², C), additive mask (nW, ws², ws²) or None.

        softmax(q k^T * scale + bias + mask) v, then `proj`; the reference path.
        """
        batch_windows, tokens, channels = windows.shape
        heads = self.num_heads
        qkv = self.qkv(windows).reshape(batch_windows, tokens, 3, heads, channels // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B * nW, heads, ws², head_dim)
        logits = (q * self.scale) @ k.transpose(-2, -1) + self.relative_position_bias().unsqueeze(0)
        if mask is not None:
            n_windows = mask.shape[0]
            logits = logits.view(-1, n_windows, heads, tokens, tokens) + mask.unsqueeze(1).unsqueeze(0)
            logits = logits.view(-1, heads, tokens, tokens)
        out = logits.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch_windows, tokens, channels))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}, impl={self.attention_impl}"


class Mlp(nn.Module):
    """Linear, exact GELU, linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        for linear in (self.fc1, self.fc2):
            nn.init.trunc_normal_(linear.weight, std=0.02)
            nn.init.zeros_(linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """x = x + WMSA(LN1(x)); x = x + MLP(LN2(x)), on channel-last maps (B, H, W, C).

    `shift_mask=False` keeps the cyclic roll of a shifted block but drops Swin's 0/-100 mask
    between the wrapped-around regions (padding is still masked). That is how Adapt-ICMH's
    `TIC_SFMA` computes, so its adapter checkpoints need it; Swin and TransTIC use the mask.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float = 2.0,
        drop_path_rate: float = 0.0,
        attention_impl: str = "sdpa",
        shift_mask: bool = True,
    ) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError("shift_size must be in [0, window_size)")
        self.window_size = window_size
        self.shift_size = shift_size
        self.shift_mask = shift_mask
        self.drop_path_rate = drop_path_rate
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = WindowAttention(dim, window_size, num_heads, attention_impl=attention_impl)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        if self.attn.attention_impl == "reference":
            h = self._reference_window_attention(self.norm1(x))
        else:
            h = self._fast_window_attention(self.norm1(x))
        x = x + drop_path(h, self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)

    def _fast_window_attention(self, h: Tensor) -> Tensor:
        """Gather windows with a cached layout, attend, scatter back (see `WindowLayout`)."""
        batch, height, width, channels = h.shape
        layout = cached_window_layout(
            batch, height, width, self.window_size, self.shift_size, h.device, self.shift_mask
        )
        windows = h.reshape(-1, channels).index_select(0, layout.gather).view(-1, self.window_size**2, channels)
        out = self.attn.attend_split(windows, layout.clean_windows, layout.mask(h.dtype))
        out = out.reshape(-1, channels).index_select(0, layout.scatter)
        return self.attn.proj(out).view(batch, height, width, channels)

    def _reference_window_attention(self, h: Tensor) -> Tensor:
        """Upstream's sequence: pad, roll, partition, attend, merge, roll back, crop."""
        _, height, width, _ = h.shape
        ws, shift = self.window_size, self.shift_size
        padded_h, padded_w = -(-height // ws) * ws, -(-width // ws) * ws
        if (padded_h, padded_w) != (height, width):
            h = F.pad(h, (0, 0, 0, padded_w - width, 0, padded_h - height))
        if shift:
            h = torch.roll(h, shifts=(-shift, -shift), dims=(1, 2))
        # Upstream also recomputes the mask on every call at non-construction sizes.
        mask = attention_mask(height, width, ws, shift, h.dtype, h.device, self.shift_mask)
        h = window_merge(self.attn(window_partition(h, ws), mask), ws, padded_h, padded_w)
        if shift:
            h = torch.roll(h, shifts=(shift, shift), dims=(1, 2))
        return h[:, :height, :width, :]

    def extra_repr(self) -> str:
        mask = "" if self.shift_mask or not self.shift_size else ", shift_mask=False"
        return f"window_size={self.window_size}, shift_size={self.shift_size}{mask}"


class SwinLayer(nn.Module):
    """A run of Swin blocks (upstream's `BasicLayer`; it holds the `blocks` list)."""

    def __init__(self, blocks: Sequence[SwinBlock]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class RSTB(nn.Module):
    """Residual Swin Transformer block of TIC: out = blocks(x) + x on (B, C, H, W) maps.

    `nominal_resolution` is the square feature-map size this stage has for a 256x256
    input; it fixes each block's window and shift as upstream does (see module docstring).
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        nominal_resolution: int,
        mlp_ratio: float = 2.0,
        drop_path_rates: Sequence[float] | None = None,
        attention_impl: str = "sdpa",
    ) -> None:
        super().__init__()
        rates = list(drop_path_rates) if drop_path_rates is not None else [0.0] * depth
        blocks = []
        for index in range(depth):
            window, shift = nominal_window_and_shift(nominal_resolution, window_size, index)
            blocks.append(SwinBlock(dim, num_heads, window, shift, mlp_ratio, rates[index], attention_impl))
        self.residual_group = SwinLayer(blocks)
        self.attention_impl = check_attention_impl(attention_impl)

    def forward(self, x: Tensor) -> Tensor:
        tokens = x.permute(0, 2, 3, 1)
        if self.attention_impl == "reference":
            # Upstream's layout: strided tokens, NCHW residual (bit-identical to TransTIC).
            return self.residual_group(tokens).permute(0, 3, 1, 2) + x
        # Contiguous channel-last tokens; the output is a channels_last NCHW view that the
        # next convolution takes as is, so the next RSTB's `contiguous()` is free.
        tokens = tokens.contiguous()
        return (self.residual_group(tokens) + tokens).permute(0, 3, 1, 2)


def set_attention_impl(module: nn.Module, impl: str) -> None:
    """Switch every window attention inside `module` to `impl` ("sdpa" or "reference")."""
    check_attention_impl(impl)
    for child in module.modules():
        if isinstance(child, (WindowAttention, RSTB)):
            child.attention_impl = impl


def set_shifted_window_mask(module: nn.Module, enabled: bool) -> None:
    """Turn Swin's shifted-window mask on or off in every block inside `module` (see `SwinBlock`)."""
    for child in module.modules():
        if isinstance(child, SwinBlock):
            child.shift_mask = enabled
