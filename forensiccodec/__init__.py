"""forensiccodec: a learned image codec that keeps deepfake detectors working."""

__version__ = "0.1.0"
