"""`fcc eval` end to end on a tiny split: files written, numbers equal to `fcc detect`, `fcc info`
and a hand-computed PSNR, resuming from the cache, and settings without weights skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from eval_split import data_dir_fixture, weights_dir_fixture  # noqa: F401 (fixtures data_dir, weights_dir)

from forensiccodec.cli import main as fcc
from forensiccodec.cli.common import FccGroup
from forensiccodec.cli.evaluation import eval_command
from forensiccodec.evaluate.report.settings import SETTING_NAMES
from forensiccodec.images import load_image, psnr

PATCHES = ["--patches", "8", "--top", "6"]


def run_eval(data_dir: Path, out_dir: Path, weights_dir: Path, settings: str) -> dict:
    torch.set_num_threads(1)
    arguments = ["--data", str(data_dir), "-o", str(out_dir), "--rates", "1", "--settings", settings,
                 "--fd-patches", "4", "--weights-dir", str(weights_dir), *PATCHES]
    result = CliRunner().invoke(eval_command, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((out_dir / "report.json").read_text())


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, weights_dir: Path) -> tuple[Path, dict]:
    out_dir = tmp_path_factory.mktemp("report")
    return out_dir, run_eval(data_dir, out_dir, weights_dir, "uncompressed,base,jpeg,adapters-paper,finetuned")


def point(report: dict, name: str) -> dict:
    setting = next(s for s in report["settings"] if s["name"] == name)
    return setting["points"][0]


def test_report_files_are_written(report: tuple[Path, dict]) -> None:
    out_dir, data = report
    for name in ("report.json", "report.md", "rate_accuracy.png", "score_distributions.png",
                 "rate_distortion.png", "qualitative.png"):
        assert (out_dir / name).stat().st_size > 0, name
    markdown = (out_dir / "report.md").read_text()
    assert "![rate-accuracy](rate_accuracy.png)" in markdown
    assert "not FID" in data["frechet"]["label"] and data["frechet"]["is_fid"] is False
    base = point(data, "base")
    assert base["n_real"] == 2 and base["n_synthetic"] == 2 and base["bpp_mean"] > 0
    assert point(data, "uncompressed")["frechet"] == pytest.approx(0.0, abs=1e-6)
    assert len(data["data_sha256"]) == 64 and data["data_sha256"][:16] in markdown


def test_accuracy_and_auc_come_with_their_95_percent_intervals(report: tuple[Path, dict]) -> None:
    out_dir, data = report
    assert data["confidence_intervals"]["level"] == 0.95 and data["confidence_intervals"]["resamples"] == 2000
    for setting in data["settings"]:
        for p in setting["points"]:
            for key in ("accuracy", "auc", "real_accuracy", "synthetic_accuracy"):
                low, high = p[f"{key}_ci"]
                assert 0.0 <= low <= p[key] <= high <= 1.0, (setting["name"], key)
    markdown = (out_dir / "report.md").read_text()
    base = point(data, "base")
    low, high = base["accuracy_ci"]
    assert f"| {base['accuracy']:.3f} [{low:.3f}, {high:.3f}] |" in markdown
    assert "stratified bootstrap over images (2000 resamples, seed 0)" in markdown


def test_numbers_match_fcc_detect_info_and_psnr(report: tuple[Path, dict], weights_dir: Path) -> None:
    out_dir, data = report
    image = point(data, "base")["images"][0]
    fcc_path, png_path = out_dir / image["encoded"], out_dir / image["decoded"]
    assert fcc_path.suffix == ".fcc"
    info = CliRunner().invoke(fcc, ["info", str(fcc_path), "--json"])
    assert image["bpp"] == pytest.approx(json.loads(info.output)[0]["bpp"], rel=1e-12)
    detect = CliRunner().invoke(fcc, ["detect", str(png_path), "--json", "--weights-dir", str(weights_dir), *PATCHES])
    assert image["score"] == pytest.approx(json.loads(detect.output)[0]["score"], abs=1e-5)
    assert image["psnr"] == pytest.approx(psnr(load_image(image["file"]).pixels, load_image(png_path).pixels))
    jpeg = point(data, "jpeg")["images"][0]
    assert jpeg["bpp"] == pytest.approx(8 * (out_dir / jpeg["encoded"]).stat().st_size / 64**2)


def test_settings_without_weights_are_skipped_with_a_note(report: tuple[Path, dict]) -> None:
    out_dir, data = report
    skipped = {s["setting"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"adapters-paper", "finetuned"}
    markdown = (out_dir / "report.md").read_text()
    assert "## Skipped" in markdown and skipped["adapters-paper"] in markdown


def test_second_run_reuses_the_cache(report: tuple[Path, dict], data_dir: Path, weights_dir: Path) -> None:
    out_dir, first = report
    assert first["encoded_this_run"] == 8  # base and jpeg, four images each
    fcc_file = out_dir / point(first, "base")["images"][0]["encoded"]
    before = fcc_file.stat().st_mtime_ns
    again = run_eval(data_dir, out_dir, weights_dir, "uncompressed,base,jpeg,adapters-paper,finetuned")
    assert again["encoded_this_run"] == 0
    assert point(again, "base")["reused_from_cache"] == 4
    assert fcc_file.stat().st_mtime_ns == before
    assert point(again, "base")["accuracy"] == point(first, "base")["accuracy"]


def test_a_bad_setting_is_one_line_and_exit_2(data_dir: Path, tmp_path: Path) -> None:
    group = FccGroup(name="fcc", commands={"eval": eval_command})  # as the cli package registers it
    result = CliRunner().invoke(group, ["eval", "--data", str(data_dir), "-o", str(tmp_path), "--settings", "base,nope"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: unknown setting 'nope'; valid: " + ", ".join(SETTING_NAMES)]


def test_a_setting_none_of_whose_images_was_coded_still_gets_its_panel(tmp_path: Path) -> None:
    from forensiccodec.evaluate.report.plots import score_distributions_figure

    image = {"label": "real", "score": -1.0}
    report = {"dist_rate": 1, "settings": [
        {"name": "uncompressed", "points": [{"rate": None, "bpp_mean": None, "images": [image]}]},
        {"name": "base", "points": [{"rate": 1, "bpp_mean": 0.1, "images": [image]}]},
        # every image of this setting failed (e.g. refused at decoding): no bpp, no score
        {"name": "adapters-decoder", "points": [{"rate": 1, "bpp_mean": None, "images": [{"label": "real", "error": "x"}]}]},
    ]}
    score_distributions_figure(report, tmp_path / "scores.png")
    assert (tmp_path / "scores.png").stat().st_size > 0
