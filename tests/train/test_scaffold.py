"""The scaffold every training command shares: the --force rule before training (and the resume
that may replace its own last stint's export), one process group, the common summary fields."""

import json

import pytest
import torch

from forensiccodec.errors import UsageError
from forensiccodec.train.loop import TrainResult
from forensiccodec.train.scaffold import (
    may_replace,
    run_summary,
    training_processes,
)


def _register(folder, training=None):
    entry = {"file": "detector-small.safetensors", "sha256": "0" * 64, "kind": "detector", "config_name": "small"}
    if training is not None:
        entry["training"] = training
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "weights": {"detector-small": entry}}))


def test_refuses_to_replace_registered_weights(tmp_path):
    assert may_replace("detector-small", tmp_path, force=False) is False  # nothing registered: fine
    _register(tmp_path)
    with pytest.raises(UsageError, match="detector-small is already registered .* --force .* --no-export"):
        may_replace("detector-small", tmp_path, force=False)
    assert may_replace("detector-small", tmp_path, force=True) is True
    assert may_replace("detector-paper", tmp_path, force=False) is False


@pytest.mark.parametrize(("record", "resume", "allowed"), [
    ({"steps": 40, "total_seconds": 812.3, "stopped_early": True}, True, True),
    ({"steps": 40, "total_seconds": 812.3, "stopped_early": True}, False, False),  # a fresh run
    ({"steps": 40, "total_seconds": 812.3, "stopped_early": False}, True, False),  # a finished run's set
    ({"steps": 39, "total_seconds": 812.3, "stopped_early": True}, True, False),  # another stint
    ({"steps": 40, "total_seconds": 790.0, "stopped_early": True}, True, False),  # another run, same step
    (None, True, False),
])
def test_a_resume_may_replace_what_its_last_stint_exported(tmp_path, record, resume, allowed):
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"step": 40, "total_seconds": 812.34}, run / "last.pt")
    _register(tmp_path, record)
    if allowed:
        assert may_replace("detector-small", tmp_path, force=False, resume=resume, checkpoint_dir=run) is True
    else:
        with pytest.raises(UsageError, match="already registered"):
            may_replace("detector-small", tmp_path, force=False, resume=resume, checkpoint_dir=run)


def test_one_process_and_the_common_summary():
    with training_processes("cpu") as context:
        assert context.world_size == 1 and context.device == torch.device("cpu")
        result = TrainResult(steps=3, metrics={"loss": torch.tensor(1.234567)}, checkpoint=None, log_file=None,
                             seconds=2.04, stopped_early=True, total_seconds=5.06, precision="bf16")
        summary = run_summary(result, context)
    assert summary == {"steps": 3, "seconds": 2.0, "total_seconds": 5.1, "stopped_early": True, "precision": "bf16",
                       "final_metrics": {"loss": 1.23457}, "world_size": 1, "device": "cpu"}
