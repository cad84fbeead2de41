"""User-facing errors: each one becomes a single line on stderr and exit code 2 (no traceback).

Anything that is the user's input (a file, a row, a key, a name) raises a subclass of
:class:`HarnessError`; everything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


def close_match(name: object, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name closest to a misspelt one, if any is close enough."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: object, known: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for error messages, or ``""``."""
    match = close_match(name, known, cutoff)
    return f"; did you mean '{match}'?" if match else ""


def shown(value: object) -> str:
    """A value quoted in an error message, bounded: a huge value (a YAML alias bomb) must not make a
    huge line, nor cost the time and memory of its full ``repr``."""
    import reprlib

    limits = reprlib.Repr()
    limits.maxstring = limits.maxother = 60
    limits.maxlist = limits.maxtuple = limits.maxdict = limits.maxset = 6
    limits.maxlevel = 3
    return limits.repr(value)


class HarnessError(Exception):
    """An error in the user's input or environment, shown as one line."""

    exit_code = 2


class ConfigError(HarnessError):
    """tasks.yaml / --tasks-file problems: names the file and the key path."""


class DataError(HarnessError):
    """A bad dataset row: names the file, the row number and the field."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__((": ".join([", ".join(where), message])) if where else message)
        self.file, self.row, self.field, self.message = file, row, field, message


class UnknownNameError(HarnessError):
    """An unknown task, preset, language, plugin or model alias, with a close-match hint."""

    def __init__(self, what: str, name: str, known: Iterable[str]):
        known = sorted(set(known))
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        super().__init__(f"unknown {what} '{name}'{did_you_mean(name, known, 0.5)} (known: {shown})")
        self.name, self.suggestion = name, close_match(name, known, 0.5)


class TrainingError(HarnessError):
    """Training diverged (NaN/inf loss) or cannot proceed; stops that phase."""


class PluginError(HarnessError):
    """A plugin failed to import or register while --strict-plugins is on."""


class LockedError(HarnessError):
    """Another run holds the output directory."""


class StorageError(HarnessError):
    """The output directory cannot be written: read-only, no permission, or a full disk."""


class Interrupted(HarnessError):
    """SIGINT or SIGTERM stopped a run; the message says what was kept and how to resume."""

    label = "interrupted"

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
