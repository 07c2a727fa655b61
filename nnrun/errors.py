"""nnrun's own exceptions: each carries what went wrong, where, and what to do about it.

The CLI turns them into one readable line and an exit code; library callers can catch them by class.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NnrunError(Exception):
    """Base class. `what` is the problem, `where` a location (file:line, key path, layer), `hint` the fix."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None):
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.message())

    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text += f"\n  {self.hint}"
        return text


class ConfigError(NnrunError):
    """The config (file or --set override) is invalid. Nothing has been written yet."""

    exit_code = 2


class ShapeError(ConfigError):
    """A layer cannot accept the shape produced by the layer before it."""


class DataError(NnrunError):
    """A dataset is missing, corrupt or inconsistent with the config."""

    exit_code = 2


class RunError(NnrunError):
    """A results folder cannot be used (missing, not a run, nothing to resume)."""

    exit_code = 2


class WriteError(NnrunError):
    """A results file could not be written (disk full, quota, permissions); what was written before is intact."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None, errno: int | None = None):
        super().__init__(what, where=where, hint=hint)
        self.errno = errno


class TrainingDiverged(NnrunError):
    """The loss became NaN or infinite; the run is marked failed and its metrics kept."""

    exit_code = 3


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def kind_of(value: object) -> str:
    """'a mapping', 'a list', 'null', ...: what a YAML value is, for messages."""
    if value is None:
        return "null"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
    return names.get(type(value), f"a {type(value).__name__}")
