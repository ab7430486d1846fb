"""The scaffold every training command shares: the --force rule before training, one process
group, the common summary fields."""

import json

import pytest
import torch

from forensiccodec.errors import UsageError
from forensiccodec.train.loop import TrainResult
from forensiccodec.train.scaffold import (
    refuse_to_replace,
    run_summary,
    training_processes,
)


def test_refuses_to_replace_registered_weights(tmp_path):
    refuse_to_replace("detector-small", tmp_path)  # nothing registered: fine
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "weights": {"detector-small": {
        "file": "detector-small.safetensors", "sha256": "0" * 64, "kind": "detector", "config_name": "small"}}}))
    with pytest.raises(UsageError, match="detector-small is already registered .* --force .* --no-export"):
        refuse_to_replace("detector-small", tmp_path)
    refuse_to_replace("detector-paper", tmp_path)


def test_one_process_and_the_common_summary():
    with training_processes("cpu") as context:
        assert context.world_size == 1 and context.device == torch.device("cpu")
        result = TrainResult(steps=3, metrics={"loss": torch.tensor(1.234567)}, checkpoint=None, log_file=None,
                             seconds=2.04, stopped_early=True, total_seconds=5.06, precision="bf16")
        summary = run_summary(result, context)
    assert summary == {"steps": 3, "seconds": 2.0, "total_seconds": 5.1, "stopped_early": True, "precision": "bf16",
                       "final_metrics": {"loss": 1.23457}, "world_size": 1, "device": "cpu"}
