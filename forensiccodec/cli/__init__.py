"""The `fcc` command line: parse options, call the Python API, render results with rich.

No model logic lives here. Every user-caused failure is an `FccError`, printed as one line
``error: <message>`` with the error's exit code (click's own usage errors: exit code 2); a batch
reports a bad file in one line and goes on.

`common` holds the `fcc` group and what several commands share; each other module is one family
of commands, registered on the group when imported here. No module imports library code (torch,
`api`, `zoo`...) at load time: command bodies import what they use, so `fcc --help` and
`fcc info` never import torch.
"""

from __future__ import annotations

from . import (  # noqa: F401 (registers the commands)
    coding,
    data,
    detection,
    evaluation,
    rate_distortion,
    training,
    weights,
)
from .common import main

__all__ = ["main"]
