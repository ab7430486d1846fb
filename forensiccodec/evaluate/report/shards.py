"""Sharded reports: each shard's records, and merging them into the report of one run.

``fcc eval --shard K/N -o DIR`` measures part K of N of the split's images (through the same
cache as any run, so a killed shard resumes where it stopped) and writes
``DIR/report-shard-K-of-N.json``: the report's fields, every image's measurements, the
originals' measurements (the Fréchet reference) and what must agree between shards (the data,
the weights, the settings). It writes no report, plots or ``report.md``.

``fcc eval --merge DIR... -o OUT`` (:func:`merge_shards`) reads the records of the N shards (all
in one folder that every shard wrote to, or one folder each), refuses a set with a shard
missing or there twice, or shards made over other data, with other weights (sha256) or other
settings, and computes every number again from the per-image measurements and the cached
features, in the order one run uses: the merged ``report.json``, plots and ``report.md`` are
those of one run over all the images (timings aside, and ``merged_from``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from forensiccodec.data.layout import CLASSES
from forensiccodec.errors import UsageError
from forensiccodec.files import atomic_write_bytes
from forensiccodec.sharding import Shard

from .cache import cache_entry, encoded_suffix
from .frechet import frechet_distance
from .metrics import CONFIDENCE_INTERVALS, summarise_point
from .options import EvalOptions
from .output import without_nan, write_report
from .produce import CLASSIC_MATCHING

SHARD_FILE = re.compile(r"^report-shard-(\d+)-of-(\d+)\.json$")
SHARD_FORMAT = 1


def shard_file_name(shard: Shard) -> str:
    return f"report-{shard.file_tag}.json"


def inputs_digest(keys: list[str]) -> str:
    """sha256 of the split's image keys (paths under --data), sorted: the same data on any machine."""
    return hashlib.sha256("\n".join(sorted(keys)).encode("utf-8", "surrogateescape")).hexdigest()


def write_shard_records(report: dict[str, Any], options: EvalOptions, shard: Shard, keys: list[str], taken: int,
                        reference: dict[str, Any] | None) -> dict[str, Any]:
    """Write ``report-shard-K-of-N.json`` into ``options.out_dir``; return the records."""
    records = {
        "format": SHARD_FORMAT,
        "shard": {"index": shard.index, "count": shard.count, "source": shard.source, "inputs": taken,
                  "inputs_total": len(keys), "inputs_sha256": inputs_digest(keys)},
        "options": {"fd_patches": options.fd_patches, "crop_image": options.crop_image,
                    "crop_size": options.crop_size},
        **report,
        "reference": reference,
    }
    text = json.dumps(records, indent=1, allow_nan=False, default=str) + "\n"
    path = Path(options.out_dir) / shard_file_name(shard)
    atomic_write_bytes(path, text.encode(), overwrite=True)
    records["records_file"] = str(path)
    return records


# ---- reading and checking ------------------------------------------------------------------


@dataclass
class ShardRecords:
    path: Path  # report-shard-K-of-N.json
    records: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def index(self) -> int:
        return int(self.records["shard"]["index"])

    @property
    def count(self) -> int:
        return int(self.records["shard"]["count"])

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def _read(path: Path) -> ShardRecords:
    try:
        records = json.loads(path.read_text())
        shard = records["shard"]
        int(shard["index"]), int(shard["count"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not a readable shard record ({type(error).__name__})") from None
    if records.get("format") != SHARD_FORMAT:
        raise UsageError(f"{path}: shard record format {records.get('format')!r}, this fcc reads {SHARD_FORMAT}")
    return ShardRecords(path, records)


def find_shard_files(dirs: list[Path], count: int | None = None) -> list[ShardRecords]:
    """Every shard record in ``dirs`` (of ``count`` shards only, when given), each file once."""
    seen: set[Path] = set()
    found: list[ShardRecords] = []
    for directory in dirs:
        if not directory.is_dir():
            raise UsageError(f"--merge {directory}: no such folder")
        paths = sorted(p for p in directory.iterdir() if SHARD_FILE.match(p.name) and p.is_file())
        if count is not None:
            paths = [p for p in paths if int(SHARD_FILE.match(p.name).group(2)) == count]  # type: ignore[union-attr]
        if not paths:
            raise UsageError(f"{directory} holds no report-shard-K-of-N.json (written by fcc eval --shard K/N -o {directory})")
        for path in paths:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(_read(path))
    return found


def _fingerprint(records: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(what, field, value) that every shard of one run shares: the data, the weights, the settings."""
    detector = records["detector"]
    points = {f"{s['name']} q{p['rate']}": p.get("weights") for s in records["settings"] for p in s["points"]
              if p.get("rate") is not None}
    shard = records["shard"]
    return [
        ("data", "split", records["split"]),
        ("data", "images", (shard["inputs_total"], shard["inputs_sha256"])),
        ("data", "image contents (sha256)", records.get("data_sha256")),
        ("weights", "detector sha256", detector["sha256"]),
        ("weights", "codec weights (sha256)", points),
        ("settings", "codec configuration", records["codec_config"]),
        ("settings", "settings", [s["name"] for s in records["settings"]]),
        ("settings", "rates", records["rates"]),
        ("settings", "dist rate", records["dist_rate"]),
        ("settings", "detector", {k: v for k, v in detector.items() if k != "sha256"}),
        ("settings", "Fréchet features", (records["frechet"]["name"], records["frechet"]["description"])),
        ("settings", "options", records["options"]),
        ("settings", "skipped settings", sorted((s["setting"], s["rate"] or 0) for s in records["skipped"])),
    ]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def check_shards(shards: list[ShardRecords]) -> list[ShardRecords]:
    """The shards in order 1..N; :class:`UsageError` (one line) for a set that is not one run's N shards."""
    counts = sorted({s.count for s in shards})
    if len(counts) > 1:
        named = "; ".join(f"of {c}: " + ", ".join(str(s.path) for s in shards if s.count == c) for c in counts)
        raise UsageError(f"the shard records are of different shardings ({named}): merge one sharding at a time")
    count = counts[0]
    by_index: dict[int, ShardRecords] = {}
    for shard in shards:
        if shard.index in by_index:
            raise UsageError(f"shard {shard.label} is there twice: {by_index[shard.index].path} and {shard.path}")
        by_index[shard.index] = shard
    missing = [k for k in range(1, count + 1) if k not in by_index]
    if missing:
        names = ", ".join(f"{k}/{count}" for k in missing)
        have = ", ".join(str(k) for k in sorted(by_index)) or "none"
        raise UsageError(f"shard{'s' if len(missing) > 1 else ''} {names} missing (have {have} of {count}):"
                         f" run fcc eval --shard {missing[0]}/{count} with the same options")
    ordered = [by_index[k] for k in range(1, count + 1)]
    first = ordered[0]
    expected = _fingerprint(first.records)
    for shard in ordered[1:]:
        for (what, field, value), (_, _, own) in zip(expected, _fingerprint(shard.records)):
            if value != own:
                made = {"data": "over other data", "weights": "with other weights",
                        "settings": "with other settings"}[what]
                raise UsageError(f"shard {shard.label} was made {made} than shard {first.label}: {field}"
                                 f" {_short(own)} vs {_short(value)} ({shard.path}, {first.path})")
    total = sum(int(s.records["shard"]["inputs"]) for s in ordered)
    if total != first.records["shard"]["inputs_total"]:
        raise UsageError(f"the {count} shards hold {total} of the split's {first.records['shard']['inputs_total']}"
                         " images (made by versions of fcc that partition differently?)")
    return ordered


# ---- merging -------------------------------------------------------------------------------


def _order(image: dict[str, Any]) -> tuple[int, PurePath]:
    """One run's order: real before synthetic, each by path (`forensiccodec.data.layout.scan_split`)."""
    return CLASSES.index(image["label"]), PurePath(image["file"])


def _moved(image: dict[str, Any], shard_dir: Path, out_dir: Path) -> dict[str, Any]:
    """The image's record with its cached files named relative to ``out_dir`` instead of the shard's folder."""
    if image.get("encoded") is None:
        return image
    moved = dict(image)
    for key in ("encoded", "decoded"):
        moved[key] = os.path.relpath(shard_dir / image[key], out_dir)
    return moved


class _Merger:
    def __init__(self, shards: list[ShardRecords], out_dir: Path) -> None:
        self.shards = shards
        self.out_dir = out_dir
        self.extractor = shards[0].records["frechet"]["name"]

    def images(self, point_of: Any) -> list[tuple[ShardRecords, dict[str, Any]]]:
        """(shard, image) of one point over every shard, in one run's order."""
        merged = [(shard, image) for shard in self.shards for image in point_of(shard.records)["images"]]
        return sorted(merged, key=lambda item: _order(item[1]))

    def features(self, setting: str, has_rates: bool, rate: int | None,
                 images: list[tuple[ShardRecords, dict[str, Any]]]) -> np.ndarray | None:
        stacked = []
        for shard, image in images:
            if "error" in image:
                continue
            entry = cache_entry(shard.directory / "cache", setting, encoded_suffix(setting, has_rates), rate,
                                Path(image["file"]), CLASSES.index(image["label"]))
            features = entry.read_features(self.extractor)
            if features is None:
                raise UsageError(f"shard {shard.label}: {entry.features_path(self.extractor)} is missing"
                                 " (its cache was moved or deleted?): run that shard again")
            stacked.append(features)
        return np.concatenate(stacked) if stacked else None

    def point(self, setting: dict[str, Any], index: int, reference: np.ndarray | None) -> dict[str, Any]:
        def point_of(records: dict[str, Any]) -> dict[str, Any]:
            return next(s for s in records["settings"] if s["name"] == setting["name"])["points"][index]

        first = point_of(self.shards[0].records)
        pairs = self.images(point_of)
        images = [_moved(image, shard.directory, self.out_dir) for shard, image in pairs]
        point: dict[str, Any] = {"rate": first["rate"]}
        if first["rate"] is not None:
            point["lambda"] = first["lambda"]
            point["weights"] = first["weights"]
        point.update(summarise_point(images))
        point["reused_from_cache"] = sum(1 for i in images if i.get("reused"))
        stacked = self.features(setting["name"], setting["kind"] != "reference", first["rate"], pairs)
        if setting["kind"] == "reference":
            reference = stacked
        point["frechet"] = (frechet_distance(reference, stacked)
                            if stacked is not None and reference is not None else None)
        point["images"] = images
        return point

    def report(self) -> dict[str, Any]:
        first = self.shards[0].records
        pairs = self.images(lambda records: records["reference"])
        reference = self.features("uncompressed", False, None, pairs)
        settings = []
        for setting in first["settings"]:
            points = [self.point(setting, index, reference) for index in range(len(setting["points"]))]
            settings.append({key: setting[key] for key in ("name", "label", "kind")} | {"points": points})
        frechet = dict(first["frechet"])
        frechet["samples"] = None if reference is None else int(reference.shape[0])
        frechet["dimensions"] = None if reference is None else int(reference.shape[1])
        return {
            "data": first["data"], "split": first["split"], "data_sha256": first.get("data_sha256"),
            "n_real": sum(s.records["n_real"] for s in self.shards),
            "n_synthetic": sum(s.records["n_synthetic"] for s in self.shards),
            "codec_config": first["codec_config"], "rates": first["rates"], "dist_rate": first["dist_rate"],
            "detector": first["detector"], "frechet": frechet, "classic_matching": CLASSIC_MATCHING,
            "confidence_intervals": CONFIDENCE_INTERVALS, "settings": settings, "skipped": first["skipped"],
            "encoded_this_run": sum(s.records["encoded_this_run"] for s in self.shards),
            "merged_from": {"shards": len(self.shards),
                            "records": [os.path.relpath(s.path, self.out_dir) for s in self.shards]},
        }


def merge_shards(dirs: list[Path], out_dir: Path, count: int | None = None) -> dict[str, Any]:
    """Merge the shard records in ``dirs`` (of ``count`` shards only, when given) into ``out_dir``'s
    ``report.json``, plots and ``report.md``, as one run over every image writes them; return the report."""
    shards = check_shards(find_shard_files([Path(d) for d in dirs], count))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = without_nan(_Merger(shards, out_dir).report())
    options = shards[0].records["options"]
    return write_report(report, out_dir, crop_image=options["crop_image"], crop_size=options["crop_size"])
