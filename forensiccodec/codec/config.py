"""Architecture settings of the TIC codec and the named configurations.

`paper` is TransTIC's `TIC_hp(N=128, M=192)` (the published checkpoints), `small` is the
model trained here on a CPU and shipped with the package, `tiny` exists for fast tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from forensiccodec.errors import UsageError

# Number of Swin stages on the encoder side: g_a1, g_a3, g_a5, g_a7, h_a1, h_a3.
NUM_STAGES = 6


@dataclass(frozen=True)
class TICConfig:
    """Channel widths and Swin settings of one TIC model.

    `depths` and `num_heads` list the encoder stages g_a1, g_a3, g_a5, g_a7, h_a1, h_a3;
    the decoder (h_s0, h_s2, g_s0, g_s2, g_s4, g_s6) uses both lists reversed, as upstream.
    """

    N: int = 128
    M: int = 192
    depths: tuple[int, ...] = (2, 4, 6, 2, 2, 2)
    num_heads: tuple[int, ...] = (8, 8, 8, 16, 16, 16)
    window_size: int = 8
    hyper_window_size: int = 4
    mlp_ratio: float = 2.0

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples so the config stays hashable.
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "num_heads", tuple(int(h) for h in self.num_heads))
        if len(self.depths) != NUM_STAGES or len(self.num_heads) != NUM_STAGES:
            raise UsageError(f"TICConfig needs {NUM_STAGES} depths and {NUM_STAGES} head counts")
        if min(self.depths) < 1 or min(self.num_heads) < 1 or min(self.N, self.M) < 1:
            raise UsageError("TICConfig widths, depths and head counts must be positive")
        for dim, heads in zip(self.stage_dims(), self.num_heads):
            if dim % heads:
                raise UsageError(f"TICConfig: {heads} heads do not divide a stage width of {dim}")

    def stage_dims(self) -> tuple[int, ...]:
        """Channel width of each encoder stage (g_a1, g_a3, g_a5, g_a7, h_a1, h_a3)."""
        return (self.N, self.N, self.N, self.M, self.N, self.N)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists)."""
        d = asdict(self)
        d["depths"] = list(self.depths)
        d["num_heads"] = list(self.num_heads)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TICConfig:
        """Inverse of `to_dict`; unknown keys are an error rather than silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"unknown TICConfig fields: {', '.join(unknown)}")
        return cls(**d)


CONFIGS: dict[str, TICConfig] = {
    "paper": TICConfig(128, 192, (2, 4, 6, 2, 2, 2), (8, 8, 8, 16, 16, 16)),
    # Depth 2 everywhere keeps one shifted-window block per stage.
    "small": TICConfig(64, 96, (2, 2, 2, 2, 2, 2), (4, 4, 4, 6, 4, 4)),
    "tiny": TICConfig(16, 24, (2, 2, 2, 2, 2, 2), (2, 2, 2, 2, 2, 2)),
}


def get_config(name: str) -> TICConfig:
    """The named configuration; raises `UsageError` listing the valid names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise UsageError(
            f"unknown configuration {name!r}; choose one of: {', '.join(CONFIGS)}"
        ) from None
