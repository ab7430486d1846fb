"""File-level operations behind the command line: encode an image file, decode a .fcc file, inspect one,
score one with the deepfake detector (`detect_file`).

Each function handles exactly one file and raises `FccError` for anything the user can cause, so
that the CLI (or a Python caller) can report it and go on with the next file.

The forensic switch: encoding with ``adapters="forensic"`` runs the ``paper`` placement's encoder
adapters (header flag ``encoder_adapters``); decoding with ``adapters="forensic"`` runs the decoder
adapters that fit the file (``paper`` for flagged files, ``decoder`` for base bitstreams). Every
combination decodes, because the adapters never change the hyperprior or the entropy tables.

A flagged file records which ``paper`` adapter weights wrote it (bitstream 1.1); decoding it with
``adapters="forensic"`` uses those weights, the registered set or a retired one
(`retired`), and refuses any other, as a base fingerprint mismatch is refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .adapters import AdaptedCodec, load_adapted_codec, load_finetuned_codec
from .codec import pipeline
from .codec.bitstream import FccFile, FccHeader, write_fcc
from .codec.memory import AUTO_TILING, check_fits
from .codec.tiling import Progress, Tiling
from .detector.model import PatchDetector
from .errors import BitstreamError, UsageError, WeightsError
from .files import atomic_output, atomic_write_bytes, ensure_not_same_file
from .images import ColorMode, LoadedImage, SampleCanvas, color_mode, load_image, psnr
from .info import (  # `fcc info` without torch; re-exported here
    FINETUNED_SUFFIX,  # noqa: F401
    file_info,
    model_config_name,  # noqa: F401
    model_identity,
    read_fcc_file,
)
from .manifest import codec_entry_name, finetuned_entry_name, fingerprint_from_sha256
from .retired import load_codec_for_fingerprint
from .zoo import LoadedCodec, load_codec

ADAPTER_CHOICES = ("none", "forensic")
CODEC_CHOICES = ("base", "finetuned")

NOTE_ENCODER_ADAPTERS = (
    "encoder adapters on: `fcc decode --adapters forensic` gives the forensic reconstruction;"
    " `--adapters none` a viewable image that is not fidelity-optimised"
)
NOTE_ADAPTED_LATENT_WITHOUT_ADAPTERS = (
    "written with encoder adapters, decoded without decoder adapters: a viewable image, but neither"
    " fidelity- nor detector-optimised; decode with --adapters forensic for the forensic reconstruction"
)
NOTE_ADAPTERS_UNCHECKED = (
    "written by fcc before bitstream 1.1, which did not record its adapter weights: decoded with the"
    " installed {entry}, which could not be checked against the encoder's"
)
NOTE_RETIRED_ADAPTERS = (
    "written with paper adapters that have since been retrained: decoded with the retired set that wrote it, {entry}"
)
NOTE_RETIRED_CODEC = (
    "written with a codec that has since been retrained: decoded with the retired codec that wrote it, {entry}"
)
NOTE_FINETUNED_IS_FORENSIC = "the fully fine-tuned codec has no separate adapters; its reconstruction is the forensic one"


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise UsageError(f"unknown {option} {value!r}; valid: {', '.join(choices)}")


class CodecStore:
    """Loads each codec (base, fine-tuned or with adapters) once and keeps it for the rest of a batch."""

    def __init__(self, weights_dir: Path | None = None) -> None:
        self.weights_dir = weights_dir
        self._codecs: dict[tuple[str, int, str], LoadedCodec] = {}

    def get(self, config_name: str, quality: int, *, codec: str = "base") -> LoadedCodec:
        """A complete codec: the base one, or the fully fine-tuned baseline (``codec="finetuned"``)."""
        _check_choice(codec, CODEC_CHOICES, "--codec")
        key = (config_name, quality, codec)
        if key not in self._codecs:
            if codec == "base":
                self._codecs[key] = load_codec(config_name, quality, self.weights_dir)
            else:
                self._codecs[key] = load_finetuned_codec(config_name, quality, self.weights_dir)
        return self._codecs[key]

    def adapted(self, config_name: str, quality: int, placement: str, *, fingerprint: bytes | None = None) -> LoadedCodec:
        """The base codec with a placement's adapters (``paper`` or ``decoder``) switched on: the
        registered set, or for ``fingerprint`` (a file's recorded paper adapters) the retired set that
        wrote the file, if one is kept (`retired`)."""
        key = (config_name, quality, f"adapters:{placement}:{fingerprint.hex() if fingerprint else ''}")
        if key not in self._codecs:
            self._codecs[key] = load_adapted_codec(config_name, quality, placement, self.weights_dir, fingerprint)
        return self._codecs[key]

    def retired(self, config_name: str, quality: int, fingerprint: bytes, *, codec: str = "base") -> LoadedCodec | None:
        """The retired base (or ``codec="finetuned"``: fully fine-tuned) codec with this fingerprint
        (a file written before its rate point's codec was retrained), or None if none is kept (`retired`)."""
        key = (config_name, quality, f"retired:{codec}:{fingerprint.hex()}")
        if key not in self._codecs:
            found = load_codec_for_fingerprint(config_name, quality, fingerprint, self.weights_dir,
                                               finetuned=codec == "finetuned")
            if found is None:
                return None
            self._codecs[key] = found
        return self._codecs[key]

    def for_encoding(self, config_name: str, quality: int, *, codec: str = "base", adapters: str = "none") -> LoadedCodec:
        """The codec `fcc encode --codec C --adapters A` writes with."""
        _check_choice(adapters, ADAPTER_CHOICES, "--adapters")
        if adapters == "none":
            return self.get(config_name, quality, codec=codec)
        _check_choice(codec, CODEC_CHOICES, "--codec")
        if codec != "base":
            raise UsageError("--adapters forensic applies to the base codec; the fine-tuned codec has no adapters")
        return self.adapted(config_name, quality, "paper")


@dataclass
class EncodeReport:
    input: str
    output: str
    width: int
    height: int
    file_bytes: int
    bpp: float  # whole .fcc file, header included, per original pixel
    payload_bpp: float  # the two entropy-coded streams only
    estimated_bpp: float  # the model's own estimate, Σ −log2 p
    rate_overhead: float  # payload / estimate − 1
    model: str
    quality: int
    lmbda: float
    seconds: float
    entropy_coding_share: float
    notes: list[str] = field(default_factory=list)
    encoder_adapters: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecodeReport:
    input: str
    output: str
    width: int
    height: int
    bpp: float
    model: str
    quality: int
    adapters: str
    seconds: float
    entropy_coding_share: float
    notes: list[str] = field(default_factory=list)
    encoder_adapters: bool = False
    weights: str = ""  # the registry entries that decoded it, e.g. "tic-small-q1 + sfma-small-q1-decoder"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def adapter_fingerprint(codec: LoadedCodec) -> bytes | None:
    """The fingerprint of the adapter weights a codec loaded (`adapters.AdaptedCodec`), None for none."""
    if isinstance(codec, AdaptedCodec) and codec.adapters_sha256:
        return fingerprint_from_sha256(codec.adapters_sha256)
    return None


def weights_label(codec: LoadedCodec) -> str:
    """The registry entries a codec is made of, for reports."""
    quality = codec.rate_point.quality
    if codec.variant:
        return finetuned_entry_name(codec.config_name, quality)
    label = codec.retired_entry or codec_entry_name(codec.config_name, quality)
    return f"{label} + {codec.adapters_entry}" if isinstance(codec, AdaptedCodec) else label


def encode_file(
    codec: LoadedCodec,
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool = False,
    adapters: str | None = None,
    tiling: Tiling | None | str = AUTO_TILING,
    progress: Progress | None = None,
) -> EncodeReport:
    """Encode one image file into a .fcc file (written atomically).

    An image larger than one tile of ``tiling`` (by default the model's, `memory.default_tiling`)
    is coded in tiles (`codec.tiling`), which the file records; ``progress(done, total)`` is called after each tile.

    The codec decides whether encoder adapters run (`CodecStore.for_encoding`, or
    `adapters.load_adapted_codec(..., placement="paper")`); `adapters`, if given, must agree with it.
    """
    encoder_adapters = bool(codec.model.encoder_adapters_enabled)
    recorded_adapters = _recorded_adapters(codec, adapters)
    ensure_not_same_file(input_path, output_path)
    start = time.perf_counter()
    image = load_image(input_path)
    check_fits(codec.model.config, image.info.height, image.info.width, "encode", label=str(input_path), tiling=tiling)
    compressed = pipeline.compress(codec.model, codec.tables, image, tiling=tiling, progress=progress)
    data = write_fcc(_fcc_file(codec, image, compressed, recorded_adapters))
    atomic_write_bytes(output_path, data, overwrite=overwrite)
    seconds = time.perf_counter() - start
    pixels = image.info.width * image.info.height
    notes = []
    if image.info.had_alpha:
        notes.append("alpha channel dropped (the codec codes colour only)")
    if encoder_adapters:
        notes.append(NOTE_ENCODER_ADAPTERS)
    return EncodeReport(
        input=str(input_path),
        output=str(output_path),
        width=image.info.width,
        height=image.info.height,
        file_bytes=len(data),
        bpp=8 * len(data) / pixels,
        payload_bpp=8 * compressed.payload_bytes / pixels,
        estimated_bpp=compressed.estimated_bits / pixels,
        rate_overhead=8 * compressed.payload_bytes / max(compressed.estimated_bits, 1e-9) - 1,
        model=codec.model_name,
        quality=codec.rate_point.quality,
        lmbda=codec.rate_point.lmbda,
        seconds=seconds,
        entropy_coding_share=compressed.timings.entropy_share,
        notes=notes,
        encoder_adapters=encoder_adapters,
    )


def _recorded_adapters(codec: LoadedCodec, adapters: str | None) -> bytes | None:
    """The adapter fingerprint a file written with ``codec`` records (None without encoder
    adapters), after checking that ``adapters``, if given, agrees with the codec."""
    encoder_adapters = bool(codec.model.encoder_adapters_enabled)
    if adapters is not None:
        _check_choice(adapters, ADAPTER_CHOICES, "--adapters")
        if (adapters == "forensic") != encoder_adapters:
            have = "has its encoder adapters on" if encoder_adapters else "has no encoder adapters on"
            raise UsageError(
                f"adapters={adapters!r}, but this codec {have}; get it from"
                f" CodecStore.for_encoding(..., adapters={adapters!r})"
            )
    if not encoder_adapters:
        return None
    # a file with encoder adapters names their weights, so that other adapters never decode it
    recorded = adapter_fingerprint(codec)
    if recorded is None:
        raise UsageError(
            "this codec's encoder adapters are not registered weights, so the file could not name them; get the"
            " codec from CodecStore.for_encoding(..., adapters='forensic')"
        )
    return recorded


def _fcc_file(codec: LoadedCodec, image: LoadedImage, compressed: pipeline.CompressedImage,
              recorded_adapters: bytes | None) -> FccFile:
    """The container of a coded image: the codec's identity, the image's, the streams, the tiling."""
    tiling = compressed.tiling
    return FccFile.build(
        model_name=codec.model_name,
        quality=codec.rate_point.quality,
        lmbda=codec.rate_point.lmbda,
        weights_fingerprint=codec.fingerprint,
        encoder_adapters=bool(codec.model.encoder_adapters_enabled),
        adapter_fingerprint=recorded_adapters,
        width=image.info.width,
        height=image.info.height,
        color_mode=int(color_mode(image.info)),
        bit_depth=image.info.bit_depth,
        z_shape=compressed.z_shape,
        y_shape=compressed.y_shape,
        z_stream=compressed.z_stream,
        y_stream=compressed.y_stream,
        tiling=(tiling.tile, tiling.overlap) if tiling is not None else None,
    )


def codec_for_file(store: CodecStore, fcc: FccFile, path: Path, adapters: str = "none") -> tuple[LoadedCodec, list[str]]:
    """The installed codec that decodes this file as asked (and notes for the user), or a clear refusal.

    `adapters="forensic"` picks the decoder adapters that fit the latent: the ``paper`` placement's
    for a file written with encoder adapters, the ``decoder`` placement's for a base bitstream.
    The ``paper`` adapters must be the ones the file records (a file from before bitstream 1.1
    records none: decoded with a note).
    """
    header = fcc.header
    config_name, kind = model_identity(header.model_name)
    notes: list[str] = []
    if kind == "finetuned":
        if header.encoder_adapters:
            raise BitstreamError(f"{path}: corrupt header: {header.model_name} has no encoder adapters, yet the flag is set")
        codec = store.get(config_name, header.quality, codec="finetuned")
        if header.weights_fingerprint != codec.fingerprint:
            codec = store.retired(config_name, header.quality, header.weights_fingerprint, codec="finetuned") or codec
        if adapters == "forensic":
            notes.append(NOTE_FINETUNED_IS_FORENSIC)
    elif adapters == "forensic" and header.encoder_adapters:
        codec = store.adapted(config_name, header.quality, "paper", fingerprint=header.adapter_fingerprint)
        notes += _check_adapter_fingerprint(header, codec, path)
    elif adapters == "forensic":
        codec = store.adapted(config_name, header.quality, "decoder")
    else:
        codec = store.get(config_name, header.quality)
        if header.encoder_adapters:
            notes.append(NOTE_ADAPTED_LATENT_WITHOUT_ADAPTERS)
        if header.weights_fingerprint != codec.fingerprint:
            codec = store.retired(config_name, header.quality, header.weights_fingerprint) or codec
    if codec.retired_entry and header.weights_fingerprint == codec.fingerprint:
        notes.append(NOTE_RETIRED_CODEC.format(entry=codec.retired_entry))
    if header.weights_fingerprint != codec.fingerprint and adapters == "forensic" and kind == "base":
        raise WeightsError(
            f"{path}: written with {header.model_name} q{header.quality} weights {header.weights_fingerprint.hex()},"
            f" but the installed {codec.adapters_entry if isinstance(codec, AdaptedCodec) else 'adapters'} run on base codec"
            f" {codec.fingerprint.hex()}; decoding would give a wrong image (decode with --adapters none, or"
            " retrain the adapters on the installed base codec with `fcc train-adapter`)"
        )
    if header.weights_fingerprint != codec.fingerprint:
        raise WeightsError(
            f"{path}: written with {header.model_name} q{header.quality} weights {header.weights_fingerprint.hex()},"
            f" but the installed weights are {codec.fingerprint.hex()}; decoding would give a wrong image"
        )
    return codec, notes


def _check_adapter_fingerprint(header: FccHeader, codec: LoadedCodec, path: Path) -> list[str]:
    """Refuse paper adapters other than those that wrote the file; a note when the file does not say."""
    entry = codec.adapters_entry if isinstance(codec, AdaptedCodec) and codec.adapters_entry else "paper adapters"
    installed = adapter_fingerprint(codec)
    if header.adapter_fingerprint is None:
        return [NOTE_ADAPTERS_UNCHECKED.format(entry=entry)]
    if header.adapter_fingerprint != installed:
        installed_text = installed.hex() if installed is not None else "unknown"
        raise WeightsError(
            f"{path}: written with adapter weights {header.adapter_fingerprint.hex()}, but the installed"
            f" {entry} are {installed_text} and no retired set matches; decoding would give a wrong image"
            " (install the adapters it was written with, or decode with --adapters none)"
        )
    if isinstance(codec, AdaptedCodec) and codec.adapters_retired:
        return [NOTE_RETIRED_ADAPTERS.format(entry=entry)]
    return []


def decode_file(
    store: CodecStore,
    input_path: Path,
    output_path: Path,
    *,
    overwrite: bool = False,
    adapters: str = "none",
    progress: Progress | None = None,
) -> DecodeReport:
    """Decode one .fcc file to a PNG (written atomically) in the original size, mode and bit depth;
    a file coded in tiles is decoded over the same tiles (``progress(done, total)`` after each).

    `adapters="forensic"` gives the forensic reconstruction (decoder adapters on), `"none"` the
    human-fidelity one; see `codec_for_file` for which weights each combination uses.
    """
    _check_choice(adapters, ADAPTER_CHOICES, "--adapters")
    ensure_not_same_file(input_path, output_path)
    start = time.perf_counter()
    fcc, size = read_fcc_file(input_path)
    codec, notes = codec_for_file(store, fcc, input_path, adapters)
    header = fcc.header
    tiling = Tiling(*header.tiling) if header.tiling is not None else None
    check_fits(codec.model.config, header.height, header.width, "decode", label=str(input_path), tiling=tiling)
    mode = ColorMode(header.color_mode)
    canvas = SampleCanvas(header.height, header.width, mode=mode, bit_depth=header.bit_depth)
    decoded = pipeline.decompress_fcc(codec.model, codec.tables, fcc, progress=progress, canvas=canvas)
    canvas.save(output_path, overwrite=overwrite)
    if mode in (ColorMode.RGB_ALPHA_DROPPED, ColorMode.GRAY_ALPHA_DROPPED):
        notes.append("the original had an alpha channel, which the codec does not code")
    return DecodeReport(
        input=str(input_path),
        output=str(output_path),
        width=header.width,
        height=header.height,
        bpp=8 * size / (header.width * header.height),
        model=header.model_name,
        quality=header.quality,
        adapters=adapters,
        seconds=time.perf_counter() - start,
        entropy_coding_share=decoded.timings.entropy_share,
        notes=notes,
        encoder_adapters=header.encoder_adapters,
        weights=weights_label(codec),
    )


@dataclass
class RoundTripReport:
    encode: EncodeReport
    decode: DecodeReport
    psnr: float


def round_trip(
    codec: LoadedCodec, store: CodecStore, image_path: Path, out_dir: Path, *, overwrite: bool = True
) -> RoundTripReport:
    """Encode then decode an image into out_dir and measure PSNR against the original."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem
    fcc_path = out_dir / f"{stem}.q{codec.rate_point.quality}.fcc"
    png_path = out_dir / f"{stem}.q{codec.rate_point.quality}.decoded.png"
    encoded = encode_file(codec, image_path, fcc_path, overwrite=overwrite)
    decoded = decode_file(store, fcc_path, png_path, overwrite=overwrite)
    original = load_image(image_path).pixels
    reconstructed = load_image(png_path).pixels
    return RoundTripReport(encoded, decoded, psnr(original, reconstructed))


# ---- the detector on image files --------------------------------------------------------------


@dataclass
class DetectReport:
    """The detector's verdict on one image file (`detect_file`)."""

    input: str
    score: float  # mean of the top patch scores (class-1 logits); > 0 means synthetic
    label: str
    patches_used: int
    n_patches: int
    config: str
    width: int
    height: int
    seconds: float
    heatmap: str | None = None
    probability: float | None = None  # P(synthetic), where the weights have a fitted calibration

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def detect_file(
    detector: PatchDetector,
    path: Path,
    *,
    n_patches: int | None = None,
    top_m: int | None = None,
    heatmap: Path | None = None,
    overwrite: bool = False,
) -> DetectReport:
    """Score one image file with ``detector`` (`detector.weights.load_detector`).

    ``n_patches`` and ``top_m`` default to the detector's own; ``n_patches`` alone averages the
    detector's share of them (`PatchDetector.top_for`). ``heatmap``, if given, is where the patch
    scores painted over the image go (a PNG, written atomically; an existing file only with
    ``overwrite``). ``probability`` is the weights' calibrated P(synthetic) of the score, None
    where the weights have no fitted calibration (`detector.probability`).
    """
    path = Path(path)
    if heatmap is not None:
        ensure_not_same_file(path, heatmap)
    if n_patches is not None and top_m is None:
        top_m = detector.top_for(n_patches)
    start = time.perf_counter()
    image = load_image(path)
    result = detector.score_image(image.pixels, n_patches=n_patches, top_m=top_m)
    if heatmap is not None:
        with atomic_output(heatmap, overwrite=overwrite) as temporary:
            detector.heatmap(image.pixels, result).save(temporary, format="PNG")
    return DetectReport(
        input=str(path), score=result.score, label=result.label, patches_used=result.patches_used,
        n_patches=int(result.patch_scores.numel()), config=detector.config_name,
        width=image.info.width, height=image.info.height, seconds=round(time.perf_counter() - start, 3),
        heatmap=str(heatmap) if heatmap is not None else None, probability=detector.probability_of(result.score),
    )


def class_from_path(path: str | Path) -> str | None:
    """``real`` or ``synthetic`` for an image in a folder of that name (the labelled layout
    ``DIR/<split>/{real,synthetic}/``, `data.layout`), else None."""
    from .data.layout import CLASSES

    parent = Path(path).parent.name
    return parent if parent in CLASSES else None


def detect_summary(reports: Sequence[DetectReport], *, resamples: int | None = None) -> dict[str, Any]:
    """How the detector did on the labelled files among ``reports`` (`class_from_path`):
    accuracy at threshold 0, AUC and per-class accuracy, each with its 95 % bootstrap interval
    over images (``<metric>_ci``: ``[low, high]``, None where undefined;
    `detector.confidence.bootstrap_intervals`, seeded), and the counts. Files of neither
    class count as ``n_unlabelled``; with no file of one class, the AUC is None."""
    from .detector.confidence import DEFAULT_RESAMPLES, bootstrap_intervals
    from .detector.evaluation import CI_METRICS

    scores: dict[str | None, list[float]] = {"real": [], "synthetic": [], None: []}
    for report in reports:
        scores[class_from_path(report.input)].append(report.score)
    resamples = DEFAULT_RESAMPLES if resamples is None else resamples
    # sorted: the resamples depend on the scores, not on the order of the files
    intervals = bootstrap_intervals(sorted(scores["real"]), sorted(scores["synthetic"]), resamples=resamples)
    summary: dict[str, Any] = {"n_real": len(scores["real"]), "n_synthetic": len(scores["synthetic"]),
                               "n_unlabelled": len(scores[None]), "threshold": 0.0}
    for name in CI_METRICS:  # the names `fcc eval` reports them under
        value = intervals[name].value
        summary[name] = round(value, 5) if math.isfinite(value) else None
        summary[f"{name}_ci"] = intervals[name].to_json()
    summary["resamples"] = resamples
    return summary


__all__ = [
    "ADAPTER_CHOICES",
    "CODEC_CHOICES",
    "CodecStore",
    "DecodeReport",
    "DetectReport",
    "EncodeReport",
    "RoundTripReport",
    "class_from_path",
    "decode_file",
    "detect_file",
    "detect_summary",
    "encode_file",
    "file_info",
    "read_fcc_file",
    "round_trip",
]
