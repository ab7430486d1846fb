"""`one_thread`: the decoder's transforms at one intra-op thread, the caller's count restored."""

from __future__ import annotations

import pytest
import torch

from forensiccodec.codec.threads import one_thread


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_the_block_runs_at_one_thread_and_the_count_comes_back(two_threads) -> None:
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_the_count_comes_back_after_an_error(two_threads) -> None:
    with pytest.raises(RuntimeError), one_thread():
        raise RuntimeError("a decoding error")
    assert torch.get_num_threads() == 2
