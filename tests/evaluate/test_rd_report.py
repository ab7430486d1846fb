"""The codec-against-JPEG/WebP report (`fcc eval-codec`'s work) on the untrained `tiny` codec:
which images it takes, how baselines are summarised at the codec's bpp, and what it prints and writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image
from rich.console import Console

from forensiccodec.errors import FccError, UsageError
from forensiccodec.evaluate.bd_rate import BjontegaardResult, bjontegaard
from forensiccodec.evaluate.classic_codecs import BppMatch, RDPoint
from forensiccodec.evaluate.codec_rd import ImageRD
from forensiccodec.evaluate.rd_report import (
    CURVE_QUALITIES,
    RDReport,
    bd_lines,
    bd_text,
    check_qualities,
    evaluate_rd,
    list_images,
    print_tables,
    psnr_cell,
    readable_images,
    summarise_matches,
    write_json,
)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    return [write_image(folder / "a.png", 56, 40, seed=1), write_image(folder / "b.png", 33, 64, seed=2)]


@pytest.fixture(scope="module")
def measured(images: list[Path], tiny_weights_dir: Path) -> tuple[RDReport, list[str], list[ImageRD]]:
    stages: list[str] = []
    points: list[ImageRD] = []
    report = evaluate_rd(images, "tiny", [1, 2], weights_dir=tiny_weights_dir, on_point=points.append,
                         on_stage=stages.append)
    return report, stages, points


# ----------------------------------------------------------------------------- inputs


def test_list_images_takes_the_image_files_of_the_folder_sorted(tmp_path: Path) -> None:
    for name in ("b.png", "A.JPG", "c.webp", "notes.txt", "d.tiff"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.png").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["A.JPG", "b.png", "c.webp", "d.tiff"]


def test_list_images_refuses_a_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no photographs here")
    with pytest.raises(UsageError, match="no images"):
        list_images(tmp_path)


def test_readable_images_reports_what_does_not_load(tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.png", 8, 8)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    readable, unreadable = readable_images([bad, good])
    assert readable == [good]
    assert [path for path, _ in unreadable] == [bad] and "bad.png" in unreadable[0][1]


def test_check_qualities(tiny_weights_dir: Path) -> None:
    assert check_qualities("tiny", None, tiny_weights_dir) == [1, 2, 3, 4]
    assert check_qualities("tiny", [4, 1], tiny_weights_dir) == [4, 1]  # the order given
    with pytest.raises(UsageError, match=r"quality 7 \(registered: 1, 2, 3, 4\)"):
        check_qualities("tiny", [1, 7], tiny_weights_dir)
    with pytest.raises(UsageError, match="given twice"):
        check_qualities("tiny", [2, 2], tiny_weights_dir)
    with pytest.raises(UsageError, match="no small codec weights"):
        check_qualities("small", [1], tiny_weights_dir)


def test_no_images_is_an_error(tiny_weights_dir: Path) -> None:
    with pytest.raises(UsageError, match="no images"):
        evaluate_rd([], "tiny", [1], weights_dir=tiny_weights_dir)


# ----------------------------------------------------------------------------- summaries


def _point(image: str, bpp: float, psnr: float) -> ImageRD:
    return ImageRD(image, 8, 8, 1, 0.02, 8, bpp, bpp, bpp, 0.0, 1.0, psnr, 0.1, 0.1, 0.5, 0.5)


def _rd(quality: int, bpp: float, psnr: float) -> RDPoint:
    return RDPoint("webp", quality, 1, bpp, psnr)


def test_summary_of_a_baseline_at_the_codec_points_keeps_out_of_range_images_apart() -> None:
    points = [_point("a.png", 0.5, 30.0), _point("b.png", 0.05, 20.0)]
    reached = BppMatch("webp", 0.5, _rd(40, 0.49, 33.0), _rd(40, 0.49, 33.0), _rd(41, 0.52, 33.5), 33.2)
    lowest = _rd(1, 0.08, 25.0)
    missed = BppMatch("webp", 0.05, lowest, None, lowest, math.nan, "webp cannot go below 0.080 bpp")
    summary = summarise_matches([reached, missed], points)
    assert summary["psnr_at_bpp"] == pytest.approx(33.2)
    assert summary["codec_psnr_on_same_images"] == pytest.approx(30.0)  # a.png only, as the baseline's
    assert summary["psnr_gain_over_codec"] == pytest.approx(3.2)
    assert (summary["images_in_range"], summary["images"]) == (1, 2)
    assert summary["closest_quality_mean"] == pytest.approx(20.5)  # closest points of both images
    assert summary["closest_bpp_mean"] == pytest.approx((0.49 + 0.08) / 2)
    assert summary["out_of_range"] == [{"image": "b.png", "codec_bpp": 0.05, "nearest_quality": 1, "nearest_bpp": 0.08,
                                        "nearest_psnr": 25.0, "note": "webp cannot go below 0.080 bpp"}]
    assert psnr_cell(summary) == "33.20 (1/2 photos; codec 30.00 on them)"
    assert psnr_cell({**summary, "images_in_range": 2}) == "33.20"
    nothing = summarise_matches([missed], points[1:])
    assert math.isnan(nothing["psnr_at_bpp"]) and psnr_cell(nothing) == "n/a (out of range)"


def test_bd_text() -> None:
    assert bd_text(BjontegaardResult(44.21, -1.604)) == "BD-rate +44.2%, BD-PSNR -1.60 dB"
    assert bd_text(BjontegaardResult(math.nan, -4.02, "bd_rate: no overlap")) == "BD-rate n/a, BD-PSNR -4.02 dB (bd_rate: no overlap)"
    assert bd_text(BjontegaardResult(math.nan, math.nan, "one point")) == "not measurable (one point)"


# ----------------------------------------------------------------------------- the report


def test_the_report_compares_each_codec_point_with_the_baselines_at_its_bpp(measured, images: list[Path]) -> None:
    report, stages, points = measured
    assert report.images == images and report.skipped == []
    assert points == report.codec_rd.per_image and [(p.quality, p.image) for p in points] == [
        (1, "a.png"), (1, "b.png"), (2, "a.png"), (2, "b.png")]
    assert stages == ["JPEG and WebP at the codec's bpp per image…",
                      f"JPEG and WebP curves over qualities {CURVE_QUALITIES[0]}..{CURVE_QUALITIES[-1]}…"]
    for codec in ("jpeg", "webp"):
        for quality in (1, 2):
            matches = report.matches[codec][quality]
            assert [m.target_bpp for m in matches] == [p.bpp for p in report.codec_rd.points(quality)]
            reached = [m.interpolated_psnr for m in matches if m.in_range]
            summary = report.summaries[codec][quality]
            assert summary["images_in_range"] == len(reached)
            if reached:
                assert summary["psnr_at_bpp"] == pytest.approx(np.mean(reached))


def test_the_bd_deltas_are_against_the_mean_baseline_curves(measured) -> None:
    report, _, _ = measured
    codec_bpp = [q.mean_bpp for q in report.codec_rd.per_quality]
    codec_psnr = [q.mean_psnr for q in report.codec_rd.per_quality]
    for codec, curve in report.curves.items():
        assert curve["qualities"] == list(CURVE_QUALITIES)
        per_image = list(curve["per_image"].values())
        assert len(per_image) == 2
        assert curve["mean_bpp"][0] == pytest.approx((per_image[0][0]["bpp"] + per_image[1][0]["bpp"]) / 2)
        expected = bjontegaard(curve["mean_bpp"], curve["mean_psnr"], codec_bpp, codec_psnr)
        assert report.bd[codec].to_json() == expected.to_json()  # NaN (not measurable) as None
    assert [line.split(":")[0] for line in bd_lines(report)] == [
        "vs JPEG (anchor", "vs WebP (anchor"]


def test_the_tables_show_the_codec_and_the_baselines(measured) -> None:
    report, _, _ = measured
    console = Console(record=True, width=200)
    print_tables(console, report)
    text = console.export_text()
    assert "tic-tiny: real .fcc files, means over 2 images" in text
    for q in report.codec_rd.per_quality:
        row = next(line for line in text.splitlines() if line.startswith(f"│ {q.quality} │ {q.lmbda:g} │"))
        assert f"{q.mean_bpp:.4f}" in row and f"{q.mean_psnr:.2f}" in row
        comparison = [line for line in text.splitlines() if line.startswith(f"│ {q.quality} │ {q.mean_bpp:.4f} │")]
        assert len(comparison) == 1 and psnr_cell(report.summaries["webp"][q.quality]) in comparison[0]


def test_the_json_is_standard_and_names_what_was_left_out(measured, tmp_path: Path) -> None:
    report, _, _ = measured
    out = tmp_path / "new" / "rd.json"
    write_json(out, report, "fcc eval-codec --images photos")

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the JSON")

    written = json.loads(out.read_text(), parse_constant=no_constants)
    assert list(written) == ["command", "images", "codec", "baselines_at_codec_bpp", "baseline_curves", "bjontegaard"]
    assert written["command"] == "fcc eval-codec --images photos"
    assert [q["quality"] for q in written["codec"]["per_quality"]] == [1, 2]
    assert len(written["baselines_at_codec_bpp"]["jpeg"]["1"]["per_image"]) == 2
    assert written["bjontegaard"]["jpeg"] == report.bd["jpeg"].to_json()

    report.skipped.append((Path("photos/broken.png"), "photos/broken.png: not a supported image"))
    try:
        assert report.to_json("c")["skipped"] == [{"image": "photos/broken.png", "error": "photos/broken.png: not a supported image"}]
    finally:
        report.skipped.clear()
    (tmp_path / "file").write_text("")
    with pytest.raises(FccError, match="cannot write the report"):
        write_json(tmp_path / "file" / "rd.json", report, "c")
