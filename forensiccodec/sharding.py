"""Splitting a batch over several processes: ``--shard K/N``, job arrays and torchrun.

A shard is part K of N (K from 1 to N) of a command's inputs. Which part an input belongs to
depends only on its own path relative to its data root (the folder it was found under, or its
own name when it was named directly), through sha256: the partition is the same whatever order
the files are listed in and whichever machine lists them, and adding files never moves another
file to another shard.

Without ``--shard`` a process takes its part from the environment that started it:

==========================  =============================================================
``SLURM_ARRAY_TASK_ID``     a Slurm job array: ``SLURM_ARRAY_TASK_COUNT`` tasks; the IDs
                            are made 0-based with ``SLURM_ARRAY_TASK_MIN`` (and
                            ``SLURM_ARRAY_TASK_STEP``), so ``--array=1-4`` and
                            ``--array=0-3`` both give shards 1/4 .. 4/4
``JOB_COMPLETION_INDEX``    a Kubernetes Indexed Job (0-based); its count is not in the
                            environment: ``--shard-count N`` or ``FCC_SHARD_COUNT``
``RANK`` / ``WORLD_SIZE``   torchrun (``torchrun --nproc-per-node G -m forensiccodec ...``)
==========================  =============================================================

An explicit ``--shard`` wins, but one whose count disagrees with the environment's is refused
(a script that names the wrong N would silently skip inputs); ``--shard none`` processes every
input whatever the environment says. Every bad value is a :class:`UsageError` (exit code 2)
with a one-line message. Imports no torch.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TypeVar

from forensiccodec.errors import UsageError

__all__ = [
    "NO_SHARD",
    "Shard",
    "from_environment",
    "input_key",
    "parse_shard_spec",
    "resolve_shard",
    "shard_index_of",
]

NO_SHARD = "none"  # --shard none: every input, whatever the environment says
SHARD_COUNT_VARIABLE = "FCC_SHARD_COUNT"
T = TypeVar("T")
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count``, and where that came from (``--shard``, an env variable)."""

    index: int
    count: int
    source: str = "--shard"

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise UsageError(f"shard {self.index}/{self.count}: K must be from 1 to N (N at least 1)")

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def file_tag(self) -> str:
        """``shard-K-of-N``, for file names."""
        return f"shard-{self.index}-of-{self.count}"

    def contains(self, key: str) -> bool:
        """Whether the input whose key (`input_key`) is ``key`` is in this shard."""
        return shard_index_of(key, self.count) == self.index

    def select(self, items: Iterable[tuple[str, T]]) -> list[T]:
        """The items of this shard among ``(key, item)`` pairs, in their given order."""
        return [item for key, item in items if self.contains(key)]

    def describe(self, taken: int, total: int, noun: str = "inputs") -> str:
        """The one line a process prints about its partition."""
        return f"shard {self.label} (from {self.source}): {taken} of {total} {noun}"


def shard_index_of(key: str, count: int) -> int:
    """The shard (1..count) of the input whose key is ``key``: sha256 of its UTF-8 bytes, mod count."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def input_key(path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]] = ()) -> str:
    """An input's path relative to the first root (a folder argument) it lies under, with ``/``
    separators; its own file name when it lies under none (a file named directly)."""
    pure = PurePath(path)
    for root in roots:
        try:
            relative = pure.relative_to(PurePath(root))
        except ValueError:
            continue
        if relative.parts:
            return relative.as_posix()
    return pure.name


def parse_shard_spec(text: str) -> Shard | None:
    """``K/N`` as a :class:`Shard`; ``none`` as None (no partition)."""
    if text.strip().lower() == NO_SHARD:
        return None
    match = _SPEC.match(text)
    if match is None:
        raise UsageError(f"--shard {text!r}: give K/N with whole numbers, e.g. 2/4 (part 2 of 4), or 'none'")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise UsageError(f"--shard {text}: N must be at least 1")
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be from 1 to {count}")
    return Shard(index, count, "--shard")


def _integer(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a whole number") from None


def _slurm(environ: Mapping[str, str]) -> Shard | None:
    task = _integer(environ, "SLURM_ARRAY_TASK_ID")
    if task is None:
        return None
    count = _integer(environ, "SLURM_ARRAY_TASK_COUNT")
    if count is None or count < 1:
        raise UsageError("SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT: give --shard K/N")
    first = _integer(environ, "SLURM_ARRAY_TASK_MIN")
    step = _integer(environ, "SLURM_ARRAY_TASK_STEP") or 1
    offset = task - (first if first is not None else 0)
    if step < 1 or offset % step:
        raise UsageError(f"SLURM_ARRAY_TASK_ID={task} is not on the array's steps of {step}: give --shard K/N")
    position = offset // step
    if not 0 <= position < count:
        raise UsageError(f"SLURM_ARRAY_TASK_ID={task} (min {first}) is outside the array's {count} tasks"
                         " (an array with gaps, e.g. --array=1,5,9?): give --shard K/N")
    return Shard(position + 1, count, "SLURM_ARRAY_TASK_ID")


def _kubernetes(environ: Mapping[str, str], shard_count: int | None, *, need_count: bool = True) -> Shard | None:
    index = _integer(environ, "JOB_COMPLETION_INDEX")
    if index is None:
        return None
    count = shard_count if shard_count is not None else _integer(environ, SHARD_COUNT_VARIABLE)
    if count is None:
        if not need_count:
            return None  # an explicit --shard says what the Job does not
        raise UsageError(f"JOB_COMPLETION_INDEX={index} is set but not the number of shards: give --shard-count N"
                         f" (the Job's completions) or {SHARD_COUNT_VARIABLE}, or --shard none for every input")
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"JOB_COMPLETION_INDEX={index} is outside 0..{count - 1} ({count} shards)")
    return Shard(index + 1, count, "JOB_COMPLETION_INDEX")


def _torchrun(environ: Mapping[str, str]) -> Shard | None:
    rank, world = _integer(environ, "RANK"), _integer(environ, "WORLD_SIZE")
    if rank is None or world is None:
        return None
    if world < 1 or not 0 <= rank < world:
        raise UsageError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world})")
    return Shard(rank + 1, world, "RANK")


def from_environment(environ: Mapping[str, str] | None = None, shard_count: int | None = None, *,
                     need_count: bool = True) -> list[Shard]:
    """Every partition the environment names (Slurm array, Kubernetes index, torchrun), in that order.

    ``shard_count`` (``--shard-count``) is the count of a Kubernetes index; without it and without
    ``FCC_SHARD_COUNT`` an index is an error, or left out when not ``need_count``."""
    environ = os.environ if environ is None else environ
    found = [_slurm(environ), _kubernetes(environ, shard_count, need_count=need_count), _torchrun(environ)]
    return [shard for shard in found if shard is not None]


def resolve_shard(spec: str | None, shard_count: int | None = None,
                  environ: Mapping[str, str] | None = None) -> Shard | None:
    """The partition a process takes: ``--shard`` (checked against the environment), else the
    environment's; None when neither names one, or for ``--shard none``."""
    environ = os.environ if environ is None else environ
    if spec is not None and spec.strip().lower() == NO_SHARD:
        return None
    if shard_count is not None and shard_count < 1:
        raise UsageError(f"--shard-count {shard_count}: give at least 1")
    explicit = parse_shard_spec(spec) if spec is not None else None
    if explicit is None:
        found = from_environment(environ, shard_count)
        if len(found) > 1:
            named = ", ".join(f"{s.source} ({s.label})" for s in found)
            raise UsageError(f"the environment names several partitions: {named}; say which with --shard K/N")
        if not found:
            if shard_count is not None:
                raise UsageError("--shard-count goes with JOB_COMPLETION_INDEX (a Kubernetes Indexed Job);"
                                 " elsewhere give --shard K/N")
            return None
        if shard_count is not None and found[0].count != shard_count:
            raise UsageError(f"--shard-count {shard_count} disagrees with {found[0].source}"
                             f" ({found[0].count} shards)")
        return found[0]
    if shard_count is not None and shard_count != explicit.count:
        raise UsageError(f"--shard {explicit.label} disagrees with --shard-count {shard_count}")
    try:
        found = from_environment(environ, shard_count, need_count=False)
    except UsageError:
        found = []  # a malformed environment: --shard says what it could not
    if len(found) == 1 and found[0].count != explicit.count:
        other = found[0]
        raise UsageError(f"--shard {explicit.label} disagrees with the environment: {other.source} names"
                         f" {other.count} shards ({other.label}); give --shard K/{other.count}, or --shard none")
    return explicit
