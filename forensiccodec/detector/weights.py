"""Detector weights in the registry: safetensors files listed in ``weights/manifest.json``.

A detector file holds the patch classifier's state dict and, as metadata, ``kind=detector``,
its configuration name and the scoring defaults it was measured with (patches drawn, top-M
averaged). The manifest entry (kind ``detector``) names the file with its sha256, its training
record, its measured metrics and the Platt scaling of its scores into P(synthetic)
(``probability``, `detector.probability`); a file whose sha256 differs from the manifest is
refused. Metrics and probability belong to one file: weights that change drop them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from forensiccodec.detector import patches as P
from forensiccodec.detector.backbone import (
    PatchClassifier,
    build_backbone,
    resolve_config,
)
from forensiccodec.detector.model import PatchDetector, top_for
from forensiccodec.detector.official import (
    check_official_keys,
    load_official_state_dict,
)
from forensiccodec.detector.probability import PlattScaling
from forensiccodec.errors import WeightsError
from forensiccodec.files import atomic_write_bytes
from forensiccodec.manifest import detector_entry_name
from forensiccodec.state_dicts import check_fit
from forensiccodec.zoo import (
    Manifest,
    WeightsEntry,
    carried_over_extra,
    safetensors_bytes,
    verified_weights_file,
)

DETECTOR_KIND = "detector"
PROBABILITY_KEY = "probability"  # the manifest entry's Platt scaling of the scores (`detector.probability`)


def find_detector_entry(manifest: Manifest, config_name: str) -> WeightsEntry:
    """The registered detector of ``config_name``, or a :class:`WeightsError` saying what exists."""
    for entry in manifest.entries.values():
        if entry.kind == DETECTOR_KIND and entry.config_name == config_name:
            return entry
    available = sorted(e.config_name for e in manifest.entries.values() if e.kind == DETECTOR_KIND)
    raise WeightsError(
        f"no {config_name} detector weights in {manifest.directory}"
        f" (available: {', '.join(available) or 'none'}); train them with `fcc train-detector`"
        " or import the public ones with `fcc import-weights --detector synth_vs_real.pth`"
    )


def detector_file_bytes(
    backbone: PatchClassifier, config_name: str, n_patches: int = P.N_PATCHES, top_m: int = P.TOP_M,
) -> bytes:
    """Serialise a patch classifier and its scoring defaults to safetensors bytes."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in backbone.state_dict().items()}
    metadata = {
        "kind": DETECTOR_KIND,
        "config_name": config_name,
        "n_patches": str(n_patches),
        "top_m": str(top_m),
        "patch_size": str(P.PATCH_SIZE),
    }
    return safetensors_bytes(tensors, metadata)


def export_detector(
    backbone: PatchClassifier,
    *,
    config_name: str,
    weights_dir: Path | None = None,
    n_patches: int = P.N_PATCHES,
    top_m: int = P.TOP_M,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> WeightsEntry:
    """Write ``detector-<config>.safetensors`` and register it in the manifest.

    Refuses to replace registered weights unless ``overwrite``. When replacing, what the
    earlier entry recorded is kept unless ``extra`` gives new values, except its measurements
    (``metrics``) when the file changed (``zoo.carried_over_extra``).
    """
    resolve_config(config_name)
    name = detector_entry_name(config_name)
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries and not overwrite:
        raise WeightsError(f"{name} is already registered in {manifest.directory}; use --force to replace it")
    manifest.directory.mkdir(parents=True, exist_ok=True)
    data = detector_file_bytes(backbone, config_name, n_patches, top_m)
    file_name = f"{name}.safetensors"
    atomic_write_bytes(manifest.directory / file_name, data, overwrite=True)
    sha256 = hashlib.sha256(data).hexdigest()
    extra = {**carried_over_extra(manifest, name, sha256), "n_patches": n_patches, "top_m": top_m, **(extra or {})}
    entry = WeightsEntry(
        name=name, file=file_name, sha256=sha256, kind=DETECTOR_KIND, config_name=config_name, extra=extra,
    )
    manifest.entries[name] = entry
    manifest.save()
    return entry


def update_detector_record(config_name: str, weights_dir: Path | None = None, **fields: Any) -> WeightsEntry:
    """Add or replace fields (e.g. ``metrics``) of a registered detector's manifest entry."""
    manifest = Manifest.load(weights_dir)
    entry = find_detector_entry(manifest, config_name)
    entry.extra.update(fields)
    manifest.save()
    return entry


def read_detector_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A detector safetensors file's tensors and metadata, or a clear :class:`WeightsError`."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable safetensors weights file ({error})") from None
    if metadata.get("kind") != DETECTOR_KIND or "config_name" not in metadata:
        raise WeightsError(f"{path}: not a forensiccodec detector weights file")
    return tensors, metadata


def detector_from_file(path: Path, **detector_options: Any) -> PatchDetector:
    """Build a :class:`PatchDetector` (eval mode) from a detector file; no manifest check."""
    tensors, metadata = read_detector_file(path)
    backbone = build_backbone(metadata["config_name"])
    check_fit(backbone, tensors, f"{path}: weights do not fit the {metadata['config_name']} detector")
    backbone.load_state_dict(tensors, strict=True)
    n_default, top_default = int(metadata.get("n_patches", P.N_PATCHES)), int(metadata.get("top_m", P.TOP_M))
    options = {"n_patches": n_default, "top_m": top_default}
    options.update({key: value for key, value in detector_options.items() if value is not None})
    if detector_options.get("n_patches") is not None and detector_options.get("top_m") is None:
        options["top_m"] = top_for(options["n_patches"], n_default, top_default)  # the weights' own share
    detector = PatchDetector(backbone, **options).eval()
    detector.config_name = metadata["config_name"]
    return detector


def load_detector(
    config_name: str = "small", weights_dir: Path | None = None, **detector_options: Any,
) -> PatchDetector:
    """The registered detector of ``config_name``, refusing a file whose sha256 differs.

    ``detector_options`` (``n_patches``, ``top_m``, ``seed``, ``chunk_size``) override the
    defaults stored with the weights; ``n_patches`` alone averages the weights' own share of
    them (`model.top_for`). The detector's ``probability`` is the Platt scaling the manifest
    entry records for these weights (`fcc calibrate-detector`), or None.
    """
    resolve_config(config_name)
    manifest = Manifest.load(weights_dir)
    entry = find_detector_entry(manifest, config_name)
    path, _ = verified_weights_file(manifest, entry)
    detector = detector_from_file(path, **detector_options)
    detector.probability = PlattScaling.from_json(entry.extra.get(PROBABILITY_KEY), where=f"{entry.name} in {manifest.directory}")
    return detector


def import_official(path: str | Path, weights_dir: Path | None = None, overwrite: bool = False) -> WeightsEntry:
    """Convert the public PoliMi ``synth_vs_real.pth`` into a registered ``paper`` detector."""
    state = load_official_state_dict(path)
    check_official_keys(state)
    backbone = build_backbone("paper")
    backbone.load_state_dict(state, strict=True)
    source = {"source": f"imported from {Path(path).name} (Mandelli, Bestagini, Tubaro, WIFS 2024)"}
    return export_detector(backbone, config_name="paper", weights_dir=weights_dir, extra=source, overwrite=overwrite)


def describe_entry(entry: WeightsEntry) -> str:
    """One line naming a detector entry (for command output)."""
    return f"{entry.name} ({entry.file}, sha256 {entry.sha256[:16]}…)"


__all__ = [
    "DETECTOR_KIND",
    "PROBABILITY_KEY",
    "describe_entry",
    "detector_entry_name",
    "detector_from_file",
    "export_detector",
    "find_detector_entry",
    "import_official",
    "load_detector",
    "read_detector_file",
    "update_detector_record",
]
