"""A throw-away registry with forensic adapters: the tiny base codec, both adapter placements, a fine-tuned codec.

Fresh adapters are the identity (zero up-projections), so the helper sets the up-projections to
small random values: the adapters then change the output, slightly, as trained ones would.
"""

from __future__ import annotations

from pathlib import Path

import torch

from forensiccodec.adapters import export_adapters, export_finetuned_codec
from forensiccodec.codec.config import get_config
from forensiccodec.codec.tic import TIC
from forensiccodec.zoo import export_codec

QUALITY = 1
UP_PROJECTION_SCALE = 0.05


def adapted_tiny_model(seed: int = QUALITY) -> TIC:
    """The tiny TIC that `export_tiny_codecs` registers for quality 1, with non-identity adapters."""
    torch.manual_seed(seed)
    base = TIC(get_config("tiny"))
    model = TIC(get_config("tiny"), adapters=True)
    model.load_state_dict({**model.state_dict(), **base.state_dict()})
    generator = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for sfmas in (model.encoder_sfmas, model.decoder_sfmas):
            for sfma in sfmas:
                for projection in (sfma.s_up, sfma.f_up):
                    projection.weight.copy_(torch.randn(projection.weight.shape, generator=generator) * UP_PROJECTION_SCALE)
    return model.eval()


def export_adapted_registry(weights_dir: Path, *, finetuned: bool = True) -> Path:
    """tic-tiny-q1, sfma-tiny-q1-paper, sfma-tiny-q1-decoder and (optionally) tic-tiny-ft-q1 in weights_dir."""
    torch.manual_seed(QUALITY)
    export_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=weights_dir)
    model = adapted_tiny_model()
    for placement in ("paper", "decoder"):
        export_adapters(model, config_name="tiny", quality=QUALITY, placement=placement, weights_dir=weights_dir)
    if finetuned:
        torch.manual_seed(77)
        export_finetuned_codec(TIC(get_config("tiny")), config_name="tiny", quality=QUALITY, weights_dir=weights_dir)
    return weights_dir
