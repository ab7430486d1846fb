"""forensiccodec: a learned image codec that keeps deepfake detectors working.

The public Python API, re-exported lazily so that importing one submodule (e.g. the training
entry point on a machine without the entropy coder) does not import everything:

    from forensiccodec import load_codec, encode_file, decode_file, CodecStore
    codec = load_codec("small", quality=3)
    encode_file(codec, Path("photo.png"), Path("photo.fcc"))
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

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'forensiccodec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
