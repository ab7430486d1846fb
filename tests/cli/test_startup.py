"""`fcc --help`, `fcc --version` and `fcc info` start without importing torch (about 1.5 s of a
2-core machine's time): the cli package imports library code inside command bodies only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from forensiccodec.cli import main

# Runs `fcc ARGS` in a fresh interpreter, then says on stderr whether torch was imported.
RUN_FCC = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("\\ntorch imported: %s\\n" % ("torch" in sys.modules)))
{prelude}
from forensiccodec.cli import main
main(sys.argv[1:], prog_name="fcc")
"""
# `codec/bitstream.py` takes `ColorMode` from `images` (which imports torch for its tensors); this
# stands `color_modes` (where `images` gets it from) in for `images`, as if bitstream.py imported that.
BITSTREAM_WITHOUT_IMAGES = """
import forensiccodec.color_modes
sys.modules["forensiccodec.images"] = forensiccodec.color_modes
"""


def _run(*args: str | Path, prelude: str = "", weights_dir: Path | None = None) -> tuple[subprocess.CompletedProcess[str], bool]:
    environment = {**os.environ, "COLUMNS": "200"}
    if weights_dir is not None:
        environment["FCC_WEIGHTS_DIR"] = str(weights_dir)
    process = subprocess.run([sys.executable, "-c", RUN_FCC.format(prelude=prelude), *[str(a) for a in args]],
                             capture_output=True, text=True, timeout=120, env=environment, check=False)
    report = process.stderr.rstrip().splitlines()[-1]
    assert report.startswith("torch imported: "), process.stderr
    return process, report == "torch imported: True"


def test_importing_the_cli_imports_no_library_module() -> None:
    code = ("import sys; from forensiccodec.cli import main; "
            "print(sorted(m.split('.')[0] for m in sys.modules if m.startswith(('torch', 'numpy', 'PIL'))), "
            "sorted(m for m in sys.modules if m.startswith('forensiccodec.') and not m.startswith('forensiccodec.cli')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[] ['forensiccodec.errors']"


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["info", "--help"], ["encode", "--help"]])
def test_help_and_version_import_no_torch(args: list[str]) -> None:
    process, torch_imported = _run(*args)
    assert process.returncode == 0, process.stderr
    assert not torch_imported


def test_a_usage_error_is_one_line_on_stderr_end_to_end() -> None:
    process, torch_imported = _run("encode", "photo.png", "--no-such-option")
    assert process.returncode == 2 and process.stdout == ""
    lines = [line for line in process.stderr.splitlines()[:-1] if line]  # the last line is the torch report
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--no-such-option" in lines[0], process.stderr
    assert not torch_imported


def test_python_m_forensiccodec_is_fcc() -> None:
    process = subprocess.run([sys.executable, "-m", "forensiccodec", "--help"], capture_output=True, text=True, check=False,
                             timeout=120)
    assert process.returncode == 0 and all(name in process.stdout for name in main.commands)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, tiny_weights_dir: Path,
            make_image: Callable[..., Path]) -> Path:
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("info")
    source = make_image(folder / "photo.png", 48, 40)
    result = CliRunner().invoke(main, ["encode", str(source), "--config", "tiny", "-q", "1",
                                       "--weights-dir", str(tiny_weights_dir)])
    assert result.exit_code == 0, result.output
    return folder / "photo.fcc"


def test_info_needs_no_torch_but_for_the_bitstream_module(encoded: Path, tiny_weights_dir: Path) -> None:
    """Everything `fcc info` runs is torch-free except `codec/bitstream.py`'s import of `images`."""
    process, torch_imported = _run("info", encoded, "--json", prelude=BITSTREAM_WITHOUT_IMAGES,
                                   weights_dir=tiny_weights_dir)
    assert process.returncode == 0, process.stderr
    (fields,) = json.loads(process.stdout)
    assert fields["decoded_with"] == "tic-tiny-q1" and fields["color_mode"] == "RGB"
    assert not torch_imported


def test_info_imports_no_torch(encoded: Path, tiny_weights_dir: Path) -> None:
    process, torch_imported = _run("info", encoded, weights_dir=tiny_weights_dir)
    assert process.returncode == 0, process.stderr
    assert "tic-tiny-q1" in process.stdout
    assert not torch_imported
