"""The per-tile progress bar of `fcc encode` / `fcc decode`: shown on a terminal, never in logs or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forensiccodec.cli import common


def run(monkeypatch, terminal: bool, as_json: bool, tmp_path: Path) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    shown: list[bool] = []
    monkeypatch.setattr(type(common.stderr), "is_terminal", property(lambda self: terminal))
    real_progress = __import__("rich.progress", fromlist=["Progress"]).Progress

    class Recording(real_progress):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, disable: bool = False, **kwargs: Any) -> None:
            shown.append(not disable)
            super().__init__(*args, disable=disable, **kwargs)

    monkeypatch.setattr("rich.progress.Progress", Recording)

    def work(path: Path, on_tile) -> str:
        for done in range(1, 4):
            on_tile(done, 3)
            seen.append((done, 3))
        return "ok"

    file = tmp_path / "a.png"
    file.write_bytes(b"")
    common.run_batch([file], [], work, as_json=as_json, describe="encoding", tiles=True)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    return shown


def test_tile_progress_only_on_a_terminal(monkeypatch, tmp_path, capsys):
    assert run(monkeypatch, terminal=True, as_json=False, tmp_path=tmp_path) == [True]
    assert run(monkeypatch, terminal=False, as_json=False, tmp_path=tmp_path) == [False]
    assert run(monkeypatch, terminal=True, as_json=True, tmp_path=tmp_path) == [False]
