"""Swin pieces: index tables, masks, padding isolation, caching, and sdpa == reference."""

import pytest
import torch
import torch.nn.functional as F

from forensiccodec.codec import swin
from forensiccodec.codec.swin import (
    PAD_MASK_VALUE,
    RSTB,
    SHIFT_MASK_VALUE,
    SwinBlock,
    attention_mask,
    build_window_layout,
    nominal_window_and_shift,
    relative_position_index,
    set_attention_impl,
    window_merge,
    window_partition,
)
from forensiccodec.errors import UsageError

torch.set_num_threads(2)


def _block(dim: int = 16, heads: int = 2, window: int = 4, shift: int = 0, impl: str = "sdpa") -> SwinBlock:
    torch.manual_seed(0)
    block = SwinBlock(dim, heads, window, shift, attention_impl=impl).eval()
    with torch.no_grad():  # weights large enough that a wrong scale, index or mask shows
        for parameter in block.parameters():
            parameter.normal_(0, 0.3)
        block.attn.relative_position_bias_table.normal_(0, 1)
    return block


def test_relative_position_index_matches_swin_formula() -> None:
    ws = 3
    index = relative_position_index(ws)
    assert index.dtype == torch.int64 and index.shape == (9, 9)
    for a in range(9):
        for b in range(9):
            dy, dx = a // ws - b // ws, a % ws - b % ws
            assert index[a, b] == (dy + ws - 1) * (2 * ws - 1) + (dx + ws - 1)


@pytest.mark.parametrize(
    ("resolution", "window", "block", "expected"),
    [(128, 8, 0, (8, 0)), (128, 8, 1, (8, 4)), (8, 4, 1, (4, 2)), (4, 4, 1, (4, 0)), (2, 4, 1, (2, 0))],
)
def test_nominal_window_and_shift(resolution: int, window: int, block: int, expected: tuple[int, int]) -> None:
    assert nominal_window_and_shift(resolution, window, block) == expected


def test_partition_and_merge_are_inverse() -> None:
    x = torch.randn(2, 8, 12, 5)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 6, 16, 5)
    assert torch.equal(windows[1].view(4, 4, 5), x[0, :4, 4:8])
    assert torch.equal(window_merge(windows, 4, 8, 12), x)


def test_no_mask_without_shift_or_padding() -> None:
    assert attention_mask(8, 8, 4, 0) is None


def test_shift_mask_separates_regions_like_swin() -> None:
    mask = attention_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, SHIFT_MASK_VALUE}
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    # Bottom-right window: 4 regions of 2x2 tokens, each token sees the 4 tokens of its own.
    assert torch.all((mask[3] == 0).sum(-1) == 4)
    assert torch.equal(mask, mask.transpose(1, 2))


def test_padded_keys_are_masked_and_real_ones_not() -> None:
    mask = attention_mask(5, 6, 4, 0)  # padded to 8x8
    assert mask.shape == (4, 16, 16)
    valid = torch.zeros(8, 8)
    valid[:5, :6] = 1
    key_valid = window_partition(valid.view(1, 8, 8, 1), 4).squeeze(-1)  # nW, 16
    assert torch.all(mask[key_valid.unsqueeze(1).expand_as(mask) == 0] == PAD_MASK_VALUE)
    assert torch.all(mask[key_valid.unsqueeze(1).expand_as(mask) == 1] == 0)


def _windowed_attention_by_hand(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """Unshifted block computed window by window over the real tokens only (no padding)."""
    attn, ws = block.attn, block.window_size
    heads = attn.num_heads
    h = block.norm1(x)[0]
    height, width, channels = h.shape
    bias = attn.relative_position_bias_table[attn.relative_position_index.view(-1)].view(ws * ws, ws * ws, heads)
    out = torch.zeros_like(h)
    for top in range(0, height, ws):
        for left in range(0, width, ws):
            rows, cols = range(top, min(top + ws, height)), range(left, min(left + ws, width))
            slots = torch.tensor([(r - top) * ws + (c - left) for r in rows for c in cols])
            tokens = h[top : top + ws, left : left + ws].reshape(-1, channels)
            q, k, v = attn.qkv(tokens).view(-1, 3, heads, channels // heads).permute(1, 2, 0, 3)
            logits = q @ k.transpose(-1, -2) * attn.scale + bias[slots][:, slots].permute(2, 0, 1)
            mixed = (logits.softmax(-1) @ v).transpose(0, 1).reshape(-1, channels)
            out[top : top + ws, left : left + ws] = attn.proj(mixed).view(len(rows), len(cols), channels)
    x = x + out.unsqueeze(0)
    return x + block.mlp(block.norm2(x))


@pytest.mark.parametrize("impl", ["sdpa", "reference"])
@pytest.mark.parametrize("size", [(8, 8), (5, 6), (3, 9)])
def test_unshifted_block_equals_attention_over_real_tokens(impl: str, size: tuple[int, int]) -> None:
    block = _block(impl=impl)
    x = torch.randn(1, *size, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _windowed_attention_by_hand(block, x), atol=1e-5, rtol=1e-5)


# The fast path pads by gathering token 0 into padded slots; sdpa == reference covers it.
@pytest.mark.parametrize("impl", ["reference"])
@pytest.mark.parametrize("shift", [0, 2])
def test_padding_values_do_not_reach_real_tokens(impl: str, shift: int, monkeypatch: pytest.MonkeyPatch) -> None:
    block = _block(shift=shift, impl=impl)
    x = torch.randn(2, 6, 7, 16)
    with torch.no_grad():
        expected = block(x)
        real_pad = F.pad

        def pad_with_noise(t: torch.Tensor, pad: tuple[int, ...], *args, **kwargs) -> torch.Tensor:
            padded = real_pad(t, pad, *args, **kwargs)
            noise = torch.randn_like(padded) * 50
            noise[:, : t.shape[1], : t.shape[2]] = 0
            return padded + noise

        monkeypatch.setattr(swin.F, "pad", pad_with_noise)
        assert torch.allclose(block(x), expected, atol=1e-5)


@pytest.mark.parametrize("shift", [0, 2])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 5, 11), (3, 8, 12), (2, 6, 3)])
def test_sdpa_equals_reference(shift: int, shape: tuple[int, int, int]) -> None:
    block = _block(shift=shift)
    x = torch.randn(*shape, 16)
    with torch.no_grad():
        fast = block(x)
        set_attention_impl(block, "reference")
        reference = block(x)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)


def test_float64_blocks_run_in_float64() -> None:
    block = _block(shift=2).double()
    x = torch.randn(1, 6, 6, 16, dtype=torch.float64)
    with torch.no_grad():
        fast = block(x)
        set_attention_impl(block, "reference")
        torch.testing.assert_close(fast, block(x), atol=1e-12, rtol=1e-12)
    assert fast.dtype == torch.float64


@pytest.mark.parametrize(("size", "shift"), [((8, 8), 2), ((5, 6), 0), ((6, 7), 2), ((4, 4), 0)])
def test_window_layout_is_a_permutation_of_the_real_tokens(size: tuple[int, int], shift: int) -> None:
    batch, (height, width) = 2, size
    layout = build_window_layout(batch, height, width, 4, shift)
    x = torch.randn(batch * height * width, 3)
    windows = x[layout.gather]
    assert windows.shape[0] % 16 == 0
    assert torch.equal(windows[layout.scatter], x)  # every real token read once, back in place
    assert layout.masked.shape[0] == windows.shape[0] // 16 - layout.clean_windows


def test_window_layout_puts_masked_windows_last() -> None:
    layout = build_window_layout(1, 8, 8, 4, 2)
    assert layout.clean_windows == 1  # only the top-left window holds a single region
    full = attention_mask(8, 8, 4, 2)
    torch.testing.assert_close(layout.masked, full[1:])
    assert build_window_layout(3, 8, 8, 4, 0).masked.shape[0] == 0


def test_layouts_are_cached_per_geometry() -> None:
    block = _block(shift=2)
    with torch.no_grad():
        block(torch.randn(1, 8, 8, 16))
        first = swin.cached_window_layout(1, 8, 8, 4, 2, torch.device("cpu"))
        block(torch.randn(1, 8, 8, 16))
    assert swin.cached_window_layout(1, 8, 8, 4, 2, torch.device("cpu")) is first


def test_cached_bias_follows_weight_updates() -> None:
    block = _block()
    x = torch.randn(1, 4, 4, 16)
    with torch.no_grad():
        before = block(x)
        block.attn.relative_position_bias_table.mul_(-1.0)
        after = block(x)
        set_attention_impl(block, "reference")
        torch.testing.assert_close(after, block(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before, after)


def test_training_gradients_reach_every_parameter() -> None:
    block = SwinBlock(16, 2, 4, 2).train()
    block(torch.randn(2, 5, 6, 16)).square().mean().backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_rstb_layout_and_residual() -> None:
    rstb = RSTB(dim=16, depth=2, num_heads=2, window_size=4, nominal_resolution=8).eval()
    assert [(b.window_size, b.shift_size) for b in rstb.residual_group.blocks] == [(4, 0), (4, 2)]
    keys = list(rstb.state_dict())
    assert "residual_group.blocks.1.attn.relative_position_bias_table" in keys
    assert "residual_group.blocks.1.mlp.fc2.bias" in keys
    assert not any("attn_mask" in key for key in keys)
    x = torch.randn(1, 16, 12, 8)
    with torch.no_grad():
        tokens = rstb.residual_group(x.permute(0, 2, 3, 1))
        torch.testing.assert_close(rstb(x), tokens.permute(0, 3, 1, 2) + x)


def test_rstb_built_for_a_single_window_never_shifts() -> None:
    rstb = RSTB(dim=16, depth=2, num_heads=2, window_size=4, nominal_resolution=4)
    assert [b.shift_size for b in rstb.residual_group.blocks] == [0, 0]


def test_unknown_attention_impl_is_refused() -> None:
    with pytest.raises(UsageError, match="sdpa, reference"):
        set_attention_impl(_block(), "flash")
