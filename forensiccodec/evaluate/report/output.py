"""Writing a report: ``report.json`` as strict JSON, its plots and ``report.md``, the same for
one run and for a merge of shards."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from forensiccodec.files import atomic_write_bytes

REPORT_JSON = "report.json"


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def without_nan(value: Any) -> Any:
    """NaN/inf (an AUC with one class, say) become null: report.json stays strict JSON."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def write_report(report: dict[str, Any], out_dir: Path, *, crop_image: str | None = None,
                 crop_size: int = 128) -> dict[str, Any]:
    """Write the plots, ``report.json`` and ``report.md`` of ``report`` into ``out_dir``; return it."""
    from .markdown import write_markdown
    from .plots import write_plots

    report["figures"] = write_plots(report, out_dir, crop_image=crop_image, crop_size=crop_size)
    text = json.dumps(report, indent=1, allow_nan=False, default=str) + "\n"
    atomic_write_bytes(out_dir / REPORT_JSON, text.encode(), overwrite=True)
    write_markdown(report, out_dir)
    return report
