"""scripts/plot_accuracy_fidelity.py: each run's kept validation and the selection rule over runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from maintainer_scripts import SCRIPTS, load_script

plot = load_script("plot_accuracy_fidelity")
BASE = {"accuracy": 0.53, "auc": 0.69, "psnr": 32.0}


def _run(folder: Path, validations: list[tuple[int, float, float, float]], base: dict | None = BASE) -> Path:
    """A checkpoint folder with a training log (step, accuracy, AUC, PSNR per validation)."""
    folder.mkdir(parents=True)
    lines = [{"step": 1, "loss": 1.0}]  # training records are skipped
    lines += [{"step": s, "validation": {"accuracy": a, "auc": u, "psnr": p}} for s, a, u, p in validations]
    (folder / "train_log.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    if base is not None:
        (folder / "base_validation.json").write_text(json.dumps({"key": {}, "metrics": base}))
    return folder


def test_kept_is_the_highest_accuracy_then_auc_the_earliest_among_equals() -> None:
    points = [{"step": 1, "accuracy": 0.6, "auc": 0.7}, {"step": 2, "accuracy": 0.7, "auc": 0.7},
              {"step": 3, "accuracy": 0.7, "auc": 0.8}, {"step": 4, "accuracy": 0.7, "auc": 0.8}]
    assert plot.kept(points)["step"] == 3


def test_the_rule_prefers_runs_within_the_psnr_bound() -> None:
    offers = {"sharp": {"step": 5, "accuracy": 0.80, "auc": 0.9, "psnr": 31.0},
              "blurred": {"step": 7, "accuracy": 0.95, "auc": 0.99, "psnr": 20.0}}
    choice = plot.choose(offers, psnr_floor=29.0)
    assert choice["run"] == "sharp" and choice["within_psnr_bound"]
    fallback = plot.choose(offers, psnr_floor=35.0)  # none keeps it: the most accurate, flagged
    assert fallback["run"] == "blurred" and not fallback["within_psnr_bound"]


def test_the_command_plots_the_runs_and_reports_its_choice(tmp_path: Path) -> None:
    first = _run(tmp_path / "f1", [(500, 0.65, 0.73, 33.6), (1000, 0.66, 0.77, 33.9)])
    second = _run(tmp_path / "f0", [(500, 0.90, 0.95, 25.0), (1000, 0.93, 0.97, 28.0)], base=None)
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "plot_accuracy_fidelity.py"), f"F=1={first}", f"F=0={second}",
         "-o", str(tmp_path / "af.png"), "--json", str(tmp_path / "af.json")],
        capture_output=True, text=True, check=True,
    ).stdout
    result = json.loads((tmp_path / "af.json").read_text())
    assert result["psnr_floor"] == 29.0 and result["kept"]["F=0"]["step"] == 1000
    assert result["choice"]["run"] == "F=1"  # F=0's best is 1 dB beyond the bound
    assert "chosen by the rule: F=1, step 1000" in out and (tmp_path / "af.png").stat().st_size > 0


def test_runs_against_different_bases_are_refused(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", [(500, 0.6, 0.7, 30.0)])
    second = _run(tmp_path / "b", [(500, 0.6, 0.7, 30.0)], base={**BASE, "psnr": 31.0})
    done = subprocess.run([sys.executable, str(SCRIPTS / "plot_accuracy_fidelity.py"), str(first), str(second),
                           "-o", str(tmp_path / "af.png")], check=False, capture_output=True, text=True)
    assert done.returncode != 0 and "another base codec" in done.stderr and "Traceback" not in done.stderr


def test_one_base_measured_by_two_runs_is_the_same_despite_bpp_float_noise() -> None:
    base = {**BASE, "est_bpp": 0.0670555}
    assert plot.same_scores(base, {**base, "est_bpp": 0.0670729})  # 2.6e-4 apart: float sums
    assert not plot.same_scores(base, {**base, "est_bpp": 0.0700})
    assert not plot.same_scores(base, {**base, "psnr": BASE["psnr"] * (1 + 1e-3)})
