"""The training loop, with CompressAI's ScaleHyperprior at a tiny width as a stand-in for TIC
(same interface: x_hat, likelihoods y/z, aux_loss(), entropy_bottleneck.quantiles)."""

import json

import pytest
import torch
from compressai.models import ScaleHyperprior
from torch.utils.data import Dataset

from forensiccodec.train.loop import (
    CHECKPOINT_NAME,
    LOG_NAME,
    TrainConfig,
    TrainingError,
    aux_parameter_names,
    learning_rate,
    train_codec,
)
from forensiccodec.train.rate_distortion import RateDistortionLoss

torch.set_num_threads(1)


class NoiseImages(Dataset):
    """Deterministic smooth random images, 64x64."""

    def __init__(self, n=8):
        generator = torch.Generator().manual_seed(0)
        coarse = torch.rand(n, 3, 8, 8, generator=generator)
        self.images = torch.nn.functional.interpolate(coarse, size=64, mode="bilinear", align_corners=False)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return ScaleHyperprior(N=8, M=8)


def config(tmp_path, **overrides):
    values = dict(steps=4, batch_size=2, device="cpu", checkpoint_dir=str(tmp_path), checkpoint_every=2,
                  log_every=1, progress=False, lr_milestones=(), seed=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_training_reduces_the_loss_and_writes_checkpoint_and_log(tmp_path):
    model = tiny_model()
    dataset = NoiseImages()
    loss_fn = RateDistortionLoss(0.013)
    with torch.no_grad():
        before = loss_fn(model(dataset.images), dataset.images)["loss"].item()
    quantiles_before = model.entropy_bottleneck.quantiles.detach().clone()
    result = train_codec(model, dataset, loss_fn, config(tmp_path, steps=30, lr=1e-3, checkpoint_every=10))
    model.train()
    with torch.no_grad():
        torch.manual_seed(0)
        after = loss_fn(model(dataset.images), dataset.images)["loss"].item()
    assert after < before
    assert result.steps == 30 and not result.stopped_early
    assert {"loss", "bpp", "mse", "psnr", "aux", "grad_norm"} <= set(result.metrics)
    assert not torch.equal(quantiles_before, model.entropy_bottleneck.quantiles)  # aux optimiser ran
    lines = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, 31))
    checkpoint = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert checkpoint["step"] == 30 and checkpoint["config"]["lr"] == 1e-3


def test_resume_continues_bit_for_bit(tmp_path):
    dataset = NoiseImages(n=6)  # 3 batches per epoch: the resume point is mid-epoch
    loss_fn = RateDistortionLoss(0.0067)
    straight = tiny_model()
    train_codec(straight, dataset, loss_fn, config(tmp_path / "a", steps=5))

    interrupted = tiny_model()
    train_codec(interrupted, dataset, loss_fn, config(tmp_path / "b", steps=2))
    resumed = tiny_model(seed=123)  # different initial weights: all state must come from the checkpoint
    result = train_codec(resumed, dataset, loss_fn, config(tmp_path / "b", steps=5, resume=True))
    assert result.steps == 5
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_trainable_parameters_restrict_updates(tmp_path):
    model = tiny_model()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("g_s")}
    decoder = [p for n, p in model.named_parameters() if n.startswith("g_s")]
    before = [p.detach().clone() for p in decoder]
    train_codec(model, NoiseImages(), RateDistortionLoss(0.01), config(tmp_path, steps=2),
                trainable_parameters=decoder)
    assert any(not torch.equal(a, b) for a, b in zip(before, decoder))
    for name, parameter in model.named_parameters():
        if name in frozen and not name.endswith("quantiles"):
            assert torch.equal(frozen[name], parameter), name


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, lr=1e-3, lr_milestones=(0.6, 0.9), lr_gamma=0.5)
    assert learning_rate(cfg, 0, 100) == 1e-3
    assert learning_rate(cfg, 59, 100) == 1e-3
    assert learning_rate(cfg, 60, 100) == 5e-4
    assert learning_rate(cfg, 95, 100) == 2.5e-4


def test_aux_parameters_are_the_quantiles():
    assert aux_parameter_names(tiny_model()) == ["entropy_bottleneck.quantiles"]


def test_errors(tmp_path):
    with pytest.raises(TrainingError):
        TrainConfig()
    with pytest.raises(TrainingError):
        TrainConfig(steps=0)
    with pytest.raises(TrainingError, match="no checkpoint"):
        train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01), config(tmp_path, resume=True))
    with pytest.raises(TrainingError, match="fewer than one batch"):
        train_codec(tiny_model(), NoiseImages(n=1), RateDistortionLoss(0.01), config(tmp_path))
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    with pytest.raises(TrainingError, match="cannot read checkpoint"):
        train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01), config(tmp_path, resume=True))


def test_max_seconds_stops_early_with_a_checkpoint(tmp_path):
    result = train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01),
                         config(tmp_path, steps=1000, max_seconds=0.0))
    assert result.stopped_early and result.steps < 1000
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == result.steps
