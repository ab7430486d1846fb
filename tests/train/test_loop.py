"""The training loop, with CompressAI's ScaleHyperprior at a tiny width as a stand-in for TIC
(same interface: x_hat, likelihoods y/z, aux_loss(), entropy_bottleneck.quantiles)."""

import json
import random

import numpy as np
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
    values = {"steps": 4, "batch_size": 2, "device": "cpu", "checkpoint_dir": str(tmp_path), "checkpoint_every": 2,
              "log_every": 1, "progress": False, "lr_milestones": (), "seed": 1}
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
    warm = TrainConfig(steps=100, lr=1e-3, lr_milestones=(0.6,), warmup_steps=4)
    assert [learning_rate(warm, s, 100) for s in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert learning_rate(warm, 60, 100) == 5e-4
    with pytest.raises(TrainingError, match="warmup_steps"):
        TrainConfig(steps=10, warmup_steps=-1)


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


def test_resume_refuses_changed_settings_but_not_a_longer_run(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    loss_fn = RateDistortionLoss(0.01)
    train_codec(tiny_model(), NoiseImages(), loss_fn, config(run, steps=2, extra={"lambda_scale": 10.0, "data": "data"}))
    for changed, setting in (({"lr": 1e-2}, "lr="), ({"batch_size": 4}, "batch_size="), ({"seed": 2}, "seed="),
                             ({"extra": {"lambda_scale": 30.0, "data": "data"}}, "lambda_scale=10.0")):
        overrides = {"steps": 3, "resume": True, "extra": {"lambda_scale": 10.0, "data": "data"}, **changed}
        with pytest.raises(TrainingError, match=setting):
            train_codec(tiny_model(), NoiseImages(), loss_fn, config(run, **overrides))
    # more steps, a new validation interval, the same folder named another way: one run, resumed
    result = train_codec(tiny_model(), NoiseImages(), loss_fn,
                         config(run, steps=3, resume=True, log_every=3, extra={"lambda_scale": 10.0, "data": "./data/"}))
    assert result.steps == 3


def test_max_seconds_stops_early_with_a_checkpoint(tmp_path):
    result = train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01),
                         config(tmp_path, steps=1000, max_seconds=0.0))
    assert result.stopped_early and result.steps < 1000
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == result.steps


class RecordingValidation:
    """A validate callable that behaves badly on purpose: it switches the model to eval mode
    and draws from the global RNGs, which the loop must both undo."""

    def __init__(self, model, dataset, loss_fn):
        self.model, self.dataset, self.loss_fn = model, dataset, loss_fn
        self.steps = []
        self.modes = []

    def __call__(self, step):
        self.steps.append(step)
        self.modes.append(all(module.training for module in self.model.modules()))
        self.model.eval()
        torch.rand(100)
        np.random.rand(3)
        random.random()
        with torch.no_grad():
            losses = self.loss_fn(self.model(self.dataset.images), self.dataset.images)
        return {"loss": losses["loss"], "psnr": float(losses["psnr"]), "step_seen": step}


def test_validation_runs_every_n_steps_and_at_the_end(tmp_path):
    model, dataset, loss_fn = tiny_model(), NoiseImages(), RateDistortionLoss(0.01)
    validate = RecordingValidation(model, dataset, loss_fn)
    result = train_codec(model, dataset, loss_fn, config(tmp_path, steps=5, validate_every=2), validate=validate)
    assert validate.steps == [2, 4, 5]
    assert all(validate.modes)  # back in train mode after every call
    assert all(module.training for module in model.modules())
    assert [record["step"] for record in result.validations] == [2, 4, 5]
    assert all(record["step_seen"] == record["step"] for record in result.validations)
    best = min(result.validations, key=lambda record: record["loss"])
    assert result.best_validation == best
    lines = [json.loads(line) for line in (tmp_path / LOG_NAME).read_text().splitlines()]
    logged = [(line["step"], line["validation"]) for line in lines if "validation" in line]
    assert [step for step, _ in logged] == [2, 4, 5]
    assert logged[0][1]["loss"] == pytest.approx(result.validations[0]["loss"])
    assert [line["step"] for line in lines if "validation" not in line] == [1, 2, 3, 4, 5]
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["validations"] == result.validations


def test_validation_at_the_last_step_runs_once_and_without_validate_every_only_at_the_end(tmp_path):
    model, dataset, loss_fn = tiny_model(), NoiseImages(), RateDistortionLoss(0.01)
    validate = RecordingValidation(model, dataset, loss_fn)
    train_codec(model, dataset, loss_fn, config(tmp_path / "a", steps=4, validate_every=2), validate=validate)
    assert validate.steps == [2, 4]
    validate.steps.clear()
    result = train_codec(model, dataset, loss_fn, config(tmp_path / "b", steps=3), validate=validate)
    assert validate.steps == [3] and len(result.validations) == 1
    plain = train_codec(tiny_model(), dataset, loss_fn, config(tmp_path / "c", steps=2, validate_every=1))
    assert plain.validations == [] and plain.best_validation is None  # no callable: nothing to run


def test_best_validation_follows_the_configured_metric(tmp_path):
    scores = {1: 0.5, 2: 0.9, 3: 0.9, 4: 0.7}
    model = tiny_model()
    result = train_codec(
        model, NoiseImages(), RateDistortionLoss(0.01),
        config(tmp_path, steps=4, validate_every=1, validation_metric="auc", validation_higher_is_better=True),
        validate=lambda step: {"auc": scores[step]},
    )
    assert result.best_validation == {"step": 2, "auc": 0.9}  # the earliest of equals


def test_validation_changes_nothing_and_resume_stays_exact(tmp_path):
    dataset = NoiseImages(n=6)  # 3 batches per epoch: the resume point is mid-epoch
    loss_fn = RateDistortionLoss(0.0067)
    without = tiny_model()
    train_codec(without, dataset, loss_fn, config(tmp_path / "plain", steps=5))

    straight = tiny_model()
    validate = RecordingValidation(straight, dataset, loss_fn)
    train_codec(straight, dataset, loss_fn, config(tmp_path / "a", steps=5, validate_every=1), validate=validate)

    interrupted = tiny_model()
    first = train_codec(interrupted, dataset, loss_fn, config(tmp_path / "b", steps=2, validate_every=1),
                        validate=RecordingValidation(interrupted, dataset, loss_fn))
    resumed = tiny_model(seed=123)
    validate_resumed = RecordingValidation(resumed, dataset, loss_fn)
    result = train_codec(resumed, dataset, loss_fn, config(tmp_path / "b", steps=5, validate_every=1, resume=True),
                         validate=validate_resumed)
    assert validate_resumed.steps == [3, 4, 5]
    assert [record["step"] for record in result.validations] == [1, 2, 3, 4, 5]  # history survives
    assert result.validations[:2] == first.validations
    for name, value in without.state_dict().items():
        assert torch.equal(value, straight.state_dict()[name]), name
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_validate_at_start_scores_the_starting_weights_of_a_fresh_run_only(tmp_path):
    from forensiccodec.train.best_weights import BestValidatedWeights

    dataset = NoiseImages(n=6)
    loss_fn = RateDistortionLoss(0.0067)
    without = tiny_model()
    train_codec(without, dataset, loss_fn, config(tmp_path / "plain", steps=4))

    model = tiny_model()
    start = {name: value.clone() for name, value in model.state_dict().items()}
    scores = {0: 0.9, 2: 0.5, 4: 0.6}  # training only makes it worse: the start must be kept
    names = [name for name, _ in model.named_parameters() if "quantiles" not in name]
    best = BestValidatedWeights(lambda step: {"accuracy": scores[step], "auc": 0.5}, model, names, tmp_path / "a")
    cfg = config(tmp_path / "a", steps=4, validate_every=2, validate_at_start=True,
                 validation_metric="accuracy", validation_higher_is_better=True)
    result = train_codec(model, dataset, loss_fn, cfg, validate=best)
    assert [record["step"] for record in result.validations] == [0, 2, 4]
    assert result.best_validation["step"] == 0
    for name, value in without.state_dict().items():  # validating first changed no training step
        assert torch.equal(value, model.state_dict()[name]), name
    assert best.restore()["step"] == 0
    assert all(torch.equal(model.state_dict()[name], start[name]) for name in names)

    cfg = config(tmp_path / "a", steps=6, validate_every=2, validate_at_start=True, resume=True,
                 validation_metric="accuracy", validation_higher_is_better=True)
    resumed = train_codec(tiny_model(), dataset, loss_fn, cfg, validate=lambda step: {"accuracy": 0.1})
    assert [record["step"] for record in resumed.validations] == [0, 2, 4, 6]  # no second step 0


def test_validation_errors(tmp_path):
    with pytest.raises(TrainingError):
        TrainConfig(steps=2, validate_every=0)
    with pytest.raises(TrainingError, match="not a number"):
        train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01), config(tmp_path / "a", steps=1),
                    validate=lambda step: {"name": "x"})
    with pytest.raises(TrainingError, match="dict of metrics"):
        train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01), config(tmp_path / "b", steps=1),
                    validate=lambda step: 0.5)

    def broken(step):
        raise ValueError("no validation data")

    with pytest.raises(ValueError, match="no validation data"):
        train_codec(tiny_model(), NoiseImages(), RateDistortionLoss(0.01), config(tmp_path / "c", steps=1),
                    validate=broken)


def test_weight_average_is_validated_and_kept_and_resumes_exactly(tmp_path):
    dataset = NoiseImages(n=6)
    loss_fn = RateDistortionLoss(0.0067)
    plain = tiny_model()
    train_codec(plain, dataset, loss_fn, config(tmp_path / "plain", steps=5))

    averaged = tiny_model()
    seen = []

    def validate(step):
        seen.append({n: p.detach().clone() for n, p in averaged.named_parameters()})
        return {"loss": float(step)}

    train_codec(averaged, dataset, loss_fn, config(tmp_path / "a", steps=5, validate_every=5, ema_decay=0.5),
                validate=validate)
    checkpoint = torch.load(tmp_path / "a" / CHECKPOINT_NAME, weights_only=True)
    trained = checkpoint["model"]
    averages = checkpoint["weight_average"]["averages"]
    main_names = [n for n, p in averaged.named_parameters() if not n.endswith("quantiles")]
    assert checkpoint["weight_average"]["updates"] == 5 and len(averages) == len(main_names)
    for name, mean in zip(main_names, averages):
        assert torch.equal(trained[name], plain.state_dict()[name]), name  # averaging changes no step
        assert torch.equal(seen[0][name], mean), name  # the validation scored the average
        assert torch.equal(averaged.state_dict()[name], mean), name  # and the model ends holding it
        assert not torch.equal(mean, trained[name]), name

    interrupted = tiny_model()
    train_codec(interrupted, dataset, loss_fn, config(tmp_path / "b", steps=2, ema_decay=0.5))
    resumed = tiny_model(seed=123)
    train_codec(resumed, dataset, loss_fn, config(tmp_path / "b", steps=5, ema_decay=0.5, resume=True))
    for name, value in averaged.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    with pytest.raises(TrainingError, match="ema_decay"):
        train_codec(tiny_model(), dataset, loss_fn, config(tmp_path / "b", steps=6, ema_decay=0.9, resume=True))
    with pytest.raises(TrainingError, match="between 0 and 1"):
        config(tmp_path, ema_decay=1.5)
