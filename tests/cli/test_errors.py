"""One error convention for every `fcc` command: ``error: <message>`` on one line and the error's
exit code (`errors.FccError`; 2 for click's own usage errors), never a traceback or a usage block."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from forensiccodec.cli import main

COMMANDS = sorted(main.commands)


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})


def _one_error_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and "Usage:" not in result.output
    return lines[0]


def test_every_command_is_registered_once() -> None:
    assert COMMANDS == [
        "calibrate-detector", "collect-photos", "decode", "demo-data", "detect", "encode", "eval", "eval-codec",
        "import-weights", "info", "register-weights", "roundtrip", "train-adapter", "train-codec", "train-detector",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_one_error_line_and_exit_code_2(command: str) -> None:
    result = _invoke(command, "--no-such-option")
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "No such option" in line and "--no-such-option" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_help_still_shows_usage(command: str) -> None:
    result = _invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["decode"], "Missing argument"),  # a missing argument
        (["train-codec", "-q", "1"], "Missing option '--data'"),  # a missing option
        (["encode", "a.png", "--adapters", "maybe"], "'maybe' is not one of"),  # a bad choice
        (["detect", "a.png", "--patches", "0"], "--patches"),  # a value out of range
        (["roundtrip", "a.png", "-q", "one"], "'one' is not a valid integer"),  # a bad value
        (["train-codec", "--data", ".", "-q", "1", "--time-budget", "soon"], "not a duration"),
        (["no-such-command"], "No such command"),
        (["--no-such-option"], "No such option"),  # the group's own options
    ],
)
def test_click_usage_errors_are_one_line_with_exit_code_2(args: list[str], words: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert words in _one_error_line(result)


def test_errors_of_the_library_keep_their_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    empty = tmp_path / "weights"
    weights = _invoke("calibrate-detector", "--data", tmp_path / "data", "--weights-dir", empty)
    assert weights.exit_code == 4 and "detector" in _one_error_line(weights)  # WeightsError: nothing registered
    rate = _invoke("train-adapter", "--data", tmp_path / "data", "--weights-dir", empty)
    assert rate.exit_code == 2 and "--lambda" in _one_error_line(rate)  # UsageError
    (tmp_path / "garbage.fcc").write_bytes(b"not a .fcc file")
    corrupt = _invoke("info", tmp_path / "garbage.fcc")
    assert corrupt.exit_code == 3 and "garbage.fcc" in _one_error_line(corrupt)  # BitstreamError


def test_no_command_shows_the_help() -> None:
    result = _invoke()
    assert "Usage:" in result.output and "encode" in result.output and "error:" not in result.output


def test_version() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0 and "version" in result.output
