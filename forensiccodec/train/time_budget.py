"""``--time-budget``: how long one stint of a training run may take, as ``90m``, ``2h``, ``1h30m``,
``45s`` or plain seconds. The loop stops before the budget runs out, with a checkpoint that
``--resume`` continues exactly."""

from __future__ import annotations

import math
import re
import time

from forensiccodec.errors import UsageError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``2h``, ``90m``, ``1h30m``, ``45s``, ``1.5h`` or a bare number of seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)
    except ValueError:
        match = _DURATION.match(cleaned)
        if not cleaned or match is None or not any(match.groups()):
            raise UsageError(f"not a duration: {text!r} (e.g. 2h, 90m, 1h30m, 45s)") from None
        seconds = sum(float(value) * _UNITS[unit] for value, unit in zip(match.groups(), "hms") if value)
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"a duration must be a finite, non-negative time: {text!r}")
    return seconds


def budget_seconds(time_budget: float | None, max_seconds: float | None) -> float | None:
    """The one budget of ``--time-budget`` and its older spelling ``--max-seconds``."""
    if time_budget is not None and max_seconds is not None and time_budget != max_seconds:
        raise UsageError("give --time-budget or --max-seconds, not both")
    return time_budget if time_budget is not None else max_seconds


def remaining_budget(budget: float | None, since: float) -> float | None:
    """What is left of ``budget`` seconds after the work done since ``since`` (a
    ``time.monotonic()`` reading) before the loop starts, such as scoring the base codec, so
    that the budget bounds the whole command and not only the training steps."""
    if budget is None:
        return None
    return max(0.0, budget - (time.monotonic() - since))
