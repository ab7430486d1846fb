"""--time-budget: durations parse, a run stops before its budget with a checkpoint, the training
time of every stint adds up across resumes, and a resumed run equals an uninterrupted one."""

import json
import time

import pytest
import torch
from compressai.models import ScaleHyperprior
from torch.utils.data import Dataset

from forensiccodec.errors import UsageError
from forensiccodec.train import loop
from forensiccodec.train.loop import CHECKPOINT_NAME, LOG_NAME, TrainConfig, train_codec
from forensiccodec.train.rate_distortion import RateDistortionLoss
from forensiccodec.train.time_budget import budget_seconds, parse_duration, remaining_budget

torch.set_num_threads(1)


class NoiseImages(Dataset):
    def __init__(self, n=6):
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 64, 64, generator=generator)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]


class SlowLoss(RateDistortionLoss):
    """The rate-distortion loss, taking at least ``delay`` seconds a step."""

    def __init__(self, delay: float) -> None:
        super().__init__(0.0067)
        self.delay = delay

    def forward(self, output, target):
        time.sleep(self.delay)
        return super().forward(output, target)


def model(seed=0):
    torch.manual_seed(seed)
    return ScaleHyperprior(N=8, M=8)


def config(folder, **overrides):
    values = {"steps": 6, "batch_size": 2, "device": "cpu", "checkpoint_dir": str(folder), "checkpoint_every": 100,
              "log_every": 1, "progress": False, "lr_milestones": (0.5,), "seed": 3}
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize(("text", "seconds"), [
    ("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("1.5h", 5400), ("120", 120), (" 2H ", 7200),
    ("1h0m30s", 3630),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "2x", "-5", "h", "1m2h", "nan", "inf"])
def test_bad_durations_are_refused(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_one_budget_from_either_spelling():
    assert budget_seconds(60.0, None) == 60.0 and budget_seconds(None, 30.0) == 30.0
    assert budget_seconds(None, None) is None
    with pytest.raises(UsageError, match="not both"):
        budget_seconds(60.0, 30.0)


def test_the_clock_predicts_the_next_step_validation_and_checkpoint(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: now[0])
    clock = loop._Clock(budget=10.0)
    assert not clock.would_overrun(validating=True)  # nothing measured yet
    for what, seconds in (("step", 2.0), ("checkpoint", 1.0), ("validation", 3.0)):
        with clock.timing(what):
            now[0] += seconds
    # 6 s have passed: a step and the final checkpoint fit (9 s), with a validation they do not (12 s)
    assert not clock.would_overrun(validating=False)
    assert clock.would_overrun(validating=True)
    assert not loop._Clock(budget=None).would_overrun(validating=True)


def test_a_run_stops_before_its_budget_with_a_checkpoint(tmp_path):
    budget, delay = 1.2, 0.25
    result = train_codec(model(), NoiseImages(), SlowLoss(delay), config(tmp_path, steps=100, max_seconds=budget))
    assert result.stopped_early and 1 <= result.steps < 100
    # every step takes at least `delay`, and a step starts only if it is predicted to end within
    # the budget: however loaded the machine, the steps taken fit in it
    assert result.steps * delay <= budget
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == result.steps


class CountingValidation:
    """A validation that takes ``delay`` seconds and counts its calls."""

    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    def __call__(self, step):
        time.sleep(self.delay)
        self.calls += 1
        return {"accuracy": 0.5}


def test_the_budget_holds_the_final_validation(tmp_path):
    # validation only every 1,000 steps: the one after the stop is the final validation, and the
    # budget must leave room for it once its cost is known (the validation at the start)
    budget, delay, validation = 2.0, 0.1, CountingValidation(0.6)
    started = time.monotonic()
    result = train_codec(model(), NoiseImages(), SlowLoss(delay),
                         config(tmp_path, steps=100, max_seconds=budget, validate_every=1000, validate_at_start=True),
                         validate=validation)
    assert result.stopped_early and validation.calls == 2  # at the start and after the stop
    assert time.monotonic() - started <= budget + delay  # a step's worth of slack for a loaded machine


def test_an_expected_validation_cost_holds_the_budget_before_any_validation(tmp_path):
    # no validation at the start: without the estimate the final one would run past the budget
    budget, delay = 1.0, 0.05
    started = time.monotonic()
    result = train_codec(model(), NoiseImages(), SlowLoss(delay),
                         config(tmp_path, steps=100, max_seconds=budget, validate_every=1000),
                         validate=CountingValidation(0.4), validation_seconds=0.4)
    assert result.stopped_early
    assert time.monotonic() - started <= budget + delay


def test_a_resumed_stint_knows_the_cost_of_a_validation(tmp_path):
    first = train_codec(model(), NoiseImages(), SlowLoss(0.05),
                        config(tmp_path, steps=100, max_seconds=1.0, validate_every=1000, validate_at_start=True),
                        validate=CountingValidation(0.3))
    assert first.stopped_early
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["timings"]["validation"] >= 0.3 and saved["timings"]["step"] >= 0.05
    # no validation at the start of a resume: only the checkpoint tells the budget what one costs
    started = time.monotonic()
    second = train_codec(model(), NoiseImages(), SlowLoss(0.05),
                         config(tmp_path, steps=100, max_seconds=0.6, validate_every=1000, resume=True),
                         validate=CountingValidation(0.3))
    assert second.stopped_early and second.steps > first.steps
    assert time.monotonic() - started <= 0.6 + 0.05


def test_the_remaining_budget_counts_the_work_before_the_loop():
    assert remaining_budget(None, time.monotonic()) is None
    assert 8.99 <= remaining_budget(10.0, time.monotonic() - 1.0) <= 9.0
    assert remaining_budget(10.0, time.monotonic() - 20.0) == 0.0


def test_stints_add_up_and_a_resumed_run_equals_a_straight_one(tmp_path):
    loss = RateDistortionLoss(0.0067)
    straight = model()
    train_codec(straight, NoiseImages(), loss, config(tmp_path / "straight"))

    stinted = model()
    first = train_codec(stinted, NoiseImages(), SlowLoss(0.05), config(tmp_path / "stints", steps=6, max_seconds=0.12))
    assert first.stopped_early and first.steps < 6
    resumed = model(seed=1)  # other initial weights: everything must come from the checkpoint
    second = train_codec(resumed, NoiseImages(), loss, config(tmp_path / "stints", resume=True))
    assert second.steps == 6 and not second.stopped_early
    assert second.total_seconds > first.total_seconds >= first.seconds
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    lines = [json.loads(line) for line in (tmp_path / "stints" / LOG_NAME).read_text().splitlines()]
    seconds = [line["train_seconds"] for line in lines]
    assert [line["step"] for line in lines] == list(range(1, 7))
    assert seconds == sorted(seconds) and seconds[-1] > 0
