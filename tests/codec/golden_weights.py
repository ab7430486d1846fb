"""The conformance data's golden weight rules, shared by the TIC_hp and TIC_SFMA conformance tests.

The rules are described in tests/conformance_data/README.md (and the shared conformance
README it was copied from): each parameter gets values from its golden index `k`, stored per
key in the key tables. Vector 1 is 0.02*sin(0.37*i + 1.3*k); the strong vector is splitmix64
noise scaled per parameter kind. Entropy-bottleneck parameters are left untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from forensiccodec.codec.entropy_models import to_legacy_names

# A copy of the files these tests read lives in tests/conformance_data/ so that CI runs them on any
# clone; the project's shared folder beside the checkout is the source they were copied from.
IN_REPO = Path(__file__).resolve().parents[1] / "conformance_data"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def conformance_dir(required_file: str) -> Path:
    """The in-repo copy of the conformance data if it holds `required_file`, else the shared folder."""
    return IN_REPO if (IN_REPO / required_file).is_file() else SHARED


def in_upstream_order(keys: Sequence[str], upstream: Sequence[str]) -> list[str]:
    """The model's `keys` under TransTIC's names, the entropy bottleneck's run in upstream's order.

    The model names the bottleneck's tensors as CompressAI 1.2.8 does (`matrices.0`) and holds
    them in its order (`quantiles`, the buffers, then the matrices, biases and factors); TransTIC's
    vendored compressai 1.2.0 names them `_matrix0`, ... and interleaves them. The run must sit
    where upstream's does; its order inside is compressai's business.
    """
    legacy = list(to_legacy_names(dict.fromkeys(keys)))
    run = [i for i, key in enumerate(legacy) if key.startswith("entropy_bottleneck.")]
    assert run == list(range(run[0], run[-1] + 1)), "the entropy bottleneck's tensors are not contiguous"
    position = {key: i for i, key in enumerate(upstream)}
    legacy[run[0] : run[-1] + 1] = sorted(legacy[run[0] : run[-1] + 1], key=lambda key: position.get(key, -1))
    return legacy


def is_layer_norm(name: str) -> bool:
    return ".norm1." in name or ".norm2." in name


def sin_rule(name: str, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """Vector 1: 0.02*sin(0.37*i + 1.3*k) in float64, plus 1 for LayerNorm weights."""
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    values = 0.02 * np.sin(0.37 * i + 1.3 * k)
    if is_layer_norm(name) and name.endswith(".weight"):
        values = 1.0 + values
    return values.reshape(shape)


def splitmix_uniform(k: int, n: int) -> np.ndarray:
    """u in [0, 1) from splitmix64 of (k << 32) | i, all arithmetic wrapping mod 2^64."""
    with np.errstate(over="ignore"):
        z = (np.uint64(k) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def strong_rule(name: str, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """The strong vector: splitmix64 noise, scaled by parameter kind."""
    r = 2.0 * splitmix_uniform(k, int(np.prod(shape))) - 1.0
    if is_layer_norm(name):
        values = 1.0 + 0.1 * r if name.endswith(".weight") else 0.1 * r
    elif name.endswith("relative_position_bias_table"):
        values = r
    elif len(shape) == 1:
        values = 0.1 * r
    else:  # shape[0] even for ConvTranspose2d, whose shape[0] is in_channels
        values = 0.5 * r * np.sqrt(3.0 / (np.prod(shape) / shape[0]))
    return values.reshape(shape)


RULES: dict[str, Callable[[str, int, tuple[int, ...]], np.ndarray]] = {"sin": sin_rule, "strong": strong_rule}


def golden_k(keys_json: Path) -> dict[str, int]:
    """Key -> golden index `k` for every parameter of a key table."""
    return {e["key"]: e["k"] for e in json.loads(keys_json.read_text())["entries"] if "k" in e}


def apply_rule(model: nn.Module, rule: str, k_of: Mapping[str, int]) -> nn.Module:
    """Set every parameter except the entropy bottleneck's by `rule`; returns the model."""
    rule_fn = RULES[rule]
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("entropy_bottleneck."):
                continue  # untouched in the golden computation
            values = rule_fn(name, k_of[name], tuple(parameter.shape))
            parameter.copy_(torch.from_numpy(values.astype(np.float32)))
    return model


def relative_error(actual: torch.Tensor, reference: np.ndarray) -> float:
    """max|a - b| / max|ref|, in float64."""
    reference64 = np.asarray(reference, dtype=np.float64)
    difference = np.abs(actual.detach().double().numpy() - reference64).max()
    return float(difference / np.abs(reference64).max())


def assert_close(name: str, actual: torch.Tensor, reference: np.ndarray, tolerance: float) -> float:
    """Assert the shape and max|a - b| <= tolerance * max|ref|; returns the relative error."""
    assert tuple(actual.shape) == reference.shape, name
    error = relative_error(actual, reference)
    assert error <= tolerance, f"{name}: max|a-b|/max|ref| = {error:.2e} > {tolerance:.0e}"
    return error


def checksums(x_hat: torch.Tensor) -> np.ndarray:
    """[sum, sum|.|, sum(.^2)] in float64, as the strong vector stores them for x_hat."""
    x64 = x_hat.detach().double()
    return np.array([x64.sum().item(), x64.abs().sum().item(), x64.square().sum().item()])
