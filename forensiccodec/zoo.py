"""The weights registry: the manifest, sha256 checks, fingerprints, loading and exporting codecs.

The manifest itself (entries, names, fingerprints) is `manifest`, which needs no torch; its names
are re-exported here.

Every weight file the project writes is safetensors. A codec file holds the model's state dict,
the integer entropy-coding tables (``tables.*``, fixed at export so that encoder and decoder never
recompute them) and its configuration as metadata. ``weights/manifest.json`` names each file with
its sha256; a file whose hash differs is refused.

A codec file names the entropy bottleneck's parameters as TransTIC does (compressai <= 1.2.6:
``_matrix0``, ...), the model as CompressAI 1.2.8 does (``matrices.0``): `read_codec_file` hands
out the model's names and `codec_file_bytes` writes the file's, so the same weights always give
the same file (and the same fingerprint in the .fcc files they write), whatever compressai names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .codec.config import TICConfig, get_config
from .codec.entropy_coding import EntropyTables
from .codec.entropy_models import to_compressai_names, to_legacy_names
from .codec.tic import TIC
from .errors import WeightsError
from .files import atomic_write_bytes
from .manifest import (
    FINGERPRINT_BYTES,  # noqa: F401 (re-exported: `manifest` needs no torch)
    MANIFEST_NAME,  # noqa: F401 (re-exported: `manifest` needs no torch)
    Manifest,
    WeightsEntry,
    codec_entry_name,
    default_weights_dir,  # noqa: F401 (re-exported: `manifest` needs no torch)
    fingerprint_from_sha256,
    sha256_of_file,
)
from .rate_points import RatePoint, rate_point_for_quality
from .state_dicts import check_fit

TABLES_PREFIX = "tables."
LEGACY_CODING_BUFFERS = ("._offset", "._quantized_cdf", "._cdf_length", ".scale_table")


@dataclass
class LoadedCodec:
    """A codec ready to code: the model in eval mode, its tables and its identity."""

    model: TIC
    tables: EntropyTables
    config_name: str
    rate_point: RatePoint
    sha256: str
    # None for the base codec; a variant ("ft": fully fine-tuned) writes its own model name into
    # .fcc headers, so that a file always finds the weights that wrote it.
    variant: str | None = None
    # The retired registry entry these weights were loaded from (e.g. "tic-small-q4@1f2e…"), for
    # a file written before its rate point's codec was retrained; "" for the registered codec.
    retired_entry: str = ""

    @property
    def fingerprint(self) -> bytes:
        return fingerprint_from_sha256(self.sha256)

    @property
    def model_name(self) -> str:
        return f"tic-{self.config_name}" + (f"-{self.variant}" if self.variant else "")


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """``safetensors.torch.save``, made byte-for-byte reproducible: the library writes the
    metadata in hash-map order, which changes from call to call, so the same weights would get
    a new sha256 at every export. The header is rewritten with sorted keys (the tensor offsets
    are relative to the data, which is untouched), padded with spaces to 8 bytes as the format asks."""
    data = save(tensors, metadata=metadata)
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + header_length :]


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Any weights file's tensors and metadata, or a one-line WeightsError (each kind checks its own metadata)."""
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path}: not a readable safetensors weights file ({error})") from None
    return tensors, metadata


def read_codec_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a codec safetensors file: its tensors under the model's names, and its metadata; or a
    clear WeightsError."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("kind") != "codec" or "config" not in metadata:
        raise WeightsError(f"{path}: not a forensiccodec codec weights file")
    return to_compressai_names(tensors), metadata


def build_codec(
    tensors: dict[str, torch.Tensor], config: TICConfig, *, adapters: bool = False
) -> tuple[TIC, EntropyTables]:
    """Instantiate the model and the tables from a codec file's tensors (with adapters: theirs too)."""
    model = TIC(config, adapters=adapters)
    state = to_compressai_names({k: v for k, v in tensors.items() if not k.startswith(TABLES_PREFIX)})
    expected = model.state_dict()
    check_fit(expected, state, f"weights do not fit the {config} model")
    model.load_state_dict({**expected, **state}, strict=True)
    model.eval()
    tables = EntropyTables.from_tensors(
        {k: v for k, v in tensors.items() if k.startswith(TABLES_PREFIX)}
    )
    return model, tables


def verified_weights_file(manifest: Manifest, entry: WeightsEntry) -> tuple[Path, str]:
    """The entry's file and its sha256, refusing a missing file or one that is not the registered one."""
    path = manifest.directory / entry.file
    if not path.is_file():
        raise WeightsError(f"weights file {path} named in the manifest is missing")
    actual = sha256_of_file(path)
    if actual != entry.sha256:
        raise WeightsError(
            f"{path}: sha256 {actual[:16]}… does not match the manifest ({entry.sha256[:16]}…); refusing"
            " to use weights that are not the registered ones"
        )
    return path, actual


def load_codec(
    config_name: str = "small", quality: int = 3, weights_dir: Path | None = None
) -> LoadedCodec:
    """Load the registered codec for a configuration and quality, refusing a file whose sha256 differs."""
    manifest = Manifest.load(weights_dir)
    return load_codec_entry(manifest, manifest.codec_entry(config_name, quality))


def load_codec_entry(manifest: Manifest, entry: WeightsEntry, variant: str | None = None) -> LoadedCodec:
    """Load any registered complete codec (base or a variant such as the fine-tuned one), sha256-verified."""
    if entry.quality is None:
        raise WeightsError(f"manifest entry {entry.name!r} has no quality")
    path, actual = verified_weights_file(manifest, entry)
    tensors, metadata = read_codec_file(path)
    config = TICConfig.from_dict(json.loads(metadata["config"]))
    model, tables = build_codec(tensors, config)
    retired = entry.name if entry.kind.startswith("retired-") else ""
    return LoadedCodec(model, tables, entry.config_name, rate_point_for_quality(entry.quality), actual, variant, retired)


def codec_file_tensors(model: TIC) -> dict[str, torch.Tensor]:
    """The model's tensors as a codec file stores them: TransTIC's names, without the empty
    placeholders and without CompressAI's own CDF buffers (fcc codes with ``tables.*``, so
    ``model.update()`` changes nothing in the file)."""
    return to_legacy_names({
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if v.numel() > 0 and not k.endswith(LEGACY_CODING_BUFFERS)
    })


def codec_file_bytes(model: TIC, tables: EntropyTables, metadata: dict[str, str]) -> bytes:
    """Serialise a codec (`codec_file_tensors`, plus tables) to safetensors."""
    tensors = codec_file_tensors(model)
    for key, value in tables.to_tensors().items():
        name = key if key.startswith(TABLES_PREFIX) else TABLES_PREFIX + key
        tensors[name] = value.contiguous()
    meta = {"kind": "codec", "config": json.dumps(model.config.to_dict()), **metadata}
    return safetensors_bytes(tensors, meta)


def export_codec(
    model: TIC,
    *,
    config_name: str,
    quality: int,
    weights_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
    name: str | None = None,
    kind: str = "codec",
) -> WeightsEntry:
    """Fix the integer tables from the model, write the safetensors file and register it.

    `name` and `kind` register a variant (e.g. the fine-tuned codec) beside the base entry
    (default: `codec_entry_name`, kind "codec").
    """
    model = model.eval()
    tables = EntropyTables.from_model(model)
    name = name or codec_entry_name(config_name, quality)
    manifest = Manifest.load(weights_dir)
    manifest.directory.mkdir(parents=True, exist_ok=True)
    data = codec_file_bytes(model, tables, {"name": name, "quality": str(quality)})
    file_name = f"{name}.safetensors"
    atomic_write_bytes(manifest.directory / file_name, data, overwrite=overwrite or name in manifest.entries)
    entry = WeightsEntry(
        name=name,
        file=file_name,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=kind,
        config_name=config_name,
        quality=quality,
        extra={"config": model.config.to_dict(), "lambda": rate_point_for_quality(quality).lmbda, **(extra or {})},
    )
    entry.extra = {**carried_over_extra(manifest, name, entry.sha256), **entry.extra}
    manifest.entries[name] = entry
    manifest.save()
    return entry


# Measurements of one weights file (``metrics``, and a detector's fitted ``probability``): they
# never carry over to another file registered under the same name.
MEASUREMENT_KEYS = ("metrics", "probability")


def carried_over_extra(manifest: Manifest, name: str, sha256: str) -> dict[str, Any]:
    """What the entry being replaced recorded that still holds for the new file: everything
    (training record, calibration history) when it is the same file, all but the measurements
    when the file changed (retrained weights must be measured again)."""
    previous = manifest.entries.get(name)
    if previous is None:
        return {}
    if previous.sha256 == sha256:
        return dict(previous.extra)
    return {key: value for key, value in previous.extra.items() if key not in MEASUREMENT_KEYS}


def load_transtic_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Read a public TransTIC ``base_codec_Q.pth.tar``: a state dict, maybe under ``state_dict``/``module.``."""
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except Exception as error:  # noqa: BLE001 (torch raises many types for non-checkpoint files)
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({reason})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a TransTIC checkpoint (no state dict of tensors inside)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def import_transtic(path: Path, quality: int, weights_dir: Path | None = None, overwrite: bool = False) -> WeightsEntry:
    """Convert a public TransTIC base-codec checkpoint into the project's safetensors format."""
    from .codec.tic import from_transtic_state_dict

    name = codec_entry_name("paper", quality)
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries and not overwrite:  # export_codec itself replaces registered entries
        raise WeightsError(f"{name} is already registered in {manifest.directory}; use --force to replace it")
    state = from_transtic_state_dict(load_transtic_checkpoint(path))
    # compressai's own CDF buffers are not used: our integer tables are rebuilt from the prior below.
    state = {k: v for k, v in state.items() if not k.endswith(LEGACY_CODING_BUFFERS)}
    config = get_config("paper")
    model = TIC(config)
    expected = model.state_dict()
    if "g_a0.weight" not in state or "entropy_bottleneck.quantiles" not in state:
        raise WeightsError(f"{path}: not a TransTIC TIC_hp checkpoint (missing g_a0.weight / entropy_bottleneck)")
    check_fit(expected, state, f"{path}: tensors do not match TIC_hp(N=128, M=192)")
    model.load_state_dict({**expected, **state}, strict=True)
    return export_codec(
        model,
        config_name="paper",
        quality=quality,
        weights_dir=weights_dir,
        extra={"source": f"imported from {Path(path).name} (TransTIC base codec)"},
        overwrite=overwrite,
    )
