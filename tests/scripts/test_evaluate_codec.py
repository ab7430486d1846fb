"""scripts/evaluate_codec.py, the maintainers' wrapper of `fcc eval-codec`: the same measurement,
stored in the manifest (the weight files untouched) and written into a README's rd-table section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import write_image
from maintainer_scripts import load_script as load_maintainer_script


def load_script():
    return load_maintainer_script("evaluate_codec")


@pytest.fixture
def weights_dir(tiny_weights_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's tiny registry (q1..4), which this script's --update-manifest changes."""
    return Path(shutil.copytree(tiny_weights_dir, tmp_path / "weights"))


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("holdout")
    write_image(folder / "a.png", 56, 40, seed=1)
    write_image(folder / "b.png", 33, 64, seed=2)
    return folder


def test_script_writes_json_manifest_metrics_and_readme_section(
    weights_dir: Path, images_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_script()
    manifest_before = json.loads((weights_dir / "manifest.json").read_text())
    weights_before = {p.name: p.read_bytes() for p in weights_dir.glob("*.safetensors")}
    readme = tmp_path / "README.md"
    readme.write_text(f"# Weights\n\nintro\n\n{script.README_START}\nold table\n{script.README_END}\n\n## After\n")
    out = tmp_path / "rd.json"
    argv = [
        "--images", str(images_dir), "--config", "tiny", "--qualities", "1", "2", "--weights-dir", str(weights_dir),
        "--json", str(out), "--update-manifest", "--metrics-key", "synthetic", "--readme", str(readme),
    ]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"2 images from {images_dir}; coding with tic-tiny…\nq1 a.png: ")
    assert "tic-tiny: real .fcc files, means over 2 images" in printed and "vs WebP (anchor: mean curve" in printed
    assert f"wrote {out}" in printed and f"wrote the rd-table section of {readme}" in printed

    report = json.loads(out.read_text())
    assert report["command"] == "python scripts/evaluate_codec.py " + " ".join(argv)
    assert [q["quality"] for q in report["codec"]["per_quality"]] == [1, 2]
    assert set(report["bjontegaard"]) == {"jpeg", "webp"} and "skipped" not in report
    assert len(report["baselines_at_codec_bpp"]["jpeg"]["1"]["per_image"]) == 2

    manifest_after = json.loads((weights_dir / "manifest.json").read_text())
    for name, entry in manifest_after["weights"].items():
        before = manifest_before["weights"][name]
        assert {k: v for k, v in entry.items() if k != "metrics"} == {k: v for k, v in before.items() if k != "metrics"}
        if name in ("tic-tiny-q3", "tic-tiny-q4"):  # not measured: left as they were
            assert entry.get("metrics") == before.get("metrics")
            continue
        metrics = entry["metrics"]["synthetic"]
        assert metrics["images"] == 2 and metrics["bpp"] > 0 and "jpeg_psnr_at_same_bpp" in metrics
        assert metrics["image_folder"] == images_dir.as_posix() and metrics["command"] == report["command"]
    assert {p.name: p.read_bytes() for p in weights_dir.glob("*.safetensors")} == weights_before

    text = readme.read_text()
    assert text.startswith("# Weights\n\nintro\n\n") and text.endswith("## After\n")
    assert "old table" not in text and text.count(script.README_START) == 1
    assert f"### Rate–distortion on `{images_dir.as_posix()}` (2 photographs)" in text
    assert "| 1 | 0.02 |" in text and "| 2 | 0.03 |" in text and "scripts/evaluate_codec.py --images" in text

    missing = tmp_path / "new" / "README.md"
    missing.parent.mkdir()
    script.write_readme(missing, f"{script.README_START}\nsection body\n{script.README_END}\n")
    assert missing.read_text().startswith("# Weights") and missing.read_text().count("section body") == 1


def test_script_stops_at_an_unreadable_photograph(
    weights_dir: Path, images_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unlike `fcc eval-codec`, which leaves it out: a published table covers the whole folder."""
    folder = Path(shutil.copytree(images_dir, tmp_path / "photos"))
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "rd.json"
    script = load_script()
    argv = ["--images", str(folder), "--config", "tiny", "--weights-dir", str(weights_dir), "--json", str(out)]
    assert script.main(argv) == 1
    printed = capsys.readouterr().out
    assert f"error: {folder / 'broken.png'}: not a supported image" in printed
    assert printed.count("error: ") == 1 and "q1 a.png" not in printed  # stopped at once, nothing coded
    assert not out.exists()
