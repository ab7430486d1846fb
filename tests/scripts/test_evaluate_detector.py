"""scripts/evaluate_detector.py split: each accuracy and AUC with its 95 % bootstrap interval,
in the JSON rows and the printed table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from maintainer_scripts import load_script as load_maintainer_script

from forensiccodec.detector.evaluation import summarise


def load_script():
    return load_maintainer_script("evaluate_detector")


def test_split_rows_and_table_carry_the_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script()
    rng = np.random.default_rng(0)
    evaluation = summarise(list(rng.normal(-1, 1, 18)), list(rng.normal(1, 1, 18)), transform="none",
                           n_patches=8, top_m=6)
    row = script._row(evaluation)
    for key in ("accuracy", "auc", "real_accuracy", "synthetic_accuracy"):
        low, high = row[f"{key}_ci"]
        assert low <= row[key] <= high, key
    script._print_table([row])
    printed = capsys.readouterr().out
    low, high = row["accuracy_ci"]
    assert f"| {row['accuracy']:.4f} [{low:.3f}, {high:.3f}] |" in printed
    assert "stratified bootstrap over images (2000 resamples, seed 0)" in printed


def test_by_family_splits_the_synthetic_images_by_their_generator_family(tmp_path: Path) -> None:
    import json

    script = load_script()
    images = [{"file": "test/real/r.png", "generator": None},
              {"file": "test/synthetic/a.png", "generator": "nearest"},
              {"file": "test/synthetic/b.png", "generator": "vae"},
              {"file": "test/synthetic/c.png", "generator": "bilinear"}]
    (tmp_path / "manifest.json").write_text(json.dumps({"images": images, "families": {
        "upsampling": {"generators": ["nearest", "bilinear"]}, "vae": {"generators": ["vae"]}}}))
    evaluation = summarise([-1.0], [2.0, -3.0, 0.5], n_patches=4, top_m=3)
    evaluation.real_files = [str(tmp_path / "test/real/r.png")]
    evaluation.synthetic_files = [str(tmp_path / f"test/synthetic/{n}.png") for n in "abc"]
    families = dict(script._per_family(evaluation, tmp_path))
    assert sorted(families["upsampling"].synthetic_scores) == [0.5, 2.0] and families["vae"].synthetic_scores == [-3.0]
    assert families["vae"].auc == 0.0 and families["upsampling"].auc == 1.0
    assert script._condition({"transform": "none", "family": "vae"}) == "none, vae only"
