"""scripts/evaluate_detector.py split: each accuracy and AUC with its 95 % bootstrap interval,
in the JSON rows and the printed table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from forensiccodec.detector.evaluation import summarise

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "evaluate_detector.py"


def load_script():
    spec = importlib.util.spec_from_file_location("evaluate_detector", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
