"""bf16 autocast: chosen where the CPU has native bf16, float32 elsewhere (simulated here), and a
short bf16 run of TIC follows the float32 loss curve."""

import json

import pytest
import torch

from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.errors import UsageError
from forensiccodec.train import precision
from forensiccodec.train.loop import LOG_NAME, TrainConfig, TrainingError, train_codec
from forensiccodec.train.rate_distortion import RateDistortionLoss

CPU = torch.device("cpu")


class SmoothImages(torch.utils.data.Dataset):
    def __init__(self, n: int = 8, size: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        coarse = torch.rand(n, 3, 8, 8, generator=generator)
        self.images = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


def with_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)


def test_auto_falls_back_to_float32_on_a_cpu_without_bf16(monkeypatch):
    without_native_bf16(monkeypatch)
    assert not precision.cpu_supports_bf16()
    assert precision.resolve_precision("auto", CPU) == "fp32"
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(UsageError, match="no native bf16"):
        precision.resolve_precision("bf16", CPU)


def test_auto_takes_bf16_where_the_cpu_has_it(monkeypatch):
    with_native_bf16(monkeypatch)
    assert precision.resolve_precision("auto", CPU) == "bf16"
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(UsageError, match="unknown precision"):
        precision.resolve_precision("fp16", CPU)
    with pytest.raises(TrainingError, match="precision"):
        TrainConfig(steps=1, precision="half")


def tic_run(tmp_path, requested: str, steps: int = 12) -> tuple[list[float], object]:
    torch.manual_seed(0)
    model = TIC(get_config("tiny"))
    config = TrainConfig(steps=steps, batch_size=4, device="cpu", checkpoint_dir=str(tmp_path / requested),
                         log_every=4, progress=False, lr_milestones=(), lr=1e-3, seed=0, precision=requested)
    result = train_codec(model, SmoothImages(), RateDistortionLoss(0.0067), config)
    lines = [json.loads(line) for line in (tmp_path / requested / LOG_NAME).read_text().splitlines()]
    return [line["loss"] for line in lines], result


def test_a_run_without_native_bf16_computes_in_float32(tmp_path, monkeypatch):
    without_native_bf16(monkeypatch)
    _, result = tic_run(tmp_path, "auto", steps=2)
    assert result.precision == "fp32"


@pytest.mark.skipif(not precision.cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_bf16_loss_curve_follows_float32(tmp_path):
    fp32, fp32_result = tic_run(tmp_path, "fp32")
    bf16, bf16_result = tic_run(tmp_path, "bf16")
    assert fp32_result.precision == "fp32" and bf16_result.precision == "bf16"
    assert fp32[-1] < fp32[0] and bf16[-1] < bf16[0]  # both train
    for a, b in zip(fp32, bf16):
        assert abs(a - b) / a < 0.05, (fp32, bf16)


@pytest.mark.skipif(not precision.cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_the_entropy_models_stay_float32_under_autocast():
    torch.manual_seed(0)
    model = TIC(get_config("tiny")).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.rand(1, 3, 64, 64))
    assert output["likelihoods"]["y"].dtype == torch.float32
    assert output["likelihoods"]["z"].dtype == torch.float32
