"""Running a report: every selected setting and rate point on every image of a split.

For each (setting, rate point) the images are coded through the cache (:mod:`.produce`), then
scored by the detector, compared with the original (PSNR) and described by a fixed feature
extractor (:mod:`.features`); measurements are cached beside the decoded files, so a run that
was interrupted resumes without coding or scoring anything twice. A setting that cannot run
(its weights or code are not installed) is skipped with its reason; an image that fails is
reported and the run goes on.

With a shard (``EvalOptions.shard``, ``fcc eval --shard K/N``) a run measures only its part of
the images (:mod:`forensiccodec.sharding`: by the path under ``--data``) and writes its records,
``report-shard-K-of-N.json``, instead of the report; :mod:`.shards` merges the records of every
shard into the report one run over everything writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from forensiccodec.data.layout import CLASSES, contents_sha256
from forensiccodec.detector.evaluation import labelled_files
from forensiccodec.detector.model import PatchDetector
from forensiccodec.detector.weights import find_detector_entry, load_detector
from forensiccodec.errors import FccError, UsageError
from forensiccodec.images import load_image, psnr
from forensiccodec.rate_points import RATE_POINTS, rate_point_for_quality
from forensiccodec.sharding import input_key
from forensiccodec.zoo import Manifest

from .cache import CacheEntry, cache_entry, encoded_suffix
from .features import FeatureExtractor, make_extractor
from .frechet import frechet_distance
from .metrics import CONFIDENCE_INTERVALS, summarise_point
from .options import EvalOptions
from .output import finite, without_nan, write_report
from .produce import CLASSIC_MATCHING, Producer, SettingUnavailable
from .settings import CLASSIC, REFERENCE, Setting, select_settings, setting_by_name
from .shards import write_shard_records


class _Progress:
    """A rich Progress, or nothing."""

    def __init__(self, progress: Any | None) -> None:
        self.progress = progress

    def start(self, description: str, total: int) -> Any:
        return None if self.progress is None else self.progress.add_task(description, total=total)

    def advance(self, task: Any) -> None:
        if self.progress is not None:
            self.progress.advance(task)


def _relative(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive on Windows
        return str(path)


class _Runner:
    def __init__(self, options: EvalOptions, progress: Any | None) -> None:
        self.options = options
        self.out_dir = Path(options.out_dir)
        self.cache_dir = self.out_dir / "cache"
        self.progress = _Progress(progress)
        self.all_samples = labelled_files(options.data_dir, options.split)
        self.keys = [input_key(image, [options.data_dir]) for image, _ in self.all_samples]
        self.shard = options.shard
        self.samples = (self.all_samples if self.shard is None
                        else self.shard.select(zip(self.keys, self.all_samples)))
        self.detector: PatchDetector = load_detector(options.detector_config, options.weights_dir,
                                                     n_patches=options.n_patches, top_m=options.top_m)
        entry = find_detector_entry(Manifest.load(options.weights_dir), options.detector_config)
        self.detector_info = {
            "config": options.detector_config, "sha256": entry.sha256, "n_patches": self.detector.n_patches,
            "top_m": self.detector.top_m, "seed": self.detector.seed,
        }
        self.detector_key = (f"{options.detector_config}:{entry.sha256[:16]}:n{self.detector.n_patches}"
                             f":m{self.detector.top_m}:s{self.detector.seed}")
        self.extractor: FeatureExtractor = make_extractor(self.detector, options.detector_config,
                                                          options.fid_weights, options.fd_patches)
        self.producer = Producer(options.config_name, options.weights_dir)
        self.reference_features: np.ndarray | None = None
        self.reference_point: dict[str, Any] | None = None  # the originals' measurements (a shard keeps them)

    def entry(self, setting: Setting, rate: int | None, image: Path, label: int) -> CacheEntry:
        return cache_entry(self.cache_dir, setting.name, encoded_suffix(setting.name, setting.has_rates),
                           rate, image, label)

    def base_bpp(self, rate: int, image: Path, label: int) -> float | None:
        base = setting_by_name("base")
        return self.producer.produce(base, rate, image, self.entry(base, rate, image, label)).bpp

    def measure_image(self, setting: Setting, rate: int | None, image: Path, label: int) -> tuple[dict[str, Any], np.ndarray]:
        entry = self.entry(setting, rate, image, label)
        target = self.base_bpp(rate, image, label) if setting.kind == CLASSIC and rate is not None else None
        produced = self.producer.produce(setting, rate, image, entry, base_bpp=target)
        record = entry.read_record()
        scores = record.setdefault("scores", {})
        changed = False
        decoded_pixels = None
        if self.detector_key not in scores:
            decoded_pixels = load_image(produced.decoded).pixels
            scores[self.detector_key] = self.detector.score_image(decoded_pixels).score
            changed = True
        if "psnr" not in record:
            if produced.encoded is None:
                record["psnr"] = None  # the original itself: no distortion to measure
            else:
                decoded_pixels = load_image(produced.decoded).pixels if decoded_pixels is None else decoded_pixels
                record["psnr"] = finite(psnr(load_image(image).pixels, decoded_pixels))
            changed = True
        if changed:
            entry.write_record(record)
        features = entry.read_features(self.extractor.name)
        if features is None:
            decoded_pixels = load_image(produced.decoded).pixels if decoded_pixels is None else decoded_pixels
            # As the cache keeps them: a resumed run or a merge of shards computes the same distances.
            features = self.extractor.features(decoded_pixels).astype(np.float32)
            entry.write_features(self.extractor.name, features)
        result = {
            "file": str(image), "label": CLASSES[label],
            "encoded": _relative(produced.encoded, self.out_dir) if produced.encoded else None,
            "decoded": _relative(produced.decoded, self.out_dir) if produced.encoded else str(image),
            "bpp": produced.bpp, "score": scores[self.detector_key], "psnr": record["psnr"],
            "encode_seconds": produced.encode_seconds, "decode_seconds": produced.decode_seconds,
            "reused": produced.reused,
        }
        if produced.quality is not None:
            result["quality"] = produced.quality
        return result, features

    def run_point(self, setting: Setting, rate: int | None) -> dict[str, Any]:
        description = setting.name if rate is None else f"{setting.name} q{rate}"
        task = self.progress.start(description, len(self.samples))
        images: list[dict[str, Any]] = []
        features: list[np.ndarray] = []
        for image, label in self.samples:
            try:
                result, image_features = self.measure_image(setting, rate, image, label)
                images.append(result)
                features.append(image_features)
            except SettingUnavailable:
                raise
            except FccError as error:
                images.append({"file": str(image), "label": CLASSES[label], "error": str(error)})
            self.progress.advance(task)
        point: dict[str, Any] = {"rate": rate}
        if rate is not None:
            point["lambda"] = rate_point_for_quality(rate).lmbda
            point["weights"] = self.producer.weights_used(setting, rate)
        point.update(summarise_point(images))
        point["reused_from_cache"] = sum(1 for i in images if i.get("reused"))
        stacked = np.concatenate(features) if features else None
        if setting.kind == REFERENCE:
            self.reference_features = stacked
            self.reference_point = point
        # A shard's Fréchet distance would be over its part only: the merge computes it over all.
        point["frechet"] = (frechet_distance(self.reference_features, stacked)
                            if self.shard is None and stacked is not None and self.reference_features is not None
                            else None)
        point["images"] = images
        return point

    def run(self) -> dict[str, Any]:
        options = self.options
        rates = sorted(set(options.rates or [p.quality for p in RATE_POINTS]))
        for rate in rates:
            rate_point_for_quality(rate)
        dist_rate = options.dist_rate if options.dist_rate is not None else rates[0]
        if dist_rate not in rates:
            raise UsageError(f"--dist-rate {dist_rate} is not among the rates run ({', '.join(map(str, rates))})")
        selected = select_settings(options.settings)
        # The reference features of every Fréchet distance are those of the originals.
        runs = [setting_by_name("uncompressed")] + [s for s in selected if s.kind != REFERENCE]
        results: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for setting in runs:
            points = []
            for rate in (rates if setting.has_rates else [None]):
                try:
                    self.producer.check_available(setting, rate)
                    points.append(self.run_point(setting, rate))
                except SettingUnavailable as error:
                    skipped.append({"setting": setting.name, "rate": rate, "reason": str(error)})
            if setting in selected or points:
                results.append({"name": setting.name, "label": setting.label, "kind": setting.kind, "points": points})
        return {
            "data": str(options.data_dir), "split": options.split,
            # the whole split's, in every shard: which images the numbers were measured on
            "data_sha256": contents_sha256(self.all_samples, self.keys),
            "n_real": sum(1 for _, label in self.samples if label == 0),
            "n_synthetic": sum(1 for _, label in self.samples if label == 1),
            "codec_config": options.config_name, "rates": rates, "dist_rate": dist_rate,
            "detector": self.detector_info,
            "frechet": {"name": self.extractor.name, "label": self.extractor.label, "is_fid": self.extractor.is_fid,
                        "description": self.extractor.description,
                        "samples": None if self.reference_features is None else int(self.reference_features.shape[0]),
                        "dimensions": None if self.reference_features is None else int(self.reference_features.shape[1])},
            "classic_matching": CLASSIC_MATCHING,
            "confidence_intervals": CONFIDENCE_INTERVALS,
            "settings": [r for r in results if r["name"] in {s.name for s in selected}],
            "skipped": skipped,
            "encoded_this_run": self.producer.encode_count,
        }


def run_evaluation(options: EvalOptions, progress: Any | None = None,
                   announce: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the report's measurements, write ``report.json``, the plots and ``report.md``; return the report.

    With ``options.shard``: measure that part of the images only and write its records
    (``report-shard-K-of-N.json``, :mod:`.shards`) instead; return them. ``announce(taken, total)``
    is called with the number of images this run measures, once the split is listed."""
    out_dir = Path(options.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(options, progress)
    if announce is not None:
        announce(len(runner.samples), len(runner.all_samples))
    report = without_nan(runner.run())
    if options.shard is not None:
        return write_shard_records(report, options, options.shard, runner.keys, len(runner.samples),
                                   without_nan(runner.reference_point))
    return write_report(report, out_dir, crop_image=options.crop_image, crop_size=options.crop_size)
