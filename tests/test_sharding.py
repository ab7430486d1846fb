"""`forensiccodec.sharding`: --shard K/N, the environments that name a shard, and the partition."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from forensiccodec.errors import UsageError
from forensiccodec.sharding import (
    Shard,
    input_key,
    parse_shard_spec,
    resolve_shard,
    shard_index_of,
)

SLURM_1_BASED = {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}


def test_a_spec_is_k_of_n() -> None:
    assert parse_shard_spec("2/4") == Shard(2, 4, "--shard")
    assert parse_shard_spec(" 1 / 1 ") == Shard(1, 1)
    assert parse_shard_spec("none") is None


@pytest.mark.parametrize(("spec", "words"), [
    ("0/4", "K must be from 1 to 4"),
    ("5/4", "K must be from 1 to 4"),
    ("a/b", "give K/N with whole numbers"),
    ("1/0", "N must be at least 1"),
    ("2", "give K/N"),
    ("-1/4", "give K/N"),
])
def test_bad_specs_are_one_line_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError) as raised:
        resolve_shard(spec, environ={})
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


def test_no_spec_and_no_environment_is_no_shard() -> None:
    assert resolve_shard(None, environ={}) is None
    assert resolve_shard("none", environ=SLURM_1_BASED) is None  # every input, whatever the environment


@pytest.mark.parametrize(("environ", "expected"), [
    (SLURM_1_BASED, Shard(3, 4, "SLURM_ARRAY_TASK_ID")),  # --array=1-4
    ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"},
     Shard(3, 4, "SLURM_ARRAY_TASK_ID")),  # --array=0-3
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, Shard(1, 4, "SLURM_ARRAY_TASK_ID")),  # no MIN: 0-based
    ({"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
      "SLURM_ARRAY_TASK_STEP": "4"}, Shard(3, 3, "SLURM_ARRAY_TASK_ID")),  # --array=1-9:4
    ({"JOB_COMPLETION_INDEX": "0", "FCC_SHARD_COUNT": "8"}, Shard(1, 8, "JOB_COMPLETION_INDEX")),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, Shard(2, 2, "RANK")),
])
def test_the_environment_names_the_shard(environ: dict[str, str], expected: Shard) -> None:
    assert resolve_shard(None, environ=environ) == expected


def test_a_kubernetes_index_takes_its_count_from_the_option() -> None:
    assert resolve_shard(None, 5, environ={"JOB_COMPLETION_INDEX": "4"}) == Shard(5, 5, "JOB_COMPLETION_INDEX")
    assert resolve_shard(None, 5, environ={"JOB_COMPLETION_INDEX": "4", "FCC_SHARD_COUNT": "9"}).count == 5
    with pytest.raises(UsageError, match="give --shard-count N"):
        resolve_shard(None, environ={"JOB_COMPLETION_INDEX": "4"})
    with pytest.raises(UsageError, match="outside 0..3"):
        resolve_shard(None, 4, environ={"JOB_COMPLETION_INDEX": "4"})
    # --shard with an index but no count: nothing to check it against
    assert resolve_shard("5/5", environ={"JOB_COMPLETION_INDEX": "4"}) == Shard(5, 5)


@pytest.mark.parametrize(("spec", "count", "environ", "words"), [
    ("2/3", None, SLURM_1_BASED, "disagrees with the environment: SLURM_ARRAY_TASK_ID names 4 shards"),
    ("1/2", None, {"RANK": "0", "WORLD_SIZE": "4"}, "RANK names 4 shards"),
    ("1/2", None, {"JOB_COMPLETION_INDEX": "0", "FCC_SHARD_COUNT": "3"}, "JOB_COMPLETION_INDEX names 3"),
    ("1/2", 3, {}, "disagrees with --shard-count 3"),
    (None, 3, SLURM_1_BASED, "--shard-count 3 disagrees with SLURM_ARRAY_TASK_ID"),
    (None, 3, {}, "--shard-count goes with JOB_COMPLETION_INDEX"),
    (None, None, {**SLURM_1_BASED, "RANK": "0", "WORLD_SIZE": "2"}, "several partitions"),
    (None, None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"},
     "outside the array's 4 tasks"),
    (None, None, {"SLURM_ARRAY_TASK_ID": "1"}, "without SLURM_ARRAY_TASK_COUNT"),
    (None, None, {"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a whole number"),
])
def test_disagreements_are_refused(spec: str | None, count: int | None, environ: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError) as raised:
        resolve_shard(spec, count, environ=environ)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_an_explicit_shard_of_the_same_count_wins() -> None:
    assert resolve_shard("1/4", environ=SLURM_1_BASED) == Shard(1, 4, "--shard")


def test_input_keys_are_relative_to_their_folder_argument() -> None:
    assert input_key("data/test/real/a.png", ["data"]) == "test/real/a.png"
    assert input_key("/x/y/a.png", ["/x"]) == "y/a.png"
    assert input_key("elsewhere/a.png", ["data"]) == "a.png"  # named directly: its own name
    assert input_key("data/a.png", []) == "a.png"


def test_the_partition_covers_every_input_once_whatever_the_order() -> None:
    keys = [f"{label}/img{index:04d}.png" for label in ("real", "synthetic") for index in range(300)]
    for count in (1, 2, 3, 4, 7):
        shards = [Shard(k, count) for k in range(1, count + 1)]
        parts = [shard.select((key, key) for key in keys) for shard in shards]
        assert sorted(key for part in parts for key in part) == sorted(keys)
        shuffled = keys[:]
        random.Random(count).shuffle(shuffled)
        for shard, part in zip(shards, parts):
            assert sorted(shard.select((key, key) for key in shuffled)) == sorted(part)
        if count == 4:
            assert all(50 < len(part) < 250 for part in parts)  # roughly balanced


def test_adding_inputs_moves_none_of_the_others() -> None:
    keys = [f"img{index}.png" for index in range(200)]
    before = {key: shard_index_of(key, 4) for key in keys}
    after = {key: shard_index_of(key, 4) for key in keys + [f"new{index}.png" for index in range(50)]}
    assert all(after[key] == shard for key, shard in before.items())


def test_the_partition_is_the_same_in_another_process() -> None:
    """No per-process hash salt (Python's hash() would differ between machines and runs)."""
    keys = [f"real/img{index}.png" for index in range(20)]
    code = ("from forensiccodec.sharding import shard_index_of; "
            f"print([shard_index_of(k, 3) for k in {keys!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == str([shard_index_of(key, 3) for key in keys])


def test_the_module_imports_no_torch() -> None:
    code = "import sys, forensiccodec.sharding; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
