"""The patch-based real-vs-synthetic detector (Mandelli, Bestagini, Tubaro, WIFS 2024).

Re-exports the public names; each concept lives in its own module.
"""

from forensiccodec.detector.backbone import (
    DETECTOR_CONFIGS,
    DetectorConfig,
    PatchClassifier,
    build_backbone,
    resolve_config,
)
from forensiccodec.detector.model import PatchDetector, render_heatmap
from forensiccodec.detector.official import (
    check_official_keys,
    load_official_state_dict,
)
from forensiccodec.detector.patches import DetectionResult

__all__ = [
    "DETECTOR_CONFIGS",
    "DetectionResult",
    "DetectorConfig",
    "PatchClassifier",
    "PatchDetector",
    "build_backbone",
    "check_official_keys",
    "load_official_state_dict",
    "render_heatmap",
    "resolve_config",
]
