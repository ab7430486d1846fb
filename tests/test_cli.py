"""End-to-end tests of the `fcc` command line on the untrained `tiny` codec.

Most run the Click group in-process (CliRunner, $FCC_WEIGHTS_DIR set to a session registry);
a few run a real process to check exit codes and stderr as a user sees them.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from adapter_weights import export_adapted_registry
from conftest import write_image
from PIL import Image

from forensiccodec.codec.bitstream import read_fcc

# ------------------------------------------------------------------------------- helpers


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def png_ihdr(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) straight from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour_type


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted atomic write could leave (dot files)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def assert_clean_failure(result, *, expect_in: str, exit_code: int | None = None) -> None:
    """Non-zero exit through SystemExit, one error line that says expect_in, no traceback."""
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error:"), errors
    assert expect_in in errors[0], errors
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("width", "height", "mode"),
    [(1, 1, "RGB"), (17, 33, "RGB"), (65, 130, "RGB"), (17, 33, "L"), (33, 17, "RGBA"), (31, 9, "I;16")],
)
def test_encode_decode_round_trip_keeps_size_and_mode(tmp_path, fcc, make_image, width, height, mode):
    source = make_image(tmp_path / "photo.png", width, height, mode)
    encoded = fcc("encode", source, "--config", "tiny", "-q", "1")
    assert encoded.exit_code == 0, encoded.output
    assert (tmp_path / "photo.fcc").is_file()  # default name beside the input
    decoded = fcc("decode", tmp_path / "photo.fcc")
    assert decoded.exit_code == 0, decoded.output
    output = tmp_path / "photo.decoded.png"
    out_width, out_height, depth, colour_type = png_ihdr(output)
    assert (out_width, out_height) == (width, height)
    expected = {"RGB": (8, 2), "L": (8, 0), "RGBA": (8, 2), "I;16": (16, 0)}[mode]
    assert (depth, colour_type) == expected  # gray stays single-channel, 16-bit stays 16-bit, alpha is dropped
    with Image.open(output) as image:
        image.load()
        assert image.size == (width, height)
    if mode == "RGBA":
        assert "alpha" in encoded.stderr and "note:" in encoded.stderr
        assert "alpha" in decoded.stderr
    else:
        assert "alpha" not in encoded.stderr + decoded.stderr


def test_weights_dir_option_overrides_the_environment(tmp_path, fcc, make_image, tiny_weights_dir):
    source = make_image(tmp_path / "a.png", 8, 8)
    empty = tmp_path / "no-weights"
    empty.mkdir()
    missing = fcc("encode", source, "--config", "tiny", "-q", "1", env={"FCC_WEIGHTS_DIR": str(empty)})
    assert_clean_failure(missing, expect_in="no tiny codec weights for quality 1", exit_code=4)
    found = fcc("encode", source, "--config", "tiny", "-q", "1", "--weights-dir", tiny_weights_dir,
                env={"FCC_WEIGHTS_DIR": str(empty)})
    assert found.exit_code == 0, found.output
    assert (tmp_path / "a.fcc").is_file()


def test_unknown_configuration_is_refused(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 8, 8)
    result = fcc("encode", source, "--config", "huge")
    assert_clean_failure(result, expect_in="unknown configuration 'huge'", exit_code=2)
    assert not (tmp_path / "a.fcc").exists()


def test_missing_weights_for_a_configuration_lists_what_is_available(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 8, 8)
    result = fcc("encode", source, "--config", "small", "-q", "2")
    assert_clean_failure(result, expect_in="available: tiny q1, tiny q2, tiny q3, tiny q4", exit_code=4)


# ------------------------------------------------------------------------------- rate points


@pytest.mark.parametrize(("option", "value", "quality", "lmbda"), [
    ("--lambda", "0.02", 1, 0.02),
    ("--lambda", "0.07", 4, 0.07),
    ("--quality", "2", 2, 0.03),
    ("-q", "3", 3, 0.045),
])
def test_rate_point_options_select_the_quality(tmp_path, fcc, make_image, option, value, quality, lmbda):
    source = make_image(tmp_path / "a.png", 5, 3)
    result = fcc("encode", source, "--config", "tiny", option, value, "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert (report["quality"], report["lmbda"]) == (quality, lmbda)
    info = json.loads(fcc("info", tmp_path / "a.fcc", "--json").stdout)[0]
    assert (info["quality"], info["lambda"]) == (quality, lmbda)


def test_default_rate_point_is_lambda_0045(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 5, 3)
    result = fcc("encode", source, "--config", "tiny", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["lmbda"] == 0.045


def test_unknown_lambda_lists_the_valid_ones(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 5, 3)
    result = fcc("encode", source, "--config", "tiny", "--lambda", "0.05")
    assert_clean_failure(result, expect_in="0.02, 0.03, 0.045, 0.07", exit_code=2)
    assert "0.05" in result.stderr
    assert not (tmp_path / "a.fcc").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--lambda", "0.02", "--quality", "4"), "--lambda 0.02 is quality 1, but --quality 4"),
    (("--quality", "5"), "unknown quality 5"),
    (("--quality", "0"), "unknown quality 0"),
])
def test_invalid_rate_options_are_refused(tmp_path, fcc, make_image, args, message):
    source = make_image(tmp_path / "a.png", 5, 3)
    result = fcc("encode", source, "--config", "tiny", *args)
    assert_clean_failure(result, expect_in=message, exit_code=2)
    assert not (tmp_path / "a.fcc").exists()


def test_agreeing_lambda_and_quality_are_accepted(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 5, 3)
    result = fcc("encode", source, "--config", "tiny", "--lambda", "0.03", "--quality", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["quality"] == 2


# ------------------------------------------------------------------------------- output files


def test_explicit_output_names(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "in.png", 9, 7)
    assert fcc("encode", source, "-o", tmp_path / "x.fcc", "--config", "tiny", "-q", "1").exit_code == 0
    assert fcc("decode", tmp_path / "x.fcc", "-o", tmp_path / "y.png").exit_code == 0
    assert png_ihdr(tmp_path / "y.png")[:2] == (9, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "x.fcc", "y.png"]


def test_existing_output_is_not_overwritten_without_force(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "photo.png", 9, 7)
    existing = tmp_path / "photo.fcc"
    existing.write_bytes(b"precious")
    refused = fcc("encode", source, "--config", "tiny", "-q", "1")
    assert refused.exit_code != 0
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert existing.read_bytes() == b"precious"
    forced = fcc("encode", source, "--config", "tiny", "-q", "1", "--force")
    assert forced.exit_code == 0, forced.output
    assert existing.read_bytes()[:4] == b"\x89FCC"

    decoded = tmp_path / "photo.decoded.png"
    decoded.write_bytes(b"also precious")
    refused = fcc("decode", existing)
    assert refused.exit_code != 0 and "exists" in refused.stderr
    assert decoded.read_bytes() == b"also precious"
    assert fcc("decode", existing, "--force").exit_code == 0
    assert png_ihdr(decoded)[:2] == (9, 7)
    assert leftovers(tmp_path) == []


def test_input_is_never_overwritten_even_with_force(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "photo.png", 9, 7)
    original = source.read_bytes()
    result = fcc("encode", source, "-o", source, "--force", "--config", "tiny", "-q", "1")
    assert_clean_failure(result, expect_in="is the input file")
    assert source.read_bytes() == original

    assert fcc("encode", source, "--config", "tiny", "-q", "1").exit_code == 0
    stream = tmp_path / "photo.fcc"
    stream_bytes = stream.read_bytes()
    result = fcc("decode", stream, "-o", stream, "--force")
    assert_clean_failure(result, expect_in="is the input file")
    assert stream.read_bytes() == stream_bytes


def test_several_inputs_go_to_an_output_folder(tmp_path, fcc, make_image):
    first = make_image(tmp_path / "one.png", 6, 6, seed=1)
    second = make_image(tmp_path / "two.png", 7, 5, seed=2)
    out = tmp_path / "out"
    result = fcc("encode", first, second, "-o", out, "--config", "tiny", "-q", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["one.fcc", "two.fcc"]
    decoded = fcc("decode", out, "-o", tmp_path / "png")
    assert decoded.exit_code == 0, decoded.output
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["one.decoded.png", "two.decoded.png"]


# ------------------------------------------------------------------------------- batches


@pytest.fixture
def mixed_folder(tmp_path, make_image) -> Path:
    """Two good images, a text file named bad.png and a truncated PNG."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    make_image(folder / "good1.png", 12, 10, seed=1)
    make_image(folder / "good2.png", 10, 12, seed=2)
    (folder / "bad.png").write_text("this is not an image\n")
    whole = make_image(tmp_path / "whole.png", 80, 80, seed=3).read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    return folder


def test_batch_encodes_good_files_and_reports_each_bad_one(mixed_folder, fcc):
    result = fcc("encode", mixed_folder, "--config", "tiny", "-q", "1")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert (mixed_folder / "good1.fcc").is_file() and (mixed_folder / "good2.fcc").is_file()
    assert not (mixed_folder / "bad.fcc").exists() and not (mixed_folder / "truncated.fcc").exists()
    errors = lines(result.stderr)
    assert len(errors) == 2, result.stderr
    assert any("bad.png" in e for e in errors) and any("truncated.png" in e for e in errors)
    assert all(e.startswith("error:") for e in errors)
    assert "12x10" in result.stdout and "10x12" in result.stdout  # the good ones' rows in the report table


def test_batch_json_lists_results_and_errors(mixed_folder, tmp_path, fcc):
    out = tmp_path / "out"
    result = fcc("encode", mixed_folder, "-o", out, "--config", "tiny", "-q", "1", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    by_input = {Path(entry["input"]).name: entry for entry in payload}
    assert set(by_input) == {"good1.png", "good2.png", "bad.png", "truncated.png"}
    for name in ("good1.png", "good2.png"):
        assert "error" not in by_input[name]
        assert Path(by_input[name]["output"]).is_file()
        assert by_input[name]["file_bytes"] == Path(by_input[name]["output"]).stat().st_size
    for name in ("bad.png", "truncated.png"):
        message = by_input[name]["error"]
        assert message and "\n" not in message and name in message
    assert sorted(p.name for p in out.iterdir()) == ["good1.fcc", "good2.fcc"]


def test_missing_input_is_reported_and_the_batch_goes_on(tmp_path, fcc, make_image):
    good = make_image(tmp_path / "good.png", 6, 6)
    result = fcc("encode", tmp_path / "nope.png", good, "--config", "tiny", "-q", "1")
    assert result.exit_code == 1
    assert (tmp_path / "good.fcc").is_file()
    assert any("nope.png" in line for line in lines(result.stderr))


def test_markup_like_file_names_are_printed_verbatim(tmp_path, fcc):
    """Paths are data, not rich markup: brackets must neither vanish nor crash the CLI."""
    strange = tmp_path / "x[bold]y[red].png"
    strange.write_text("not an image")
    result = fcc("encode", strange, "--config", "tiny", "-q", "1")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "x[bold]y[red].png" in result.stderr


# ------------------------------------------------------------------------------- info


@pytest.fixture
def encoded_photo(tmp_path, fcc, make_image) -> Path:
    source = make_image(tmp_path / "photo.png", 17, 33)
    assert fcc("encode", source, "--config", "tiny", "--lambda", "0.03").exit_code == 0
    return tmp_path / "photo.fcc"


def test_info_shows_the_header_fields(encoded_photo, fcc):
    result = fcc("info", encoded_photo)
    assert result.exit_code == 0, result.output
    for text in ("model", "tic-tiny", "quality", "lambda", "0.0300", "width", "17", "height", "33",
                 "hyperprior_bytes", "latent_bytes", "file_bytes", str(encoded_photo.stat().st_size), "bpp"):
        assert text in result.stdout, text


def test_info_json_is_consistent_with_the_file(encoded_photo, fcc):
    result = fcc("info", encoded_photo, "--json")
    assert result.exit_code == 0, result.output
    (info,) = json.loads(result.stdout)
    size = encoded_photo.stat().st_size
    assert info["model"] == "tic-tiny" and info["quality"] == 2 and info["lambda"] == 0.03
    assert (info["width"], info["height"]) == (17, 33)
    assert info["color_mode"] == "RGB" and info["bit_depth"] == 8
    assert info["format_version"] == "1.0"
    assert info["file_bytes"] == size
    assert info["header_bytes"] + info["hyperprior_bytes"] + info["latent_bytes"] == size
    assert info["hyperprior_bytes"] > 0 and info["latent_bytes"] > 0
    assert info["bpp"] == pytest.approx(8 * size / (17 * 33))
    assert info["z_shape"] == [16, 1, 1] and info["y_shape"] == [24, 4, 4]
    assert len(info["weights_fingerprint"]) == 16


def test_info_on_a_non_fcc_file_is_a_clean_error(tmp_path, fcc):
    fake = tmp_path / "fake.fcc"
    fake.write_bytes(b"hello world, not a stream")
    result = fcc("info", fake)
    assert_clean_failure(result, expect_in="fake.fcc")
    assert "bad magic" in result.stderr


# ------------------------------------------------------------------------------- corrupt streams


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture
def corrupt_streams(tmp_path, fcc, make_image, tiny_weights_dir) -> dict[str, Path]:
    """A valid photo.fcc and one corrupt copy per kind of damage (all encoded at quality 1)."""
    source = make_image(tmp_path / "photo.png", 20, 12)
    assert fcc("encode", source, "--config", "tiny", "-q", "1").exit_code == 0
    valid = (tmp_path / "photo.fcc").read_bytes()
    folder = tmp_path / "corrupt"
    folder.mkdir()
    version = bytearray(valid[:-4])
    version[8] = 2  # the major version byte right after the magic
    flipped = bytearray(valid)
    flipped[-6] ^= 0x10  # inside the latent stream, before the CRC
    damaged = {
        "magic.fcc": b"GIF89a" + valid[6:],
        "truncated.fcc": valid[: len(valid) // 2],
        "crc.fcc": bytes(flipped),
        "version.fcc": _with_crc(bytes(version)),
    }
    paths = {}
    for name, data in damaged.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


@pytest.mark.parametrize(("name", "message", "exit_code"), [
    ("magic.fcc", "not an .fcc file (bad magic)", 3),
    ("truncated.fcc", "truncated .fcc file", 3),
    ("crc.fcc", "CRC mismatch", 3),
    ("version.fcc", "unsupported .fcc format version 2.0", 3),
])
def test_corrupt_stream_is_refused_cleanly(corrupt_streams, fcc, name, message, exit_code):
    path = corrupt_streams[name]
    result = fcc("decode", path)
    assert_clean_failure(result, expect_in=message, exit_code=exit_code)
    assert name in result.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(corrupt_streams)  # nothing written


def test_weights_fingerprint_mismatch_is_refused(corrupt_streams, fcc, other_weights_dir):
    valid = corrupt_streams["magic.fcc"].parent.parent / "photo.fcc"
    result = fcc("decode", valid, "--weights-dir", other_weights_dir)
    assert_clean_failure(result, expect_in="decoding would give a wrong image", exit_code=4)
    assert "photo.fcc" in result.stderr
    assert not (valid.parent / "photo.decoded.png").exists()
    assert leftovers(valid.parent) == []


def test_corrupt_streams_in_a_real_process(corrupt_streams, other_weights_dir, fcc_process):
    """All damages at once through `python -m forensiccodec`: one line each, no traceback, no output."""
    valid = corrupt_streams["magic.fcc"].parent.parent / "photo.fcc"
    mismatch = corrupt_streams["magic.fcc"].parent / "mismatch.fcc"
    shutil.copy(valid, mismatch)
    process = fcc_process("decode", *corrupt_streams.values(), mismatch, weights_dir=other_weights_dir)
    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr + process.stdout
    errors = lines(process.stderr)
    assert len(errors) == 5, process.stderr
    for name in [*corrupt_streams, "mismatch.fcc"]:
        assert sum(name in line for line in errors) == 1, (name, errors)
    assert not list(mismatch.parent.glob("*.png")) and leftovers(mismatch.parent) == []


def test_unknown_lambda_in_a_real_process(tmp_path, make_image, fcc_process, tiny_weights_dir):
    source = make_image(tmp_path / "a.png", 4, 4)
    process = fcc_process("encode", source, "--config", "tiny", "--lambda", "0.5", weights_dir=tiny_weights_dir)
    assert process.returncode == 2
    assert lines(process.stderr) == [
        "error: unknown --lambda 0.5; valid values are 0.02, 0.03, 0.045, 0.07 (lowest to highest rate)"
    ]
    assert not (tmp_path / "a.fcc").exists()


def test_sha256_mismatch_of_the_weights_is_refused(tmp_path, fcc, make_image, tiny_weights_dir):
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights_dir, weights)
    target = weights / "tic-tiny-q3.safetensors"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    source = make_image(tmp_path / "a.png", 4, 4)
    result = fcc("encode", source, "--config", "tiny", "-q", "3", "--weights-dir", weights)
    assert_clean_failure(result, expect_in="does not match the manifest", exit_code=4)
    assert not (tmp_path / "a.fcc").exists()
    # the other qualities of the same folder still work
    assert fcc("encode", source, "--config", "tiny", "-q", "2", "--weights-dir", weights).exit_code == 0


# ------------------------------------------------------------------------------- Ctrl-C and atomicity


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_interrupt_before_the_write_leaves_no_output(tmp_path, fcc, make_image, monkeypatch):
    import forensiccodec.api

    source = make_image(tmp_path / "photo.png", 9, 9)
    monkeypatch.setattr(forensiccodec.api, "write_fcc", _interrupt)
    result = fcc("encode", source, "--config", "tiny", "-q", "1")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_interrupt_during_the_write_leaves_no_partial_file(tmp_path, fcc, make_image, monkeypatch, command):
    """Ctrl-C after the data reached the temporary file, before the rename: no target, no temp file."""
    import forensiccodec.files

    source = make_image(tmp_path / "photo.png", 9, 9)
    assert fcc("encode", source, "--config", "tiny", "-q", "1").exit_code == 0
    target = tmp_path / ("photo.fcc" if command == "encode" else "photo.decoded.png")
    if command == "encode":
        target.write_bytes(b"old")  # replaced only by a complete file, so it must survive
    written: list[int] = []

    def interrupt_after_write(path):
        written.append(Path(path).stat().st_size)
        raise KeyboardInterrupt

    monkeypatch.setattr(forensiccodec.files, "_fsync_file", interrupt_after_write)
    args = ("encode", source, "--config", "tiny", "-q", "1", "--force") if command == "encode" \
        else ("decode", tmp_path / "photo.fcc")
    result = fcc(*args)
    assert result.exit_code == 130, result.output
    assert written and written[0] > 0  # the interruption really hit a written temporary file
    assert leftovers(tmp_path) == []
    if command == "encode":
        assert target.read_bytes() == b"old"
    else:
        assert not target.exists()


def test_missing_forensic_adapters_are_refused_naming_the_training_command(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "a.png", 4, 4)
    assert fcc("encode", source, "--config", "tiny", "-q", "1").exit_code == 0
    result = fcc("decode", tmp_path / "a.fcc", "--adapters", "forensic")
    assert_clean_failure(result, expect_in="fcc train-adapter", exit_code=4)
    assert not (tmp_path / "a.forensic.png").exists()
    result = fcc("encode", source, "--config", "tiny", "-q", "1", "--adapters", "forensic", "-o", tmp_path / "b.fcc")
    assert_clean_failure(result, expect_in="--placement paper", exit_code=4)
    assert not (tmp_path / "b.fcc").exists()


# ------------------------------------------------------------------------------- the four adapter combinations


@pytest.fixture(scope="module")
def adapted_weights_dir(tmp_path_factory) -> Path:
    return export_adapted_registry(tmp_path_factory.mktemp("adapted-weights"))


@pytest.fixture(scope="module")
def cli_combinations(tmp_path_factory, adapted_weights_dir) -> dict[str, Path]:
    """Every `fcc encode --adapters E` + `fcc decode --adapters D` output, and the decode notes."""
    from click.testing import CliRunner

    from forensiccodec.cli import main

    folder = tmp_path_factory.mktemp("cli-combinations")
    source = write_image(folder / "photo.png", 60, 50)
    runner = CliRunner()
    env = {"FCC_WEIGHTS_DIR": str(adapted_weights_dir), "COLUMNS": "200"}
    outputs: dict[str, Any] = {"original": source}
    for encode in ("none", "forensic"):
        outputs[encode] = folder / f"{encode}.fcc"
        result = runner.invoke(main, ["encode", str(source), "--config", "tiny", "-q", "1", "--adapters", encode,
                                      "-o", str(outputs[encode])], env=env)
        assert result.exit_code == 0, result.output
        outputs[f"{encode} notes"] = result.stderr
        for decode in ("none", "forensic"):
            name = f"{encode}+{decode}"
            outputs[name] = folder / f"{name}.png"
            result = runner.invoke(main, ["decode", str(outputs[encode]), "--adapters", decode, "-o", str(outputs[name]),
                                          "--json"], env=env)
            assert result.exit_code == 0, result.output
            (outputs[f"{name} report"],) = json.loads(result.stdout)
    return outputs


def test_cli_adapters_none_is_the_base_codec(tmp_path, fcc, cli_combinations):
    assert fcc("encode", cli_combinations["original"], "--config", "tiny", "-q", "1", "-o", tmp_path / "b.fcc").exit_code == 0
    assert fcc("decode", tmp_path / "b.fcc", "-o", tmp_path / "b.png").exit_code == 0
    ours, base = read_fcc(cli_combinations["none"].read_bytes()), read_fcc((tmp_path / "b.fcc").read_bytes())
    assert (ours.z_stream, ours.y_stream) == (base.z_stream, base.y_stream)
    assert cli_combinations["none+none"].read_bytes() == (tmp_path / "b.png").read_bytes()


def test_cli_every_combination_decodes_with_the_right_weights(cli_combinations):
    expected = {
        "none+none": "tic-tiny-q1",
        "none+forensic": "tic-tiny-q1 + sfma-tiny-q1-decoder",
        "forensic+forensic": "tic-tiny-q1 + sfma-tiny-q1-paper",
        "forensic+none": "tic-tiny-q1",
    }
    images = {name: cli_combinations[name].read_bytes() for name in expected}
    assert len(set(images.values())) == 4  # four different reconstructions
    for name, weights in expected.items():
        report = cli_combinations[f"{name} report"]
        assert report["weights"] == weights and report["encoder_adapters"] == name.startswith("forensic")
        assert png_ihdr(cli_combinations[name])[:2] == (60, 50)
    assert any("neither fidelity" in note for note in cli_combinations["forensic+none report"]["notes"])
    assert "--adapters forensic" in cli_combinations["forensic notes"]
    assert cli_combinations["none notes"] == ""


def test_cli_info_shows_the_encoder_adapters(cli_combinations, fcc):
    for name, flag in (("none", "no (the base"), ("forensic", "yes (forensic encoder adapters")):
        result = fcc("info", cli_combinations[name])
        assert result.exit_code == 0 and "encoder_adapters" in result.stdout and flag in result.stdout, result.output


def test_cli_finetuned_codec_round_trip(tmp_path, cli_combinations, adapted_weights_dir, fcc):
    env = {"FCC_WEIGHTS_DIR": str(adapted_weights_dir)}
    result = fcc("encode", cli_combinations["original"], "--config", "tiny", "-q", "1", "--codec", "finetuned",
                 "-o", tmp_path / "ft.fcc", env=env)
    assert result.exit_code == 0, result.output
    assert read_fcc((tmp_path / "ft.fcc").read_bytes()).header.model_name == "tic-tiny-ft"
    result = fcc("decode", tmp_path / "ft.fcc", "-o", tmp_path / "ft.png", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["weights"] == "tic-tiny-ft-q1"
    result = fcc("encode", cli_combinations["original"], "--config", "tiny", "-q", "1", "--codec", "finetuned",
                 "--adapters", "forensic", "-o", tmp_path / "x.fcc", env=env)
    assert_clean_failure(result, expect_in="fine-tuned codec has no adapters", exit_code=2)
    result = fcc("encode", cli_combinations["original"], "--config", "tiny", "-q", "1", "--codec", "finetuned",
                 "-o", tmp_path / "y.fcc")  # the tiny registry has no fine-tuned codec
    assert_clean_failure(result, expect_in="fcc train-adapter --placement full", exit_code=4)


def test_decode_help_explains_the_four_combinations(fcc):
    result = fcc("decode", "--help")
    assert result.exit_code == 0
    for text in ("none     + none", "forensic + none      the base decoder", "viewable", "fcc train-adapter"):
        assert text in result.stdout, text
    assert "--codec" in fcc("encode", "--help").stdout


# ------------------------------------------------------------------------------- roundtrip command


def test_roundtrip_command_reports_psnr(tmp_path, fcc, make_image):
    source = make_image(tmp_path / "photo.png", 20, 20)
    out = tmp_path / "rt"
    result = fcc("roundtrip", source, "-o", out, "--config", "tiny", "-q", "2", "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["encode"]["quality"] == 2 and report["decode"]["width"] == 20
    assert isinstance(report["psnr"], float) and report["psnr"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["photo.q2.decoded.png", "photo.q2.fcc"]


def test_import_weights_adapters_needs_a_quality(tmp_path, fcc):
    (tmp_path / "TIC_SFMA.pth").write_bytes(b"x")
    result = fcc("import-weights", tmp_path / "TIC_SFMA.pth", "--adapters")
    assert_clean_failure(result, expect_in="give --quality 1..4", exit_code=2)
    result = fcc("import-weights", tmp_path / "TIC_SFMA.pth", "--adapters", "-q", "1", "--weights-dir", tmp_path / "w")
    assert_clean_failure(result, expect_in="not a PyTorch checkpoint", exit_code=4)


def test_collect_photos_passes_its_sources(tmp_path, fcc, monkeypatch):
    from forensiccodec.data import photos

    calls = {}
    monkeypatch.setattr(photos, "collect_photos", lambda out, **options: calls.update(options) or [])
    assert fcc("collect-photos", tmp_path / "a").exit_code == 0
    assert tuple(calls["sources"]) == photos.DEFAULT_SOURCES and calls["include_debian"] is True
    assert fcc("collect-photos", tmp_path / "b", "--source", "opencv-doc").exit_code == 0
    assert tuple(calls["sources"]) == ("opencv-doc",)
    from forensiccodec.cli import main

    (option,) = [p for p in main.commands["collect-photos"].params if p.name == "sources"]
    assert tuple(option.type.choices) == photos.PHOTO_SOURCES  # the CLI offers exactly what the library knows
    unknown = fcc("collect-photos", tmp_path / "c", "--source", "flickr")
    assert unknown.exit_code == 2 and "'flickr' is not one of" in unknown.output
