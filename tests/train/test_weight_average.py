"""The moving average of trainable weights."""

import pytest
import torch
from torch import nn

from forensiccodec.train.weight_average import WeightAverage


def parameters(*values):
    return [nn.Parameter(torch.tensor([float(v)])) for v in values]


def test_update_follows_the_warmed_up_decay():
    (weight,) = parameters(0.0)
    average = WeightAverage([weight], decay=0.9)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0] * 20):
        with torch.no_grad():
            weight.fill_(value)
        decay = min(0.9, (1 + n) / (10 + n))
        assert average.current_decay() == pytest.approx(decay)
        average.update()
        expected = decay * expected + (1 - decay) * value
        assert average.averages[0].item() == pytest.approx(expected, rel=1e-6)
    assert average.current_decay() == 0.9  # warmed up from 80 updates on
    assert 2.0 < average.averages[0].item() < 4.0  # an average, not the last value


def test_swapped_in_restores_the_trained_weights_bit_for_bit():
    weights = [nn.Parameter(torch.randn(3, 4)), nn.Parameter(torch.randn(5))]
    average = WeightAverage(weights, decay=0.5)
    with torch.no_grad():
        for weight in weights:
            weight.add_(1.0)
    average.update()
    trained = [w.detach().clone() for w in weights]
    with average.swapped_in():
        for weight, mean, value in zip(weights, average.averages, trained):
            assert torch.equal(weight, mean)
            assert not torch.equal(weight, value)
    for weight, value in zip(weights, trained):
        assert torch.equal(weight, value)
    with pytest.raises(RuntimeError), average.swapped_in():  # put back on an error too
        raise RuntimeError("validation failed")
    assert all(torch.equal(w, v) for w, v in zip(weights, trained))


def test_state_dict_round_trip_and_mismatch():
    weights = parameters(1.0, 2.0)
    average = WeightAverage(weights, decay=0.99)
    with torch.no_grad():
        weights[0].fill_(3.0)
    average.update()
    restored = WeightAverage(parameters(0.0, 0.0), decay=0.99)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 1
    assert all(torch.equal(a, b) for a, b in zip(restored.averages, average.averages))
    with pytest.raises(ValueError, match="does not match"):
        WeightAverage(parameters(0.0), decay=0.99).load_state_dict(average.state_dict())
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(weights, decay=1.0)
