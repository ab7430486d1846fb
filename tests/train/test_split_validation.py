"""The val-split scores of a forensic run, and the base codec's own scores it is judged against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_forensic_models import tiny_base, tiny_detector

from forensiccodec.codec.tic import TIC
from forensiccodec.train.forensic_objective import ForensicCodecPass
from forensiccodec.train.forensic_training import build_trainable_codec
from forensiccodec.train.split_validation import (
    BASE_VALIDATION_FILE,
    SplitValidation,
    base_codec_validation,
)

torch.set_num_threads(1)
CPU = torch.device("cpu")


def _samples(folder: Path) -> list[tuple[Path, int]]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    samples = []
    for index in range(4):
        path = folder / f"{index}.png"
        # sides that are not multiples of 64: the reconstruction is padded and cropped back
        Image.fromarray(rng.integers(0, 256, size=(70, 90, 3), dtype=np.uint8)).save(path)
        samples.append((path, index % 2))
    return samples


def _base_scores(base: TIC, samples: list[tuple[Path, int]], folder: Path, **identity: str) -> dict[str, float]:
    return base_codec_validation(base, tiny_detector(), samples, n_patches=4, top_m=3,
                                 identity={"base_sha256": "a", "detector_sha256": "b", **identity},
                                 folder=folder, device=CPU)


def test_the_base_scores_are_those_of_fresh_adapters_at_step_zero(tmp_path: Path) -> None:
    samples = _samples(tmp_path / "val")
    base = tiny_base()
    reference = _base_scores(base, samples, tmp_path / "run")
    adapted, _ = build_trainable_codec(base, "paper")
    at_start = SplitValidation(ForensicCodecPass(adapted, tiny_detector()), samples, 4, 3)(0)
    assert reference == pytest.approx(at_start)
    assert set(reference) == {"accuracy", "auc", "real_accuracy", "synthetic_accuracy", "psnr", "est_bpp"}
    assert 0 < reference["psnr"] < 100 and reference["est_bpp"] > 0


def test_a_resumed_run_reuses_the_record_only_for_the_same_base_and_settings(tmp_path: Path, monkeypatch) -> None:
    samples = _samples(tmp_path / "val")
    first = _base_scores(tiny_base(), samples, tmp_path / "run")
    record = json.loads((tmp_path / "run" / BASE_VALIDATION_FILE).read_text())
    assert record["metrics"] == first

    def refuse(self: SplitValidation, step: int) -> dict[str, float]:
        raise AssertionError("scored again")

    monkeypatch.setattr(SplitValidation, "__call__", refuse)
    assert _base_scores(tiny_base(), samples, tmp_path / "run") == first
    with pytest.raises(AssertionError, match="scored again"):  # another base codec: its own scores
        _base_scores(tiny_base(), samples, tmp_path / "run", base_sha256="c")
    with pytest.raises(AssertionError, match="scored again"):  # another val split
        _base_scores(tiny_base(), samples[:2], tmp_path / "run")


def test_an_unreadable_record_is_scored_again_and_replaced(tmp_path: Path) -> None:
    samples = _samples(tmp_path / "val")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / BASE_VALIDATION_FILE).write_text("{not json")
    scores = _base_scores(tiny_base(), samples, tmp_path / "run")
    assert json.loads((tmp_path / "run" / BASE_VALIDATION_FILE).read_text())["metrics"] == scores
