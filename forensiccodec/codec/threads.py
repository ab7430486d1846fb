"""Decoding transforms at one intra-op thread: the same pixels with any thread count.

A float32 kernel may split its sums differently with one thread or two, and once in a while
that moves a decoded value across a rounding boundary (on some CPUs, a pixel of a tiled file by
one level). One thread fixes the order of every sum, so a file gives the same PNG bytes whatever
``torch.set_num_threads`` or ``OMP_NUM_THREADS`` says. The decoder's parallelism moves from
inside a kernel to the tiles of a large image, decoded side by side (`tiling.tiled_synthesis`);
an image within one tile decodes on one core.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with torch's intra-op threads set to one, then restore the caller's count."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
