"""Register weights trained in another weights folder (a campaign's, a GPU run's) in this one.

Training exports into a private weights folder first (`fcc train-codec --weights-dir runs/...`),
so that a run can be measured before it replaces what ships. `register_weights` moves chosen
entries of such a folder into the target folder, all or nothing:

- every file is checked against its own manifest entry (sha256) and must load as its kind;
- forensic weights (adapters, the fine-tuned codec) must have been trained against the base codec
  and detector registered in the target folder, byte for byte, or they would run on other weights;
- an entry that would replace different weights of the same name needs ``force``; a replaced base
  codec or paper adapter set is kept as retired weights (`retired`), so the files written with it
  still decode and the adapters trained on it still run on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .adapters import ADAPTERS_KIND, read_adapter_file, retire_replaced_paper_adapters
from .detector.weights import read_detector_file
from .errors import WeightsError
from .files import atomic_write_bytes
from .manifest import RETIRED_KINDS, detector_entry_name, retired_entry_name
from .retired import retire
from .zoo import Manifest, WeightsEntry, load_codec_entry, sha256_of_file

CODEC_KINDS = ("codec", "finetuned-codec")


@dataclass(frozen=True)
class Registration:
    """One entry registered, and what became of the weights it replaced: ``None`` (the name was
    new, or held these very weights), the retired entry keeping them, or "replaced" (not kept:
    only base codecs and paper adapters are needed to decode old files)."""

    name: str
    source: Path
    replaced: str | None


def register_weights(sources: list[Path], names: list[str] | None = None, target_dir: Path | None = None,
                     force: bool = False) -> list[Registration]:
    """Copy weights from the weights folders ``sources`` into the target folder, after every check
    has passed for all of them: the entries ``names``, or by default every entry whose file the
    folder holds (a packed run holds its own file beside a copy of its whole manifest)."""
    target = Manifest.load(target_dir)
    chosen = _chosen_entries([Manifest.load(source) for source in sources], names, target)
    # forensic weights may come with the base codec they were trained on: check against both
    registered_after = {**target.entries, **{entry.name: entry for _, entry in chosen}}
    for source, entry in chosen:
        _check_entry(source, target, registered_after, entry, force)
    registered = []
    for source, entry in chosen:
        replaced = _keep_replaced(target, entry)
        atomic_write_bytes(target.directory / entry.file, (source.directory / entry.file).read_bytes(), overwrite=True)
        target.entries[entry.name] = entry
        registered.append(Registration(entry.name, source.directory, replaced))
    target.save()
    return registered


def _chosen_entries(sources: list[Manifest], names: list[str] | None,
                    target: Manifest) -> list[tuple[Manifest, WeightsEntry]]:
    chosen: dict[str, tuple[Manifest, WeightsEntry]] = {}
    for source in sources:
        if not source.entries:
            raise WeightsError(f"{source.directory} has no weights manifest (manifest.json) with entries")
        if source.directory.resolve() == target.directory.resolve():
            raise WeightsError(f"{source.directory} is the target weights folder itself")
        for entry in source.entries.values():
            wanted = entry.name in names if names else (
                entry.kind not in RETIRED_KINDS.values() and (source.directory / entry.file).is_file())
            if not wanted:
                continue
            if entry.name in chosen and chosen[entry.name][1].sha256 != entry.sha256:
                raise WeightsError(f"{entry.name}: {chosen[entry.name][0].directory} and {source.directory} "
                                   "hold different weights under this name")
            chosen[entry.name] = (source, entry)
    missing = [name for name in names or () if name not in chosen]
    if missing:
        raise WeightsError(f"no weights named {', '.join(missing)} in {', '.join(str(s.directory) for s in sources)}")
    if not chosen:
        raise WeightsError(f"no weights files to register in {', '.join(str(s.directory) for s in sources)}")
    return list(chosen.values())


def _check_entry(source: Manifest, target: Manifest, registered_after: dict[str, WeightsEntry], entry: WeightsEntry,
                 force: bool) -> None:
    if entry.kind in RETIRED_KINDS.values():
        raise WeightsError(f"{entry.name}: retired weights are kept by the folder that retired them, not registered")
    path = source.directory / entry.file
    if not path.is_file():
        raise WeightsError(f"{entry.name}: {path} is missing")
    if sha256_of_file(path) != entry.sha256:
        raise WeightsError(f"{entry.name}: {path} does not match its manifest's sha256")
    _check_loads(source, entry, path)
    if entry.kind in (ADAPTERS_KIND, "finetuned-codec"):
        _check_trained_against(registered_after, target.directory, entry)
    previous = target.entries.get(entry.name)
    if previous is not None and previous.sha256 != entry.sha256 and not force:
        raise WeightsError(f"{entry.name} is already registered in {target.directory} with other weights; "
                           "--force replaces it")


def _check_loads(source: Manifest, entry: WeightsEntry, path: Path) -> None:
    """The file loads as what its entry says it is (the shapes fit its configuration)."""
    if entry.kind in CODEC_KINDS:
        load_codec_entry(source, entry)
    elif entry.kind == ADAPTERS_KIND:
        read_adapter_file(path)
    elif entry.kind == "detector":
        read_detector_file(path)
    else:
        raise WeightsError(f"{entry.name}: unknown kind of weights {entry.kind!r}")


def _check_trained_against(registered: dict[str, WeightsEntry], target_dir: Path, entry: WeightsEntry) -> None:
    training = entry.extra.get("training", {})
    checks = (
        ("base codec", entry.extra.get("base", ""), entry.extra.get("base_sha256")),
        ("detector", detector_entry_name(training.get("detector", "small")), training.get("detector_sha256")),
    )
    for what, registered_name, trained_against in checks:
        if trained_against is None:
            continue  # not recorded (older runs): nothing to compare
        counterpart = registered.get(registered_name)
        kept = registered.get(retired_entry_name(registered_name, trained_against))  # a replaced base codec
        if (counterpart is None or counterpart.sha256 != trained_against) and kept is None:
            raise WeightsError(f"{entry.name}: trained against a {what} ({registered_name}) that is not the one "
                               f"registered in {target_dir}")


def _keep_replaced(target: Manifest, entry: WeightsEntry) -> str | None:
    previous = target.entries.get(entry.name)
    if previous is None or previous.sha256 == entry.sha256:
        return None
    if previous.kind in ("codec", "finetuned-codec"):
        return retire(target, previous).name
    if previous.kind == ADAPTERS_KIND and previous.extra.get("placement") == "paper":
        retire_replaced_paper_adapters(target, entry.name, entry.sha256)
        return retired_entry_name(entry.name, previous.sha256)
    return "replaced"
