"""Tests for forensiccodec.files: atomic writes, output names, input expansion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from forensiccodec.errors import FccError, UsageError
from forensiccodec.files import (
    atomic_output,
    atomic_write_bytes,
    default_output_path,
    ensure_not_same_file,
    expand_inputs,
)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_creates_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.fcc"
    atomic_write_bytes(target, b"abc", overwrite=False)
    assert target.read_bytes() == b"abc"
    assert _leftovers(tmp_path) == []


def test_temp_file_is_beside_target_and_hidden(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path
        assert temp.name.startswith(".out.png.") and temp.name.endswith(".tmp")
        assert temp.exists()
        assert not target.exists()
        temp.write_bytes(b"x")
    assert target.read_bytes() == b"x"


def test_final_file_gets_umask_permissions_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a", b"", overwrite=False)
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_inside_block_leaves_nothing(tmp_path: Path, exception: BaseException) -> None:
    target = tmp_path / "out.png"
    with pytest.raises(type(exception)), atomic_output(target) as temp:
        temp.write_bytes(b"partial")
        raise exception
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_exception_keeps_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=True) as temp:
        temp.write_bytes(b"new")
        raise RuntimeError
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.fcc"
    target.write_bytes(b"old")
    with pytest.raises(UsageError, match="exists; use --force to overwrite"):
        atomic_write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old"
    atomic_write_bytes(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_target_created_during_write_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.fcc"
    with pytest.raises(UsageError, match="exists"), atomic_output(target) as temp:
        temp.write_bytes(b"new")
        target.write_bytes(b"someone else")
    assert target.read_bytes() == b"someone else"
    assert _leftovers(tmp_path) == []


def test_missing_directory_and_directory_target_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "out.fcc", b"", overwrite=False)
    with pytest.raises(UsageError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"", overwrite=True)


def test_file_system_failure_is_fcc_error_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(FccError, match="cannot write .*No space left on device"):
        atomic_write_bytes(tmp_path / "out.fcc", b"abc", overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_ensure_not_same_file(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(b"x")
    with pytest.raises(UsageError, match="is the input file"):
        ensure_not_same_file(source, tmp_path / "." / "photo.png")
    link = tmp_path / "hardlink.png"
    os.link(source, link)
    with pytest.raises(UsageError):
        ensure_not_same_file(source, link)
    ensure_not_same_file(source, tmp_path / "photo.decoded.png")


def test_default_output_path(tmp_path: Path) -> None:
    assert default_output_path(Path("dir/photo.png"), None, ".fcc") == Path("dir/photo.fcc")
    assert default_output_path(Path("photo.fcc"), "decoded", "png") == Path("photo.decoded.png")
    assert default_output_path(Path("a/photo.fcc"), "forensic", ".png", out_dir=tmp_path) == (
        tmp_path / "photo.forensic.png"
    )
    assert default_output_path(Path("my.photo.jpg"), None, ".fcc") == Path("my.photo.fcc")


def test_expand_inputs(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "c.txt", ".hidden.png", "sub/d.png"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    given_file = tmp_path / "c.txt"
    missing = tmp_path / "missing.png"
    files, problems = expand_inputs(
        [tmp_path, given_file, missing, tmp_path / "b.png"], {".png", "jpg"}
    )
    assert files == [tmp_path / "a.JPG", tmp_path / "b.png", given_file]
    assert problems == [(missing, "no such file or directory")]

    files, _ = expand_inputs([tmp_path], {".png"}, recursive=True)
    assert files == [tmp_path / "b.png", tmp_path / "sub" / "d.png"]


def test_expand_inputs_reports_directory_without_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"")
    files, problems = expand_inputs([tmp_path], {".png"})
    assert files == []
    assert len(problems) == 1 and problems[0][0] == tmp_path and ".png" in problems[0][1]
