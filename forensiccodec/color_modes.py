"""`ColorMode`: the mode family a .fcc header stores, without torch (`images` re-exports it)."""

from __future__ import annotations

import enum


class ColorMode(enum.IntEnum):
    """The mode family, as a small integer the .fcc container stores for the decoder."""

    RGB = 0
    GRAY = 1
    RGB_ALPHA_DROPPED = 2
    GRAY_ALPHA_DROPPED = 3

    @property
    def is_gray(self) -> bool:
        return self in (ColorMode.GRAY, ColorMode.GRAY_ALPHA_DROPPED)

    @property
    def alpha_dropped(self) -> bool:
        return self in (ColorMode.RGB_ALPHA_DROPPED, ColorMode.GRAY_ALPHA_DROPPED)
