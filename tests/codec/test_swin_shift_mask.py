"""The shifted-window mask switch (Adapt-ICMH's TIC_SFMA drops Swin's 0/-100 mask, keeps the roll)."""

import pytest
import torch

from forensiccodec.codec.config import get_config
from forensiccodec.codec.swin import (
    PAD_MASK_VALUE,
    SHIFT_MASK_VALUE,
    SwinBlock,
    attention_mask,
)
from forensiccodec.codec.tic import TIC

torch.set_num_threads(2)


def test_without_the_shift_mask_an_exact_fit_needs_no_mask() -> None:
    assert attention_mask(16, 16, 8, 4, shift_mask=False) is None
    assert attention_mask(16, 16, 8, 4) is not None


def test_without_the_shift_mask_padding_is_still_masked() -> None:
    full = attention_mask(12, 20, 8, 4)
    padding_only = attention_mask(12, 20, 8, 4, shift_mask=False)
    assert padding_only is not None and padding_only.shape == full.shape
    assert set(padding_only.unique().tolist()) == {0.0, PAD_MASK_VALUE}
    # The full mask is the padding mask plus the shift mask.
    shift_part = full - padding_only
    assert set(shift_part.unique().tolist()) == {0.0, SHIFT_MASK_VALUE}


@pytest.mark.parametrize("impl", ["sdpa", "reference"])
def test_block_without_mask_is_rolled_attention_over_whole_windows(impl: str) -> None:
    torch.manual_seed(0)
    block = SwinBlock(8, 2, 4, 2, attention_impl=impl, shift_mask=False).eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        h = torch.roll(block.norm1(x), shifts=(-2, -2), dims=(1, 2))
        windows = h.view(1, 2, 4, 2, 4, 8).permute(0, 1, 3, 2, 4, 5).reshape(-1, 16, 8)
        attended = block.attn(windows, None).view(1, 2, 2, 4, 4, 8).permute(0, 1, 3, 2, 4, 5).reshape(1, 8, 8, 8)
        h = x + torch.roll(attended, shifts=(2, 2), dims=(1, 2))
        expected = h + block.mlp(block.norm2(h))
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(64, 64), (320, 128)])
def test_mask_off_model_agrees_across_implementations_and_differs_from_mask_on(size: tuple[int, int]) -> None:
    torch.manual_seed(5)
    model = TIC(get_config("tiny"), shifted_window_mask=False).eval()
    keys = list(model.state_dict())
    x = torch.rand(1, 3, *size)
    with torch.inference_mode():
        fast = model.analysis(x)
        model.set_attention_impl("reference")
        reference = model.analysis(x)
        model.set_shifted_window_mask(True)
        masked = model.analysis(x)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(masked, reference, atol=1e-4)
    assert list(model.state_dict()) == keys == list(TIC(get_config("tiny")).state_dict())


def test_switching_the_mask_back_on_restores_the_default_model_bit_for_bit() -> None:
    torch.manual_seed(6)
    model = TIC(get_config("tiny")).eval()
    x = torch.rand(1, 3, 128, 64)
    with torch.inference_mode():
        before = model(x)["x_hat"]
        model.set_shifted_window_mask(False)
        without = model(x)["x_hat"]
        model.set_shifted_window_mask(True)
        after = model(x)["x_hat"]
    assert torch.equal(before, after) and not torch.equal(before, without)
    assert model.shifted_window_mask
