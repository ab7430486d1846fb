"""The one state-dict fit check (`state_dicts.check_fit`) and the loaders that use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import WeightsError
from forensiccodec.state_dicts import check_fit, misfits


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.register_buffer("table", torch.empty(0, dtype=torch.int32))  # a placeholder that resizes


def _state() -> dict[str, torch.Tensor]:
    return dict(Small().state_dict())


def _error(model: nn.Module | dict, state: dict, **options: bool) -> str:
    with pytest.raises(WeightsError) as caught:
        check_fit(model, state, "model.safetensors: does not fit", **options)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("model.safetensors: does not fit: ")
    return message


def test_a_state_dict_of_the_model_fits() -> None:
    check_fit(Small(), _state(), "x")
    assert misfits(Small(), _state()) == []


def test_a_missing_key_is_named() -> None:
    state = _state()
    del state["conv.weight"]
    assert _error(Small(), state).endswith(": 1 missing (conv.weight)")


def test_an_unexpected_key_is_named() -> None:
    state = {**_state(), "head.weight": torch.zeros(2)}
    assert _error(Small(), state).endswith(": 1 unexpected (head.weight)")


def test_a_wrong_shape_is_named_with_both_shapes() -> None:
    state = {**_state(), "conv.bias": torch.zeros(5)}
    assert _error(Small(), state).endswith(": 1 with the wrong shape (conv.bias: [5], the model's [4])")


def test_every_kind_is_counted_and_only_the_first_few_keys_named() -> None:
    state = {f"extra{i}": torch.zeros(1) for i in range(5)}
    state["norm.weight"] = torch.zeros(3)
    message = _error(Small(), state)
    assert "5 missing (conv.weight, conv.bias, norm.bias, …)" in message
    assert "5 unexpected (extra0, extra1, extra2, …)" in message
    assert "1 with the wrong shape (norm.weight: [3], the model's [4])" in message


def test_a_value_that_is_not_a_tensor_does_not_fit() -> None:
    assert "conv.bias: int" in _error(Small(), {**_state(), "conv.bias": 3})


def test_what_load_state_dict_fills_in_may_be_absent() -> None:
    """Empty placeholders resize on loading, and torch adds missing batch-norm counters."""
    state = {k: v for k, v in _state().items() if k not in ("table", "norm.num_batches_tracked")}
    check_fit(Small(), state, "x")
    check_fit(Small(), {**state, "table": torch.arange(7)}, "x")  # a placeholder takes any shape
    Small().load_state_dict({**state, "table": torch.empty(0, dtype=torch.int32)}, strict=True)  # torch's own rule


def test_a_partial_state_may_leave_tensors_out_but_not_add_or_reshape() -> None:
    check_fit(Small(), {"conv.bias": torch.zeros(4)}, "x", partial=True)
    assert "1 unexpected (head)" in _error(Small(), {"head": torch.zeros(1)}, partial=True)
    assert "wrong shape" in _error(Small(), {"conv.bias": torch.zeros(2)}, partial=True)


def test_the_model_may_be_given_as_its_shapes() -> None:
    shapes = {k: tuple(v.shape) for k, v in Small().state_dict().items()}
    check_fit(shapes, _state(), "x")
    assert "1 with the wrong shape" in _error(shapes, {**_state(), "conv.bias": torch.zeros(1)})


def test_a_codec_file_with_a_misshapen_tensor_is_refused_in_one_line() -> None:
    from forensiccodec.zoo import build_codec

    config = get_config("tiny")
    state = dict(TIC(config).state_dict())
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(WeightsError, match=rf"weights do not fit the .* model: 1 with the wrong shape \({re.escape(key)}: "):
        build_codec(state, config)


def test_a_warm_start_file_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    from forensiccodec.train.codec_training import load_initial_weights

    state = {k: v for k, v in TIC(get_config("tiny")).state_dict().items() if v.numel() > 0}
    fits = tmp_path / "fits.safetensors"
    save_file({k: state[k].contiguous() for k in list(state)[:5]}, str(fits))  # a part of the codec: allowed
    load_initial_weights(TIC(get_config("tiny")), fits)
    other = tmp_path / "small.safetensors"
    save_file({k: v.contiguous() for k, v in TIC(get_config("small")).state_dict().items() if v.numel() > 0}, str(other))
    with pytest.raises(WeightsError, match=r"small.safetensors: does not fit the model: .*(unexpected|wrong shape)"):
        load_initial_weights(TIC(get_config("tiny")), other)


def test_a_codec_files_legacy_entropy_names_fit_and_load(tmp_path: Path) -> None:
    """Codec files keep TransTIC's `_matrix0`, ... (zoo.codec_file_tensors); the model is named as
    CompressAI 1.2.8 names it (`matrices.0`): the check takes the names as TIC loads them."""
    from forensiccodec.train.codec_training import load_initial_weights
    from forensiccodec.zoo import codec_file_tensors

    torch.manual_seed(5)
    source = TIC(get_config("tiny"))
    tensors = codec_file_tensors(source)
    assert "entropy_bottleneck._matrix0" in tensors and "entropy_bottleneck.matrices.0" not in tensors
    check_fit(TIC(get_config("tiny")), tensors, "x")
    assert "1 unexpected (entropy_bottleneck.matrices.9)" in _error(  # named as it would load
        TIC(get_config("tiny")), {**tensors, "entropy_bottleneck._matrix9": torch.zeros(1)})
    path = tmp_path / "codec.safetensors"
    save_file(tensors, str(path))
    torch.manual_seed(6)
    model = TIC(get_config("tiny"))
    load_initial_weights(model, path)  # legacy names over the fresh model's defaults
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
