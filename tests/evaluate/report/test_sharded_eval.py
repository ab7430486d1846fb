"""`fcc eval --shard K/N` and `fcc eval --merge`: shards merged give the report of one run (every
accuracy, AUC, bpp, PSNR and Fréchet distance; timings aside), a killed shard resumes from its
cache, torchrun ranks shard and merge by themselves, and a set of shards that is not one run's
is refused in one line with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner, Result
from eval_split import data_dir_fixture, weights_dir_fixture  # noqa: F401 (fixtures data_dir, weights_dir)

from forensiccodec.cli import main as fcc
from forensiccodec.evaluate.report import produce

SETTINGS = "uncompressed,base,jpeg"
PATCHES = ["--patches", "8", "--top", "6"]
POINT_NUMBERS = ("rate", "accuracy", "auc", "real_accuracy", "synthetic_accuracy", "accuracy_ci", "auc_ci",
                 "real_accuracy_ci", "synthetic_accuracy_ci", "n_real", "n_synthetic", "n_failed", "bpp_mean",
                 "bpp_std", "psnr_mean", "weights")
IMAGE_NUMBERS = ("file", "label", "bpp", "score", "psnr", "quality", "error")


def arguments(data_dir: Path, weights_dir: Path) -> list[str]:
    return ["--data", str(data_dir), "--rates", "1", "--settings", SETTINGS, "--fd-patches", "4",
            "--weights-dir", str(weights_dir), *PATCHES]


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    torch.set_num_threads(1)
    return CliRunner().invoke(fcc, ["eval", *map(str, args)], env={"COLUMNS": "200", **(env or {})})


def numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What a merged report must share with one run's: everything but timings and paths."""
    return {
        "n": (report["n_real"], report["n_synthetic"]), "rates": report["rates"], "detector": report["detector"],
        "frechet": {k: v for k, v in report["frechet"].items()}, "skipped": report["skipped"],
        "confidence_intervals": report["confidence_intervals"],
        "settings": [
            (s["name"], [({k: p.get(k) for k in POINT_NUMBERS},
                          [{k: i.get(k) for k in IMAGE_NUMBERS} for i in p["images"]]) for p in s["points"]])
            for s in report["settings"]
        ],
    }


def assert_same_report(merged: dict[str, Any], whole: dict[str, Any]) -> None:
    assert numbers(merged) == numbers(whole)  # the 95 % intervals too: seeded, over the sorted scores
    assert all(p["accuracy_ci"] is not None for s in merged["settings"] for p in s["points"])
    distances = [[p["frechet"] for p in s["points"]] for s in merged["settings"]]
    expected = [[p["frechet"] for p in s["points"]] for s in whole["settings"]]
    assert distances == [[pytest.approx(d, rel=1e-6, abs=1e-9) for d in row] for row in expected]  # BLAS threads


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, weights_dir: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("whole")
    result = invoke(*arguments(data_dir, weights_dir), "-o", out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, weights_dir: Path) -> Path:
    """Four shards run into one folder; shard 1 takes its part from a Slurm array's environment."""
    out = tmp_path_factory.mktemp("shared")
    taken = 0
    for k in range(1, 5):
        if k == 1:
            env = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"}
            result = invoke(*arguments(data_dir, weights_dir), "-o", out, env=env)
        else:
            result = invoke(*arguments(data_dir, weights_dir), "-o", out, "--shard", f"{k}/4")
        assert result.exit_code == 0, result.output
        source = "SLURM_ARRAY_TASK_ID" if k == 1 else "--shard"
        line = next(line for line in result.stderr.splitlines() if line.startswith("shard "))
        assert line.startswith(f"shard {k}/4 (from {source}): ") and line.endswith(" of 4 images")
        taken += int(line.split(": ")[1].split()[0])
        assert (out / f"report-shard-{k}-of-4.json").is_file()
    assert taken == 4
    assert not (out / "report.json").exists()  # a shard writes its records only
    return out


def test_four_shards_merged_give_the_report_of_one_run(shared: Path, whole: dict[str, Any]) -> None:
    result = invoke("--merge", shared)
    assert result.exit_code == 0, result.output
    merged = json.loads((shared / "report.json").read_text())
    assert_same_report(merged, whole)
    assert merged["merged_from"]["shards"] == 4
    base = next(s for s in merged["settings"] if s["name"] == "base")["points"][0]
    low, high = base["accuracy_ci"]
    assert f"{base['accuracy']:.3f} [{low:.2f}–{high:.2f}]" in result.output  # the terminal table
    for name in ("report.md", "rate_accuracy.png", "score_distributions.png", "rate_distortion.png", "qualitative.png"):
        assert (shared / name).stat().st_size > 0, name
    base = next(s for s in merged["settings"] if s["name"] == "base")["points"][0]
    assert all((shared / image["decoded"]).is_file() for image in base["images"])
    assert merged["figures"]["qualitative_image"] == whole["figures"]["qualitative_image"]


def test_shards_in_folders_of_their_own_merge_into_a_third(tmp_path: Path, data_dir: Path, weights_dir: Path,
                                                           whole: dict[str, Any]) -> None:
    for k in (1, 2):
        result = invoke(*arguments(data_dir, weights_dir), "-o", tmp_path / f"shard{k}", "--shard", f"{k}/2")
        assert result.exit_code == 0, result.output
    result = invoke("--merge", tmp_path / "shard1", tmp_path / "shard2", "-o", tmp_path / "merged")
    assert result.exit_code == 0, result.output
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert_same_report(merged, whole)
    assert merged["data_sha256"] == whole["data_sha256"]  # every shard digests the whole split
    base = next(s for s in merged["settings"] if s["name"] == "base")["points"][0]
    assert all((tmp_path / "merged" / image["decoded"]).is_file() for image in base["images"])
    assert "| base | q1" in (tmp_path / "merged" / "report.md").read_text()


def test_a_killed_shard_resumes_from_what_it_wrote(tmp_path: Path, data_dir: Path, weights_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shard = ["-o", tmp_path, "--shard", "4/4"]  # two images of the tiny split

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(produce.Producer, "_code_classic", killed)  # killed once base is coded, at jpeg
        result = invoke(*arguments(data_dir, weights_dir), *shard)
    assert result.exit_code == 130, result.output
    assert not (tmp_path / "report-shard-4-of-4.json").exists()
    result = invoke(*arguments(data_dir, weights_dir), *shard)
    assert result.exit_code == 0, result.output
    records = json.loads((tmp_path / "report-shard-4-of-4.json").read_text())
    assert records["encoded_this_run"] == 2  # the two JPEGs; the base codec's files are reused
    base = next(s for s in records["settings"] if s["name"] == "base")["points"][0]
    assert base["reused_from_cache"] == 2


def copy_records(source: Path, target: Path, shards: tuple[int, ...] = (1, 2, 3, 4)) -> Path:
    target.mkdir(parents=True)
    for k in shards:
        shutil.copy(source / f"report-shard-{k}-of-4.json", target)
    return target


def edit(path: Path, change: Any) -> None:
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def _base_point(records: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in records["settings"] if s["name"] == "base")["points"][0]


CHANGES = {
    "other detector weights": (lambda r: r["detector"].update(sha256="0" * 64),
                               "shard 3/4 was made with other weights than shard 1/4: detector sha256"),
    "other codec weights": (lambda r: _base_point(r)["weights"].update({"tic-small-q1": "1" * 64}),
                            "shard 3/4 was made with other weights than shard 1/4: codec weights"),
    "other rates": (lambda r: r.update(rates=[1, 2]), "shard 3/4 was made with other settings than shard 1/4: rates"),
    "other patches": (lambda r: r["detector"].update(n_patches=9),
                      "shard 3/4 was made with other settings than shard 1/4: detector"),
    "other data": (lambda r: r["shard"].update(inputs_sha256="2" * 64),
                   "shard 3/4 was made over other data than shard 1/4: images"),
    "same names, other pixels": (lambda r: r.update(data_sha256="3" * 64),
                                 "shard 3/4 was made over other data than shard 1/4: image contents"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_shard_made_otherwise_is_refused(shared: Path, tmp_path: Path, change: str) -> None:
    folder = copy_records(shared, tmp_path / "records")
    mutate, words = CHANGES[change]
    edit(folder / "report-shard-3-of-4.json", mutate)
    assert_refused(invoke("--merge", folder, "-o", tmp_path / "merged"), words)
    assert not (tmp_path / "merged" / "report.json").exists()


def assert_refused(result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.output


def test_a_missing_shard_is_refused(shared: Path, tmp_path: Path) -> None:
    folder = copy_records(shared, tmp_path / "records", (1, 2, 4))
    assert_refused(invoke("--merge", folder), "shard 3/4 missing (have 1, 2, 4 of 4)")


def test_a_shard_there_twice_is_refused(shared: Path, tmp_path: Path) -> None:
    first = copy_records(shared, tmp_path / "a")
    second = copy_records(shared, tmp_path / "b", (2,))
    assert_refused(invoke("--merge", first, second, "-o", tmp_path / "merged"), "shard 2/4 is there twice")
    # One folder named twice is no duplicate; these records' cache is not there, though.
    assert_refused(invoke("--merge", first, first, "-o", tmp_path / "merged"), "is missing (its cache was moved")


def test_shards_of_two_shardings_are_refused(shared: Path, tmp_path: Path) -> None:
    folder = copy_records(shared, tmp_path / "records")
    shutil.copy(folder / "report-shard-1-of-4.json", folder / "report-shard-1-of-3.json")
    edit(folder / "report-shard-1-of-3.json", lambda r: r["shard"].update(count=3))
    assert_refused(invoke("--merge", folder), "different shardings")


@pytest.mark.parametrize(("args", "words"), [
    (["--merge"], "--merge needs the folders"),
    (["--merge", "{empty}"], "holds no report-shard-K-of-N.json"),
    (["--merge", "{empty}", "{empty}/x"], "give -o for the report merged from several folders"),
    (["--merge", "{empty}", "--rates", "1"], "--rates belongs to the shard runs"),
    (["{empty}"], "unexpected argument"),
    (["--data", "{empty}", "--shard", "5/4"], "--shard 5/4: K must be from 1 to 4"),
])
def test_merge_and_shard_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "empty").mkdir()
    assert_refused(invoke(*[a.format(empty=tmp_path / "empty") for a in args]), words)


@pytest.mark.slow
def test_torchrun_ranks_take_their_shards_and_rank_0_merges(tmp_path: Path, data_dir: Path, weights_dir: Path,
                                                            whole: dict[str, Any]) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("FCC_WEIGHTS_DIR", "RANK", "WORLD_SIZE")}
    environment["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "forensiccodec", "eval", *arguments(data_dir, weights_dir), "-o", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shard 1/2 (from RANK): " in result.stderr and "shard 2/2 (from RANK): " in result.stderr
    merged = json.loads((tmp_path / "report.json").read_text())
    assert_same_report(merged, whole)
    assert merged["merged_from"]["shards"] == 2
