"""The settings a report compares, and how each maps onto the codec's API.

A learned setting names which adapters the encoder and the decoder use
(``forensiccodec.api.encode_file(..., adapters=...)`` / ``decode_file(..., adapters=...)``):

=================  =========  =========  ============================================
setting            encoder    decoder    codec
=================  =========  =========  ============================================
base               none       none       the base codec (human-fidelity)
adapters-decoder   none       forensic   base codec + decoder-side adapters
adapters-paper     forensic   forensic   base codec + encoder and decoder adapters
finetuned          none       none       the fully fine-tuned codec
=================  =========  =========  ============================================

``uncompressed`` is the original image (the accuracy upper bound); ``jpeg`` and ``webp`` are
coded per image at the quality whose bpp is closest to the base codec's bpp on that image at
the same rate point (see :mod:`.produce`).
"""

from __future__ import annotations

from dataclasses import dataclass

from forensiccodec.errors import UsageError

REFERENCE, LEARNED, CLASSIC = "reference", "learned", "classic"


@dataclass(frozen=True)
class Setting:
    name: str
    label: str  # legend text
    kind: str  # REFERENCE, LEARNED or CLASSIC
    encoder_adapters: str = "none"
    decoder_adapters: str = "none"
    placement: str | None = None  # adapter placement of a learned setting with adapters
    finetuned: bool = False

    @property
    def has_rates(self) -> bool:
        return self.kind != REFERENCE


SETTINGS: tuple[Setting, ...] = (
    Setting("uncompressed", "uncompressed (upper bound)", REFERENCE),
    Setting("base", "base codec", LEARNED),
    Setting("adapters-paper", "adapters (paper placement)", LEARNED, "forensic", "forensic", placement="paper"),
    Setting("adapters-decoder", "adapters (decoder only)", LEARNED, "none", "forensic", placement="decoder"),
    Setting("finetuned", "fully fine-tuned codec", LEARNED, finetuned=True),
    Setting("jpeg", "JPEG (matched bpp)", CLASSIC),
    Setting("webp", "WebP (matched bpp)", CLASSIC),
)
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)


def setting_by_name(name: str) -> Setting:
    for setting in SETTINGS:
        if setting.name == name:
            return setting
    raise UsageError(f"unknown setting {name!r}; valid: {', '.join(SETTING_NAMES)}")


def select_settings(names: list[str] | None) -> list[Setting]:
    """The named settings in the canonical order (all of them for None)."""
    if not names:
        return list(SETTINGS)
    wanted = {setting_by_name(name).name for name in names}
    return [s for s in SETTINGS if s.name in wanted]
