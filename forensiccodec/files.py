"""Output files: atomic writes, default output names, and expanding input paths.

Every file the tool writes goes through :func:`atomic_output`: the data lands in a
temporary file beside the target (same directory, so the final ``os.replace`` is atomic)
and only replaces the target once it is complete and fsynced. An interrupted run (an
exception, Ctrl-C) leaves neither a partial target nor a temporary file behind.

An existing file is never replaced unless the caller passes ``overwrite=True`` (the CLI's
``--force``), and :func:`ensure_not_same_file` refuses to write over the input even then.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from forensiccodec.errors import FccError, UsageError

__all__ = [
    "ExpandedInputs",
    "atomic_output",
    "atomic_write_bytes",
    "default_output_path",
    "ensure_not_same_file",
    "expand_inputs",
]


def _check_target(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; use --force to overwrite")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist")


def _create_temp_file(path: Path) -> Path:
    """Create an empty, uniquely named temporary file beside ``path``.

    ``os.open`` with mode 0o666 (not ``tempfile.mkstemp``'s 0o600) so that the final file
    gets the permissions the user's umask gives any new file.
    """
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FccError(f"cannot create a temporary file beside {path}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path`` atomically.

    On any exception inside the block (including ``KeyboardInterrupt``) the temporary file
    is removed, the target is left as it was, and the exception propagates.

    Raises :class:`UsageError` when ``path`` exists and ``overwrite`` is false, or when its
    directory does not exist; :class:`FccError` when the file system refuses the write.
    """
    target = Path(path)
    _check_target(target, overwrite)
    try:
        temp = _create_temp_file(target)
    except OSError as error:
        raise FccError(f"cannot write {target}: {error.strerror or error}") from error
    try:
        yield temp
        _fsync_file(temp)
        # Checked again: the target may have appeared while we were writing.
        if not overwrite and target.exists():
            raise UsageError(f"{target} exists; use --force to overwrite")
        os.replace(temp, target)
    except OSError as error:
        raise FccError(f"cannot write {target}: {error.strerror or error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    _fsync_directory(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite) as temp:
        temp.write_bytes(data)


def ensure_not_same_file(
    input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]
) -> None:
    """Refuse (``UsageError``) an output that is the input file itself, even with --force.

    Compares resolved paths, and inodes when both exist (catches hard links and
    case-insensitive file systems).
    """
    source, target = Path(input_path), Path(output_path)
    same = source.resolve() == target.resolve()
    if not same and source.exists() and target.exists():
        same = os.path.samefile(source, target)
    if same:
        raise UsageError(f"output {target} is the input file; choose another output name")


def default_output_path(
    input_path: str | os.PathLike[str],
    tag: str | None,
    extension: str,
    out_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The output name used when the user gives no ``-o``: beside the input (or in ``out_dir``).

    ``photo.png`` with ``tag=None, extension=".fcc"`` gives ``photo.fcc``;
    ``photo.fcc`` with ``tag="decoded", extension=".png"`` gives ``photo.decoded.png``.
    The extension may be given with or without its leading dot.
    """
    source = Path(input_path)
    suffix = extension if extension.startswith(".") else f".{extension}"
    name = f"{source.stem}.{tag}{suffix}" if tag else f"{source.stem}{suffix}"
    directory = Path(out_dir) if out_dir is not None else source.parent
    return directory / name


class ExpandedInputs(NamedTuple):
    """The files to process, and the paths that could not be used with the reason why."""

    files: list[Path]
    problems: list[tuple[Path, str]]


def _is_hidden(path: Path, root: Path) -> bool:
    """Dot files and dot folders (our own temporary files, macOS ``._`` files...)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _files_in(directory: Path, extensions: set[str], recursive: bool) -> list[Path]:
    candidates = directory.rglob("*") if recursive else directory.iterdir()
    found = [
        path
        for path in candidates
        if path.suffix.lower() in extensions and not _is_hidden(path, directory) and path.is_file()
    ]
    return sorted(found)


def expand_inputs(
    paths: Iterable[str | os.PathLike[str]],
    extensions: Iterable[str],
    *,
    recursive: bool = False,
) -> ExpandedInputs:
    """Turn the paths a user gave into a list of files.

    Files are kept as given (whatever their extension: reading them reports what is
    wrong); a directory contributes its files whose extension (case-insensitive) is one
    of ``extensions``, sorted by name, non-recursively unless ``recursive``; hidden files
    are skipped. A path that does not exist, or a directory with no such files, is
    reported in ``problems`` instead of stopping the batch. Duplicates are kept once.
    """
    wanted = {ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions}
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for given in paths:
        path = Path(given)
        if path.is_dir():
            try:
                found = _files_in(path, wanted, recursive)
            except OSError as error:
                problems.append((path, f"cannot list directory: {error.strerror or error}"))
                continue
            if not found:
                listed = ", ".join(sorted(wanted))
                problems.append((path, f"no files with extension {listed} in directory"))
            for file in found:
                add(file)
        elif path.is_file():
            add(path)
        elif path.exists():
            problems.append((path, "not a regular file"))
        else:
            problems.append((path, "no such file or directory"))
    return ExpandedInputs(files, problems)
