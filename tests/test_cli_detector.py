"""`fcc detect`, `fcc calibrate-detector`, `fcc train-detector` and `fcc demo-data` through click's test runner.

The commands are mounted on a throwaway group here (the cli package registers them on `fcc`), with a
tiny detector exported to a temporary weights folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from forensiccodec.cli.common import FccGroup
from forensiccodec.cli.data import demo_data
from forensiccodec.cli.detection import calibrate_detector, detect
from forensiccodec.cli.training import train_detector
from forensiccodec.detector import build_backbone
from forensiccodec.detector.weights import export_detector

torch.set_num_threads(2)


@click.group(cls=FccGroup)
def fcc() -> None:
    """Test group."""


fcc.add_command(detect)
fcc.add_command(calibrate_detector)
fcc.add_command(train_detector)
fcc.add_command(demo_data)


def _image(path: Path, seed: int, size: tuple[int, int] = (100, 120)) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    export_detector(build_backbone("tiny"), config_name="tiny", weights_dir=tmp_path / "weights", n_patches=12, top_m=9)
    return tmp_path / "weights"


def _detect(*args: str) -> click.testing.Result:
    return CliRunner().invoke(fcc, ["detect", "--config", "tiny", *args])


def test_detect_table_json_and_determinism(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _image(tmp_path / "a.png", 1)
    _image(tmp_path / "b.png", 2)
    monkeypatch.chdir(tmp_path)  # short paths: the table must not wrap them
    result = _detect("a.png", "b.png", "--weights-dir", str(weights))
    assert result.exit_code == 0, result.output
    assert "a.png" in result.output and "b.png" in result.output and "9/12" in result.output

    out = _detect(str(tmp_path), "--json", "--patches", "8", "--weights-dir", str(weights))
    assert out.exit_code == 0, out.output
    reports = json.loads(out.output)
    assert [Path(r["input"]).name for r in reports] == ["a.png", "b.png"]
    first = reports[0]
    assert first["n_patches"] == 8 and first["patches_used"] == 6  # top keeps the weights' 75 %
    assert first["label"] == ("synthetic" if first["score"] > 0 else "real")
    again = json.loads(_detect(str(a), "--json", "--patches", "8", "--weights-dir", str(weights)).output)
    assert again[0]["score"] == first["score"]
    other_seed = json.loads(_detect(str(a), "--json", "--patches", "8", "--seed", "7", "--weights-dir", str(weights)).output)
    assert other_seed[0]["score"] != first["score"]


def test_detect_bad_file_reports_and_goes_on(tmp_path: Path, weights: Path) -> None:
    good = _image(tmp_path / "good.png", 1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    result = _detect(str(bad), str(good), str(tmp_path / "missing.png"), "--json", "--weights-dir", str(weights))
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [Path(r["input"]).name for r in payload if "score" in r] == ["good.png"]
    assert sum("error" in r for r in payload) == 2
    assert result.stderr.count("error:") == 2


def test_detect_heatmaps(tmp_path: Path, weights: Path) -> None:
    a, b = _image(tmp_path / "in" / "a.png", 1), _image(tmp_path / "in" / "b.png", 2)
    out = tmp_path / "a-heat.png"
    result = _detect(str(a), "--heatmap", str(out), "--weights-dir", str(weights))
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (120, 100)
    assert _detect(str(a), "--heatmap", str(out), "--weights-dir", str(weights)).exit_code != 0  # no overwrite
    assert _detect(str(a), "--heatmap", str(out), "--force", "--weights-dir", str(weights)).exit_code == 0
    refused = _detect(str(a), str(b), "--heatmap", str(out), "--weights-dir", str(weights))
    assert refused.exit_code == 2 and "--heatmap-dir" in refused.output
    many = _detect(str(tmp_path / "in"), "--heatmap-dir", str(tmp_path / "maps"), "--weights-dir", str(weights))
    assert many.exit_code == 0, many.output
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["a-heatmap.png", "b-heatmap.png"]


def test_detect_without_weights_is_a_weights_error(tmp_path: Path) -> None:
    result = _detect(str(_image(tmp_path / "a.png", 1)), "--weights-dir", str(tmp_path / "none"))
    assert result.exit_code == 4 and "train-detector" in result.output


def test_train_detector_command(tmp_path: Path) -> None:
    for split, count in (("train", 2), ("val", 1)):
        for label in ("real", "synthetic"):
            for index in range(count):
                _image(tmp_path / "data" / split / label / f"{index}.png", index + len(label), (96, 110))
    result = CliRunner().invoke(fcc, [
        "train-detector", "--data", str(tmp_path / "data"), "--config", "tiny", "--steps", "2",
        "--batch-size", "4", "--device", "cpu", "--val-patches", "4", "--val-top", "3",
        "--checkpoint-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "weights"),
    ])
    assert result.exit_code == 0, result.output
    assert "validation" in result.output and "detector-tiny.safetensors" in result.output
    assert (tmp_path / "run" / "last.pt").is_file()
    missing = CliRunner().invoke(fcc, ["train-detector", "--data", str(tmp_path / "run"), "--config", "tiny"])
    assert missing.exit_code == 1 and "train/" in missing.output


def test_demo_data_passes_its_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forensiccodec.data import demo

    calls = {}

    class Summary:
        total_bytes, seconds = 2_000_000, 3.0

        def table(self) -> str:
            return "counts table"

        def generator_table(self) -> str:
            return "generators table"

    def fake_build(out_dir, **options):
        calls.update(out_dir=out_dir, **options)
        return Summary()

    monkeypatch.setattr(demo, "build_demo_data", fake_build)
    result = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out"), "--seed", "3", "--photos", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls["seed"] == 3 and calls["photos_dir"] == [tmp_path] and calls["out_dir"] == tmp_path / "out"
    assert calls["settings"].paired is False and calls["settings"].tile_size == 256
    assert "counts table" in result.output and "2.0 MB" in result.output

    paired = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out2"), "--paired", "--tile-size", "128"])
    assert paired.exit_code == 0, paired.output
    assert calls["settings"].paired is True and calls["settings"].tile_size == 128
    assert calls["settings"].train_stride is None

    dense = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out3"), "--train-stride", "64"])
    assert dense.exit_code == 0, dense.output
    assert calls["settings"].train_stride == 64
    assert calls["extra_train_photos_dir"] is None

    extra = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out4"), "--extra-train-photos", str(tmp_path)])
    assert extra.exit_code == 0, extra.output
    assert calls["extra_train_photos_dir"] == tmp_path and calls["extra_val_photos_dir"] is None
    extra_val = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out6"), "--extra-val-photos", str(tmp_path)])
    assert extra_val.exit_code == 0, extra_val.output
    assert calls["extra_val_photos_dir"] == tmp_path and calls["extra_train_photos_dir"] is None
    assert calls["settings"].families == ("upsampling",)
    families = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out7"), "--families", "all",
                                        "--photos", str(tmp_path), "--photos", str(tmp_path.parent)])
    assert families.exit_code == 0, families.output
    assert calls["settings"].families == ("upsampling", "deep-autoencoder", "vae", "diffusion", "codec")
    assert calls["photos_dir"] == [tmp_path, tmp_path.parent]
    two = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out8"), "--families", "vae, codec"])
    assert two.exit_code == 0 and calls["settings"].families == ("vae", "codec")
    missing = CliRunner().invoke(fcc, ["demo-data", str(tmp_path / "out5"), "--extra-train-photos", str(tmp_path / "no")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_import_weights_detector_registers_the_paper_detector(tmp_path: Path) -> None:
    import torch
    from click.testing import CliRunner

    from forensiccodec.cli import main
    from forensiccodec.detector.backbone import build_backbone
    from forensiccodec.zoo import Manifest

    backbone = build_backbone("paper")
    checkpoint = tmp_path / "synth_vs_real.pth"
    torch.save({"net": {"module." + k: v for k, v in backbone.state_dict().items()}}, checkpoint)
    runner = CliRunner()
    result = runner.invoke(main, ["import-weights", str(checkpoint), "--detector", "--weights-dir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert any(e.kind == "detector" and e.config_name == "paper" for e in Manifest.load(tmp_path / "w").entries.values())
    codec_without_quality = runner.invoke(main, ["import-weights", str(checkpoint), "--weights-dir", str(tmp_path / "w")])
    assert codec_without_quality.exit_code == 2 and "--quality" in codec_without_quality.output


def _labelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A detector that separates a labelled set by construction, and that set's test split."""
    from labelled_detector import export_separating_detector, write_labelled_layout

    weights = tmp_path / "weights"
    write_labelled_layout(tmp_path / "data", export_separating_detector(weights, n_patches=12, top_m=9))
    monkeypatch.chdir(tmp_path)  # short paths: the table must not wrap them
    return weights, ["data/test/real", "data/test/synthetic"]


def test_detect_shows_the_calibrated_probability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forensiccodec.detector.weights import load_detector

    weights, test_split = _labelled(tmp_path, monkeypatch)
    # No fitted calibration yet: null in JSON, "–" in the table.
    plain = _detect(*test_split, "--json", "--weights-dir", str(weights))
    assert plain.exit_code == 0, plain.output
    records = json.loads(plain.output)
    assert len(records) == 4 and all(r["probability"] is None for r in records)
    table = _detect(*test_split, "--weights-dir", str(weights))
    assert table.exit_code == 0, table.output
    assert "P(synthetic)" in table.output and "–" in table.output

    calibrated = CliRunner().invoke(fcc, ["calibrate-detector", "--data", "data", "--config", "tiny",
                                          "--weights-dir", str(weights)])
    assert calibrated.exit_code == 0, calibrated.output
    record = json.loads(calibrated.output)
    assert record["probability"]["method"] == "platt" and record["probability"]["split"] == "val"
    assert record["probability"]["a"] > 0 and (record["probability"]["n_real"], record["probability"]["n_synthetic"]) == (2, 2)
    entry = json.loads((weights / "manifest.json").read_text())["weights"]["detector-tiny"]
    assert entry["probability"] == record["probability"]

    out = _detect(*test_split, "--json", "--weights-dir", str(weights))
    assert out.exit_code == 0, out.output
    records = json.loads(out.output)
    detector = load_detector("tiny", weights)
    for r in records:
        assert 0.0 <= r["probability"] <= 1.0
        assert r["probability"] == pytest.approx(detector.probability.probability(r["score"]))
    ordered = sorted(records, key=lambda r: r["score"])
    assert [r["probability"] for r in ordered] == sorted(r["probability"] for r in records)
    table = _detect(*test_split, "--weights-dir", str(weights))
    assert f"{records[0]['probability']:.3f}" in table.output


def test_calibrate_detector_without_a_probability_split(tmp_path: Path) -> None:
    from labelled_detector import export_separating_detector, write_labelled_layout

    weights = tmp_path / "weights"
    write_labelled_layout(tmp_path / "data", export_separating_detector(weights), splits=("train", "val"))
    result = CliRunner().invoke(fcc, ["calibrate-detector", "--data", str(tmp_path / "data"), "--config", "tiny",
                                      "--probability-split", "none", "--weights-dir", str(weights)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["probability"] is None
    assert "probability" not in json.loads((weights / "manifest.json").read_text())["weights"]["detector-tiny"]
    missing = CliRunner().invoke(fcc, ["calibrate-detector", "--data", str(tmp_path / "data"), "--config", "tiny",
                                       "--probability-split", "test", "--weights-dir", str(weights)])
    assert missing.exit_code == 1 and "test/" in missing.output


def test_detect_summarises_labelled_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forensiccodec.detector.confidence import bootstrap_intervals

    weights, test_split = _labelled(tmp_path, monkeypatch)
    table = _detect(*test_split, "--weights-dir", str(weights))
    assert table.exit_code == 0, table.output
    assert "labelled: 2 real, 2 synthetic" in table.output and "AUC 1.000 [1.000, 1.000]" in table.output

    plain = json.loads(_detect(*test_split, "--json", "--weights-dir", str(weights)).output)
    assert len(plain) == 4 and all("input" in r for r in plain)  # the records alone, as before
    out = _detect(*test_split, "--json", "--summary", "--weights-dir", str(weights))
    assert out.exit_code == 0, out.output
    *records, last = json.loads(out.output)
    def without_time(rows: list[dict]) -> list[dict]:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]

    assert without_time(records) == without_time(plain) and list(last) == ["summary"]
    summary = last["summary"]
    real = [r["score"] for r in records if "/real/" in r["input"]]
    synthetic = [r["score"] for r in records if "/synthetic/" in r["input"]]
    expected = bootstrap_intervals(sorted(real), sorted(synthetic))
    assert (summary["n_real"], summary["n_synthetic"], summary["n_unlabelled"]) == (2, 2, 0)
    for name in ("accuracy", "auc", "real_accuracy", "synthetic_accuracy"):
        assert summary[name] == pytest.approx(expected[name].value)
        assert summary[f"{name}_ci"] == expected[name].to_json()
    assert summary["auc"] == 1.0 and summary["threshold"] == 0.0

    # unlabelled inputs: counted, and the summary says what it cannot measure
    other = _image(tmp_path / "loose" / "c.png", 3)
    mixed = json.loads(_detect(str(other), "data/test/real", "--json", "--summary", "--weights-dir", str(weights)).output)
    assert mixed[-1]["summary"]["n_unlabelled"] == 1 and mixed[-1]["summary"]["auc"] is None
    assert mixed[-1]["summary"]["auc_ci"] == [None, None]
    assert "labelled" not in _detect(str(other), "--weights-dir", str(weights)).output
