"""Forensic adapter weights in the registry, and the fully fine-tuned baseline codec.

Adapters (SFMA, `codec/sfma.py`) are small files beside the frozen base codec they were trained
on: a safetensors file with only the adapter tensors, its metadata naming the base codec's
sha256. Two placements per rate point:

* ``paper``: encoder and decoder adapters (the paper's); the encoder adapters change the latent,
  so an .fcc file written with them sets the header flag ``encoder_adapters``.
* ``decoder``: decoder adapters only, trained on the base codec's own latents; the bitstream is
  the base codec's, so one file decodes either way.

Both keep the base codec's entropy tables, sha256 and fingerprint: the hyperprior path never
changes, so every stream stays decodable by the base codec.

Adapt-ICMH's public `TIC_SFMA` checkpoints (`import_adapt_icmh`) were trained without Swin's
shifted-window mask; their adapters run with the mask dropped in g_a and g_s, where they act,
while h_a and h_s keep it, so that the entropy model, and with it the bitstream, stays the
base codec's.

The fully fine-tuned baseline is a complete codec of its own (its own tables, sha256 and
fingerprint), registered as ``tic-<config>-ft-q<Q>`` and named ``tic-<config>-ft`` in .fcc headers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import manifest as manifest_names
from .codec.config import TICConfig, get_config
from .codec.sfma import SFMA
from .codec.swin import set_shifted_window_mask
from .codec.tic import TIC, from_transtic_state_dict
from .errors import UsageError, WeightsError
from .files import atomic_write_bytes
from .manifest import (
    FINETUNED_VARIANT,
    finetuned_entry_name,
)
from .rate_points import rate_point_for_quality
from .retired import (
    RETIRED_CODEC_KIND,
    RETIRED_KIND,
    export_codec_keeping_replaced,
    find_retired,
    find_retired_by_sha256,
    retire,
)
from .state_dicts import check_fit
from .zoo import (
    LEGACY_CODING_BUFFERS,
    TABLES_PREFIX,
    LoadedCodec,
    Manifest,
    WeightsEntry,
    build_codec,
    carried_over_extra,
    fingerprint_from_sha256,
    load_codec_entry,
    load_transtic_checkpoint,
    read_codec_file,
    read_safetensors,
    safetensors_bytes,
    sha256_of_file,
    verified_weights_file,
)

PLACEMENTS = ("paper", "decoder")  # paper: encoder+decoder adapters; decoder: decoder adapters only
ADAPTERS_KIND = "adapters"
FINETUNED_KIND = "finetuned-codec"
ENCODER_PREFIX, DECODER_PREFIX = "encoder_sfmas.", "decoder_sfmas."
ADAPTER_COUNT = 3  # per side (tic.ENCODER_ADAPTER_AFTER / DECODER_ADAPTER_AFTER)
TRANSFORM_PREFIXES = ("g_a", "g_s")  # where the adapters act; h_a/h_s make the entropy model


def adapter_entry_name(config_name: str, quality: int, placement: str) -> str:
    """The manifest name of an adapter set, e.g. ``sfma-small-q1-paper`` (a checked placement)."""
    check_placement(placement)
    return manifest_names.adapter_entry_name(config_name, quality, placement)


def check_placement(placement: str) -> None:
    if placement not in PLACEMENTS:
        raise UsageError(f"unknown adapter placement {placement!r}; valid: {', '.join(PLACEMENTS)}")


def placement_prefixes(placement: str) -> tuple[str, ...]:
    """The state-dict prefixes an adapter file of this placement holds."""
    check_placement(placement)
    return (ENCODER_PREFIX, DECODER_PREFIX) if placement == "paper" else (DECODER_PREFIX,)


def train_adapter_command(config_name: str, quality: int, placement: str) -> str:
    """The command that trains a missing adapter set (named in refusals)."""
    return f"fcc train-adapter --data <folder> --config {config_name} -q {quality} --placement {placement}"


@dataclass
class AdaptedCodec(LoadedCodec):
    """The base codec with forensic adapters loaded; codes with the base tables and fingerprint."""

    placement: str = "decoder"
    adapters_entry: str = ""
    adapters_sha256: str = ""
    adapters_retired: bool = False  # a replaced paper set, loaded for a file it wrote

    @property
    def encoder_adapters(self) -> bool:
        """Whether encoding with this codec changes the latent (the header flag)."""
        return self.model.encoder_adapters_enabled


# ------------------------------------------------------------------------------------ adapters


def _base_entry(manifest: Manifest, config_name: str, quality: int) -> WeightsEntry:
    return manifest.codec_entry(config_name, quality)


def _check_trained_on(model: TIC, manifest: Manifest, base: WeightsEntry) -> None:
    """Refuse a model whose non-adapter weights are not the registered base codec's (bit for bit)."""
    path, _ = verified_weights_file(manifest, base)
    registered, _ = read_codec_file(path)
    state = model.state_dict()
    for key, value in registered.items():
        if key.startswith(TABLES_PREFIX):
            continue
        own = state.get(key)
        if own is None or own.shape != value.shape or not torch.equal(own.detach().cpu(), value):
            raise WeightsError(
                f"the model's base weights differ from the registered {base.name} (first: {key});"
                " adapters must be trained on the frozen registered base codec"
            )


def export_adapters(
    model: TIC,
    *,
    config_name: str,
    quality: int,
    placement: str,
    weights_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> WeightsEntry:
    """Write the model's adapter tensors (as the placement says) and register them beside their base codec."""
    check_placement(placement)
    rate_point = rate_point_for_quality(quality)
    if not model.has_adapters:
        raise UsageError("this model has no adapters to export (build it with TIC(config, adapters=True))")
    name = adapter_entry_name(config_name, quality, placement)
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries and not overwrite:
        raise WeightsError(f"{name} is already registered in {manifest.directory}; use --force to replace it")
    base = _base_entry(manifest, config_name, quality)
    _check_trained_on(model, manifest, base)
    prefixes = placement_prefixes(placement)
    tensors = {
        key: value.detach().cpu().contiguous()
        for key, value in model.state_dict().items()
        if key.startswith(prefixes)
    }
    metadata = {
        "kind": ADAPTERS_KIND,
        "name": name,
        "config": json.dumps(model.config.to_dict()),
        "config_name": config_name,
        "quality": str(quality),
        "placement": placement,
        "base": base.name,
        "base_sha256": base.sha256,
        "shifted_window_mask": "true" if model.shifted_window_mask else "false",
    }
    data = safetensors_bytes(tensors, metadata)
    sha256 = hashlib.sha256(data).hexdigest()
    retire_replaced_paper_adapters(manifest, name, sha256)  # before its file is written over
    file_name = f"{name}.safetensors"
    atomic_write_bytes(manifest.directory / file_name, data, overwrite=True)
    entry = WeightsEntry(
        name=name,
        file=file_name,
        sha256=sha256,
        kind=ADAPTERS_KIND,
        config_name=config_name,
        quality=quality,
        extra={
            "placement": placement,
            "base": base.name,
            "base_sha256": base.sha256,
            "lambda": rate_point.lmbda,
            "parameters": sum(t.numel() for t in tensors.values()),
            "shifted_window_mask": model.shifted_window_mask,
            **(extra or {}),
        },
    )
    entry.extra = {**carried_over_extra(manifest, name, entry.sha256), **entry.extra}
    manifest.entries[name] = entry
    manifest.save()
    return entry


def retire_replaced_paper_adapters(manifest: Manifest, name: str, new_sha256: str) -> None:
    """Before another file takes the name ``name``: keep the paper set registered under it as a
    retired set, so that the files that set wrote still decode (`retired`)."""
    previous = manifest.entries.get(name)
    if (
        previous is not None
        and previous.kind == ADAPTERS_KIND
        and previous.extra.get("placement") == "paper"
        and previous.sha256 != new_sha256
    ):
        retire(manifest, previous)


def read_adapter_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """An adapter file's tensors and metadata, or a one-line WeightsError."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("kind") != ADAPTERS_KIND or "base_sha256" not in metadata or "placement" not in metadata:
        raise WeightsError(f"{path}: not a forensiccodec adapter weights file")
    return tensors, metadata


@dataclass(frozen=True)
class InitialAdapters:
    """Adapter tensors to start a training run from (``fcc train-adapter --init-from``)."""

    tensors: dict[str, torch.Tensor]  # only the training placement's keys
    shifted_window_mask: bool  # False: trained without Swin's mask in g_a/g_s (Adapt-ICMH)
    record: dict[str, Any]  # what the training record says about the start


def initial_adapters(
    source: str, placement: str, base_sha256: str, reference: TIC, weights_dir: Path | None = None
) -> InitialAdapters:
    """Read the adapters a run starts from: a registered adapter set by name (e.g. the shipped
    ``sfma-small-q1-paper`` or an imported public ``sfma-paper-q1-paper``) or an adapter file.

    Refuses (one line) adapters trained on another base codec, a file without the placement's
    decoder adapters, and tensors whose shapes do not fit ``reference``. A ``paper`` run started
    from a ``decoder`` set starts its encoder adapters as the identity.
    """
    check_placement(placement)
    manifest = Manifest.load(weights_dir)
    entry = manifest.entries.get(source)
    if entry is not None and entry.kind == ADAPTERS_KIND:
        path, sha256 = verified_weights_file(manifest, entry)
    elif Path(source).is_file():
        path = Path(source)
        sha256 = sha256_of_file(path)
    else:
        registered = sorted(n for n, e in manifest.entries.items() if e.kind == ADAPTERS_KIND)
        raise UsageError(
            f"--init-from {source}: neither an adapter file nor an adapter set registered in {manifest.directory}"
            f" (registered: {', '.join(registered) or 'none'})"
        )
    tensors, metadata = read_adapter_file(path)
    if metadata["base_sha256"] != base_sha256:
        raise WeightsError(
            f"--init-from {source}: trained on base codec {metadata['base_sha256'][:16]}…, this run's base codec is"
            f" {base_sha256[:16]}…; adapters only make sense on the base codec they were trained on"
        )
    wanted = {k: v for k, v in tensors.items() if k.startswith(placement_prefixes(placement))}
    if not any(k.startswith(DECODER_PREFIX) for k in wanted):
        raise WeightsError(f"--init-from {source}: holds no decoder adapters")
    check_fit(reference, wanted, f"--init-from {source}: its adapters do not fit this codec", partial=True)
    return InitialAdapters(
        tensors=wanted,
        shifted_window_mask=metadata.get("shifted_window_mask") != "false",
        record={"source": source, "sha256": sha256, "placement": metadata["placement"], "tensors": len(wanted)},
    )


def identity_encoder_adapters(config: TICConfig) -> dict[str, torch.Tensor]:
    """Encoder adapter tensors that change nothing (the decoder placement never switches them on)."""
    tensors = {}
    for index in range(ADAPTER_COUNT):
        for key, value in SFMA(config.N).state_dict().items():
            tensors[f"{ENCODER_PREFIX}{index}.{key}"] = value
    return tensors


def load_adapted_codec(
    config_name: str = "small",
    quality: int = 1,
    placement: str = "decoder",
    weights_dir: Path | None = None,
    fingerprint: bytes | None = None,
) -> AdaptedCodec:
    """The verified base codec with the placement's adapters loaded and switched on, in eval mode.

    The encoder adapters are switched on for ``paper`` only. Refuses adapters that are missing
    (naming the command that trains them) or that were trained on another base codec. With
    ``fingerprint`` (a file's recorded paper adapters), a retired paper set with that fingerprint
    is loaded in place of the registered one, if the registered one is another.
    """
    check_placement(placement)
    manifest = Manifest.load(weights_dir)
    name = adapter_entry_name(config_name, quality, placement)
    entry = manifest.entries.get(name)
    if entry is None or entry.kind != ADAPTERS_KIND:
        raise WeightsError(
            f"no {placement} forensic adapters for {config_name} q{quality} in {manifest.directory};"
            f" train them with `{train_adapter_command(config_name, quality, placement)}`"
        )
    if fingerprint is not None and placement == "paper" and fingerprint_from_sha256(entry.sha256) != fingerprint:
        entry = find_retired(manifest, name, fingerprint) or entry
    base = _base_entry(manifest, config_name, quality)
    adapter_path, adapters_sha256 = verified_weights_file(manifest, entry)
    adapter_tensors, metadata = read_adapter_file(adapter_path)
    if metadata["base_sha256"] != base.sha256:  # trained on a base codec retrained since: run on that one
        base = find_retired_by_sha256(manifest, base.name, metadata["base_sha256"]) or base
    base_path, base_sha256 = verified_weights_file(manifest, base)
    if metadata["base_sha256"] != base_sha256:
        raise WeightsError(
            f"{name} was trained on base codec {metadata['base_sha256'][:16]}…, but the installed {base.name} is"
            f" {base_sha256[:16]}…; retrain them with `{train_adapter_command(config_name, quality, placement)}`"
        )
    if metadata["placement"] != placement:
        raise WeightsError(f"{adapter_path}: holds {metadata['placement']} adapters, registered as {placement}")
    tensors, codec_metadata = read_codec_file(base_path)
    config = TICConfig.from_dict(json.loads(codec_metadata["config"]))
    if not all(key.startswith(placement_prefixes(placement)) for key in adapter_tensors):
        raise WeightsError(f"{adapter_path}: holds tensors outside the {placement} placement's adapters")
    if placement == "decoder":
        tensors = {**tensors, **identity_encoder_adapters(config)}
    model, tables = build_codec({**tensors, **adapter_tensors}, config, adapters=True)
    if metadata.get("shifted_window_mask") == "false":
        drop_transform_shift_masks(model)
    model.set_adapters(encoder=placement == "paper", decoder=True)
    return AdaptedCodec(
        model,
        tables,
        config_name,
        rate_point_for_quality(quality),
        base_sha256,
        placement=placement,
        adapters_entry=entry.name,
        adapters_sha256=adapters_sha256,
        adapters_retired=entry.kind == RETIRED_KIND,
        retired_entry=base.name if base.kind == RETIRED_CODEC_KIND else "",
    )


def drop_transform_shift_masks(model: TIC) -> None:
    """Drop Swin's shifted-window mask in g_a and g_s only (Adapt-ICMH adapters; see the module docstring)."""
    for name, module in model.named_children():
        if name.startswith(TRANSFORM_PREFIXES):
            set_shifted_window_mask(module, False)


def import_adapt_icmh(
    path: Path, quality: int, weights_dir: Path | None = None, overwrite: bool = False, config_name: str = "paper"
) -> WeightsEntry:
    """Register a public Adapt-ICMH `TIC_SFMA` checkpoint's adapters as ``sfma-paper-qQ-paper``.

    Its base weights must be the registered ``tic-paper-qQ`` (TransTIC's ``base_codec_Q``), bit
    for bit (legacy compressai coding buffers aside); only the adapter tensors are kept, recorded
    with ``shifted_window_mask=False``. (`config_name` other than "paper" is for tests.)
    """
    rate_point_for_quality(quality)
    state = from_transtic_state_dict(load_transtic_checkpoint(path))
    adapter_state = {k: v for k, v in state.items() if k.startswith((ENCODER_PREFIX, DECODER_PREFIX))}
    if not adapter_state:
        raise WeightsError(f"{path}: not an Adapt-ICMH TIC_SFMA checkpoint (no encoder_sfmas/decoder_sfmas tensors)")
    manifest = Manifest.load(weights_dir)
    base = _base_entry(manifest, config_name, quality)
    base_path, _ = verified_weights_file(manifest, base)
    registered, _ = read_codec_file(base_path)
    for key, value in state.items():
        if key in registered and not key.endswith(LEGACY_CODING_BUFFERS) and not torch.equal(value.to(registered[key].dtype), registered[key]):
            raise WeightsError(
                f"{path}: its base weights differ from the registered {base.name} (first: {key}); import the"
                f" TransTIC base codec it was trained on with `fcc import-weights base_codec_{quality}.pth.tar -q {quality}`"
            )
    model = TIC(get_config(config_name), adapters=True)
    expected = model.state_dict()
    adapters_expected = {k: v for k, v in expected.items() if k.startswith((ENCODER_PREFIX, DECODER_PREFIX))}
    check_fit(adapters_expected, adapter_state, f"{path}: its adapters do not fit the {config_name} TIC_SFMA")
    base_state = {k: v for k, v in registered.items() if not k.startswith(TABLES_PREFIX)}
    model.load_state_dict({**expected, **base_state, **adapter_state})
    model.set_shifted_window_mask(False)
    return export_adapters(
        model, config_name=config_name, quality=quality, placement="paper", weights_dir=weights_dir,
        extra={"source": f"imported from {Path(path).name} (Adapt-ICMH TIC_SFMA)"}, overwrite=overwrite,
    )


# ------------------------------------------------------------------------------------ fine-tuned codec


def export_finetuned_codec(
    model: TIC,
    *,
    config_name: str,
    quality: int,
    weights_dir: Path | None = None,
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> WeightsEntry:
    """Register a fully fine-tuned codec (a complete codec, own tables) as ``tic-<config>-ft-q<Q>``,
    keeping the one it replaces as retired weights so that the files written with it still decode."""
    if model.has_adapters:
        raise UsageError("a fully fine-tuned codec has no adapters; build it with TIC(config) (adapters: export_adapters)")
    name = finetuned_entry_name(config_name, quality)
    manifest = Manifest.load(weights_dir)
    if name in manifest.entries and not overwrite:
        raise WeightsError(f"{name} is already registered in {manifest.directory}; use --force to replace it")
    base = manifest.entries.get(manifest_names.codec_entry_name(config_name, quality))
    recorded = {"base": base.name, "base_sha256": base.sha256} if base is not None else {}
    return export_codec_keeping_replaced(
        model,
        config_name=config_name,
        quality=quality,
        weights_dir=weights_dir,
        extra={**recorded, **(extra or {})},
        overwrite=True,
        kind=FINETUNED_KIND,
    )


def load_finetuned_codec(config_name: str = "small", quality: int = 1, weights_dir: Path | None = None) -> LoadedCodec:
    """The fully fine-tuned codec, sha256-verified; it writes ``tic-<config>-ft`` into .fcc headers."""
    manifest = Manifest.load(weights_dir)
    name = finetuned_entry_name(config_name, quality)
    entry = manifest.entries.get(name)
    if entry is None or entry.kind != FINETUNED_KIND:
        raise WeightsError(
            f"no fully fine-tuned {config_name} codec for quality {quality} in {manifest.directory}; train it with"
            f" `fcc train-adapter --placement full --config {config_name} -q {quality} --data <folder>`"
        )
    return load_codec_entry(manifest, entry, variant=FINETUNED_VARIANT)


__all__ = [
    "PLACEMENTS",
    "AdaptedCodec",
    "adapter_entry_name",
    "export_adapters",
    "export_finetuned_codec",
    "finetuned_entry_name",
    "import_adapt_icmh",
    "load_adapted_codec",
    "load_finetuned_codec",
]
