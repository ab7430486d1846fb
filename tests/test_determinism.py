"""The same .fcc decodes to the same PNG bytes: with 1 or 2 threads, and in another process.

Encoding is deterministic too: the same image and weights give the same .fcc bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from adapter_weights import QUALITY, export_adapted_registry

from forensiccodec import api


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, tiny_weights_dir, make_image) -> Path:
    """An odd-sized RGB photo encoded at quality 2 (several latent tiles, padding on both axes)."""
    folder = tmp_path_factory.mktemp("determinism")
    source = make_image(folder / "photo.png", 130, 65, seed=7)
    api.encode_file(api.CodecStore(tiny_weights_dir).get("tiny", 2), source, folder / "photo.fcc")
    return folder / "photo.fcc"


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _decode(weights_dir: Path, fcc_path: Path, output: Path) -> bytes:
    api.decode_file(api.CodecStore(weights_dir), fcc_path, output)
    return output.read_bytes()


def test_decoding_does_not_depend_on_the_thread_count(tmp_path, encoded, tiny_weights_dir, restore_threads):
    torch.set_num_threads(1)
    one = _decode(tiny_weights_dir, encoded, tmp_path / "one.png")
    torch.set_num_threads(2)
    two = _decode(tiny_weights_dir, encoded, tmp_path / "two.png")
    assert one == two
    assert _decode(tiny_weights_dir, encoded, tmp_path / "again.png") == two


def test_a_separate_process_decodes_the_same_bytes(tmp_path, encoded, tiny_weights_dir, fcc_process):
    in_process = _decode(tiny_weights_dir, encoded, tmp_path / "here.png")
    process = fcc_process("decode", encoded, "-o", tmp_path / "there.png", weights_dir=tiny_weights_dir)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "there.png").read_bytes() == in_process


def test_encoding_twice_gives_the_same_stream(tmp_path, encoded, tiny_weights_dir):
    source = encoded.parent / "photo.png"
    api.encode_file(api.CodecStore(tiny_weights_dir).get("tiny", 2), source, tmp_path / "a.fcc")
    api.encode_file(api.CodecStore(tiny_weights_dir).get("tiny", 2), source, tmp_path / "b.fcc")
    assert (tmp_path / "a.fcc").read_bytes() == (tmp_path / "b.fcc").read_bytes()


def test_a_tiled_file_decodes_the_same_with_any_thread_count_and_process(tmp_path, encoded, tiny_weights_dir,
                                                                          make_image, fcc_process, restore_threads,
                                                                          monkeypatch):
    from forensiccodec.codec import pipeline
    from forensiccodec.codec.bitstream import read_fcc
    from forensiccodec.codec.tiling import Tiling

    source = make_image(tmp_path / "wide.png", 300, 140, seed=3)
    codec = api.CodecStore(tiny_weights_dir).get("tiny", 2)
    api.encode_file(codec, source, tmp_path / "wide.fcc", tiling=Tiling(8, 8))
    assert read_fcc((tmp_path / "wide.fcc").read_bytes()).header.tiling == (8, 8)
    workers = []  # how many tiles each decode ran side by side
    synthesis = pipeline.tiled_synthesis
    monkeypatch.setattr(pipeline, "tiled_synthesis", lambda *a, **k: workers.append(k["workers"]) or synthesis(*a, **k))
    torch.set_num_threads(1)
    one = _decode(tiny_weights_dir, tmp_path / "wide.fcc", tmp_path / "one.png")
    torch.set_num_threads(2)
    assert _decode(tiny_weights_dir, tmp_path / "wide.fcc", tmp_path / "two.png") == one
    assert workers == [1, 2]
    process = fcc_process("decode", tmp_path / "wide.fcc", "-o", tmp_path / "there.png", weights_dir=tiny_weights_dir)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "there.png").read_bytes() == one


@pytest.mark.parametrize("adapters_at_encoding", ["none", "forensic"])
def test_a_forensic_reconstruction_does_not_depend_on_the_thread_count(tmp_path, make_image, restore_threads,
                                                                       adapters_at_encoding):
    """Decoder adapters (a base-codec file) and paper adapters (a file written with them)."""
    weights = export_adapted_registry(tmp_path / "weights", finetuned=False)
    store = api.CodecStore(weights)
    source = make_image(tmp_path / "photo.png", 130, 65, seed=7)
    api.encode_file(store.for_encoding("tiny", QUALITY, adapters=adapters_at_encoding), source, tmp_path / "photo.fcc")
    decoded = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        output = tmp_path / f"forensic-{threads}.png"
        api.decode_file(store, tmp_path / "photo.fcc", output, adapters="forensic")
        decoded.append(output.read_bytes())
    assert decoded[0] == decoded[1]
    api.decode_file(store, tmp_path / "photo.fcc", tmp_path / "human.png")
    assert (tmp_path / "human.png").read_bytes() != decoded[0]  # the adapters did run
