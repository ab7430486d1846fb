"""TICConfig: named configurations, validation and dict round trips."""

import dataclasses
import json

import pytest

from forensiccodec.codec.config import CONFIGS, TICConfig, get_config
from forensiccodec.errors import UsageError


def test_paper_config_is_transtic_tic_hp() -> None:
    paper = get_config("paper")
    assert (paper.N, paper.M) == (128, 192)
    assert paper.depths == (2, 4, 6, 2, 2, 2)
    assert paper.num_heads == (8, 8, 8, 16, 16, 16)
    assert (paper.window_size, paper.hyper_window_size, paper.mlp_ratio) == (8, 4, 2.0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_has_whole_heads_and_shifted_blocks(name: str) -> None:
    config = CONFIGS[name]
    for dim, heads in zip(config.stage_dims(), config.num_heads):
        assert dim % heads == 0
    assert min(config.depths) >= 2  # so every stage has a shifted-window block


def test_small_config_is_the_shipped_cpu_model() -> None:
    small = get_config("small")
    assert (small.N, small.M, small.depths, small.num_heads) == (64, 96, (2,) * 6, (4, 4, 4, 6, 4, 4))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dict_round_trip_through_json(name: str) -> None:
    config = CONFIGS[name]
    restored = TICConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert isinstance(restored.depths, tuple)


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(UsageError, match="unknown TICConfig fields: colour"):
        TICConfig.from_dict({**CONFIGS["tiny"].to_dict(), "colour": 1})


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="paper, small, tiny"):
        get_config("huge")


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(UsageError, match="do not divide"):
        TICConfig(N=16, M=24, depths=(2,) * 6, num_heads=(3, 2, 2, 2, 2, 2))


def test_six_stages_are_required() -> None:
    with pytest.raises(UsageError):
        TICConfig(depths=(2, 2))


def test_config_is_frozen_and_hashable() -> None:
    config = get_config("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.N = 3  # type: ignore[misc]
    assert hash(config) == hash(TICConfig.from_dict(config.to_dict()))
