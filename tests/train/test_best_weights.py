from pathlib import Path

import torch
from torch import nn

from forensiccodec.train.best_weights import BEST_FILE, BestValidatedWeights


def _scripted(metrics: list[dict[str, float]]):
    def validate(step: int) -> dict[str, float]:
        return metrics[step - 1]
    return validate


def test_keeps_the_best_by_accuracy_then_auc_and_restores_it(tmp_path: Path) -> None:
    model = nn.Linear(2, 2)
    metrics = [
        {"accuracy": 0.5, "auc": 0.6},
        {"accuracy": 0.8, "auc": 0.7},
        {"accuracy": 0.8, "auc": 0.9},  # ties on accuracy, wins on AUC
        {"accuracy": 0.8, "auc": 0.9},  # equal: the earlier one stays
        {"accuracy": 0.7, "auc": 1.0},
    ]
    best = BestValidatedWeights(_scripted(metrics), model, ["weight"], tmp_path)
    snapshots = {}
    for step in range(1, 6):
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.bias.fill_(float(step))
        assert best(step) == metrics[step - 1]
        snapshots[step] = model.weight.detach().clone()
    kept = best.restore()
    assert kept == {"step": 3, "accuracy": 0.8, "auc": 0.9}
    assert torch.equal(model.weight, snapshots[3])
    assert torch.equal(model.bias, torch.full((2,), 5.0))  # only the named tensors go back
    assert (tmp_path / BEST_FILE).exists()

    resumed_model = nn.Linear(2, 2)
    resumed = BestValidatedWeights(_scripted(metrics), resumed_model, ["weight"], tmp_path, resume=True)
    assert resumed.restore()["step"] == 3 and torch.equal(resumed_model.weight, snapshots[3])

    fresh = BestValidatedWeights(_scripted(metrics), nn.Linear(2, 2), ["weight"], tmp_path)
    assert fresh.restore() is None and not (tmp_path / BEST_FILE).exists()
