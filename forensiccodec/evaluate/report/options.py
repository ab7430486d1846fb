"""What one `fcc eval` run measures: the split, the settings and rate points, the detector's
patches, the Fréchet features, the weights and, for a sharded run, its part of the images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forensiccodec.sharding import Shard


@dataclass
class EvalOptions:
    data_dir: Path
    out_dir: Path
    split: str = "test"
    settings: list[str] | None = None  # None: all
    rates: list[int] | None = None  # qualities 1..4; None: all
    config_name: str = "small"  # codec configuration
    detector_config: str = "small"
    n_patches: int | None = None  # detector defaults when None
    top_m: int | None = None
    dist_rate: int | None = None  # rate point of the score distributions and crops (default: lowest)
    fid_weights: Path | None = None
    fd_patches: int = 64
    crop_image: str | None = None  # file name of the image to crop (default: the first synthetic)
    crop_size: int = 128
    weights_dir: Path | None = None
    shard: Shard | None = None  # measure only this part of the images and write its records, not the report
