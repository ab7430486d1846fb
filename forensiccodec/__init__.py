"""forensiccodec: a learned image codec that keeps deepfake detectors working.

The public Python API, re-exported lazily so that importing one submodule (e.g. the training
entry point on a machine without the entropy coder) does not import everything:

    from forensiccodec import load_codec, encode_file, decode_file, CodecStore
    codec = load_codec("small", quality=3)
    encode_file(codec, Path("photo.png"), Path("photo.fcc"))

    forensic = load_adapted_codec("small", quality=1, placement="paper")  # base codec + adapters
    finetuned = load_finetuned_codec("small", quality=1)  # the fully fine-tuned baseline
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CodecStore": "forensiccodec.api",
    "encode_file": "forensiccodec.api",
    "decode_file": "forensiccodec.api",
    "file_info": "forensiccodec.api",
    "round_trip": "forensiccodec.api",
    "load_codec": "forensiccodec.zoo",
    "export_codec": "forensiccodec.zoo",
    "import_transtic": "forensiccodec.zoo",
    "load_adapted_codec": "forensiccodec.adapters",
    "load_finetuned_codec": "forensiccodec.adapters",
    "TIC": "forensiccodec.codec.tic",
    "TICConfig": "forensiccodec.codec.config",
    "get_config": "forensiccodec.codec.config",
    "compress": "forensiccodec.codec.pipeline",
    "decompress": "forensiccodec.codec.pipeline",
    "load_image": "forensiccodec.images",
    "save_png": "forensiccodec.images",
    "PatchDetector": "forensiccodec.detector.model",
    "FccError": "forensiccodec.errors",
}

__all__ = [  # spelled out so that static tools see the names; a test keeps it equal to _EXPORTS
    "TIC",
    "CodecStore",
    "FccError",
    "PatchDetector",
    "TICConfig",
    "__version__",
    "compress",
    "decode_file",
    "decompress",
    "encode_file",
    "export_codec",
    "file_info",
    "get_config",
    "import_transtic",
    "load_adapted_codec",
    "load_codec",
    "load_finetuned_codec",
    "load_image",
    "round_trip",
    "save_png",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'forensiccodec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
