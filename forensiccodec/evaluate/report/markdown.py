"""``report.md``: the report's tables and figures for a reader (report.json holds every number)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forensiccodec.files import atomic_write_bytes

REPORT_MD = "report.md"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _with_interval(point: dict[str, Any], key: str) -> str:
    """``0.944 [0.861, 1.000]``: the value and its 95 % interval (the value alone where there is none)."""
    interval = point.get(f"{key}_ci")
    if point.get(key) is None or not interval or None in interval:
        return _number(point.get(key))
    return f"{_number(point[key])} [{_number(interval[0])}, {_number(interval[1])}]"


def _interval_note(report: dict[str, Any]) -> str:
    about = report.get("confidence_intervals")
    if not about:
        return ""
    return (f"Accuracy and AUC: value [{about['level'] * 100:g} % confidence interval], a stratified bootstrap over"
            f" images ({about['resamples']} resamples, seed {about['seed']}). Tiles cut from one photograph"
            " are not independent, so the interval is somewhat too narrow.")


def _summary_table(report: dict[str, Any]) -> list[str]:
    frechet = report["frechet"]["label"]
    lines = [
        f"| setting | rate | bpp | accuracy | AUC | real acc. | synthetic acc. | PSNR (dB) | {frechet} | encode s | decode s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting in report["settings"]:
        for p in setting["points"]:
            rate = "–" if p["rate"] is None else f"q{p['rate']} (λ {p['lambda']:g})"
            lines.append(
                f"| {setting['name']} | {rate} | {_number(p['bpp_mean'], 4)} | {_with_interval(p, 'accuracy')}"
                f" | {_with_interval(p, 'auc')} | {_with_interval(p, 'real_accuracy')}"
                f" | {_with_interval(p, 'synthetic_accuracy')} | {_number(p['psnr_mean'], 2)}"
                f" | {_number(p['frechet'], 2)} | {_number(p['encode_seconds_mean'])} | {_number(p['decode_seconds_mean'])} |"
            )
    return lines


def _weights_table(report: dict[str, Any]) -> list[str]:
    """Which weight files (manifest name, sha256 prefix) each coded point used."""
    rows = [
        f"| {setting['name']} | q{p['rate']} | "
        + ", ".join(f"`{name}` {sha[:12]}" for name, sha in p["weights"].items()) + " |"
        for setting in report["settings"] for p in setting["points"] if p.get("weights")
    ]
    return ["| setting | rate | weights (sha256) |", "|---|---|---|", *rows] if rows else []


def render_markdown(report: dict[str, Any]) -> str:
    detector = report["detector"]
    figures = report["figures"]
    lines = [
        "# fcc eval report",
        "",
        (f"Data: `{report['data']}`, split `{report['split']}`: {report['n_real']} real and"
        f" {report['n_synthetic']} synthetic images"
        + (f" (contents sha256 {report['data_sha256'][:16]}…)" if report.get("data_sha256") else "")
        + f". Codec configuration `{report['codec_config']}`,"
        f" rate points {', '.join(f'q{r}' for r in report['rates'])}."),
        (f"Detector `{detector['config']}` (sha256 {detector['sha256'][:16]}…), {detector['n_patches']} patches,"
        f" mean of the top {detector['top_m']}, seed {detector['seed']}; accuracy at threshold 0."),
        "",
        "bpp is measured from the files written (`.fcc`, `.jpg`, `.webp` in `cache/`), header included,"
        " not from the model's likelihoods. " + report["classic_matching"] + ".",
        "",
        "## Summary",
        "",
        *_summary_table(report),
        "",
    ]
    if _interval_note(report):
        lines += [_interval_note(report), ""]
    if report["skipped"]:
        lines += ["## Skipped", ""]
        for skipped in report["skipped"]:
            rate = "" if skipped["rate"] is None else f" q{skipped['rate']}"
            lines.append(f"- `{skipped['setting']}`{rate}: {skipped['reason']}")
        lines.append("")
    failed = [(s["name"], p["rate"], i) for s in report["settings"] for p in s["points"] for i in p["images"] if "error" in i]
    if failed:
        lines += ["## Failed images", ""]
        lines += [f"- `{name}` q{rate}: {image['error']}" for name, rate, image in failed]
        lines.append("")
    lines += [
        "## Rate-accuracy (paper Fig. 4)",
        "",
        f"![rate-accuracy]({figures['rate_accuracy']})",
        "",
        f"## Score distributions at q{report['dist_rate']} (paper Fig. 5)",
        "",
        f"![score distributions]({figures['score_distributions']})",
        "",
        "## Rate-distortion (paper Fig. 6)",
        "",
        f"![rate-distortion]({figures['rate_distortion']})",
        "",
        (f"**{report['frechet']['label']}**: {report['frechet']['description']}. Reference set: the original"
        f" images; {report['frechet']['samples']} feature vectors of {report['frechet']['dimensions']} dimensions per set."),
        "",
        f"## Qualitative (paper Fig. 7): `{figures['qualitative_image']}`",
        "",
        f"![qualitative]({figures['qualitative']})",
        "",
    ]
    weights = _weights_table(report)
    if weights:
        lines += ["## Weights", "", "The cache is reused only for these files.", "", *weights, ""]
    return "\n".join(lines)


def write_markdown(report: dict[str, Any], out_dir: Path) -> Path:
    path = Path(out_dir) / REPORT_MD
    atomic_write_bytes(path, render_markdown(report).encode(), overwrite=True)
    return path
