"""Errors that the command line turns into a one-line message and a non-zero exit.

Every failure a user can cause (a bad file, a wrong option, a corrupt stream, weights that
do not match) raises a subclass of :class:`FccError`; anything else is a bug.
"""


class FccError(Exception):
    """Base class: the message is one line, written for the user."""

    exit_code = 1


class ImageError(FccError):
    """An input image cannot be read, or an output image cannot be written."""


class BitstreamError(FccError):
    """A .fcc file is malformed, corrupt, truncated or of an unknown version."""

    exit_code = 3


class WeightsError(FccError):
    """A weights file is missing, does not match its manifest, or is not the expected kind."""

    exit_code = 4


class UsageError(FccError):
    """An option value is not valid (unknown rate point, unknown configuration...)."""

    exit_code = 2
