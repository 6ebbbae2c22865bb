"""Exceptions raised by mudjack.

Every exception subclasses a built-in so that callers can catch the usual
types (``ValueError``, ``FileNotFoundError``, ...). Messages follow one shape:
what was expected, what was received, and how to fix it.
"""

from __future__ import annotations


class MudjackError(Exception):
    """Base class of every error mudjack raises on purpose."""


class InputError(MudjackError, ValueError):
    """An argument has the wrong shape, range, dtype, type or value."""


class DataNotFoundError(MudjackError, FileNotFoundError):
    """An offline data set is not installed; the message names the package."""


class ModelLoadError(MudjackError, ValueError):
    """A model folder is missing, incomplete or corrupt."""


class OutputExistsError(MudjackError, FileExistsError):
    """An output path already exists; mudjack never overwrites a user's files."""


class UnknownNameError(MudjackError, KeyError):
    """A registry lookup (encoder, attribution method, patcher, ...) failed."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""
