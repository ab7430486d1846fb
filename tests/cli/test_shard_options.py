"""`--shard K/N` on `fcc detect`, `fcc encode` and `fcc decode`: the shards together do exactly
what one unsharded run does, each input once; the partition taken is one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from forensiccodec.cli import main
from forensiccodec.detector import build_backbone
from forensiccodec.detector.weights import export_detector

SHARDS = 3
SLURM_TASK_1 = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": str(SHARDS), "SLURM_ARRAY_TASK_MIN": "1"}


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


@pytest.fixture(scope="module")
def detector_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("detector-weights")
    export_detector(build_backbone("tiny"), config_name="tiny", weights_dir=folder, n_patches=12, top_m=9)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, make_image) -> Path:
    """Nine small images, two of them in a sub-folder."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "sub").mkdir()
    for index in range(9):
        where = folder / "sub" if index >= 7 else folder
        make_image(where / f"img{index}.png", 24 + index, 20, seed=index)
    return folder


def detect(images: Path, weights: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return invoke("detect", images, "-r", "--config", "tiny", "--weights-dir", weights, "--json", *args, env=env)


def records(result: Result) -> list[dict]:
    assert result.exit_code in (0, 1), result.output
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(result.stdout)]


def test_detect_shards_together_give_the_records_of_one_run(images: Path, detector_weights: Path) -> None:
    whole = records(detect(images, detector_weights))
    assert len(whole) == 9
    parts = []
    for k in range(1, SHARDS + 1):
        result = detect(images, detector_weights, "--shard", f"{k}/{SHARDS}")
        part = records(result)
        assert result.stderr.splitlines() == [f"shard {k}/{SHARDS} (from --shard): {len(part)} of 9 inputs"]
        parts.append(part)
    together = [r for part in parts for r in part]
    assert sorted(r["input"] for r in together) == sorted(r["input"] for r in whole)  # each file once
    by_input = {r["input"]: r for r in whole}
    assert all(r == by_input[r["input"]] for r in together)


def test_the_environment_names_the_shard(images: Path, detector_weights: Path) -> None:
    explicit = detect(images, detector_weights, "--shard", f"1/{SHARDS}")
    slurm = detect(images, detector_weights, env=SLURM_TASK_1)
    assert records(slurm) == records(explicit)
    assert slurm.stderr.startswith(f"shard 1/{SHARDS} (from SLURM_ARRAY_TASK_ID): ")
    kubernetes = detect(images, detector_weights, "--shard-count", str(SHARDS), env={"JOB_COMPLETION_INDEX": "0"})
    assert records(kubernetes) == records(explicit)
    everything = detect(images, detector_weights, "--shard", "none", env=SLURM_TASK_1)
    assert len(records(everything)) == 9 and everything.stderr == ""


@pytest.mark.parametrize(("args", "env", "words"), [
    (["--shard", "0/4"], None, "--shard 0/4: K must be from 1 to 4"),
    (["--shard", "5/4"], None, "--shard 5/4: K must be from 1 to 4"),
    (["--shard", "a/b"], None, "--shard 'a/b': give K/N"),
    (["--shard", "1/0"], None, "--shard 1/0: N must be at least 1"),
    (["--shard", "1/2"], SLURM_TASK_1, "--shard 1/2 disagrees with the environment"),
    ([], {"JOB_COMPLETION_INDEX": "2"}, "give --shard-count N"),
])
def test_bad_shards_are_one_line_and_exit_code_2(images: Path, detector_weights: Path, args: list[str],
                                                 env: dict[str, str] | None, words: str) -> None:
    result = detect(images, detector_weights, *args, env=env)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.output


def test_a_missing_input_is_reported_by_one_shard_only(images: Path, detector_weights: Path) -> None:
    errors = []
    for k in range(1, SHARDS + 1):
        result = detect(images, detector_weights, images / "nope.png", "--shard", f"{k}/{SHARDS}")
        errors += [r for r in records(result) if "error" in r]
    assert [Path(r["input"]).name for r in errors] == ["nope.png"]


def test_a_shard_with_nothing_to_do_succeeds(images: Path, detector_weights: Path) -> None:
    outputs = [detect(images / "img0.png", detector_weights, "--shard", f"{k}/4") for k in range(1, 5)]
    assert all(result.exit_code == 0 for result in outputs)
    assert sorted(len(json.loads(result.stdout)) for result in outputs) == [0, 0, 0, 1]


def test_encode_and_decode_shards_write_exactly_the_files_of_one_run(tmp_path: Path, fcc, images: Path) -> None:
    coding = ["--config", "tiny", "-q", "1"]
    assert fcc("encode", images, "-o", tmp_path / "whole", *coding).exit_code == 0
    for k in range(1, SHARDS + 1):
        result = fcc("encode", images, "-o", tmp_path / "sharded", "--shard", f"{k}/{SHARDS}", *coding)
        assert result.exit_code == 0, result.output
    whole = {p.name: p.read_bytes() for p in (tmp_path / "whole").iterdir()}
    assert len(whole) == 7  # not recursive: the sub-folder's two are not inputs
    assert {p.name: p.read_bytes() for p in (tmp_path / "sharded").iterdir()} == whole

    assert fcc("decode", tmp_path / "whole", "-o", tmp_path / "png-whole").exit_code == 0
    taken = []
    for k in range(1, SHARDS + 1):
        result = fcc("decode", tmp_path / "whole", "-o", tmp_path / "png-sharded", "--shard", f"{k}/{SHARDS}", "--json")
        assert result.exit_code == 0, result.output
        taken += [Path(r["input"]).name for r in json.loads(result.stdout)]
    assert sorted(taken) == sorted(whole)
    decoded = {p.name: p.read_bytes() for p in (tmp_path / "png-whole").iterdir()}
    assert {p.name: p.read_bytes() for p in (tmp_path / "png-sharded").iterdir()} == decoded
