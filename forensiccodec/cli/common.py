"""What every `fcc` command shares: the consoles, the `fcc` group and its error handling, the
batch runner, input expansion, output naming and the option decorators used by several commands.

Imports no library module at load time (no torch, no api, no zoo): the command modules import
what they need inside their bodies, so that `fcc --help`, `fcc --version` and `fcc info` start
fast. Nothing here imports a command module.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from ..errors import FccError, UsageError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
FCC_EXTENSIONS = {".fcc"}
WEIGHTS_DIR_HELP = "weights folder (default: $FCC_WEIGHTS_DIR or the installed weights/)"
USAGE_EXIT_CODE = 2  # UsageError.exit_code: a bad option, argument or value
INTERRUPTED_EXIT_CODE = 130

stdout = Console()
stderr = Console(stderr=True)

# click >= 8.2 raises this (a UsageError) for a group called without a command: it shows the help
_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def report_error(message: str, exit_code: int) -> NoReturn:
    """Print ``error: message`` (one line, on stderr) and exit with ``exit_code``."""
    stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn FccError, click's usage errors and Ctrl-C into one line and an exit code, never a traceback."""
    try:
        yield
    except FccError as error:
        report_error(str(error), error.exit_code)
    except _NO_ARGS_IS_HELP:
        raise
    except click.ClickException as error:  # a bad option, a missing argument, a bad choice or value
        report_error(error.format_message(), error.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(INTERRUPTED_EXIT_CODE)


class FccGroup(click.Group):
    """The `fcc` group: every command's errors come out as ``error: <message>`` and the error's exit
    code (`errors.FccError`; 2 for click's usage errors), never a traceback or a usage block."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        with one_line_errors():  # the group's own options (`fcc --no-such-option`)
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():  # the command's name, its options and arguments, and its body
            return super().invoke(ctx)


@click.group(cls=FccGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forensiccodec")
def main() -> None:
    """forensiccodec: a learned image codec whose decoded images keep deepfake detectors working."""


# --- options shared by several commands ---------------------------------------------------------


def weights_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                        help=WEIGHTS_DIR_HELP)(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="machine-readable output")(func)


def progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--progress/--no-progress", default=True, show_default=True,
                        help="a live progress bar (off for logs)")(func)


def rate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--lambda``, ``-q/--quality`` (its alias) and ``--config``: which codec codes."""
    func = click.option("--config", "config_name", default="small", show_default=True, help="model configuration (small, paper)")(func)
    func = click.option("--quality", "-q", type=int, default=None, help="alias of --lambda: 1 (lowest rate) .. 4")(func)
    func = click.option("--lambda", "lmbda", type=float, default=None, help="rate point: 0.02, 0.03, 0.045 (default), 0.07")(func)
    return func


SHARD_HELP = ("process only part K of N of the inputs (K from 1 to N; a file's part depends on its path alone);"
              " default: from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or torchrun's RANK; 'none': every input")


def shard_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--shard K/N`` and ``--shard-count N`` (`forensiccodec.sharding`)."""
    func = click.option("--shard-count", type=int, default=None, metavar="N",
                        help="the number of shards of a Kubernetes Indexed Job's JOB_COMPLETION_INDEX"
                             " (default: $FCC_SHARD_COUNT)")(func)
    func = click.option("--shard", "shard_spec", default=None, metavar="K/N", help=SHARD_HELP)(func)
    return func


def recipe_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--recipe NAME|FILE``: a training recipe (`train.recipe`) gives the command's options their
    defaults; what the command line gives still wins. Processed first (eager), so the defaults
    are in place before the other options are read."""

    def apply(ctx: click.Context, param: click.Parameter, value: str) -> str:
        from ..train.recipe import load_recipe

        settings = load_recipe(value, ctx.info_name or "")
        names = {opt.lstrip("-").replace("-", "_"): p.name for p in ctx.command.params for opt in p.opts}
        unknown = sorted(key for key in settings if key not in names)
        if unknown:
            raise UsageError(f"--recipe {value}: {ctx.info_name} has no option {', '.join(unknown)}")
        ctx.default_map = {**(ctx.default_map or {}), **{names[key]: v for key, v in settings.items()}}
        return value

    return click.option(
        "--recipe", default="paper", show_default=True, is_eager=True, expose_value=False, callback=apply,
        metavar="NAME|FILE", help="experiment settings from a TOML recipe (docs/training.md); the command line wins",
    )(func)


class LibraryChoice(click.Choice):
    """A choice among the values of a library constant, imported when first needed (to parse or
    to show help), so that defining the command imports no library module."""

    def __init__(self, module: str, name: str) -> None:
        self._source = (module, name)
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        module, name = self._source
        return tuple(getattr(importlib.import_module(module), name))

    @choices.setter
    def choices(self, value: Any) -> None:  # click.Choice.__init__ assigns it
        pass


class Duration(click.ParamType):
    """``--time-budget``: a duration as ``2h``, ``90m``, ``1h30m``, ``45s`` or seconds (`train.time_budget`)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from ..train.time_budget import parse_duration

        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except UsageError as error:
            self.fail(str(error), param, ctx)


# --- inputs, outputs and batches ----------------------------------------------------------------


def expand(paths: Iterable[str], extensions: set[str], recursive: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files named or found in folders, and the problems with the rest."""
    from ..files import expand_inputs

    expanded = expand_inputs(list(paths), extensions, recursive=recursive)
    return expanded.files, expanded.problems


def take_shard(
    shard_spec: str | None,
    shard_count: int | None,
    inputs: Iterable[str],
    files: list[Path],
    problems: list[tuple[Path, str]],
    *,
    as_json: bool,
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """This process's part of the inputs (all of them when no shard is named or found), and its
    problems; says on stderr which part it took. A shard left with nothing to do ends the command
    here (``[]`` with ``--json``, exit code 0): the other shards have the inputs."""
    from ..sharding import input_key, resolve_shard

    shard = resolve_shard(shard_spec, shard_count)
    if shard is None:
        return files, problems
    roots = [Path(given) for given in inputs if Path(given).is_dir()]
    taken = shard.select((input_key(path, roots), path) for path in files)
    taken_problems = shard.select((input_key(path, roots), (path, reason)) for path, reason in problems)
    stderr.print(shard.describe(len(taken), len(files)), highlight=False, soft_wrap=True, markup=False)
    if not taken and not taken_problems:
        if as_json:
            click.echo("[]")
        click.get_current_context().exit(0)
    return taken, taken_problems


def output_for(input_path: Path, output: Path | None, many: bool, tag: str | None, extension: str) -> Path:
    """Where one input's result goes: ``-o`` itself, a file in the ``-o`` folder, or beside the input."""
    from ..files import default_output_path

    if output is None:
        return default_output_path(input_path, tag, extension)
    if many or output.is_dir():
        return default_output_path(input_path, tag, extension, out_dir=output)
    return output


def run_batch(
    files: list[Path],
    problems: list[tuple[Path, str]],
    work: Callable[[Path], Any],
    *,
    as_json: bool,
    describe: str,
    render: Callable[[list[Any]], None] | None = None,
    tiles: bool = False,
    summarise: Callable[[list[Any]], Any] | None = None,
) -> list[tuple[Path, Any]]:
    """Run work() on every file with a progress bar; report per-file errors, then render the results.

    With ``--json`` the output is a list: one record per file that worked, then one per failure
    (``{"input", "error"}``), then what ``summarise(results)`` returns, if anything (a record
    over the whole batch, e.g. ``{"summary": ...}``).

    With ``tiles``, work is called as ``work(path, on_tile)``; a large image coded in tiles calls
    ``on_tile(done, total)`` after each, which a second bar shows (on a terminal only).
    The results of the files that worked are shown even when others failed. The exit code is the
    failures' own (e.g. 3 for a corrupt stream) when they all share one, else 1.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    results: list[tuple[Path, Any]] = []
    failures = [(path, message, 1) for path, message in problems]
    on_terminal = not as_json and stderr.is_terminal
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not on_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(describe, total=len(files), visible=len(files) > 1)
        for path in files:
            progress.update(task, description=f"{describe} {escape(path.name)}")
            tile_task = progress.add_task(f"  tiles of {escape(path.name)}", total=None, visible=False)

            def on_tile(done: int, total: int, tile_task: Any = tile_task) -> None:
                progress.update(tile_task, completed=done, total=total, visible=True)

            try:
                results.append((path, work(path, on_tile) if tiles else work(path)))
            except FccError as error:
                failures.append((path, str(error), error.exit_code))
            progress.remove_task(tile_task)
            progress.advance(task)
    for path, message, _ in failures:
        text = message if message.startswith(str(path)) else f"{path}: {message}"
        stderr.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)
    if not files and not failures:
        raise UsageError("no input files")
    if as_json:
        payload = [r.to_json() if hasattr(r, "to_json") else r for _, r in results]
        payload += [{"input": str(p), "error": m} for p, m, _ in failures]
        summary = summarise([r for _, r in results]) if summarise is not None else None
        if summary is not None:
            payload.append(summary)
        click.echo(json.dumps(payload, indent=2))
    elif render is not None and results:
        render([r for _, r in results])
    if failures:
        codes = {code for _, _, code in failures}
        sys.exit(codes.pop() if len(codes) == 1 else 1)
    return results
