"""What a .fcc file is, without torch: its header fields, stream sizes, bpp, and which installed
weights decode it (`fcc info`).

Reads the container (`codec.bitstream`) and the weights manifest (`manifest`), neither of which
needs torch or the entropy coder, so `fcc info` starts fast. `api` re-exports `file_info`,
`read_fcc_file` and `model_identity`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .codec.bitstream import FccFile, FccHeader, read_fcc
from .color_modes import ColorMode
from .errors import BitstreamError
from .manifest import (
    Manifest,
    codec_entry_name,
    find_retired,
    finetuned_entry_name,
    fingerprint_from_sha256,
)
from .rate_points import rate_point_for_quality

FINETUNED_SUFFIX = "-ft"  # model names in headers: tic-small (base), tic-small-ft (fine-tuned)


def model_identity(model_name: str) -> tuple[str, str]:
    """'tic-small' → ('small', 'base'), 'tic-small-ft' → ('small', 'finetuned'): whose weights wrote a file."""
    if not model_name.startswith("tic-") or model_name in ("tic-", f"tic{FINETUNED_SUFFIX}"):
        raise BitstreamError(f"this fcc cannot decode files of model {model_name!r}")
    name = model_name.removeprefix("tic-")
    if name.endswith(FINETUNED_SUFFIX):
        return name.removesuffix(FINETUNED_SUFFIX), "finetuned"
    return name, "base"


def model_config_name(model_name: str) -> str:
    """'tic-small' → 'small': the configuration a .fcc file's model name refers to."""
    return model_identity(model_name)[0]


def read_fcc_file(path: Path) -> tuple[FccFile, int]:
    """Read and validate a .fcc file; returns it and its size in bytes."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BitstreamError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BitstreamError(f"{path}: is a directory") from None
    except OSError as error:
        raise BitstreamError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return read_fcc(data), len(data)
    except BitstreamError as error:
        raise BitstreamError(f"{path}: {error}") from None


def file_info(path: Path, weights_dir: Path | None = None) -> dict[str, Any]:
    """The header fields, stream sizes and bpp of a .fcc file, and which installed weights
    decode it (the registered codec, a retired one, or none)."""
    fcc, size = read_fcc_file(path)
    header = fcc.header
    pixels = header.width * header.height
    return {
        "file": str(path),
        "format_version": f"{header.version_major}.{header.version_minor}",
        "model": header.model_name,
        "quality": header.quality,
        "lambda": rate_point_for_quality(header.quality).lmbda if 1 <= header.quality <= 4 else None,
        "weights_fingerprint": header.weights_fingerprint.hex(),
        "decoded_with": _weights_for_header(header, weights_dir),
        "encoder_adapters": header.encoder_adapters,
        # 1.1: the paper adapter weights that wrote a flagged file; None without adapters or in a 1.0 file
        "adapter_fingerprint": header.adapter_fingerprint.hex() if header.adapter_fingerprint else None,
        "width": header.width,
        "height": header.height,
        "color_mode": ColorMode(header.color_mode).name if header.color_mode in set(ColorMode) else header.color_mode,
        "bit_depth": header.bit_depth,
        "z_shape": list(header.z_shape),
        "y_shape": list(header.y_shape),
        "hyperprior_bytes": len(fcc.z_stream),
        "latent_bytes": len(fcc.y_stream),
        "file_bytes": size,
        "header_bytes": size - len(fcc.z_stream) - len(fcc.y_stream),
        "bpp": 8 * size / pixels,
    }


def _weights_for_header(header: FccHeader, weights_dir: Path | None) -> str:
    """The registry entry whose weights wrote this file, marked when retired, or why there is none."""
    try:
        config_name, kind = model_identity(header.model_name)
    except BitstreamError:
        return "no weights: unknown model"
    manifest = Manifest.load(weights_dir)
    name = codec_entry_name(config_name, header.quality)
    if kind == "finetuned":
        name = finetuned_entry_name(config_name, header.quality)
    active = manifest.entries.get(name)
    if active is not None and fingerprint_from_sha256(active.sha256) == header.weights_fingerprint:
        return name
    retired = find_retired(manifest, name, header.weights_fingerprint)
    if retired is not None:
        return f"{retired.name} (retired: {name} has been retrained since)"
    return f"not installed ({name} has other weights)" if active is not None else f"not installed (no {name})"
