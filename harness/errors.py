"""User-facing errors: each one becomes a single line on stderr and exit code 2 (no traceback).

Anything that is the user's input (a file, a row, a key, a name) raises a subclass of
:class:`HarnessError`; everything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


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
        self.file, self.row, self.field = file, row, field


class UnknownNameError(HarnessError):
    """An unknown task, preset, language, plugin or model alias, with a close-match hint."""

    def __init__(self, what: str, name: str, known: Iterable[str]):
        known = sorted(set(known))
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        super().__init__(f"unknown {what} '{name}'{hint} (known: {shown})")
        self.name, self.suggestion = name, (close[0] if close else None)


class TrainingError(HarnessError):
    """Training diverged (NaN/inf loss) or cannot proceed; stops that phase."""


class PluginError(HarnessError):
    """A plugin failed to import or register while --strict-plugins is on."""


class LockedError(HarnessError):
    """Another run holds the output directory."""
