"""The file-level API behind the CLI: encode_file, decode_file, file_info, round_trip, CodecStore."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from forensiccodec import api
from forensiccodec.codec.bitstream import read_fcc, write_fcc
from forensiccodec.errors import BitstreamError, UsageError, WeightsError
from forensiccodec.images import ColorMode, load_image


@pytest.fixture
def store(tiny_weights_dir) -> api.CodecStore:
    return api.CodecStore(tiny_weights_dir)


def test_codec_store_loads_each_codec_once(store):
    first = store.get("tiny", 1)
    assert store.get("tiny", 1) is first
    assert store.get("tiny", 2) is not first
    assert store.get("tiny", 2).rate_point.quality == 2


def test_encode_and_decode_files(tmp_path, store, make_image):
    source = make_image(tmp_path / "photo.png", 70, 40, "L")
    report = api.encode_file(store.get("tiny", 3), source, tmp_path / "photo.fcc")
    assert (report.width, report.height, report.model, report.quality, report.lmbda) == (70, 40, "tic-tiny", 3, 0.045)
    assert report.output == str(tmp_path / "photo.fcc") and report.notes == []
    assert 0.0 <= report.entropy_coding_share <= 1.0

    decoded = api.decode_file(store, tmp_path / "photo.fcc", tmp_path / "out.png")
    assert (decoded.width, decoded.height, decoded.adapters) == (70, 40, "none")
    assert decoded.bpp == pytest.approx(report.bpp)
    image = load_image(tmp_path / "out.png")
    assert image.info.mode == "L" and (image.info.width, image.info.height) == (70, 40)


def test_rgba_input_notes_the_dropped_alpha(tmp_path, store, make_image):
    source = make_image(tmp_path / "a.png", 9, 9, "RGBA")
    report = api.encode_file(store.get("tiny", 1), source, tmp_path / "a.fcc")
    assert any("alpha" in note for note in report.notes)
    fcc = read_fcc((tmp_path / "a.fcc").read_bytes())
    assert fcc.header.color_mode == ColorMode.RGB_ALPHA_DROPPED
    decoded = api.decode_file(store, tmp_path / "a.fcc", tmp_path / "a.out.png")
    assert any("alpha" in note for note in decoded.notes)
    assert load_image(tmp_path / "a.out.png").info.mode == "RGB"


def test_rate_accounting_of_the_encode_report(tmp_path, store, make_image):
    """The report's sizes agree with the file and with each other.

    The issue's claim (payload within 0.5% of the model's estimate, plus the header) is measured on
    trained weights and real photographs by the evaluation script (weights README). The untrained
    tiny model need not meet it in general (its estimate uses continuous scales, the coder the
    table's); on this image it does (payload 1484 B, estimate 1489 B when written), so the bound is
    checked with 16 bytes of slack for the two range coders' flush. The rest: bpp = 8·file_bytes/
    pixels, payload ≤ file, header = file − streams.
    """
    source = make_image(tmp_path / "photo.png", 128, 128)
    report = api.encode_file(store.get("tiny", 2), source, tmp_path / "photo.fcc")
    pixels = 128 * 128
    file_bytes = (tmp_path / "photo.fcc").stat().st_size
    assert report.file_bytes == file_bytes
    assert report.bpp == pytest.approx(8 * file_bytes / pixels)
    payload_bytes = report.payload_bpp * pixels / 8
    assert payload_bytes == pytest.approx(round(payload_bytes))  # a whole number of bytes
    assert 0 < payload_bytes <= file_bytes
    info = api.file_info(tmp_path / "photo.fcc")
    assert info["hyperprior_bytes"] + info["latent_bytes"] == round(payload_bytes)
    assert info["header_bytes"] == file_bytes - round(payload_bytes)
    assert info["header_bytes"] < 128  # the container's overhead is small and fixed
    assert report.estimated_bpp > 0 and math.isfinite(report.estimated_bpp)
    assert report.rate_overhead == pytest.approx(report.payload_bpp / report.estimated_bpp - 1)
    estimated_bytes = report.estimated_bpp * pixels / 8
    assert abs(payload_bytes - estimated_bytes) <= 0.005 * estimated_bytes + 16


def test_adapters_other_than_none_are_refused(tmp_path, store, make_image):
    source = make_image(tmp_path / "a.png", 4, 4)
    with pytest.raises(UsageError, match="encoder adapters"):
        api.encode_file(store.get("tiny", 1), source, tmp_path / "a.fcc", adapters="forensic")
    assert not (tmp_path / "a.fcc").exists()
    api.encode_file(store.get("tiny", 1), source, tmp_path / "a.fcc")
    with pytest.raises(UsageError, match="forensic adapters"):
        api.decode_file(store, tmp_path / "a.fcc", tmp_path / "a.out.png", adapters="forensic")
    with pytest.raises(UsageError, match="unknown --adapters"):
        api.decode_file(store, tmp_path / "a.fcc", tmp_path / "a.out.png", adapters="both")
    assert not (tmp_path / "a.out.png").exists()


def test_read_fcc_file_names_the_problem(tmp_path):
    with pytest.raises(BitstreamError, match="no such file"):
        api.read_fcc_file(tmp_path / "missing.fcc")
    with pytest.raises(BitstreamError, match="is a directory"):
        api.read_fcc_file(tmp_path)
    (tmp_path / "empty.fcc").write_bytes(b"")
    with pytest.raises(BitstreamError, match=r"empty\.fcc: not an \.fcc file"):
        api.read_fcc_file(tmp_path / "empty.fcc")


def test_files_of_other_models_are_refused(tmp_path, store, make_image):
    source = make_image(tmp_path / "a.png", 4, 4)
    api.encode_file(store.get("tiny", 1), source, tmp_path / "a.fcc")
    fcc = read_fcc((tmp_path / "a.fcc").read_bytes())
    for model_name, error, message in [
        ("jpeg-xl", BitstreamError, "cannot decode files of model 'jpeg-xl'"),
        ("tic-small", WeightsError, "no small codec weights for quality 1"),
    ]:
        other = type(fcc)(type(fcc.header)(**{**fcc.header.__dict__, "model_name": model_name}), fcc.z_stream, fcc.y_stream)
        path = tmp_path / f"{model_name}.fcc"
        path.write_bytes(write_fcc(other))
        with pytest.raises(error, match=message):
            api.decode_file(store, path, tmp_path / f"{model_name}.png")
        assert not (tmp_path / f"{model_name}.png").exists()


def test_fingerprint_mismatch_is_a_weights_error(tmp_path, store, make_image, other_weights_dir):
    source = make_image(tmp_path / "a.png", 4, 4)
    api.encode_file(store.get("tiny", 1), source, tmp_path / "a.fcc")
    with pytest.raises(WeightsError, match="decoding would give a wrong image"):
        api.decode_file(api.CodecStore(other_weights_dir), tmp_path / "a.fcc", tmp_path / "a.out.png")
    assert not (tmp_path / "a.out.png").exists()


def test_round_trip_measures_psnr(tmp_path, store, make_image):
    source = make_image(tmp_path / "photo.png", 30, 20)
    report = api.round_trip(store.get("tiny", 4), store, source, tmp_path / "rt")
    assert Path(report.encode.output) == tmp_path / "rt" / "photo.q4.fcc"
    assert Path(report.decode.output) == tmp_path / "rt" / "photo.q4.decoded.png"
    assert 0 < report.psnr < math.inf
    again = api.round_trip(store.get("tiny", 4), store, source, tmp_path / "rt")  # replaces its own outputs
    assert again.psnr == report.psnr
