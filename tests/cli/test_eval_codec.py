"""`fcc eval-codec`: the codec against JPEG and WebP on a user's folder of photographs, end to end
on the untrained `tiny` codec (tables on stdout, progress and errors on stderr, --json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import write_image

from forensiccodec.evaluate.rd_report import evaluate_rd


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small photographs and a file that only looks like one."""
    folder = tmp_path_factory.mktemp("photos")
    write_image(folder / "a.png", 56, 40, seed=1)
    write_image(folder / "b.jpg", 33, 64, seed=2)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def test_an_unreadable_photograph_is_reported_and_the_others_measured(
    fcc: Callable[..., Result], photos: Path, tmp_path: Path, tiny_weights_dir: Path
) -> None:
    out = tmp_path / "rd" / "rd.json"
    result = fcc("eval-codec", "--images", photos, "--config", "tiny", "--qualities", "1,q2", "--json", out)
    assert result.exit_code == 1, result.output  # ImageError's: the batch convention
    assert _error_lines(result) == [f"error: {photos / 'broken.png'}: not a supported image (PNG, JPEG, WEBP, TIFF, BMP)"]
    assert f"2 images from {photos} (1 left out); coding with tic-tiny…" in result.output
    assert "q2 b.jpg: " in result.output and "JPEG and WebP curves over qualities 5..95…" in result.output
    assert "tic-tiny: real .fcc files, means over 2 images" in result.output
    assert "vs JPEG (anchor: mean curve over q5..95): " in result.output and f"wrote {out}" in result.output

    report = json.loads(out.read_text())
    assert report["command"] == (f"fcc eval-codec --images {photos} --config tiny --qualities 1,q2 --json {out}")
    assert report["images"] == [(photos / "a.png").as_posix(), (photos / "b.jpg").as_posix()]
    assert report["skipped"] == [{"image": (photos / "broken.png").as_posix(), "error": _error_lines(result)[0][7:]}]
    # the numbers are the library's (rate and distortion are deterministic; the times are not)
    library = evaluate_rd([photos / "a.png", photos / "b.jpg"], "tiny", [1, 2], weights_dir=tiny_weights_dir)
    for written, measured in zip(report["codec"]["per_quality"], library.codec_rd.per_quality, strict=True):
        assert (written["quality"], written["mean_bpp"], written["mean_psnr"]) == (
            measured.quality, measured.mean_bpp, measured.mean_psnr)
    for codec in ("jpeg", "webp"):
        summary = report["baselines_at_codec_bpp"][codec]["2"]["summary"]
        assert summary["closest_psnr_mean"] == library.summaries[codec][2]["closest_psnr_mean"]
        assert report["bjontegaard"][codec] == library.bd[codec].to_json()


def test_a_clean_folder_exits_0(fcc: Callable[..., Result], tmp_path: Path) -> None:
    write_image(tmp_path / "only.png", 24, 24)
    result = fcc("eval-codec", "--images", tmp_path, "--config", "tiny", "--qualities", "3")
    assert result.exit_code == 0, result.output
    assert _error_lines(result) == [] and "means over 1 images" in result.output
    assert "vs WebP (anchor" in result.output and "wrote" not in result.output


@pytest.mark.parametrize(
    ("args", "exit_code", "words"),
    [
        (["--images", "{empty}"], 2, "no images (.bmp"),
        (["--images", "{missing}"], 2, "not a folder of images"),
        (["--images", "{photos}", "--qualities", "1,x"], 2, "--qualities takes qualities separated by commas"),
        (["--images", "{photos}", "--qualities", "1,7"], 2, "no tic-tiny weights for quality 7 (registered: 1, 2, 3, 4)"),
        (["--images", "{photos}", "--config", "small"], 2, "no small codec weights are registered"),
        (["--images", "{unreadable}"], 1, "none of its images can be read"),
        ([], 2, "Missing option '--images'"),
    ],
)
def test_errors_are_one_line(fcc: Callable[..., Result], photos: Path, tmp_path: Path, args: list[str],
                             exit_code: int, words: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "x.png").write_bytes(b"not a png")
    folders = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "photos": photos,
               "unreadable": tmp_path / "unreadable"}
    result = fcc("eval-codec", *[arg.format(**folders) for arg in args], *([] if "--config" in args else ["--config", "tiny"]))
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line]
    assert lines[-1].startswith("error: ") and words in lines[-1], result.output
    # one line, or (an unreadable folder) one per image before it: nothing is measured
    assert all(line.startswith("error: ") for line in lines), result.output
